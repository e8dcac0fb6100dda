-- Streamed cluster health (issue 17): the health metrics, bottleneck label, robust
-- z-scores and flagged metrics of each QUERY_METRICS window record as typed columns (the
-- anomaly table filters and sorts on them), filled by the materializer from the record;
-- records stored before carry none (NULL). Fleet rows have metrics and a label, no z.
ALTER TABLE query_metrics ADD COLUMN IF NOT EXISTS queue_pressure DOUBLE;
ALTER TABLE query_metrics ADD COLUMN IF NOT EXISTS spill_pressure DOUBLE;
ALTER TABLE query_metrics ADD COLUMN IF NOT EXISTS scan_mb_per_s DOUBLE;
ALTER TABLE query_metrics ADD COLUMN IF NOT EXISTS utilisation DOUBLE;
ALTER TABLE query_metrics ADD COLUMN IF NOT EXISTS compile_share DOUBLE;
ALTER TABLE query_metrics ADD COLUMN IF NOT EXISTS bottleneck VARCHAR;
ALTER TABLE query_metrics ADD COLUMN IF NOT EXISTS queue_pressure_z DOUBLE;
ALTER TABLE query_metrics ADD COLUMN IF NOT EXISTS spill_pressure_z DOUBLE;
ALTER TABLE query_metrics ADD COLUMN IF NOT EXISTS scan_mb_per_s_z DOUBLE;
ALTER TABLE query_metrics ADD COLUMN IF NOT EXISTS utilisation_z DOUBLE;
ALTER TABLE query_metrics ADD COLUMN IF NOT EXISTS cache_hit_rate_z DOUBLE;
ALTER TABLE query_metrics ADD COLUMN IF NOT EXISTS anomalies VARCHAR[];
ALTER TABLE query_metrics ADD COLUMN IF NOT EXISTS health_trailing INTEGER;

-- One row per window: the five metrics, the label, one z per metric (NULL: fewer than
-- HEALTH_MIN_TRAILING trailing windows knew the metric, their MAD was 0, or a fleet row)
-- and `anomalies`, the metrics the stage flagged at its HEALTH_Z_THRESHOLD (NULL on fleet
-- rows: not scored). A dashboard may re-flag at another threshold from the z columns.
CREATE OR REPLACE VIEW cluster_health AS
SELECT run_id, cluster, make_timestamp(window_start * 1000) AS window_start,
       make_timestamp(window_end * 1000) AS window_end, final,
       (payload->>'queries')::BIGINT AS queries,
       queue_pressure, spill_pressure, scan_mb_per_s, utilisation,
       (payload->>'cache_hit_rate')::DOUBLE AS cache_hit_rate, compile_share, bottleneck,
       queue_pressure_z, spill_pressure_z, scan_mb_per_s_z, utilisation_z, cache_hit_rate_z,
       anomalies, health_trailing
FROM query_metrics;
