"""The topic contract: names shared by producers, processors, the warehouse and dashboards.

Every topic carries JSON values, a key, and the Kafka timestamp = the query's event time
(arrival, epoch milliseconds). The full field lists are in README "Topic contract".

Identity of a message (what downstream upserts deduplicate on):

========================  ==================================================================
topic                     identity
========================  ==================================================================
RAW_DATA                  (run_id, file, row)
CLEAN_DATA                query_key = "{run_id}/{cluster}/{query_id}"
DEAD_LETTERS              (run_id, file, row)  (``reason == "duplicate"`` marks a duplicate)
QUERY_METRICS             (run_id, cluster, window_start)     cluster "fleet" = roll-up
COMPILE_METRICS           (run_id, cluster, window_start)
LEADERBOARD               (run_id, board, window_start, variant, rank)
FLATTENED                 (query_key, table_id, access)
========================  ==================================================================

A replay run is one experiment; duplicates are detected within a run (a second replay of
the same file with a new run id is a new experiment, not a duplicate of the first).
"""

from __future__ import annotations

from typing import Final

#: Arrival times the clean stage accepts ([start, end), UTC; processors.logic.parsers). The replay
#: sends a row outside them with the previous row's timestamp: brokers refuse negative
#: timestamps (before 1970), and Kafka 4 those more than an hour ahead by default.
PLAUSIBLE_ARRIVAL: Final[tuple[str, str]] = ("2000-01-01", "2100-01-01")

#: The 24 Redset columns, in the order of the real files.
REDSET_COLUMNS: Final[tuple[str, ...]] = (
    "instance_id",
    "cluster_size",
    "user_id",
    "database_id",
    "query_id",
    "arrival_timestamp",
    "compile_duration_ms",
    "queue_duration_ms",
    "execution_duration_ms",
    "feature_fingerprint",
    "was_aborted",
    "was_cached",
    "cache_source_query_id",
    "query_type",
    "num_permanent_tables_accessed",
    "num_external_tables_accessed",
    "num_system_tables_accessed",
    "read_table_ids",
    "write_table_ids",
    "mbytes_scanned",
    "mbytes_spilled",
    "num_joins",
    "num_scans",
    "num_aggregations",
)

QUERY_TYPES: Final[tuple[str, ...]] = (
    "select",
    "insert",
    "copy",
    "delete",
    "update",
    "ctas",
    "unload",
    "vacuum",
    "analyze",
    "other",
)

CLUSTER_KINDS: Final[tuple[str, str]] = ("provisioned", "serverless")

#: Provenance fields added by the producer to every RAW_DATA value (and copied downstream).
PROV_RUN_ID: Final = "_run_id"
PROV_DATASET: Final = "_dataset"
PROV_FILE: Final = "_file"
PROV_ROW: Final = "_row"  # 1-based data row number within the file (header excluded)
PROV_KIND: Final = "_kind"  # provisioned | serverless
#: Set only on rows the reader could not parse: the raw text and the reader's complaint.
RAW_TEXT: Final = "_raw"
RAW_ERROR: Final = "_error"  # {"field": str | None, "reason": str, "message": str}

#: Kafka headers on RAW_DATA (bytes values, utf-8).
HEADER_RUN_ID: Final = "run_id"
HEADER_DATASET: Final = "dataset"
HEADER_FILE: Final = "file"
HEADER_ROW: Final = "row"

#: Key of the fleet-wide roll-up rows in QUERY_METRICS / COMPILE_METRICS.
FLEET: Final = "fleet"

#: Dead-letter reason that marks a dropped duplicate (not an invalid row).
DUPLICATE_REASON: Final = "duplicate"

#: Leaderboard names and the variant of an emitted board.
BOARDS: Final[tuple[str, ...]] = (
    "busiest_clusters",  # clusters by total execution time (ms)
    "top_users_by_queries",  # users (cluster/user) by query count
    "top_users_by_runtime",  # users by total runtime (queue + execution, ms)
    "longest_compiles",  # single queries by compile_duration_ms
    "biggest_spillers",  # single queries by mbytes_spilled
    "hottest_tables",  # tables (cluster/table) by accesses (reads + writes)
)
VARIANT_FINAL: Final = "final"  # emitted once when the window closes
VARIANT_CURRENT: Final = "current"  # running board while the window is open

#: QUERY_METRICS window health metrics, each with a robust z-score ``<metric>_z``
#: (docs/processors.md, "Cluster health")
HEALTH_METRICS: Final[tuple[str, ...]] = (
    "queue_pressure",  # share of the queries with a known queue time that queued (> 0 ms)
    "spill_pressure",  # share of the queries with known MB spilled that spilled (> 0 MB)
    "scan_mb_per_s",  # MB scanned per second of execution (queries with both known)
    "utilisation",  # execution time summed over the window's length (can exceed 1)
    "cache_hit_rate",  # share of the queries answered from the result cache
)
#: bottleneck labels, in their order of precedence when several thresholds trip
BOTTLENECKS: Final[tuple[str, ...]] = (
    "queue-bound",
    "spill-bound",
    "compile-bound",
    "scan-bound",
    "healthy",
)


def row_location(file: str | None, row: int | str | None, field: str | None = None) -> str:
    """Where a row (or one of its fields) came from: ``<file> row <n>[ field <f>]``. Every
    reader, replay and dead-letter message starts with it."""
    return f"{file} row {row}" + (f" field {field}" if field else "")


def cluster_key(kind: str, instance_id: int | str) -> str:
    """Kafka key and cluster id: kind + instance id, e.g. ``provisioned-17``."""
    return f"{kind}-{instance_id}"


def query_key(run_id: str, cluster: str, query_id: int | str) -> str:
    """Global query key: unique per replay run, cluster and query id."""
    return f"{run_id}/{cluster}/{query_id}"
