"""FLATTENED: one row per (query, table, access) with the query's attributes (pure logic).

Freshness: for a read, ``freshness_ms`` = the query's arrival minus the latest earlier
write to the same table in the same run and cluster (ms, float), None when no write was
seen before (or the last write is later than the read). Reads are resolved before the
query's own writes are recorded. Table ids repeated within one list give one row. A NULL
list (not measured, e.g. a result-cache hit) gives no rows, like an empty one.
"""

from __future__ import annotations

from typing import Any

_ATTRS = (
    "query_key",
    "run_id",
    "cluster",
    "cluster_kind",
    "instance_id",
    "query_id",
    "user_id",
    "database_id",
    "arrival_timestamp",
    "arrival_us",
    "query_type",
    "was_aborted",
    "was_cached",
    "execution_duration_ms",
    "total_duration_ms",
    "mbytes_scanned",
)


def flatten(
    rec: dict[str, Any], last_write_us: dict[int, int | None]
) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """Rows for one clean record, given the last write time (us) of each table it reads.

    Returns (rows, updated last-write times for the tables it writes).
    """
    base = {a: rec[a] for a in _ATTRS}
    arrival = rec["arrival_us"]
    rows: list[dict[str, Any]] = []
    for t in dict.fromkeys(rec["read_table_ids"] or ()):
        lw = last_write_us.get(t)
        fresh = (arrival - lw) / 1000.0 if lw is not None and lw <= arrival else None
        rows.append({**base, "table_id": t, "access": "read", "freshness_ms": fresh})
    writes: dict[int, int] = {}
    for t in dict.fromkeys(rec["write_table_ids"] or ()):
        rows.append({**base, "table_id": t, "access": "write", "freshness_ms": None})
        writes[t] = arrival
    return rows, writes
