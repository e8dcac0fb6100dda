"""make bench's freshness section: how long a row produced at a steady rate takes to become
visible to a reader of the warehouse, end to end (RAW -> clean stage -> DuckDB) and over the
materializer's hop alone (CLEAN -> DuckDB)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from bench.harness import Metrics
from bench.inputs import clean_messages, own_topics, replay_rows
from bench.report import metric, pctl
from common.settings import Settings
from common.topics import ensure_topics


def _watcher(
    wh: Any, sql: str, seen: dict[Any, float], want: int, timeout_s: float
) -> threading.Thread:
    """Start :func:`_watch` in a thread (it runs while the rows are produced)."""
    t = threading.Thread(
        target=_watch, args=(wh, sql, seen, want, timeout_s), name="watch", daemon=True
    )
    t.start()
    return t


def _watch(wh: Any, sql: str, seen: dict[Any, float], want: int, timeout_s: float) -> None:
    """Record in ``seen`` the wall time each key (column ``k``) became visible to a reader.

    Polls every 20 ms for rows newer than the newest seen (a write transaction stamps all
    its rows with one ``loaded_at``), so each poll reads only the new rows and the reader
    does not starve the materializer thread of the GIL."""
    deadline = time.time() + timeout_s
    newest = None
    while time.time() < deadline and len(seen) < want:
        cur = wh.cursor()
        try:
            if newest is None:
                rows = cur.execute(f"SELECT k, loaded_at FROM ({sql})").fetchall()
            else:
                q = f"SELECT k, loaded_at FROM ({sql}) WHERE loaded_at > ?"
                rows = cur.execute(q, [newest]).fetchall()
        finally:
            cur.close()
        now = time.time()
        for k, at in rows:
            seen.setdefault(k, now)
            newest = at if newest is None or at > newest else newest
        time.sleep(0.02)


def _latency_metrics(
    prefix: str, sent: dict[Any, float], seen: dict[Any, float], rate: float
) -> Metrics:
    """p50/p95/p99 seconds from sent to seen, and the share of the rows seen."""
    lat = [seen[k] - sent[k] for k in sent if k in seen]
    unit = f"s at {rate:,.0f} rows/s"
    return {
        f"{prefix}_p50_s": metric(pctl(lat, 0.5), unit),
        f"{prefix}_p95_s": metric(pctl(lat, 0.95), unit),
        f"{prefix}_p99_s": metric(pctl(lat, 0.99), unit),
        f"{prefix}_seen": metric(len(lat) / max(len(sent), 1), "share of rows"),
    }


def bench_freshness(s: Settings, rate: float, seconds: float) -> Metrics:
    """CLEAN_DATA produce -> visible in fact_query (materializer hop only), at a steady rate."""
    from confluent_kafka import Producer

    from common.kafka_config import producer_config
    from warehouse.materializer import Materializer
    from warehouse.store import Warehouse

    fs = own_topics(s)
    ensure_topics(fs, [fs.topic("clean")])
    msgs = clean_messages(int(rate * seconds))
    wh = Warehouse.open(":memory:")
    mat = Materializer(fs, wh, topics=["clean"], batch_size=5000)
    mat.start_background()
    time.sleep(6)  # consumer up
    p = Producer({**producer_config(fs), "linger.ms": 5})
    sent: dict[str, float] = {}
    seen: dict[Any, float] = {}
    sql = "SELECT query_key AS k, loaded_at FROM clean_queries"
    watcher = _watcher(wh, sql, seen, len(msgs), seconds + 60)
    t0 = time.perf_counter()
    for i, (k, v) in enumerate(msgs):
        due = t0 + i / rate
        while time.perf_counter() < due:
            p.poll(0.001)
        sent[json.loads(v)["query_key"]] = time.time()
        p.produce(fs.topic("clean"), v, k)
        p.poll(0)
    p.flush(30)
    watcher.join()
    mat.stop()
    wh.close()
    return _latency_metrics("materializer_freshness", sent, seen, rate)


def bench_freshness_e2e(s: Settings, parquet: str, rate: float, seconds: float) -> Metrics:
    """RAW_DATA produce -> clean stage -> materializer -> visible in fact_query.

    The rows are the replay's own messages (same JSON, key, timestamp and headers), sent at
    a steady ``rate`` the clean stage sustains; the materializer runs in this process, as it
    does inside a dashboard."""
    from confluent_kafka import Producer

    from common.kafka_config import producer_config
    from warehouse.materializer import Materializer
    from warehouse.store import Warehouse

    fs = own_topics(s, "bench-fresh").with_(state_dir=tempfile.mkdtemp(prefix="bench-state-"))
    ensure_topics(fs)
    msgs = replay_rows(parquet, "fresh", limit=int(rate * seconds))
    proc = subprocess.Popen(
        [sys.executable, "-m", "processors", "clean"],
        env=fs.to_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wh = Warehouse.open(":memory:")
    mat = Materializer(fs, wh, topics=["clean", "dead_letters"], batch_size=5000)
    mat.start_background()
    sent: dict[int, float] = {}
    seen: dict[Any, float] = {}
    try:
        time.sleep(10)  # the stage's and the materializer's consumers join
        p = Producer({**producer_config(fs), "linger.ms": 5})
        topic = fs.topic("raw")
        sql = """SELECT "row" AS k, loaded_at FROM clean_queries WHERE run_id = 'fresh'
                 UNION ALL SELECT "row", loaded_at FROM rejects WHERE run_id = 'fresh'"""
        watcher = _watcher(wh, sql, seen, len(msgs), seconds + 120)
        t0 = time.perf_counter()
        for i, (key, ts, file, row, value) in enumerate(msgs):
            due = t0 + i / rate
            while time.perf_counter() < due:
                p.poll(0.001)
            headers = [("run_id", "fresh"), ("dataset", "bench"), ("file", file), ("row", str(row))]
            sent[int(row)] = time.time()
            p.produce(topic, value, key, timestamp=ts, headers=headers)
            p.poll(0)
        p.flush(30)
        watcher.join()
    finally:
        _stop(proc)
        mat.stop()
        wh.close()
    return _latency_metrics("freshness", sent, seen, rate)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the clean stage (after its commit), killing it if it does not within 30 s."""
    proc.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(30)
    if proc.poll() is None:
        proc.kill()
