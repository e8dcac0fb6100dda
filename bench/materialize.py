"""make bench's materializer section: a materializer on an empty warehouse reading a CLEAN_DATA
backlog, into memory, into a file and with DuckDB's default threads, beside a bare consume."""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from pathlib import Path
from typing import Any

from bench.brokers import Fresh
from bench.harness import Metrics
from bench.inputs import clean_messages, own_topics
from bench.report import median, metric, rounds
from common.settings import Settings
from common.topics import ensure_topics


def bench_materializer(fresh: Fresh, rows: int, work: Path, repeat: int) -> Metrics:
    """``repeat`` rounds of every variant over ``rows`` messages, on one fresh broker (the
    variants only read from it)."""
    with fresh() as s:
        ms = own_topics(s)
        n = _fill_clean(ms, rows)

        def rate(name: str, db: str, threads: int | None) -> dict[str, float]:
            return _materialize(ms, n, name, db, threads)

        r = rounds(
            repeat,
            {
                # the baseline: a bare consume of the same messages
                "consume": lambda: {"consume": _drain(ms, ms.topic("clean"), n)},
                # the standalone materializer's setup (`python -m warehouse
                # materialize`, `make experiment`): one DuckDB thread
                "memory": lambda: rate("memory", ":memory:", 1),
                "file": lambda: rate("file", str(work / "materialize.duckdb"), 1),
                # the dashboards' process: DuckDB's default threads (it also serves the queries)
                "serving": lambda: rate("serving", ":memory:", None),
            },
        )
    return _materialize_metrics(r)


def _fill_clean(ms: Settings, rows: int) -> int:
    """Produce ``rows`` synthetic clean messages to CLEAN_DATA: the messages produced."""
    from confluent_kafka import Producer

    from common.kafka_config import producer_config

    ensure_topics(ms, [ms.topic("clean")])
    # not kept past this: a materializing process does not hold them (they would slow its GC)
    msgs = clean_messages(rows)
    p = Producer({**producer_config(ms), "linger.ms": 20})
    for k, v in msgs:
        while True:
            try:
                p.produce(ms.topic("clean"), v, k)
                break
            except BufferError:
                p.poll(0.05)
    p.flush(60)
    return len(msgs)


def _materialize(ms: Settings, n: int, name: str, db: str, threads: int | None) -> dict[str, float]:
    """Start a materializer on an empty warehouse: rows/s until every message is in
    (``name``), and until they are also checkpointed (``name``_checkpointed: compressed,
    and for a file written with the WAL emptied; while a backlog streams in, the
    materializer leaves that to when it has caught up)."""
    from warehouse.materializer import Materializer
    from warehouse.store import Warehouse

    with contextlib.suppress(FileNotFoundError):
        os.remove(db)
    wh = Warehouse.open(db, threads=threads)
    mat = Materializer(ms, wh, topics=["clean"], batch_size=20000)
    t0 = time.perf_counter()
    mat.run(until=lambda: sum(mat.stats.rows.values()) >= n)
    appended = time.perf_counter() - t0
    wh.checkpoint()
    checkpointed = time.perf_counter() - t0
    if wh.scalar("SELECT count(*) FROM clean_queries") != n:
        raise RuntimeError("the materializer did not write every message once")
    wh.close()
    return {name: n / appended, f"{name}_checkpointed": n / checkpointed}


def _drain(s: Settings, topic: str, rows: int) -> float:
    """Read ``rows`` messages of ``topic`` from its start (giving up after 10 s without
    one): messages/s."""
    from confluent_kafka import Consumer, TopicPartition

    from common.kafka_config import consumer_config

    c = Consumer(consumer_config(s, f"bench-{uuid.uuid4().hex[:6]}"))
    md = c.list_topics(topic, timeout=10).topics[topic]
    c.assign([TopicPartition(topic, q, 0) for q in md.partitions])
    n = 0
    t0 = time.perf_counter()
    idle = time.perf_counter()
    while n < rows and time.perf_counter() - idle < 10:
        batch = c.consume(10000, 0.5)
        n += sum(1 for m in batch if not m.error())
        if batch:
            idle = time.perf_counter()
    c.close()
    return n / (time.perf_counter() - t0)


def _materialize_metrics(r: dict[str, list[float]]) -> Metrics:
    base = median(r["consume"])

    def m(name: str, unit: str) -> dict[str, Any]:
        return metric(median(r[name]), unit, base, runs=r[name])

    return {
        "materialize_consume_rows_per_s": metric(base, "rows/s (bare consume)", runs=r["consume"]),
        "materialize_rows_per_s": m("memory", "rows/s (:memory:, 1 DuckDB thread)"),
        "materialize_checkpointed_rows_per_s": m(
            "memory_checkpointed", "rows/s (:memory:, 1 thread, until compressed)"
        ),
        "materialize_file_rows_per_s": m("file", "rows/s (DuckDB file, 1 thread)"),
        "materialize_file_checkpointed_rows_per_s": m(
            "file_checkpointed", "rows/s (DuckDB file, 1 thread, until checkpointed)"
        ),
        "materialize_serving_rows_per_s": m("serving", "rows/s (:memory:, default threads)"),
    }
