"""COMPILE_METRICS: per cluster and window compile-time figures (pure logic).

Row kept in window state: ``[compile_ms, complexity_bucket, fingerprint_state]`` with
fingerprint_state 1 = first seen in this run and cluster, 0 = repeated, -1 = no
fingerprint. Complexity = joins + scans + aggregations (nulls as 0; all three null =
``unknown``), bucketed by :data:`BUCKETS`.

A NULL compile time (not measured: every result-cache hit, a few other queries) is left
out of the compile sums, means, percentiles and ``compiled``; ``compile_known`` counts the
queries whose compile time is known, and the shares and means are over those.
"""

from __future__ import annotations

from typing import Any

from processors.logic.stats import percentiles

#: (label, lowest complexity) in ascending order; a bucket runs up to the next one.
BUCKETS: tuple[tuple[str, int], ...] = (("0", 0), ("1-2", 1), ("3-5", 3), ("6-10", 6), ("11+", 11))
UNKNOWN = "unknown"
BUCKET_LABELS: tuple[str, ...] = (*(b for b, _ in BUCKETS), UNKNOWN)


def complexity_bucket(joins: int | None, scans: int | None, aggs: int | None) -> str:
    if joins is None and scans is None and aggs is None:
        return UNKNOWN
    c = (joins or 0) + (scans or 0) + (aggs or 0)
    label = BUCKETS[0][0]
    for name, lo in BUCKETS:
        if c >= lo:
            label = name
    return label


def cm_row(rec: dict[str, Any], first_seen: bool | None) -> list[Any]:
    return [
        rec["compile_duration_ms"],
        complexity_bucket(rec["num_joins"], rec["num_scans"], rec["num_aggregations"]),
        -1 if first_seen is None else (1 if first_seen else 0),
    ]


def window_record(
    run_id: str, cluster: str, start: int, end: int, rows: list[list[Any]], final: bool
) -> dict[str, Any]:
    n = len(rows)
    compile_ms = [r[0] for r in rows if r[0] is not None]
    known = len(compile_ms)
    total = sum(compile_ms) if known else None
    compiled = sum(1 for c in compile_ms if c > 0)
    by_bucket: dict[str, dict[str, Any]] = {
        b: {"queries": 0, "compile_known": 0, "compile_ms_sum": None} for b in BUCKET_LABELS
    }
    first = repeated = 0
    for r in rows:
        b = by_bucket[r[1]]
        b["queries"] += 1
        if r[0] is not None:
            b["compile_known"] += 1
            b["compile_ms_sum"] = (b["compile_ms_sum"] or 0) + r[0]
        if r[2] == 1:
            first += 1
        elif r[2] == 0:
            repeated += 1
    for b in by_bucket.values():
        k = b["compile_known"]
        b["compile_ms_mean"] = b["compile_ms_sum"] / k if k else None
    (p95,) = percentiles(compile_ms, (0.95,))
    return {
        "record": "window",
        "run_id": run_id,
        "cluster": cluster,
        "window_start": start,
        "window_end": end,
        "final": final,
        "queries": n,
        "compile_known": known,
        "compiled": compiled,
        "compiled_share": compiled / known if known else None,
        "compile_ms_sum": total,
        "compile_ms_mean": total / known if total is not None else None,
        "compile_ms_p95": p95,
        "by_complexity": by_bucket,
        "fingerprint_known": first + repeated,
        "fingerprints_first_seen": first,
        "fingerprints_repeated": repeated,
    }
