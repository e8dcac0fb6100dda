"""Helpers: contract-shaped messages for every topic, produced straight to the broker."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Producer

from common.kafka_config import producer_config
from common.settings import Settings
from processors.logic.clean import clean_row
from producers.synthetic import SyntheticSpec, generate
from warehouse.store import Warehouse


def raw_values(spec: SyntheticSpec, run_id: str = "r1") -> list[dict[str, Any]]:
    """RAW_DATA values as the replay would send them (Parquet typed values)."""
    table = generate(spec).table
    out = []
    for i, row in enumerate(table.to_pylist(), start=1):
        ts = row["arrival_timestamp"]
        if hasattr(ts, "strftime"):
            row["arrival_timestamp"] = ts.strftime("%Y-%m-%d %H:%M:%S.%f")
        row.update(
            {
                "_run_id": run_id,
                "_dataset": "synthetic",
                "_file": spec.to_string(),
                "_row": i,
                "_kind": "serverless" if row["cluster_size"] is None else "provisioned",
            }
        )
        out.append(row)
    return out


#: the clean record's fields a FLATTENED record repeats
FLAT_FIELDS = (
    "query_key",
    "run_id",
    "cluster",
    "cluster_kind",
    "instance_id",
    "query_id",
    "user_id",
    "database_id",
    "arrival_us",
    "query_type",
    "was_aborted",
    "was_cached",
    "execution_duration_ms",
    "total_duration_ms",
    "mbytes_scanned",
)


def _flattened(clean: dict[str, Any], table_id: int) -> dict[str, Any]:
    """The FLATTENED record of a query's read of ``table_id``."""
    fields = {k: clean[k] for k in FLAT_FIELDS}
    return {**fields, "table_id": table_id, "access": "read", "freshness_ms": 1000.5}


def _board(run_id: str, w: int) -> dict[str, Any]:
    """The final busiest-clusters board of hour ``w``."""
    start, end = w * 3600_000, (w + 1) * 3600_000
    entries = [
        {
            "board": "busiest_clusters",
            "rank": r,
            "entity": f"provisioned-{(r + w) % 4}",
            "value": 100.0 - r,
            "window_start": start,
            "window_end": end,
        }
        for r in (1, 2, 3)
    ]
    return {
        "record": "board",
        "run_id": run_id,
        "board": "busiest_clusters",
        "variant": "final",
        "window_start": start,
        "window_end": end,
        "entries": entries,
    }


def messages(
    spec: SyntheticSpec, run_id: str = "r1"
) -> dict[str, list[tuple[str | None, dict[str, Any], int]]]:
    """(key, value, ts) per logical topic: raw, clean and dead letters via the real cleaner,
    plus window, board and flattened records in the processors' shapes."""
    topics = ("raw", "clean", "dead_letters", "query_metrics", "leaderboard", "flattened")
    out: dict[str, list[tuple[str | None, dict[str, Any], int]]] = {t: [] for t in topics}
    for raw in raw_values(spec, run_id):
        ts = 0
        key = f"{raw['_kind']}-{raw['instance_id']}" if raw["instance_id"] is not None else None
        out["raw"].append((key, raw, ts))
        res = clean_row(raw)
        if res.clean is not None:
            c = res.clean
            out["clean"].append((c["cluster"], c, c["arrival_us"] // 1000))
            for t in c["read_table_ids"] or ():  # NULL: not measured (cache hits)
                out["flattened"].append((c["cluster"], _flattened(c, t), 0))
        else:
            assert res.dead is not None
            out["dead_letters"].append((key, res.dead, 0))
    for w in range(5):
        # a cluster's windows (the fleet roll-up's newest emission wins, see test_writers)
        base = {
            "record": "window",
            "run_id": run_id,
            "cluster": "provisioned-0",
            "window_start": w * 3600_000,
            "window_end": (w + 1) * 3600_000,
            "queries": 10 + w,
            "aborted": 1,
            "cached": 2,
        }
        out["query_metrics"].append(("provisioned-0", {**base, "final": False, "queries": 1}, 0))
        out["query_metrics"].append(("provisioned-0", {**base, "final": True}, 0))
        out["query_metrics"].append(
            ("provisioned-0", {**base, "final": False, "queries": 2}, 0)
        )  # stale running record
        out["leaderboard"].append(("busiest_clusters", _board(run_id, w), 0))
    return out


def produce_all(
    settings: Settings,
    msgs: dict[str, list[tuple[str | None, dict[str, Any], int]]],
    times: int = 1,
) -> None:
    p = Producer(producer_config(settings))
    for _ in range(times):
        for logical, items in msgs.items():
            topic = settings.topic(logical)
            for key, value, ts in items:
                p.produce(
                    topic,
                    json.dumps(value).encode(),
                    key.encode() if key else None,
                    timestamp=ts or 0,
                )
                p.poll(0)
    assert p.flush(30) == 0


@dataclass
class FakeMessage:
    """The part of confluent_kafka.Message the materializer reads."""

    _topic: str
    _value: bytes | None
    _offset: int
    _key: bytes | None = None
    _partition: int = 0

    def topic(self) -> str:
        return self._topic

    def value(self) -> bytes | None:
        return self._value

    def key(self) -> bytes | None:
        return self._key

    def offset(self) -> int:
        return self._offset

    def partition(self) -> int:
        return self._partition

    def timestamp(self) -> tuple[int, int]:
        return (1, 0)


class CountingReader(threading.Thread):
    """Another thread of the serving process: reads ``fact_query``'s count (and runs
    ``also``) in a loop until stopped, keeping every count and every error."""

    def __init__(self, wh: Warehouse, also: str | None = None, pause_s: float = 0.0) -> None:
        super().__init__(name="reader", daemon=True)
        self.wh, self.also, self.pause_s = wh, also, pause_s
        self.seen: list[int] = []
        #: time.monotonic() at which each count was answered
        self.answered_at: list[float] = []
        self.errors: list[BaseException] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                self.seen.append(int(self.wh.scalar("SELECT count(*) FROM fact_query")))
                self.answered_at.append(time.monotonic())
                if self.also:
                    self.wh.query(self.also)
            except BaseException as e:
                self.errors.append(e)
            time.sleep(self.pause_s)

    def stop(self) -> None:
        self.done.set()
        self.join()
