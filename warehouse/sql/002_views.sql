-- Public interface: fact_query and dead_letters (stable names for scripts and notebooks).
CREATE OR REPLACE VIEW fact_query AS
SELECT run_id, query_key, cluster, cluster_kind, instance_id, cluster_size, user_id, database_id,
       query_id, arrival_timestamp, query_type, was_cached, was_aborted, compile_duration_ms,
       queue_duration_ms, execution_duration_ms, total_duration_ms, mbytes_scanned, mbytes_spilled,
       feature_fingerprint, num_joins, num_scans, num_aggregations, read_table_ids, write_table_ids,
       dataset, file, "row"
FROM clean_queries;

CREATE OR REPLACE VIEW dead_letters AS
SELECT run_id, dataset, file, "row", cluster, reason, field, message, raw
FROM rejects WHERE reason <> 'duplicate';

CREATE OR REPLACE VIEW duplicates AS
SELECT run_id, dataset, file, "row", cluster, reason, field, message, raw
FROM rejects WHERE reason = 'duplicate';

-- Runs: reconciliation and progress.
CREATE OR REPLACE VIEW v_runs AS
WITH r AS (SELECT run_id, any_value(dataset) AS dataset, count(*) AS raw_rows,
                  max(loaded_at) AS last_raw FROM raw_rows GROUP BY run_id),
c AS (SELECT run_id, count(*) AS clean_rows, min(arrival_timestamp) AS first_event,
             max(arrival_timestamp) AS last_event, max(loaded_at) AS last_clean
      FROM clean_queries GROUP BY run_id),
d AS (SELECT run_id, count(*) FILTER (WHERE reason <> 'duplicate') AS dead_letter_rows,
             count(*) FILTER (WHERE reason = 'duplicate') AS duplicate_rows, max(loaded_at) AS last_dl
      FROM rejects GROUP BY run_id),
ids AS (SELECT run_id FROM r UNION SELECT run_id FROM c UNION SELECT run_id FROM d)
SELECT ids.run_id, coalesce(r.dataset, '') AS dataset, c.first_event, c.last_event,
       coalesce(r.raw_rows, 0) AS raw_rows, coalesce(c.clean_rows, 0) AS clean_rows,
       coalesce(d.dead_letter_rows, 0) AS dead_letter_rows,
       coalesce(d.duplicate_rows, 0) AS duplicate_rows,
       greatest(r.last_raw, c.last_clean, d.last_dl) AS last_update
FROM ids LEFT JOIN r USING (run_id) LEFT JOIN c USING (run_id) LEFT JOIN d USING (run_id);

-- Window metrics, typed out of the JSON payloads.
CREATE OR REPLACE VIEW v_query_metrics AS
SELECT q.run_id, q.cluster,
       CASE WHEN q.cluster = 'fleet' THEN 'fleet' ELSE split_part(q.cluster, '-', 1) END AS cluster_kind,
       make_timestamp(q.window_start * 1000) AS window_start,
       make_timestamp(q.window_end * 1000) AS window_end, q.final,
       (payload->>'queries')::BIGINT AS queries,
       (payload->>'aborted')::BIGINT AS aborted,
       (payload->>'cached')::BIGINT AS cached,
       (payload->>'abort_rate')::DOUBLE AS abort_rate,
       (payload->>'cache_hit_rate')::DOUBLE AS cache_hit_rate,
       (payload->>'queue_ms_p50')::DOUBLE AS queue_p50_ms,
       (payload->>'queue_ms_p95')::DOUBLE AS queue_p95_ms,
       (payload->>'queue_ms_p99')::DOUBLE AS queue_p99_ms,
       (payload->>'execution_ms_p50')::DOUBLE AS exec_p50_ms,
       (payload->>'execution_ms_p95')::DOUBLE AS exec_p95_ms,
       (payload->>'execution_ms_p99')::DOUBLE AS exec_p99_ms,
       (payload->>'total_ms_p50')::DOUBLE AS total_p50_ms,
       (payload->>'total_ms_p95')::DOUBLE AS total_p95_ms,
       (payload->>'total_ms_p99')::DOUBLE AS total_p99_ms,
       (payload->>'mbytes_scanned_sum')::DOUBLE AS mbytes_scanned,
       (payload->>'mbytes_spilled_sum')::DOUBLE AS mbytes_spilled,
       (payload->>'execution_ms_sum')::DOUBLE AS execution_ms_sum,
       coalesce(l.late_rows, 0) AS late_rows,
       (payload->'count_by_type'->>'select')::BIGINT AS n_select,
       (payload->'count_by_type'->>'insert')::BIGINT AS n_insert,
       (payload->'count_by_type'->>'copy')::BIGINT AS n_copy,
       (payload->'count_by_type'->>'delete')::BIGINT AS n_delete,
       (payload->'count_by_type'->>'update')::BIGINT AS n_update,
       (payload->'count_by_type'->>'ctas')::BIGINT AS n_ctas,
       (payload->'count_by_type'->>'unload')::BIGINT AS n_unload,
       (payload->'count_by_type'->>'vacuum')::BIGINT AS n_vacuum,
       (payload->'count_by_type'->>'analyze')::BIGINT AS n_analyze,
       (payload->'count_by_type'->>'other')::BIGINT AS n_other
FROM query_metrics q
LEFT JOIN (SELECT run_id, cluster, window_start, count(*) AS late_rows FROM late_rows GROUP BY ALL) l
  USING (run_id, cluster, window_start);

CREATE OR REPLACE VIEW v_fleet_kpi AS
SELECT run_id, window_start, window_end, final, queries, aborted, cached, abort_rate, cache_hit_rate,
       total_p95_ms AS p95_total_ms, mbytes_scanned, mbytes_spilled, late_rows
FROM v_query_metrics WHERE cluster = 'fleet';

CREATE OR REPLACE VIEW v_compile_metrics AS
SELECT run_id, cluster, make_timestamp(window_start * 1000) AS window_start,
       make_timestamp(window_end * 1000) AS window_end, final,
       (payload->>'queries')::BIGINT AS queries,
       (payload->>'compiled')::BIGINT AS compiled,
       (payload->>'compiled_share')::DOUBLE AS compiled_share,
       (payload->>'compile_ms_sum')::DOUBLE AS compile_ms_total,
       (payload->>'compile_ms_mean')::DOUBLE AS compile_ms_mean,
       (payload->>'compile_ms_p95')::DOUBLE AS compile_ms_p95,
       (payload->>'fingerprints_first_seen')::BIGINT AS first_seen_fingerprints,
       (payload->>'fingerprints_repeated')::BIGINT AS repeated_fingerprints,
       payload->'by_complexity' AS by_complexity
FROM compile_metrics;

CREATE OR REPLACE VIEW v_cluster_health AS
SELECT run_id, cluster, any_value(cluster_kind) AS cluster_kind, count(*) AS queries,
       count(DISTINCT user_id) AS users,
       avg(was_aborted::INT) AS abort_rate, avg(was_cached::INT) AS cache_hit_rate,
       quantile_cont(total_duration_ms, 0.95) AS p95_total_ms,
       sum(mbytes_scanned) AS mbytes_scanned, sum(mbytes_spilled) AS mbytes_spilled,
       min(arrival_timestamp) AS first_event, max(arrival_timestamp) AS last_event
FROM clean_queries GROUP BY run_id, cluster;

-- Leaderboards: one row per entry; prev_rank = the entity's rank on the previous final board.
CREATE OR REPLACE VIEW v_leaderboard AS
WITH e AS (
    SELECT run_id, board, variant, window_start, window_end,
           unnest(from_json(entries, '[{"rank":"BIGINT","entity":"VARCHAR","value":"DOUBLE"}]')) AS x
    FROM leaderboards),
flat AS (SELECT run_id, board, variant, window_start, window_end,
                x.rank AS rank, x.entity AS entity, x.value AS value FROM e),
finals AS (SELECT DISTINCT run_id, board, window_start FROM leaderboards WHERE variant = 'final'),
prev AS (SELECT f.run_id, f.board, f.window_start,
                (SELECT max(p.window_start) FROM finals p
                  WHERE p.run_id = f.run_id AND p.board = f.board AND p.window_start < f.window_start) AS prev_start
         FROM (SELECT DISTINCT run_id, board, window_start FROM leaderboards) f)
SELECT flat.run_id, flat.board, flat.variant, make_timestamp(flat.window_start * 1000) AS window_start,
       make_timestamp(flat.window_end * 1000) AS window_end, flat.rank, flat.entity, flat.value,
       pf.rank AS prev_rank
FROM flat
JOIN prev USING (run_id, board, window_start)
LEFT JOIN flat pf ON pf.run_id = flat.run_id AND pf.board = flat.board AND pf.variant = 'final'
                 AND pf.window_start = prev.prev_start AND pf.entity = flat.entity;

CREATE OR REPLACE VIEW v_leaderboard_latest AS
WITH newest AS (
    SELECT run_id, board, arg_max(variant, window_start * 2 + (variant = 'current')::INT) AS variant,
           max(window_start) AS window_start
    FROM leaderboards GROUP BY run_id, board)
SELECT l.* FROM v_leaderboard l
JOIN newest n ON n.run_id = l.run_id AND n.board = l.board AND n.variant = l.variant
             AND make_timestamp(n.window_start * 1000) = l.window_start;

-- Tables: freshness (time since the table's last write when read), heat.
CREATE OR REPLACE VIEW v_table_freshness AS
SELECT run_id, cluster, table_id,
       count(*) FILTER (WHERE access = 'read') AS reads,
       count(*) FILTER (WHERE access = 'write') AS writes,
       quantile_cont(freshness_ms / 1000.0, 0.5) FILTER (WHERE access = 'read') AS freshness_p50_s,
       quantile_cont(freshness_ms / 1000.0, 0.95) FILTER (WHERE access = 'read') AS freshness_p95_s,
       make_timestamp(max(arrival_us) FILTER (WHERE access = 'write')) AS last_write
FROM flattened GROUP BY run_id, cluster, table_id;

CREATE OR REPLACE VIEW v_fingerprint_repetition AS
SELECT run_id, cluster, feature_fingerprint, count(*) AS executions,
       min(arrival_timestamp) AS first_seen, max(arrival_timestamp) AS last_seen,
       avg(execution_duration_ms) AS mean_exec_ms
FROM clean_queries WHERE feature_fingerprint IS NOT NULL
GROUP BY run_id, cluster, feature_fingerprint;

-- Star schema for ad-hoc analysis.
CREATE OR REPLACE VIEW dim_cluster AS
SELECT DISTINCT cluster, cluster_kind, instance_id, cluster_size FROM clean_queries;
CREATE OR REPLACE VIEW dim_user AS
SELECT DISTINCT cluster, user_id FROM clean_queries;
CREATE OR REPLACE VIEW dim_database AS
SELECT DISTINCT cluster, database_id FROM clean_queries;
CREATE OR REPLACE VIEW dim_table AS
SELECT DISTINCT cluster, table_id FROM flattened;
CREATE OR REPLACE VIEW dim_date AS
SELECT DISTINCT date_trunc('hour', arrival_timestamp) AS hour,
       CAST(arrival_timestamp AS DATE) AS date, hour(arrival_timestamp) AS hour_of_day,
       dayname(arrival_timestamp) AS weekday
FROM clean_queries;

-- Two runs side by side.
CREATE OR REPLACE MACRO run_compare(a, b) AS TABLE
WITH m AS (
    SELECT run_id, count(*)::DOUBLE AS queries, avg(was_cached::INT) AS cache_hit_rate,
           avg(was_aborted::INT) AS abort_rate, sum(mbytes_scanned) AS mbytes_scanned,
           sum(mbytes_spilled) AS mbytes_spilled,
           quantile_cont(total_duration_ms, 0.5) AS p50_total_ms,
           quantile_cont(total_duration_ms, 0.95) AS p95_total_ms,
           sum(execution_duration_ms)::DOUBLE AS execution_ms
    FROM clean_queries WHERE run_id IN (a, b) GROUP BY run_id),
u AS (UNPIVOT m ON COLUMNS(* EXCLUDE (run_id)) INTO NAME metric VALUE value)
SELECT metric, max(value) FILTER (WHERE run_id = a) AS run_a, max(value) FILTER (WHERE run_id = b) AS run_b,
       max(value) FILTER (WHERE run_id = b) - max(value) FILTER (WHERE run_id = a) AS difference
FROM u GROUP BY metric ORDER BY metric;
