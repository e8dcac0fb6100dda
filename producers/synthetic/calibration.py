"""The generator's calibration: the real files' figures (``shared/redset.md``) as tables."""

from __future__ import annotations

from common.contract import QUERY_TYPES

#: P(query_type) among non-cached queries, per kind (cache hits are type "other").
#: Chosen so that reads (select or cached) are 30.9 % of all queries (redset.md).
TYPE_MIX = {
    "provisioned": {
        "select": 20.3, "insert": 24.0, "copy": 12.0, "delete": 8.0, "update": 4.0,
        "ctas": 3.0, "unload": 2.0, "vacuum": 2.0, "analyze": 6.0, "other": 8.1,
    },
    "serverless": {
        "select": 26.3, "insert": 20.0, "copy": 10.0, "delete": 7.0, "update": 3.0,
        "ctas": 3.0, "unload": 2.0, "vacuum": 1.0, "analyze": 6.0, "other": 17.1,
    },
}  # fmt: skip
CACHE_HIT = {"provisioned": 0.106, "serverless": 0.046}
ABORT = {"provisioned": 0.0051, "serverless": 0.0091}
SYSTEM_TABLES = {"provisioned": 0.024, "serverless": 0.124}
#: share of queries that reuse a fingerprint of their cluster's top 10 (redset.md: ~34 % / ~53 %)
TOP10 = {"provisioned": 0.34, "serverless": 0.53}
#: share of queries whose fingerprint was already seen in the cluster (90.2 % / 87.5 %)
SEEN = {"provisioned": 0.902, "serverless": 0.875}
#: runtime buckets (ms bounds) and their shares (redset.md)
RUNTIME_BUCKETS = [
    (1, 10),
    (10, 100),
    (100, 1_000),
    (1_000, 10_000),
    (10_000, 60_000),
    (60_000, 3_600_000),
]
#: over all queries; cache hits (all <= 10 ms) fill part of the first bucket
RUNTIME_P = [0.14, 0.48, 0.25, 0.10, 0.02, 0.01]
#: bytes scanned buckets (MB) and shares among scanning queries
SCAN_BUCKETS = [
    (0.01, 1_000),
    (1_000, 10_000),
    (10_000, 100_000),
    (100_000, 1_000_000),
    (1_000_000, 10_000_000),
]
SCAN_P = [0.75, 0.19, 0.04, 0.01, 0.002]
WRITES = ("insert", "copy", "delete")
#: table ids 0..4 of each cluster are its ETL targets
ETL_TABLES = 5
#: NULL ("not measured") among the non-cached rows, as in the real samples (redset.md);
#: ``SyntheticSpec.nulls`` scales them (0 = none; cache hits are always NULL there)
NULL_RATES = {"compile_duration_ms": 0.003, "feature_fingerprint": 0.0045, "mbytes": 0.004}

#: what ``error_rate`` breaks, one problem per broken row
ERROR_KINDS = (
    "unknown_query_type",
    "negative_duration",
    "invalid_number",
    "invalid_timestamp",
    "missing_field",
)
TYPOS = ["selcet", "insrt", "drop_table", "merge", "sleect", "upsert", "grant", "?"]
BAD_NUMBERS = ["12ms", "abc", "1,5", "NaNms", "--3", "1e"]
BAD_TIMESTAMPS = [
    "2024-13-45 25:61:00",
    " ",  # blank, not empty: an empty CSV field is NULL (missing), whatever the manifest says
    "yesterday",
    "2024-02-30 10:00:00",
    "31/03/2024 10:00",
]

assert set(TYPE_MIX["provisioned"]) == set(QUERY_TYPES)
