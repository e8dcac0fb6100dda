"""The soak's load run: the whole pipeline at a fixed replay rate for minutes, sampling
every process's RSS and the backlog; verdicts: memory flat, lag back to zero."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from bench.soak.procs import Procs, console, pipeline_run, replay_args, rows_read
from bench.soak.verdicts import memory_verdict
from common.settings import Settings
from pipeline.report import reconcile
from warehouse.materializer import Materializer
from warehouse.store import Warehouse


@dataclass
class LoadWatch:
    """What the load run's sampling loop has seen (times in s since its start)."""

    run_id: str
    lag: list[tuple[float, int]] = field(default_factory=list)
    replay_end: float | None = None
    rows_read: int = 0
    #: every count reconciles
    drained_at: float | None = None
    #: every replayed row cleaned or rejected
    backlog_zero: float | None = None

    def observe(self, procs: Procs, wh: Warehouse, t: float) -> tuple[int, int]:
        """Note the replay's end and the backlog at ``t``: (raw rows, rows accounted for)."""
        rp = procs.proc("replay")
        if self.replay_end is None and rp.poll() is not None:
            if rp.returncode != 0:
                raise RuntimeError(f"replay exited {rp.returncode}; see {procs.logs}/replay.log")
            self.replay_end = t
            self.rows_read = rows_read(procs)
        # sampled after the replay's end is known (its last rows are in RAW_DATA): a
        # backlog already zero then is back to zero in 0 s
        raw, accounted = backlog(wh, self.run_id)
        self.lag.append((t, raw - accounted))
        if self.replay_end is not None and raw == accounted and self.backlog_zero is None:
            self.backlog_zero = t
        return raw, accounted

    def finished(self, wh: Warehouse, t: float, drain_s: float) -> bool:
        """Every count reconciles, or ``drain_s`` passed since the replay ended."""
        if self.replay_end is None:
            return False
        if all(c.ok for c in reconcile(wh, self.run_id, self.rows_read)):
            self.drained_at = t
            return True
        return t - self.replay_end > drain_s

    def since_replay_end(self, t: float | None) -> float | None:
        return None if t is None or self.replay_end is None else t - self.replay_end


def backlog(wh: Warehouse, run_id: str) -> tuple[int, int]:
    """(rows materialized from RAW_DATA, of those the rows cleaned or rejected)."""
    raw = int(wh.scalar("SELECT count(*) FROM raw_rows WHERE run_id = ?", [run_id]) or 0)
    done = int(
        wh.scalar(
            "SELECT (SELECT count(*) FROM clean_queries WHERE run_id = $1)"
            " + (SELECT count(*) FROM rejects WHERE run_id = $1)",
            [run_id],
        )
        or 0
    )
    return raw, done


def soak_load(
    s: Settings,
    work: Path,
    rate: float,
    seconds: float,
    sample_s: float,
    drain_s: float,
    broker_pid: int | None = None,
    broker_note: str = "",
) -> dict[str, Any]:
    rows = int(rate * seconds)
    run_id = f"soak-load-{int(time.time())}"
    ls, procs = pipeline_run(s, work, "load", f"{run_id}.")
    wh = Warehouse.open(str(work / "load.duckdb"))
    mat = Materializer(ls, wh)
    mat.start_background()
    source = (
        f"synthetic:rows={rows},seed=7,clusters=24,days=30,error_rate=0.005,duplicate_rate=0.002"
    )
    watch = LoadWatch(run_id)
    try:
        procs.start("processors", ["processors", "all"])
        procs.start("replay", replay_args(source, run_id, rate))
        _sample_until_drained(procs, wh, watch, rate, rows, sample_s, drain_s, broker_pid)
    finally:
        procs.stop_all()
        mat.stop()
        wh.close()
    return _load_result(watch, procs, rate, rows, broker_note)


def _sample_until_drained(
    procs: Procs,
    wh: Warehouse,
    watch: LoadWatch,
    rate: float,
    rows: int,
    sample_s: float,
    drain_s: float,
    broker_pid: int | None,
) -> None:
    me = os.getpid()
    t0 = time.monotonic()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(f"load at {rate:g} rows/s", total=rows, info="")
        while True:
            time.sleep(sample_s)
            t = time.monotonic() - t0
            procs.sample(t, {"materializer+harness": me})
            if broker_pid is not None:
                procs.sample(t, {"broker": broker_pid})
            raw, accounted = watch.observe(procs, wh, t)
            bar.update(task, completed=accounted, info=f"backlog {raw - accounted:,} rows")
            if watch.finished(wh, t, drain_s):
                return
            if procs.proc("processors").poll() is not None:
                raise RuntimeError(f"processors exited; see {procs.logs}/processors.log")


def _load_result(
    watch: LoadWatch, procs: Procs, rate: float, rows: int, broker_note: str
) -> dict[str, Any]:
    mem = {role: memory_verdict(v) for role, v in procs.rss.items()}
    if "broker" in mem:
        # the local broker's growth is not the project's leak (broker_memory_note says
        # why, per broker): reported, not judged
        mem["broker"]["flat"] = None
        mem["broker"]["note"] = broker_note
    end = watch.replay_end
    return {
        "run_id": watch.run_id,
        "rate_rows_per_s": rate,
        "rows": rows,
        "replay_s": end,
        "lag_max_rows": max((v for _, v in watch.lag), default=0),
        "lag_at_replay_end_rows": next((v for t, v in watch.lag if end and t >= end), None),
        "backlog_zero_s": watch.since_replay_end(watch.backlog_zero),
        "drain_s": watch.since_replay_end(watch.drained_at),
        "lag_zero": watch.drained_at is not None,
        "memory": mem,
        "memory_flat": all(m["flat"] is not False for m in mem.values()),
        "lag_series": watch.lag,
        "rss_series": procs.rss,
    }
