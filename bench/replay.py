"""make bench's replay section: ``python -m producers.replay`` of a Parquet file and of the
same rows as CSV, beside a bare producer sending the replay's exact pre-encoded messages."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from bench.brokers import Fresh
from bench.harness import Metrics
from bench.inputs import own_topics, replay_rows
from bench.report import median, metric, rounds
from common.topics import ensure_topics

#: a pre-encoded message: key, timestamp, value, headers
Message = tuple[Any, Any, Any, list[tuple[str, bytes]]]


def bench_replay(fresh: Fresh, parquet: str, repeat: int) -> Metrics:
    """``repeat`` rounds of the bare produce (with and without the headers) and of the
    replay of ``parquet`` and of its CSV, each on a fresh broker."""
    msgs = _messages(parquet)
    csv = _write_csv(parquet)

    def replayed(name: str, source: str) -> Callable[[], dict[str, float]]:
        def run() -> dict[str, float]:
            rate, wall, peak = _replay_process(fresh, source)
            return {name: rate, f"{name}_wall": wall, f"{name}_peak": peak}

        return run

    r = rounds(
        repeat,
        {
            "same": lambda: {"same": _bare_produce(fresh, msgs, headers=True)},
            "no_headers": lambda: {"no_headers": _bare_produce(fresh, msgs, headers=False)},
            "parquet": replayed("parquet", parquet),
            "csv": replayed("csv", csv),
        },
    )
    return _replay_metrics(r)


def _messages(parquet: str) -> list[Message]:
    """The same messages as the replay's: key, value, timestamp and its four headers."""
    return [
        (key, ts, value, _headers(file, row))
        for key, ts, file, row, value in replay_rows(parquet, "bench")
    ]


def _headers(file: str, row: int) -> list[tuple[str, bytes]]:
    return [
        ("run_id", b"bench"),
        ("dataset", b"bench"),
        ("file", file.encode()),
        ("row", b"%d" % row),
    ]


def _write_csv(parquet: str) -> str:
    """The rows of ``parquet`` as CSV (DuckDB's), beside it: its path."""
    import duckdb

    csv = str(Path(parquet).with_suffix(".csv"))
    con = duckdb.connect()
    con.execute(f"COPY (SELECT * FROM read_parquet('{parquet}')) TO '{csv}' (FORMAT CSV, HEADER)")
    con.close()
    return csv


def _bare_produce(fresh: Fresh, msgs: list[Message], headers: bool) -> float:
    """Produce the pre-encoded messages, nothing else: rows/s."""
    from confluent_kafka import Producer

    from producers.replay import replay_producer_config

    with fresh() as s:
        base = own_topics(s)
        ensure_topics(base, [base.topic("raw")])
        p = Producer(replay_producer_config(base))
        topic = base.topic("raw")
        t0 = time.perf_counter()
        # the measured loop: inline, a helper's call per message would be part of the figure
        for key, ts, value, hdrs in msgs:
            while True:
                try:
                    p.produce(topic, value, key, timestamp=ts, headers=hdrs if headers else None)
                    break
                except BufferError:
                    p.poll(0.05)
        p.flush(60)
        return len(msgs) / (time.perf_counter() - t0)


def _replay_process(fresh: Fresh, source: str) -> tuple[float, float, float]:
    """Run the replay CLI as its own process (so its RSS is its own): (rows/s while
    sending, as the replay's summary says; rows/s over the process's whole life, with
    interpreter start, reading/staging the file and the order check; peak MB)."""
    with fresh() as s:
        rs = own_topics(s)
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "producers.replay", source, "--json", "--no-progress"],
            env=rs.to_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
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


def _replay_metrics(r: dict[str, list[float]]) -> Metrics:
    same = median(r["same"])

    def m(name: str, unit: str, baseline: float | None = None) -> dict[str, Any]:
        return metric(median(r[name]), unit, baseline, runs=r[name])

    def peak(name: str) -> dict[str, Any]:
        return metric(max(r[name]), "MB (highest run)", runs=r[name])

    return {
        "produce_baseline_rows_per_s": m("same", "rows/s (same messages, with headers)"),
        "produce_no_headers_rows_per_s": m("no_headers", "rows/s (without the headers)"),
        "replay_rows_per_s": m("parquet", "rows/s (Parquet)", same),
        "replay_wall_rows_per_s": m("parquet_wall", "rows/s (Parquet, whole process)", same),
        "replay_rss_peak_mb": peak("parquet_peak"),
        "replay_csv_rows_per_s": m("csv", "rows/s (CSV)", same),
        "replay_csv_wall_rows_per_s": m("csv_wall", "rows/s (CSV, whole process)", same),
        "replay_csv_rss_peak_mb": peak("csv_peak"),
    }
