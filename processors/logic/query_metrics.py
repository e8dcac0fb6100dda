"""QUERY_METRICS: per cluster (and fleet) and window counts, rates, sums, percentiles.

Pure logic. A clean record is reduced to a compact row (:func:`qm_row`) kept in window
state; :func:`window_record` turns a window's rows into the output record (fields in
docs/processors.md). Percentiles are exact (``processors.logic.stats.quantile_cont``).

NULL measures (not measured, e.g. a result-cache hit's MB scanned) are left out of that
measure's sum and percentiles, as in SQL, and ``<measure>_known`` counts the values that
were there; a sum over no known value is None, not 0. Counts and rates count every query.
"""

from __future__ import annotations

import math
from typing import Any

from common.contract import FLEET, QUERY_TYPES
from processors.logic import health, sketch
from processors.logic.stats import percentiles

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
        rec["compile_duration_ms"],
    ]


_LAT = ("queue_ms", "execution_ms", "total_ms")
_MB = ("mbytes_scanned", "mbytes_spilled")
#: every nullable measure of a window record (its ``_sum`` and ``_known`` fields)
MEASURES: tuple[str, ...] = (*_LAT, *_MB)


def _sum(values: list[Any]) -> Any:
    """SQL ``sum``: None over no value; floats exactly rounded (order-independent)."""
    if not values:
        return None
    return math.fsum(values) if any(isinstance(v, float) for v in values) else sum(values)


def _aggregate(rows: list[list[Any]]) -> tuple[dict[str, Any], list[list[int]]]:
    by_type = [0] * len(QUERY_TYPES)
    aborted = cached = 0
    known: list[list[Any]] = [[] for _ in MEASURES]
    for r in rows:
        by_type[r[0]] += 1
        aborted += r[1]
        cached += r[2]
        for values, v in zip(known, r[3:8], strict=True):
            if v is not None:
                values.append(v)
    agg: dict[str, Any] = {
        "queries": len(rows),
        "aborted": aborted,
        "cached": cached,
        "by_type": by_type,
    }
    for name, values in zip(MEASURES, known, strict=True):
        agg[f"{name}_sum"] = _sum(values)
        agg[f"{name}_known"] = len(values)
    return agg, known[: len(_LAT)]


def _record(
    run_id: str, cluster: str, start: int, end: int, agg: dict[str, Any], final: bool
) -> dict[str, Any]:
    n = agg["queries"]
    out: dict[str, Any] = {
        "record": "window",
        "run_id": run_id,
        "cluster": cluster,
        "window_start": start,
        "window_end": end,
        "final": final,
        "queries": n,
        "aborted": agg["aborted"],
        "cached": agg["cached"],
        "abort_rate": agg["aborted"] / n if n else None,
        "cache_hit_rate": agg["cached"] / n if n else None,
        "count_by_type": {t: agg["by_type"][i] for i, t in enumerate(QUERY_TYPES)},
    }
    for name in MEASURES:
        out[f"{name}_sum"] = agg[f"{name}_sum"]
        out[f"{name}_known"] = agg[f"{name}_known"]
    return out


def window_record(
    run_id: str,
    cluster: str,
    start: int,
    end: int,
    rows: list[list[Any]],
    final: bool,
    thresholds: health.Thresholds = health.DEFAULT_THRESHOLDS,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the cluster's window record with exact percentiles and health metrics, without the
    z-scores (``health.score`` adds them); its partial for the fleet)."""
    agg, lat = _aggregate(rows)
    out = _record(run_id, cluster, start, end, agg, final)
    out["percentiles"] = "exact"
    for name, values in zip(_LAT, lat, strict=True):
        out[f"{name}_p50"], out[f"{name}_p95"], out[f"{name}_p99"] = percentiles(values)
    counters = health.counters(rows)
    out.update(health.health_fields(counters, end - start, thresholds))
    partial = {
        **agg,
        "final": final,
        "sketch": {n: sketch.build(v) for n, v in zip(_LAT, lat, strict=True)},
        "health": counters,
    }
    return out, partial


def fleet_record(
    run_id: str,
    start: int,
    end: int,
    partials: dict[str, dict[str, Any]],
    thresholds: health.Thresholds = health.DEFAULT_THRESHOLDS,
) -> dict[str, Any]:
    """Fleet roll-up from the latest partial of every cluster: counts and sums exact,
    percentiles from the merged sketches (relative error <= sketch.ALPHA), health metrics
    from the summed counters, not scored (no z-scores: ``health.unscored``)."""
    # in cluster order, float sums exactly rounded (math.fsum): the record must not depend
    # on the order the partials arrived in (it differs after a restart)
    ps = [partials[c] for c in sorted(partials)]
    agg: dict[str, Any] = {
        "queries": sum(p["queries"] for p in ps),
        "aborted": sum(p["aborted"] for p in ps),
        "cached": sum(p["cached"] for p in ps),
        "by_type": [sum(p["by_type"][i] for p in ps) for i in range(len(QUERY_TYPES))],
    }
    for name in MEASURES:
        agg[f"{name}_sum"] = _sum([p[f"{name}_sum"] for p in ps if p[f"{name}_sum"] is not None])
        # a partial from before known-counts existed had every value known
        agg[f"{name}_known"] = sum(p.get(f"{name}_known", p["queries"]) for p in ps)
    out = _record(run_id, FLEET, start, end, agg, all(p["final"] for p in ps))
    out["percentiles"] = "sketch"
    out["clusters"] = len(ps)
    for name in _LAT:
        merged = sketch.merge(p["sketch"][name] for p in ps)
        qs = sketch.quantiles(merged, (0.5, 0.95, 0.99))
        out[f"{name}_p50"], out[f"{name}_p95"], out[f"{name}_p99"] = qs
    # partials from before health counters existed count as none (metrics None)
    hs = [p.get("health") or [0] * len(health.COUNTERS) for p in ps]
    summed = [_sum([h[i] for h in hs]) for i in range(len(health.COUNTERS))]
    out.update(health.health_fields(summed, end - start, thresholds))
    out.update(health.unscored())
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
