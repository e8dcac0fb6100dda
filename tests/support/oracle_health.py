"""The batch oracle of the streamed cluster health (part of ``oracle.check_chain``): the
metrics, bottleneck labels and robust z-scores of QUERY_METRICS window records, from DuckDB
over the oracle's ``good`` table (window functions and list aggregates; never from
processors.logic.health)."""

from __future__ import annotations

import math
from typing import Any

import duckdb

from common.contract import FLEET, HEALTH_METRICS
from common.settings import Settings


def _close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)


def _metrics_sql(group: str, size: int) -> str:
    return f"""
      SELECT {group} AS cluster, ts - ts % {size} AS ws,
        count(*) FILTER (WHERE queue > 0) / nullif(count(queue), 0) AS queue_pressure,
        count(*) FILTER (WHERE spilled > 0) / nullif(count(spilled), 0) AS spill_pressure,
        sum(scanned) FILTER (WHERE exec IS NOT NULL)
          / nullif(sum(exec) FILTER (WHERE scanned IS NOT NULL), 0) * 1000 AS scan_mb_per_s,
        sum(exec) / {size} AS utilisation,
        count(*) FILTER (WHERE cached) / count(*) AS cache_hit_rate,
        sum(compile) FILTER (WHERE exec IS NOT NULL)
          / nullif(sum(exec) FILTER (WHERE compile IS NOT NULL), 0) AS compile_share
      FROM good GROUP BY ALL"""


def _z_sql(s: Settings) -> str:
    """Per cluster window: every metric's robust z over the cluster's trailing windows."""
    n, size = s.health_trailing_windows, s.window_seconds * 1000
    lists = ", ".join(f"list({m}) OVER t AS {m}_l" for m in HEALTH_METRICS)
    known = ", ".join(
        f"list_filter({m}_l, lambda x: x IS NOT NULL) AS {m}_k" for m in HEALTH_METRICS
    )
    med = ", ".join(f"list_aggregate({m}_k, 'median') AS {m}_med" for m in HEALTH_METRICS)
    mad = ", ".join(
        f"list_aggregate(list_transform({m}_k, lambda x: abs(x - {m}_med)), 'median') AS {m}_mad"
        for m in HEALTH_METRICS
    )
    z = ", ".join(
        f"""CASE WHEN {m} IS NULL OR len({m}_k) < {s.health_min_trailing} OR {m}_mad = 0
                 THEN NULL ELSE ({m} - {m}_med) / (1.4826 * {m}_mad) END AS {m}_z"""
        for m in HEALTH_METRICS
    )
    return f"""
      WITH w AS ({_metrics_sql("cluster", size)}),
      l AS (SELECT *, count(*) OVER t AS trailing, {lists} FROM w
            WINDOW t AS (PARTITION BY cluster ORDER BY ws
                         ROWS BETWEEN {n} PRECEDING AND 1 PRECEDING)),
      k AS (SELECT *, {known} FROM l),
      m AS (SELECT *, {med} FROM k),
      d AS (SELECT *, {mad} FROM m)
      SELECT *, {z} FROM d"""


def _label_sql(s: Settings) -> str:
    return f"""CASE WHEN queue_pressure >= {s.health_queue_pressure} THEN 'queue-bound'
                    WHEN spill_pressure >= {s.health_spill_pressure} THEN 'spill-bound'
                    WHEN compile_share >= {s.health_compile_share} THEN 'compile-bound'
                    WHEN scan_mb_per_s >= {s.health_scan_mb_per_s} THEN 'scan-bound'
                    ELSE 'healthy' END"""


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> dict[tuple[str, int], dict[str, Any]]:
    cur = con.execute(sql)
    cols = [d[0] for d in cur.description]
    return {(r[0], r[1]): dict(zip(cols, r, strict=True)) for r in cur.fetchall()}


def check_health(
    con: duckdb.DuckDBPyConnection, s: Settings, windows: dict[tuple, dict[str, Any]]
) -> dict[str, int]:
    """Assert the health fields of every window record ``windows[(cluster, ws)]`` (the
    latest per identity); z-scores and flags of every final cluster window. Returns how
    many windows had each label and how many z-scores / flags were compared."""
    size = s.window_seconds * 1000
    exp = _rows(con, f"SELECT *, {_label_sql(s)} AS label FROM ({_z_sql(s)})")
    fleet = _rows(
        con, f"SELECT *, {_label_sql(s)} AS label FROM ({_metrics_sql(repr(FLEET), size)})"
    )
    counts: dict[str, int] = {"z_known": 0, "flagged": 0}
    for key, e in {**exp, **fleet}.items():
        got = windows[key]
        for m in (*HEALTH_METRICS, "compile_share"):
            assert _close(got[m], e[m]), (key, m, got[m], e[m])
        assert got["bottleneck"] == e["label"], (key, got["bottleneck"], e["label"])
        counts[e["label"]] = counts.get(e["label"], 0) + 1
        if key[0] == FLEET:
            assert got["anomalies"] is None and all(got[f"{m}_z"] is None for m in HEALTH_METRICS)
            continue
        if not got["final"]:
            continue
        assert got["health_trailing"] == e["trailing"], key
        for m in HEALTH_METRICS:
            assert _close(got[f"{m}_z"], e[f"{m}_z"]), (key, m, got[f"{m}_z"], e[f"{m}_z"])
            counts["z_known"] += e[f"{m}_z"] is not None
        thr = s.health_z_threshold
        want = [m for m in HEALTH_METRICS if e[f"{m}_z"] is not None and abs(e[f"{m}_z"]) >= thr]
        borderline = any(
            e[f"{m}_z"] is not None and math.isclose(abs(e[f"{m}_z"]), thr, rel_tol=1e-9)
            for m in HEALTH_METRICS
        )
        if not borderline:
            assert got["anomalies"] == want, (key, got["anomalies"], want)
        counts["flagged"] += len(want)
    return counts
