"""make bench's views section: each dashboard query's p95 over a warehouse of synthetic
materialized queries."""

from __future__ import annotations

import time

from bench.harness import Metrics
from bench.report import metric, pctl

#: the dashboards' queries, by name (each binds the run id)
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

#: runs of each query; the first ones warm the caches and are not counted
RUNS, WARM_UP_RUNS = 12, 2


def bench_views(db: str, rows: int) -> Metrics:
    """Fill ``db`` with ``rows`` synthetic queries (unless it holds them), then time each
    view: ``view_<name>_p95_ms`` and the worst, ``view_p95_ms``."""
    from bench.fixtures import fill_synthetic
    from warehouse.store import Warehouse

    wh = Warehouse.open(db)
    if not wh.scalar("SELECT count(*) FROM clean_queries WHERE run_id = 'bench'"):
        fill_synthetic(wh, rows, seed=1, run_id="bench")
    out: Metrics = {}
    worst = 0.0
    for name, sql in VIEWS.items():
        times = []
        for _ in range(RUNS):
            t0 = time.perf_counter()
            wh.query(sql, ["bench"])
            times.append((time.perf_counter() - t0) * 1000)
        p95 = pctl(times[WARM_UP_RUNS:], 0.95)
        out[f"view_{name}_p95_ms"] = metric(p95, "ms")
        worst = max(worst, p95)
    out["view_p95_ms"] = metric(worst, "ms (worst view)")
    wh.close()
    return out
