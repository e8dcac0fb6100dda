"""`make demo`: the main job on the embedded default.

Starts the embedded broker (unless KAFKA_BOOTSTRAP_SERVERS is set), creates the topics,
replays a synthetic dataset and shows the rows flowing. Ctrl-C stops everything it
started, by PID.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid

from confluent_kafka import Consumer, Producer

from common.broker import BrokerError, broker_for
from common.contract import PROV_ROW, PROV_RUN_ID, cluster_key
from common.kafka_config import consumer_config, producer_config
from common.settings import Settings
from common.topics import ensure_topics


def _sample_rows(run_id: str, n: int) -> list[tuple[str, int, dict[str, object]]]:
    base_ms = 1709251200000
    rows = []
    for i in range(n):
        cluster = cluster_key("provisioned", i % 3)
        rows.append(
            (cluster, base_ms + i * 1000, {PROV_RUN_ID: run_id, PROV_ROW: i + 1, "query_id": i})
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m processors.demo",
        description="Run the demo: broker, topics, a replay of synthetic rows (Ctrl-C stops).",
    )
    parser.add_argument("--rows", type=int, default=30, help="rows to replay (default 30)")
    parser.add_argument("--once", action="store_true", help="exit after the rows flowed")
    Settings.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_args(args)
        with broker_for(settings) as s:
            where = "embedded broker" if settings.embedded else "configured broker"
            print(f"{where} at {s.bootstrap_servers}")
            for info in ensure_topics(s):
                print(f"  topic {info.name} ({info.partitions} partitions)")
            run_id = uuid.uuid4().hex[:8]
            p = Producer(producer_config(s))
            for key, ts, value in _sample_rows(run_id, args.rows):
                p.produce(s.topic("raw"), key=key.encode(), value=json.dumps(value), timestamp=ts)
            p.flush(10)
            c = Consumer(consumer_config(s, f"demo-{run_id}"))
            c.subscribe([s.topic("raw")])
            seen = 0
            deadline = time.monotonic() + 30
            while seen < args.rows and time.monotonic() < deadline:
                m = c.poll(0.5)
                if m is not None and not m.error():
                    seen += 1
            c.close()
            print(f"replayed {args.rows} synthetic rows into {s.topic('raw')}, read back {seen}")
            print("not built yet: processors, DuckDB materializer, dashboards")
            if not args.once:
                print("Ctrl-C to stop")
                while True:
                    time.sleep(1)
    except KeyboardInterrupt:
        print("\nstopped")
    except BrokerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
