"""``make bench [QUICK=1]``: throughput, latency and memory beside same-run baselines.

Prints a table and writes ``bench/results/<UTC timestamp>.json`` mapping each metric to
``{"value", "unit", "baseline", "ratio"}``. Figures are never asserted anywhere.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from bench.brokers import Fresh, broker_info, fresh_brokers, with_broker
from bench.chain import bench_chain, default_rows
from bench.report import (
    compare_table,
    console,
    markdown_table,
    median,
    metric,
    pctl,
    print_table,
    rounds,
)
from common.broker import broker_for
from common.settings import Settings
from common.signals import interrupt_on
from common.topics import ensure_topics

RESULTS = Path(__file__).resolve().parent / "results"


class Peak:
    """Peak RSS (MB) of this process and its children, sampled in a thread."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            try:
                rss = me.memory_info().rss + sum(
                    c.memory_info().rss for c in me.children(recursive=True)
                )
                self.peak = max(self.peak, rss / 2**20)
            except psutil.Error:
                pass
            time.sleep(0.1)

    def __enter__(self) -> Peak:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()


def section(
    name: str,
    fn: Callable[[], dict[str, dict[str, Any]]],
    results: dict[str, Any],
    notes: list[str],
) -> None:
    console.print(f"[bold]{name}[/] ...")
    t0 = time.monotonic()
    try:
        results.update(fn())
    except Exception as e:
        notes.append(f"{name}: failed: {type(e).__name__}: {str(e)[:300]}")
        console.print(f"[red]{name} failed: {e}[/]")
    console.print(f"  done in {time.monotonic() - t0:.1f} s")


# --- sections --------------------------------------------------------------------------
def bench_replay(fresh: Fresh, parquet: str, repeat: int) -> dict[str, dict[str, Any]]:
    import duckdb
    from confluent_kafka import Producer

    from producers.replay import Filters, ordered_sql, replay_producer_config
    from producers.sources import resolve, stage

    # the exact messages the replay sends, pre-encoded
    con = duckdb.connect()
    rel = stage(con, resolve(parquet, str(Path(parquet).parent)))
    rows_out = con.execute(
        ordered_sql(rel, Filters()), {"run_id": "bench", "dataset": "bench"}
    ).fetchall()
    con.close()

    def bare(msgs: list[tuple[Any, ...]], headers: bool) -> float:
        """Produce the pre-encoded messages, nothing else: rows/s."""
        with fresh() as s:
            base = s.with_(topic_prefix=f"bench-{uuid.uuid4().hex[:6]}.")
            ensure_topics(base, [base.topic("raw")])
            p = Producer(replay_producer_config(base))
            topic = base.topic("raw")
            t0 = time.perf_counter()
            for key, ts, value, hdrs in msgs:
                while True:
                    try:
                        p.produce(
                            topic, value, key, timestamp=ts, headers=hdrs if headers else None
                        )
                        break
                    except BufferError:
                        p.poll(0.05)
            p.flush(60)
            return len(msgs) / (time.perf_counter() - t0)

    # the same messages as the replay's: key, value, timestamp and its four headers
    msgs = [
        (key, ts, value, [("run_id", b"bench"), ("dataset", b"bench"),
                          ("file", file.encode()), ("row", b"%d" % row)])
        for key, ts, file, row, value in rows_out
    ]  # fmt: skip
    del rows_out
    csv = str(Path(parquet).with_suffix(".csv"))
    con = duckdb.connect()
    con.execute(f"COPY (SELECT * FROM read_parquet('{parquet}')) TO '{csv}' (FORMAT CSV, HEADER)")
    con.close()

    def replayed(name: str, source: str) -> Callable[[], dict[str, float]]:
        def run() -> dict[str, float]:
            rate, wall, peak = _replay_process(fresh, source)
            return {name: rate, f"{name}_wall": wall, f"{name}_peak": peak}

        return run

    r = rounds(
        repeat,
        {
            "same": lambda: {"same": bare(msgs, headers=True)},
            "no_headers": lambda: {"no_headers": bare(msgs, headers=False)},
            "parquet": replayed("parquet", parquet),
            "csv": replayed("csv", csv),
        },
    )
    same = median(r["same"])

    def m(name: str, unit: str, baseline: float | None = None) -> dict[str, Any]:
        return metric(median(r[name]), unit, baseline, runs=r[name])

    return {
        "produce_baseline_rows_per_s": m("same", "rows/s (same messages, with headers)"),
        "produce_no_headers_rows_per_s": m("no_headers", "rows/s (without the headers)"),
        "replay_rows_per_s": m("parquet", "rows/s (Parquet)", same),
        "replay_wall_rows_per_s": m("parquet_wall", "rows/s (Parquet, whole process)", same),
        "replay_rss_peak_mb": metric(
            max(r["parquet_peak"]), "MB (highest run)", runs=r["parquet_peak"]
        ),
        "replay_csv_rows_per_s": m("csv", "rows/s (CSV)", same),
        "replay_csv_wall_rows_per_s": m("csv_wall", "rows/s (CSV, whole process)", same),
        "replay_csv_rss_peak_mb": metric(
            max(r["csv_peak"]), "MB (highest run)", runs=r["csv_peak"]
        ),
    }


def _replay_process(fresh: Fresh, source: str) -> tuple[float, float, float]:
    """Run the replay CLI as its own process (so its RSS is its own): (rows/s while
    sending, as the replay's summary says; rows/s over the process's whole life, with
    interpreter start, reading/staging the file and the order check; peak MB)."""
    with fresh() as s:
        rs = s.with_(topic_prefix=f"bench-{uuid.uuid4().hex[:6]}.")
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "producers.replay", source, "--json", "--no-progress"],
            env=rs.to_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        peak = 0.0
        ps = psutil.Process(proc.pid)
        while proc.poll() is None:
            with contextlib.suppress(psutil.Error):
                peak = max(peak, ps.memory_info().rss / 2**20)
            time.sleep(0.05)
        wall = time.perf_counter() - t0
    out = proc.stdout.read().decode() if proc.stdout else ""
    if proc.returncode != 0:
        raise RuntimeError(f"replay of {source} exited {proc.returncode}")
    summary = json.loads(out.strip().splitlines()[-1])
    return float(summary["rows_per_s"]), summary["rows_sent"] / wall, peak


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


def _clean_messages(rows: int) -> list[tuple[bytes, bytes]]:
    from processors.logic.clean import clean_row
    from producers.synthetic import SyntheticSpec, generate

    out = []
    table = generate(SyntheticSpec(rows=rows, seed=5, clusters=20)).table
    for i, r in enumerate(table.to_pylist(), start=1):
        r["arrival_timestamp"] = r["arrival_timestamp"].strftime("%Y-%m-%d %H:%M:%S.%f")
        r.update(
            {
                "_run_id": "bench",
                "_dataset": "synthetic",
                "_file": "bench",
                "_row": i,
                "_kind": "provisioned",
            }
        )
        res = clean_row(r)
        if res.clean is not None:
            out.append((res.clean["cluster"].encode(), json.dumps(res.clean).encode()))
    return out


def bench_materializer(
    fresh: Fresh, rows: int, work: Path, repeat: int
) -> dict[str, dict[str, Any]]:
    with fresh() as s:
        return _materialize(s, rows, work, repeat)


def _materialize(s: Settings, rows: int, work: Path, repeat: int) -> dict[str, dict[str, Any]]:
    from confluent_kafka import Producer

    from common.kafka_config import producer_config
    from warehouse.materializer import Materializer
    from warehouse.store import Warehouse

    ms = s.with_(topic_prefix=f"bench-{uuid.uuid4().hex[:6]}.")
    ensure_topics(ms, [ms.topic("clean")])
    msgs = _clean_messages(rows)
    p = Producer({**producer_config(ms), "linger.ms": 20})
    for k, v in msgs:
        while True:
            try:
                p.produce(ms.topic("clean"), v, k)
                break
            except BufferError:
                p.poll(0.05)
    p.flush(60)

    def rate(name: str, db: str, threads: int | None) -> dict[str, float]:
        """Start a materializer on an empty warehouse: rows/s until every message is in
        (``name``), and until they are also checkpointed (``name``_checkpointed: compressed,
        and for a file written with the WAL emptied; while a backlog streams in, the
        materializer leaves that to when it has caught up)."""
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

    n = len(msgs)
    del msgs  # a materializing process does not hold them (their objects would slow its GC)
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


def bench_freshness(s: Settings, rate: float, seconds: float) -> dict[str, dict[str, Any]]:
    """CLEAN_DATA produce -> visible in fact_query (materializer hop only), at a steady rate."""
    from confluent_kafka import Producer

    from common.kafka_config import producer_config
    from warehouse.materializer import Materializer
    from warehouse.store import Warehouse

    fs = s.with_(topic_prefix=f"bench-{uuid.uuid4().hex[:6]}.")
    ensure_topics(fs, [fs.topic("clean")])
    n = int(rate * seconds)
    msgs = _clean_messages(n)
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
        qk = json.loads(v)["query_key"]
        sent[qk] = time.time()
        p.produce(fs.topic("clean"), v, k)
        p.poll(0)
    p.flush(30)
    watcher.join()
    mat.stop()
    wh.close()
    lat = [seen[k] - sent[k] for k in sent if k in seen]
    return {
        "materializer_freshness_p50_s": metric(pctl(lat, 0.5), f"s at {rate:,.0f} rows/s"),
        "materializer_freshness_p95_s": metric(pctl(lat, 0.95), f"s at {rate:,.0f} rows/s"),
        "materializer_freshness_p99_s": metric(pctl(lat, 0.99), f"s at {rate:,.0f} rows/s"),
        "materializer_freshness_seen": metric(len(lat) / max(len(sent), 1), "share of rows"),
    }


def bench_freshness_e2e(
    s: Settings, parquet: str, rate: float, seconds: float
) -> dict[str, dict[str, Any]]:
    """RAW_DATA produce -> clean stage -> materializer -> visible in fact_query.

    The rows are the replay's own messages (same JSON, key, timestamp and headers), sent at
    a steady ``rate`` the clean stage sustains; the materializer runs in this process, as it
    does inside a dashboard."""
    import duckdb
    from confluent_kafka import Producer

    from common.kafka_config import producer_config
    from producers.replay import Filters, ordered_sql
    from producers.sources import resolve, stage
    from warehouse.materializer import Materializer
    from warehouse.store import Warehouse

    fs = s.with_(
        topic_prefix=f"bench-fresh-{uuid.uuid4().hex[:6]}.",
        state_dir=tempfile.mkdtemp(prefix="bench-state-"),
    )
    ensure_topics(fs)
    n = int(rate * seconds)
    con = duckdb.connect()
    rel = stage(con, resolve(parquet, str(Path(parquet).parent)))
    msgs = con.execute(
        ordered_sql(rel, Filters(limit=n)), {"run_id": "fresh", "dataset": "bench"}
    ).fetchall()
    con.close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "processors", "clean"],
        env=fs.to_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
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
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(30)
        if proc.poll() is None:
            proc.kill()
        mat.stop()
        wh.close()
    lat = [seen[k] - sent[k] for k in sent if k in seen]
    unit = f"s at {rate:,.0f} rows/s"
    return {
        "freshness_p50_s": metric(pctl(lat, 0.5), unit),
        "freshness_p95_s": metric(pctl(lat, 0.95), unit),
        "freshness_p99_s": metric(pctl(lat, 0.99), unit),
        "freshness_seen": metric(len(lat) / max(len(sent), 1), "share of rows"),
    }


VIEWS = {
    "fact_query_kpis": "SELECT count(*), avg(was_cached::INT), avg(was_aborted::INT), quantile_cont(total_duration_ms, 0.95) FROM fact_query WHERE run_id = ?",
    "v_runs": "SELECT * FROM v_runs WHERE run_id = ?",
    "v_fleet_kpi": "SELECT * FROM v_fleet_kpi WHERE run_id = ?",
    "v_query_metrics": "SELECT * FROM v_query_metrics WHERE run_id = ? AND cluster = 'provisioned-0'",
    "v_compile_metrics": "SELECT * FROM v_compile_metrics WHERE run_id = ? AND cluster = 'provisioned-0'",
    "v_cluster_health": "SELECT * FROM v_cluster_health WHERE run_id = ?",
    "v_leaderboard_latest": "SELECT * FROM v_leaderboard_latest WHERE run_id = ?",
    "v_table_freshness": "SELECT * FROM v_table_freshness WHERE run_id = ? AND cluster = 'provisioned-0'",
    "v_fingerprint_repetition": "SELECT * FROM v_fingerprint_repetition WHERE run_id = ? AND cluster = 'provisioned-0' ORDER BY executions DESC LIMIT 50",
    "dead_letters": "SELECT * FROM dead_letters WHERE run_id = ? LIMIT 100",
}


def bench_views(db: str, rows: int) -> dict[str, dict[str, Any]]:
    from bench.fixtures import fill_synthetic
    from warehouse.store import Warehouse

    wh = Warehouse.open(db)
    if not wh.scalar("SELECT count(*) FROM clean_queries WHERE run_id = 'bench'"):
        fill_synthetic(wh, rows, seed=1, run_id="bench")
    out: dict[str, dict[str, Any]] = {}
    worst = 0.0
    for name, sql in VIEWS.items():
        times = []
        for _ in range(12):
            t0 = time.perf_counter()
            wh.query(sql, ["bench"])
            times.append((time.perf_counter() - t0) * 1000)
        p95 = pctl(times[2:], 0.95)
        out[f"view_{name}_p95_ms"] = metric(p95, "ms")
        worst = max(worst, p95)
    out["view_p95_ms"] = metric(worst, "ms (worst view)")
    wh.close()
    return out


def bench_dashboards(db: str) -> dict[str, dict[str, Any]]:
    env = dict(os.environ, DUCKDB_PATH=db, DASHBOARD_READ_ONLY="1")
    code = (
        "import json, sys, time\n"
        "from streamlit.testing.v1 import AppTest\n"
        "out = {}\n"
        "for name in ('aggregate', 'expert'):\n"
        "    at = AppTest.from_file(f'dashboards/{name}.py', default_timeout=120)\n"
        "    runs = []\n"
        "    for _ in range(6):\n"
        "        t = time.perf_counter(); at.run(); runs.append((time.perf_counter() - t) * 1000)\n"
        "    assert not at.exception, at.exception\n"
        "    out[name] = runs\n"
        "print(json.dumps(out))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=900,
                       cwd=str(Path(__file__).resolve().parents[1]))  # fmt: skip
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-500:])
    runs = json.loads(r.stdout.strip().splitlines()[-1])
    out = {}
    for name, ms_list in runs.items():
        out[f"dashboard_{name}_cold_ms"] = metric(ms_list[0], "ms")
        out[f"dashboard_{name}_warm_ms"] = metric(sorted(ms_list[1:])[len(ms_list[1:]) // 2], "ms")
    out["dashboard_run_ms"] = metric(
        max(out[f"dashboard_{n}_warm_ms"]["value"] for n in runs), "ms (worst warm median)"
    )
    return out


# --- main ------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    import confluent_kafka
    import duckdb
    import quixstreams
    import streamlit

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "quixstreams": quixstreams.__version__,
        "confluent_kafka": confluent_kafka.version()[0],
        "librdkafka": confluent_kafka.libversion()[0],
        "duckdb": duckdb.__version__,
        "streamlit": streamlit.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small sizes (a few minutes)")
    ap.add_argument(
        "--broker",
        choices=("kafka", "tansu"),
        default=None,
        help="local broker to measure on (default: EMBEDDED_BROKER if it names one, else "
        "kafka); KAFKA_BOOTSTRAP_SERVERS, when set, wins over either",
    )
    ap.add_argument("--rows", type=int, help="replay rows (default 1,000,000; quick 100,000)")
    ap.add_argument(
        "--chain-rows",
        type=int,
        help="rows through the chain (default on Kafka 200,000, quick 20,000; on Tansu "
        "30,000, quick 5,000)",
    )
    ap.add_argument("--view-rows", type=int, help="materialized queries for view/dashboard timing")
    ap.add_argument(
        "--repeat",
        type=int,
        help="rounds of the replay and materializer measurements, reported as medians "
        "(default 3; quick 1)",
    )
    ap.add_argument(
        "--skip",
        default="",
        help="comma-separated sections to skip: replay,chain,materialize,freshness,views,dashboards",
    )
    ap.add_argument(
        "--fresh-rate",
        type=float,
        default=None,
        help="rows/s of the end-to-end freshness run (default: 2,000 on Apache Kafka, "
        "300 on Tansu, whose clean stage sustains less)",
    )
    ap.add_argument(
        "--markdown",
        metavar="RESULT_JSON",
        help="print an earlier result as a Markdown table and exit (runs nothing)",
    )
    ap.add_argument(
        "--compare",
        nargs="+",
        metavar="RESULT_JSON",
        help="print earlier results side by side as a Markdown table and exit (runs nothing)",
    )
    Settings.add_arguments(ap, only=["kafka"])
    args = ap.parse_args(argv)
    if args.markdown:
        print(markdown_table(json.loads(Path(args.markdown).read_text())))
        return 0
    if args.compare:
        print(compare_table({Path(p).stem: json.loads(Path(p).read_text()) for p in args.compare}))
        return 0
    rows = args.rows or (100_000 if args.quick else 1_000_000)
    repeat = args.repeat or (1 if args.quick else 3)
    view_rows = args.view_rows or (100_000 if args.quick else 1_000_000)
    skip = set(filter(None, args.skip.split(",")))
    info = machine()
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    settings = with_broker(Settings.from_args(args), args.broker).with_(
        run_dir=str(work / "run"), state_dir=str(work / "state")
    )
    results: dict[str, Any] = {}
    notes: list[str] = []
    with Peak() as peak, broker_for(settings) as s:
        broker = broker_info(settings, s)
        fresh = fresh_brokers(settings, s)
        chain_rows = args.chain_rows or default_rows(s.broker_kind, args.quick)
        if s.on_tansu and not args.chain_rows:
            notes.append(
                f"chain: {chain_rows:,} rows on Tansu (it runs a few hundred rows/s there; "
                "200,000 on Kafka)"
            )
        from producers.synthetic import SyntheticSpec, write

        parquet = str(work / "bench.parquet")
        console.print(f"writing {rows:,} synthetic rows to {parquet}")
        write(SyntheticSpec(rows=rows, seed=42, clusters=24, days=30), parquet)
        if "replay" not in skip:
            section(
                "replay vs bare produce",
                lambda: bench_replay(fresh, parquet, repeat),
                results,
                notes,
            )
        if "chain" not in skip:
            chain_parquet = str(work / "chain.parquet")
            write(
                SyntheticSpec(rows=chain_rows, seed=43, clusters=24, days=30, error_rate=0.005),
                chain_parquet,
            )
            section(
                f"chain ({chain_rows:,} rows) vs passthrough with its topology",
                lambda: bench_chain(s, chain_parquet, notes),
                results,
                notes,
            )
        if "materialize" not in skip:
            section(
                "materializer",
                lambda: bench_materializer(fresh, min(rows, 500_000), work, repeat),
                results,
                notes,
            )
        if "freshness" not in skip:
            fresh_rate = args.fresh_rate or (300.0 if s.on_tansu else 2000.0)
            section(
                f"freshness end to end (RAW -> clean -> DuckDB) at {fresh_rate:,.0f} rows/s",
                lambda: bench_freshness_e2e(s, parquet, fresh_rate, 20 if args.quick else 60),
                results,
                notes,
            )
            section(
                "freshness of the materializer hop (CLEAN -> DuckDB) at 5k rows/s",
                lambda: bench_freshness(s, 5000.0, 10 if args.quick else 30),
                results,
                notes,
            )
        db = str(work / "views.duckdb")
        if "views" not in skip:
            section(
                f"views at {view_rows:,} queries",
                lambda: bench_views(db, view_rows),
                results,
                notes,
            )
        if "dashboards" not in skip:
            section(
                f"dashboards at {view_rows:,} queries", lambda: bench_dashboards(db), results, notes
            )
    results["rss_peak_mb"] = metric(peak.peak, "MB (bench process + children)")
    result = {"machine": info, "broker": broker, "quick": args.quick, "rows": rows,
              "chain_rows": chain_rows, "view_rows": view_rows, "repeat": repeat,
              "metrics": results, "notes": notes}  # fmt: skip
    print_table(result)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(result, indent=2))
    console.print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    interrupt_on(signal.SIGTERM)
    sys.exit(main())
