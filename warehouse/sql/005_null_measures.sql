-- NULL measures (not measured: every result-cache hit, a few other queries; issue 16):
-- window records carry <measure>_known counts, sums and percentiles are over known values
-- and NULL when none is known (a dashboard shows "n/a", never 0). The views expose them.
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
       (payload->>'queue_ms_sum')::DOUBLE AS queue_ms_sum,
       (payload->>'total_ms_sum')::DOUBLE AS total_ms_sum,
       -- how many queries had the measure (NULL = not measured; records from before
       -- known-counts existed had every value known)
       coalesce((payload->>'queue_ms_known')::BIGINT, (payload->>'queries')::BIGINT) AS queue_known,
       coalesce((payload->>'execution_ms_known')::BIGINT, (payload->>'queries')::BIGINT) AS exec_known,
       coalesce((payload->>'total_ms_known')::BIGINT, (payload->>'queries')::BIGINT) AS total_known,
       coalesce((payload->>'mbytes_scanned_known')::BIGINT, (payload->>'queries')::BIGINT) AS mbytes_scanned_known,
       coalesce((payload->>'mbytes_spilled_known')::BIGINT, (payload->>'queries')::BIGINT) AS mbytes_spilled_known,
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
       total_p95_ms AS p95_total_ms, total_known, mbytes_scanned, mbytes_spilled,
       mbytes_scanned_known, mbytes_spilled_known, late_rows
FROM v_query_metrics WHERE cluster = 'fleet';

CREATE OR REPLACE VIEW v_compile_metrics AS
SELECT run_id, cluster, make_timestamp(window_start * 1000) AS window_start,
       make_timestamp(window_end * 1000) AS window_end, final,
       (payload->>'queries')::BIGINT AS queries,
       (payload->>'compile_known')::BIGINT AS compile_known,
       (payload->>'compiled')::BIGINT AS compiled,
       (payload->>'compiled_share')::DOUBLE AS compiled_share,
       (payload->>'compile_ms_sum')::DOUBLE AS compile_ms_total,
       (payload->>'compile_ms_mean')::DOUBLE AS compile_ms_mean,
       (payload->>'compile_ms_p95')::DOUBLE AS compile_ms_p95,
       (payload->>'fingerprints_first_seen')::BIGINT AS first_seen_fingerprints,
       (payload->>'fingerprints_repeated')::BIGINT AS repeated_fingerprints,
       (payload->>'fingerprint_known')::BIGINT AS fingerprint_known,
       payload->'by_complexity' AS by_complexity
FROM compile_metrics;

CREATE OR REPLACE VIEW v_cluster_health AS
SELECT run_id, cluster, any_value(cluster_kind) AS cluster_kind, count(*) AS queries,
       count(DISTINCT user_id) AS users,
       avg(was_aborted::INT) AS abort_rate, avg(was_cached::INT) AS cache_hit_rate,
       quantile_cont(total_duration_ms, 0.95) AS p95_total_ms,
       sum(mbytes_scanned) AS mbytes_scanned, sum(mbytes_spilled) AS mbytes_spilled,
       count(mbytes_scanned) AS mbytes_known, count(compile_duration_ms) AS compile_known,
       avg(compile_duration_ms) AS compile_ms_mean,
       min(arrival_timestamp) AS first_event, max(arrival_timestamp) AS last_event
FROM clean_queries GROUP BY run_id, cluster;
