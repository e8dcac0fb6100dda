"""Bulk-load a synthetic run straight into the warehouse tables (no broker).

For benchmarks (views and dashboards at 1 M queries) and dashboard tests: the clean rows
are derived from the synthetic generator with SQL, the window, board and flattened rows
are computed from them in the processors' output shapes.
"""

from __future__ import annotations

from typing import Any

from common.contract import BOTTLENECKS, HEALTH_METRICS, QUERY_TYPES
from common.settings import Settings
from producers.synthetic import SyntheticSpec, generate
from warehouse.store import Warehouse

#: query_metrics' duration quantiles: payload name -> clean_queries column
DURATIONS = (
    ("queue_ms", "queue_duration_ms"),
    ("execution_ms", "execution_duration_ms"),
    ("total_ms", "total_duration_ms"),
)


def fill_synthetic(
    wh: Warehouse,
    rows: int,
    seed: int = 0,
    run_id: str = "synthetic-run",
    window_s: int = 3600,
    k: int = 10,
) -> int:
    """Load ``rows`` synthetic queries as run ``run_id``; return the clean rows loaded."""
    table = generate(SyntheticSpec(rows=rows, seed=seed, kind="mixed", clusters=24, days=14)).table
    cur = wh.cursor()
    cur.register("syn", table)
    w_ms = window_s * 1000
    cur.execute("BEGIN")
    _fill_clean(cur, run_id)
    _fill_raw_rows(cur, run_id)
    _fill_query_metrics(cur, run_id, w_ms)
    _fill_health(cur, run_id, w_ms)
    _fill_compile_metrics(cur, run_id, w_ms)
    _fill_flattened(cur, run_id)
    _fill_leaderboards(cur, run_id, w_ms, k)
    cur.execute("COMMIT")
    cur.unregister("syn")
    n = cur.execute("SELECT count(*) FROM clean_queries WHERE run_id = ?", [run_id]).fetchone()
    cur.close()
    return int(n[0]) if n else 0


def _fill_clean(cur: Any, run_id: str) -> None:
    """clean_queries from the registered ``syn`` table, as the clean stage writes them."""
    for table in ("clean_queries", "flattened"):  # no key to upsert on: refill the run
        cur.execute(f"DELETE FROM {table} WHERE run_id = $run", {"run": run_id})
    cur.execute(
        """
        INSERT INTO clean_queries BY NAME
        SELECT DISTINCT ON (query_key) * FROM (
        WITH s AS (
            SELECT *, CASE WHEN cluster_size IS NULL THEN 'serverless' ELSE 'provisioned' END AS kind,
                   row_number() OVER () AS rn FROM syn)
        SELECT $run || '/' || kind || '-' || instance_id || '/' || query_id AS query_key,
               $run AS run_id, 'synthetic' AS dataset, 'synthetic' AS file, rn AS "row",
               kind || '-' || instance_id AS cluster, kind AS cluster_kind, instance_id,
               cluster_size::BIGINT AS cluster_size, user_id, database_id, query_id,
               arrival_timestamp, epoch_us(arrival_timestamp) AS arrival_us,
               compile_duration_ms::BIGINT AS compile_duration_ms, queue_duration_ms,
               execution_duration_ms, queue_duration_ms + execution_duration_ms AS total_duration_ms,
               feature_fingerprint, was_aborted = 1 AS was_aborted, was_cached = 1 AS was_cached,
               cache_source_query_id, query_type,
               num_permanent_tables_accessed::BIGINT AS num_permanent_tables_accessed,
               num_external_tables_accessed::BIGINT AS num_external_tables_accessed,
               num_system_tables_accessed::BIGINT AS num_system_tables_accessed,
               -- NULL (not measured, e.g. a cache hit) stays NULL, as the clean stage keeps it
               list_transform(string_split(read_table_ids, ','), lambda x: x::BIGINT) AS read_table_ids,
               list_transform(string_split(write_table_ids, ','), lambda x: x::BIGINT) AS write_table_ids,
               mbytes_scanned, mbytes_spilled, num_joins, num_scans, num_aggregations, now() AS loaded_at
        FROM s)
        """,
        {"run": run_id},
    )


def _fill_raw_rows(cur: Any, run_id: str) -> None:
    cur.execute(
        """
        INSERT OR IGNORE INTO raw_rows
        SELECT run_id, file, "row", dataset, cluster, arrival_us // 1000, false, now()
        FROM clean_queries WHERE run_id = $run
        """,
        {"run": run_id},
    )


def _fill_query_metrics(cur: Any, run_id: str, w_ms: int) -> None:
    """query_metrics' windows per cluster and for the fleet (:func:`_fill_health` adds the
    health columns)."""
    by_type = ", ".join(f"'{t}', count(*) FILTER (WHERE query_type = '{t}')" for t in QUERY_TYPES)
    quantiles = ", ".join(
        f"'{name}_p{round(q * 100)}', quantile_cont({col}, {q})"
        for name, col in DURATIONS
        for q in (0.5, 0.95, 0.99)
    )
    for cluster_expr in ("cluster", "'fleet'"):
        cur.execute(
            f"""
            INSERT OR REPLACE INTO query_metrics (run_id, cluster, window_start, window_end, final, payload, loaded_at)
            SELECT run_id, {cluster_expr} AS c, ws, ws + $w, true,
                   json_object('record', 'window', 'run_id', run_id, 'cluster', {cluster_expr}, 'window_start', ws,
                     'window_end', ws + $w, 'final', true, 'queries', count(*),
                     'aborted', count(*) FILTER (WHERE was_aborted), 'cached', count(*) FILTER (WHERE was_cached),
                     'abort_rate', avg(was_aborted::INT), 'cache_hit_rate', avg(was_cached::INT),
                     'count_by_type', json_object({by_type}),
                     'mbytes_scanned_sum', sum(mbytes_scanned), 'mbytes_spilled_sum', sum(mbytes_spilled),
                     'queue_ms_sum', sum(queue_duration_ms), 'execution_ms_sum', sum(execution_duration_ms),
                     'total_ms_sum', sum(total_duration_ms),
                     'queue_ms_known', count(queue_duration_ms), 'execution_ms_known', count(execution_duration_ms),
                     'total_ms_known', count(total_duration_ms), 'mbytes_scanned_known', count(mbytes_scanned),
                     'mbytes_spilled_known', count(mbytes_spilled),
                     {quantiles}),
                   now()
            FROM (SELECT *, arrival_us // 1000 // $w * $w AS ws FROM clean_queries WHERE run_id = $run)
            GROUP BY run_id, c, ws
            """,
            {"run": run_id, "w": w_ms},
        )


def _fill_compile_metrics(cur: Any, run_id: str, w_ms: int) -> None:
    cur.execute(
        """
        INSERT OR REPLACE INTO compile_metrics
        SELECT run_id, cluster, ws, ws + $w, true,
               json_object('record', 'window', 'run_id', run_id, 'cluster', cluster, 'window_start', ws,
                 'window_end', ws + $w, 'final', true, 'queries', count(*),
                 'compile_known', count(compile_duration_ms),
                 'compiled', count(*) FILTER (WHERE compile_duration_ms > 0),
                 'compiled_share', avg((compile_duration_ms > 0)::INT),
                 'compile_ms_sum', sum(compile_duration_ms), 'compile_ms_mean', avg(compile_duration_ms),
                 'compile_ms_p95', quantile_cont(compile_duration_ms, 0.95),
                 'fingerprint_known', count(feature_fingerprint),
                 'fingerprints_first_seen', 0, 'fingerprints_repeated', 0),
               now()
        FROM (SELECT *, arrival_us // 1000 // $w * $w AS ws FROM clean_queries WHERE run_id = $run)
        GROUP BY run_id, cluster, ws
        """,
        {"run": run_id, "w": w_ms},
    )


def _fill_flattened(cur: Any, run_id: str) -> None:
    """flattened: a row per table a query read or wrote; a read with the time since the
    table's last write before it."""
    cur.execute(
        """
        INSERT INTO flattened
        WITH q AS (SELECT * FROM clean_queries WHERE run_id = $run),
        acc AS (
            SELECT q.*, unnest(list_distinct(read_table_ids)) AS table_id, 'read' AS access FROM q
            UNION ALL
            SELECT q.*, unnest(list_distinct(write_table_ids)) AS table_id, 'write' AS access FROM q),
        writes AS (SELECT cluster, table_id, arrival_us AS w_us FROM acc WHERE access = 'write')
        SELECT a.query_key, a.table_id, a.access, a.run_id, a.cluster, a.cluster_kind, a.instance_id,
               a.query_id, a.user_id, a.database_id, a.arrival_us, a.query_type, a.was_aborted,
               a.was_cached, a.execution_duration_ms, a.total_duration_ms, a.mbytes_scanned,
               CASE WHEN a.access = 'read' THEN (a.arrival_us - w.w_us) / 1000.0 END, now()
        FROM acc a ASOF LEFT JOIN writes w
          ON a.cluster = w.cluster AND a.table_id = w.table_id AND a.arrival_us > w.w_us
        """,
        {"run": run_id},
    )


def _fill_leaderboards(cur: Any, run_id: str, w_ms: int, k: int) -> None:
    """leaderboards: each board's top ``k`` of every window."""
    boards = {
        "busiest_clusters": ("cluster", "sum(execution_duration_ms)"),
        "top_users_by_queries": ("cluster || '/' || user_id", "count(*)"),
        "top_users_by_runtime": ("cluster || '/' || user_id", "sum(total_duration_ms)"),
        "longest_compiles": ("query_key", "max(compile_duration_ms)"),
        "biggest_spillers": ("query_key", "max(mbytes_spilled)"),
    }
    for board, (entity, value) in boards.items():
        cur.execute(
            f"""
            INSERT OR REPLACE INTO leaderboards
            WITH v AS (
                SELECT arrival_us // 1000 // $w * $w AS ws, {entity} AS entity, {value}::DOUBLE AS value
                FROM clean_queries WHERE run_id = $run GROUP BY ALL),
            -- boards skip unknowns (a NULL user or value is on no board), as the stage does
            k AS (SELECT * FROM v WHERE entity IS NOT NULL AND value IS NOT NULL
                  AND ($board NOT IN ('longest_compiles', 'biggest_spillers') OR value > 0)),
            r AS (SELECT *, row_number() OVER (PARTITION BY ws ORDER BY value DESC, entity) AS rank FROM k)
            SELECT $run, $board, 'final', ws, ws + $w,
                   to_json(list({{'board': $board, 'rank': rank, 'entity': entity, 'value': value,
                                  'window_start': ws, 'window_end': ws + $w}} ORDER BY rank)), now()
            FROM r WHERE rank <= $k GROUP BY ws
            """,
            {"run": run_id, "w": w_ms, "k": k, "board": board},
        )


def _health_sql(s: Settings) -> str:
    """The query_metrics health columns of a run's windows, as the stage computes them
    (docs/processors.md, "Cluster health"), with DuckDB's windowed median and mad."""
    labels = zip(
        BOTTLENECKS[:-1],
        ("queue_pressure", "spill_pressure", "compile_share", "scan_mb_per_s"),
        (
            s.health_queue_pressure,
            s.health_spill_pressure,
            s.health_compile_share,
            s.health_scan_mb_per_s,
        ),
        strict=True,
    )
    label = " ".join(f"WHEN {m} >= {t} THEN '{b}'" for b, m, t in labels)
    z = ", ".join(
        f"""CASE WHEN cluster <> 'fleet' AND count({m}) OVER t >= {s.health_min_trailing}
                  AND mad({m}) OVER t > 0
             THEN ({m} - median({m}) OVER t) / (1.4826 * mad({m}) OVER t) END AS {m}_z"""
        for m in HEALTH_METRICS
    )
    flags = ", ".join(
        f"CASE WHEN abs({m}_z) >= {s.health_z_threshold} THEN '{m}' END" for m in HEALTH_METRICS
    )
    return f"""
    WITH q AS (SELECT *, arrival_us // 1000 // $w * $w AS ws FROM clean_queries WHERE run_id = $run),
    m AS (
        SELECT CASE WHEN GROUPING(cluster) = 1 THEN 'fleet' ELSE cluster END AS cluster, ws,
               count(*) FILTER (WHERE queue_duration_ms > 0) / nullif(count(queue_duration_ms), 0) AS queue_pressure,
               count(*) FILTER (WHERE mbytes_spilled > 0) / nullif(count(mbytes_spilled), 0) AS spill_pressure,
               sum(mbytes_scanned) FILTER (WHERE execution_duration_ms IS NOT NULL) * 1000
                 / nullif(sum(execution_duration_ms) FILTER (WHERE mbytes_scanned IS NOT NULL), 0) AS scan_mb_per_s,
               sum(execution_duration_ms) / $w AS utilisation,
               avg(was_cached::INT) AS cache_hit_rate,
               sum(compile_duration_ms) FILTER (WHERE execution_duration_ms IS NOT NULL)
                 / nullif(sum(execution_duration_ms) FILTER (WHERE compile_duration_ms IS NOT NULL), 0) AS compile_share
        FROM q GROUP BY GROUPING SETS ((cluster, ws), (ws))),
    z AS (
        SELECT *, CASE {label} ELSE 'healthy' END AS bottleneck, {z},
               CASE WHEN cluster <> 'fleet' THEN least(count(*) OVER t, {s.health_trailing_windows}) END AS trailing
        FROM m WINDOW t AS (PARTITION BY cluster ORDER BY ws
                            ROWS BETWEEN {s.health_trailing_windows} PRECEDING AND 1 PRECEDING))
    SELECT *, CASE WHEN cluster <> 'fleet' THEN list_filter([{flags}], lambda x: x IS NOT NULL) END AS anomalies
    FROM z"""


def _fill_health(cur: Any, run_id: str, w_ms: int, s: Settings | None = None) -> None:
    cols = [
        *(m for m in HEALTH_METRICS if m != "cache_hit_rate"),
        "compile_share",
        "bottleneck",
        *(f"{m}_z" for m in HEALTH_METRICS),
        "anomalies",
    ]
    sets = ", ".join(f"{c} = h.{c}" for c in cols)
    cur.execute(
        f"""UPDATE query_metrics SET {sets}, health_trailing = h.trailing
            FROM ({_health_sql(s or Settings())}) h
            WHERE query_metrics.run_id = $run AND query_metrics.cluster = h.cluster
              AND query_metrics.window_start = h.ws""",
        {"run": run_id, "w": w_ms},
    )
