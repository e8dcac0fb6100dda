-- One table per topic, keyed on each output's identity (docs/CONTRACT.md), plus the
-- consumed offsets, written in the same transaction as the rows.
CREATE TABLE IF NOT EXISTS kafka_offsets (
    consumer VARCHAR, topic VARCHAR, "partition" INTEGER, next_offset BIGINT,
    updated_at TIMESTAMP,
    PRIMARY KEY (consumer, topic, "partition")
);

CREATE TABLE IF NOT EXISTS raw_rows (
    run_id VARCHAR, file VARCHAR, "row" BIGINT, dataset VARCHAR, cluster VARCHAR,
    event_ms BIGINT, unreadable BOOLEAN, loaded_at TIMESTAMP,
    PRIMARY KEY (run_id, file, "row")
);

CREATE TABLE IF NOT EXISTS clean_queries (
    query_key VARCHAR PRIMARY KEY,
    run_id VARCHAR, dataset VARCHAR, file VARCHAR, "row" BIGINT,
    cluster VARCHAR, cluster_kind VARCHAR, instance_id BIGINT, cluster_size BIGINT,
    user_id BIGINT, database_id BIGINT, query_id BIGINT,
    arrival_timestamp TIMESTAMP, arrival_us BIGINT,
    compile_duration_ms BIGINT, queue_duration_ms BIGINT, execution_duration_ms BIGINT,
    total_duration_ms BIGINT, feature_fingerprint VARCHAR,
    was_aborted BOOLEAN, was_cached BOOLEAN, cache_source_query_id BIGINT, query_type VARCHAR,
    num_permanent_tables_accessed BIGINT, num_external_tables_accessed BIGINT,
    num_system_tables_accessed BIGINT,
    read_table_ids BIGINT[], write_table_ids BIGINT[],
    mbytes_scanned DOUBLE, mbytes_spilled DOUBLE,
    num_joins BIGINT, num_scans BIGINT, num_aggregations BIGINT,
    loaded_at TIMESTAMP
);

CREATE TABLE IF NOT EXISTS rejects (
    run_id VARCHAR, file VARCHAR, "row" BIGINT, dataset VARCHAR, cluster VARCHAR,
    query_id BIGINT, stage VARCHAR, reason VARCHAR, field VARCHAR, message VARCHAR, raw JSON,
    loaded_at TIMESTAMP,
    PRIMARY KEY (run_id, file, "row")
);

-- QUERY_METRICS and COMPILE_METRICS window records; a final record is never replaced by a
-- running ("current") one.
CREATE TABLE IF NOT EXISTS query_metrics (
    run_id VARCHAR, cluster VARCHAR, window_start BIGINT, window_end BIGINT, final BOOLEAN,
    payload JSON, loaded_at TIMESTAMP,
    PRIMARY KEY (run_id, cluster, window_start)
);
CREATE TABLE IF NOT EXISTS late_rows (
    query_key VARCHAR PRIMARY KEY, run_id VARCHAR, cluster VARCHAR, window_start BIGINT,
    loaded_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS compile_metrics (
    run_id VARCHAR, cluster VARCHAR, window_start BIGINT, window_end BIGINT, final BOOLEAN,
    payload JSON, loaded_at TIMESTAMP,
    PRIMARY KEY (run_id, cluster, window_start)
);
CREATE TABLE IF NOT EXISTS leaderboards (
    run_id VARCHAR, board VARCHAR, variant VARCHAR, window_start BIGINT, window_end BIGINT,
    entries JSON, loaded_at TIMESTAMP,
    PRIMARY KEY (run_id, board, variant, window_start)
);
CREATE TABLE IF NOT EXISTS flattened (
    query_key VARCHAR, table_id BIGINT, access VARCHAR,
    run_id VARCHAR, cluster VARCHAR, cluster_kind VARCHAR, instance_id BIGINT, query_id BIGINT,
    user_id BIGINT, database_id BIGINT, arrival_us BIGINT, query_type VARCHAR,
    was_aborted BOOLEAN, was_cached BOOLEAN, execution_duration_ms BIGINT,
    total_duration_ms BIGINT, mbytes_scanned DOUBLE, freshness_ms DOUBLE, loaded_at TIMESTAMP,
    PRIMARY KEY (query_key, table_id, access)
);
