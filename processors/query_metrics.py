"""QUERY_METRICS: per cluster (and fleet) and window counts, rates, sums, percentiles.

Pure logic. A clean record is reduced to a compact row (:func:`qm_row`) kept in window
state; :func:`window_record` turns a window's rows into the output record (fields in
docs/processors.md). Percentiles are exact (``processors.stats.quantile_cont``).
"""

from __future__ import annotations

from typing import Any

from common.contract import QUERY_TYPES
from processors.stats import percentiles

_TYPE_INDEX = {t: i for i, t in enumerate(QUERY_TYPES)}


def qm_row(rec: dict[str, Any]) -> list[Any]:
    return [
        _TYPE_INDEX[rec["query_type"]],
        1 if rec["was_aborted"] else 0,
        1 if rec["was_cached"] else 0,
        rec["queue_duration_ms"],
        rec["execution_duration_ms"],
        rec["total_duration_ms"],
        rec["mbytes_scanned"],
        rec["mbytes_spilled"],
    ]


def window_record(
    run_id: str, cluster: str, start: int, end: int, rows: list[list[Any]], final: bool
) -> dict[str, Any]:
    n = len(rows)
    by_type = [0] * len(QUERY_TYPES)
    aborted = cached = 0
    queue: list[int] = []
    execution: list[int] = []
    total: list[int] = []
    scanned = spilled = 0.0
    for r in rows:
        by_type[r[0]] += 1
        aborted += r[1]
        cached += r[2]
        queue.append(r[3])
        execution.append(r[4])
        total.append(r[5])
        scanned += r[6]
        spilled += r[7]
    out: dict[str, Any] = {
        "record": "window",
        "run_id": run_id,
        "cluster": cluster,
        "window_start": start,
        "window_end": end,
        "final": final,
        "queries": n,
        "aborted": aborted,
        "cached": cached,
        "abort_rate": aborted / n if n else None,
        "cache_hit_rate": cached / n if n else None,
        "count_by_type": {t: by_type[i] for i, t in enumerate(QUERY_TYPES)},
        "mbytes_scanned_sum": scanned,
        "mbytes_spilled_sum": spilled,
    }
    for name, values in (("queue_ms", queue), ("execution_ms", execution), ("total_ms", total)):
        p50, p95, p99 = percentiles(values)
        out[f"{name}_sum"] = sum(values)
        out[f"{name}_p50"] = p50
        out[f"{name}_p95"] = p95
        out[f"{name}_p99"] = p99
    return out


def late_record(rec: dict[str, Any], start: int, end: int) -> dict[str, Any]:
    """One late row (identity: query_key); count them per run and cluster downstream."""
    return {
        "record": "late",
        "run_id": rec["run_id"],
        "cluster": rec["cluster"],
        "query_key": rec["query_key"],
        "arrival_us": rec["arrival_us"],
        "window_start": start,
        "window_end": end,
    }
