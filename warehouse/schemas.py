"""The Arrow schemas the materializer parses records into, and the records' identities."""

from __future__ import annotations

import pyarrow as pa

from common.contract import HEALTH_METRICS

#: the fields read from a clean record (its ``arrival_timestamp`` text is rebuilt from
#: ``arrival_us``, so it is not parsed)
CLEAN_SCHEMA = pa.schema(
    [
        ("query_key", pa.string()),
        ("run_id", pa.string()),
        ("dataset", pa.string()),
        ("file", pa.string()),
        ("row", pa.int64()),
        ("cluster", pa.string()),
        ("cluster_kind", pa.string()),
        ("instance_id", pa.int64()),
        ("cluster_size", pa.int64()),
        ("user_id", pa.int64()),
        ("database_id", pa.int64()),
        ("query_id", pa.int64()),
        ("arrival_us", pa.int64()),
        ("compile_duration_ms", pa.int64()),
        ("queue_duration_ms", pa.int64()),
        ("execution_duration_ms", pa.int64()),
        ("total_duration_ms", pa.int64()),
        ("feature_fingerprint", pa.string()),
        ("was_aborted", pa.bool_()),
        ("was_cached", pa.bool_()),
        ("cache_source_query_id", pa.int64()),
        ("query_type", pa.string()),
        ("num_permanent_tables_accessed", pa.int64()),
        ("num_external_tables_accessed", pa.int64()),
        ("num_system_tables_accessed", pa.int64()),
        ("read_table_ids", pa.list_(pa.int64())),
        ("write_table_ids", pa.list_(pa.int64())),
        ("mbytes_scanned", pa.float64()),
        ("mbytes_spilled", pa.float64()),
        ("num_joins", pa.int64()),
        ("num_scans", pa.int64()),
        ("num_aggregations", pa.int64()),
    ]
)
#: the fields of a FLATTENED record (one per table a query read or wrote)
FLAT_SCHEMA = pa.schema(
    [
        ("query_key", pa.string()),
        ("table_id", pa.int64()),
        ("access", pa.string()),
        ("run_id", pa.string()),
        ("cluster", pa.string()),
        ("cluster_kind", pa.string()),
        ("instance_id", pa.int64()),
        ("query_id", pa.int64()),
        ("user_id", pa.int64()),
        ("database_id", pa.int64()),
        ("arrival_us", pa.int64()),
        ("query_type", pa.string()),
        ("was_aborted", pa.bool_()),
        ("was_cached", pa.bool_()),
        ("execution_duration_ms", pa.int64()),
        ("total_duration_ms", pa.int64()),
        ("mbytes_scanned", pa.float64()),
        ("freshness_ms", pa.float64()),
    ]
)
#: the replay's fields of a RAW_DATA record (``_raw``: the row's text when unreadable)
RAW_SCHEMA = pa.schema(
    [
        ("_run_id", pa.string()),
        ("_dataset", pa.string()),
        ("_file", pa.string()),
        ("_row", pa.int64()),
        ("_raw", pa.string()),
    ]
)

#: a record's identity in the two big tables; it ends with ``arrival_us``, which the
#: record's source row fixes, so a re-emitted record repeats it
CLEAN_IDENTITY = ("query_key", "arrival_us")
FLAT_IDENTITY = ("query_key", "table_id", "access", "arrival_us")

#: QUERY_METRICS record fields also stored as typed columns of query_metrics (migration 006)
QM_HEALTH_COLUMNS: tuple[str, ...] = (
    *(m for m in HEALTH_METRICS if m != "cache_hit_rate"),  # that one stays in the payload
    "compile_share",
    "bottleneck",
    *(f"{m}_z" for m in HEALTH_METRICS),
    "anomalies",
    "health_trailing",
)
