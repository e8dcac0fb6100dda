"""The soak's fault run: the same source through a clean experiment and through a run in
which each stage, the materializer and the replay are SIGKILLed at seeded random points
and restarted; verdict: every materialized table equals the clean run's, row for row."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path
from typing import Any

from bench.soak.procs import WORKERS, Procs, console, pipeline_run, replay_args, rows_read
from bench.soak.verdicts import kill_schedule, table_diff
from common.settings import Settings
from pipeline.experiment import materialize_until_reconciled, run_experiment
from processors.streaming.topology import all_workers, worker_name
from warehouse.materializer import Materializer
from warehouse.store import Warehouse

#: tables compared with the clean run: (table, predicate of its final records, or None
#: when every record is final)
COMPARED: tuple[tuple[str, str | None], ...] = (
    ("raw_rows", None),
    ("clean_queries", None),
    ("rejects", None),
    ("late_rows", None),
    ("flattened", None),
    ("query_metrics", "final"),
    ("compile_metrics", "final"),
    ("leaderboards", "variant = 'final'"),
)


def _snapshot(db: str, run_id: str, provisional: bool = False) -> dict[str, list[tuple[Any, ...]]]:
    wh = Warehouse.open(db, read_only=True)
    out = {}
    try:
        for table, final in COMPARED:
            if provisional and final is None:
                continue
            where = "run_id = ?"
            if final is not None:
                where += f" AND {'NOT ' if provisional else ''}({final})"
            df = wh.query(f"SELECT * EXCLUDE (loaded_at) FROM {table} WHERE {where}", [run_id])
            out[table] = [tuple(r) for r in df.astype(str).itertuples(index=False)]
    finally:
        wh.close()
    return out


def _clean_reference(s: Settings, work: Path, source: str, run_id: str, rows: int) -> str:
    """A fault-free experiment of the same run id in its own namespace: its DuckDB file."""
    clean_db = str(work / "clean.duckdb")
    console.print(f"  clean run of {rows:,} rows")
    cs = s.with_(
        topic_prefix="soak-clean.",
        state_dir=str(work / "clean-state"),
        run_dir=str(work / "clean-run"),  # the replay checkpoint of this run id
    )
    _, _, checks = run_experiment(source, clean_db, cs, run_id=run_id, progress=False)
    if not all(c.ok for c in checks):
        raise RuntimeError("the clean reference run does not reconcile")
    return clean_db


def _kill(procs: Procs, at: float, target: str, restart: dict[str, list[str]]) -> dict[str, Any]:
    """SIGKILL ``target`` (a worker under the processors' supervisor, which restarts it, or
    one of ``restart``, started again here after a second)."""
    if target in WORKERS:
        pid = procs.stage_pids().get(target)
    else:
        pid = procs.proc(target).pid if procs.running(target) else None
    if pid is None:
        return {"target": target, "at_s": round(at, 1), "killed": False}
    os.kill(pid, signal.SIGKILL)
    console.print(f"    {at:6.1f} s  SIGKILL {target} (pid {pid})")
    if target in restart:
        procs.proc(target).wait(10)
        time.sleep(1.0)
        procs.start(target, restart[target])
    return {"target": target, "at_s": round(at, 1), "killed": True}


def _faulted_run(
    procs: Procs,
    restart: dict[str, list[str]],
    schedule: list[tuple[float, str]],
    replay_s: float,
) -> list[dict[str, Any]]:
    """Start the chain, the materializer and the replay, kill each target on schedule;
    returns once the replay has finished."""
    kills: list[dict[str, Any]] = []
    t0 = time.monotonic()
    procs.start("processors", ["processors", "all"])
    procs.start("materializer", restart["materializer"])
    procs.start("replay", restart["replay"])
    console.print(f"  faulted run: {len(schedule)} SIGKILLs within {replay_s:.0f} s of replay")
    for at, target in schedule:
        while time.monotonic() - t0 < at:
            time.sleep(0.2)
        kills.append(_kill(procs, at, target, restart))
    rp = procs.proc("replay")
    if rp.wait(max(60.0, 3 * replay_s)) != 0:
        raise RuntimeError(f"replay exited {rp.returncode}; see {procs.logs}/replay.log")
    return kills


def soak_faults(
    s: Settings, work: Path, rows: int, rate: float, seed: int, drain_s: float
) -> dict[str, Any]:
    rng = random.Random(seed)
    run_id = f"soak-fault-{seed}"
    source = (
        f"synthetic:rows={rows},seed={seed},clusters=8,days=2,error_rate=0.01,duplicate_rate=0.005"
    )
    clean_db = _clean_reference(s, work, source, run_id, rows)
    fs, procs = pipeline_run(s, work, "fault", "soak-fault.")
    fault_db = str(work / "fault.duckdb")
    restart = {
        "materializer": ["warehouse", "materialize", "--db", fault_db],
        "replay": replay_args(source, run_id, rate),
    }
    replay_s = rows / rate
    schedule = kill_schedule(
        [*(worker_name(w) for w in all_workers(fs)), "materializer", "replay"],
        0.15 * replay_s,
        0.9 * replay_s,
        rng,
    )
    try:
        kills = _faulted_run(procs, restart, schedule, replay_s)
        # drain: the chain keeps running (it flushes the open windows once idle); the
        # materializer continues in this process until every count reconciles
        procs.stop("materializer", 60)
        read = rows_read(procs)
        wh = Warehouse.open(fault_db)
        try:
            deadline = time.monotonic() + drain_s
            mat = Materializer(fs, wh)
            reconciled = materialize_until_reconciled(mat, wh, run_id, read, deadline)
        finally:
            wh.close()
        procs.stop("processors", 90)
    finally:
        procs.stop_all()
    restarts = (procs.logs / "processors.log").read_text().count("restarting it in")
    return {
        "run_id": run_id,
        "rows": rows,
        "rate_rows_per_s": rate,
        "kills": kills,
        "stage_restarts_by_supervisor": restarts,
        "reconciles": reconciled,
        **_compare(clean_db, fault_db, run_id),
    }


def _compare(clean_db: str, fault_db: str, run_id: str) -> dict[str, Any]:
    """Each compared table's rows only in one of the runs; provisional records apart."""
    a, b = _snapshot(clean_db, run_id), _snapshot(fault_db, run_id)
    pa, pb = _snapshot(clean_db, run_id, True), _snapshot(fault_db, run_id, True)
    tables = {}
    for t in a:
        only_clean, only_fault = table_diff(a[t], b[t])
        tables[t] = {"rows": len(a[t]), "only_clean": only_clean, "only_faulted": only_fault}
    provisional = {
        t: dict(zip(("only_clean", "only_faulted"), table_diff(pa[t], pb[t]), strict=True))
        for t in pa
    }
    return {
        "tables": tables,
        "provisional_diff": provisional,
        "equal_to_clean_run": all(
            v["only_clean"] == 0 and v["only_faulted"] == 0 for v in tables.values()
        ),
    }
