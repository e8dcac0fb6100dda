"""Cleaning rules: one RAW_DATA value -> a CLEAN_DATA record or a dead-letter record.

Pure logic (no Kafka). See docs/CONTRACT.md (RAW_DATA, CLEAN_DATA, DEAD_LETTERS) and
docs/processors.md "clean" for every rule; each field's value rule is in
:mod:`processors.logic.parsers`, the dead letters in :mod:`processors.logic.dead_letters`.

Only the identity (instance and query id, arrival time) and the classification (query
type, aborted, cached) are required: NULL (``None`` or ``""``) there is ``missing_field``
(the timestamp: ``""`` is ``invalid_timestamp``). Every other column is a measure or
attribute, and NULL there means "not measured" (result-cache hits in the real files): it
stays NULL in CLEAN_DATA (docs/CONTRACT.md, rule per column).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.contract import CLUSTER_KINDS, PROV_KIND, RAW_ERROR, cluster_key, query_key
from processors.logic.dead_letters import dead_letter, provenance
from processors.logic.parsers import (
    RowError,
    is_missing,
    optional_int,
    parse_bool,
    parse_duration,
    parse_int,
    parse_nonneg_float,
    parse_query_type,
    parse_table_ids,
    parse_timestamp,
)


@dataclass(frozen=True)
class CleanResult:
    """Exactly one of ``clean`` / ``dead`` is set."""

    clean: dict[str, Any] | None
    dead: dict[str, Any] | None

    @property
    def ok(self) -> bool:
        return self.clean is not None


def clean_row(raw: dict[str, Any]) -> CleanResult:
    """Clean one RAW_DATA value (see module doc). Never raises on bad data."""
    if not isinstance(raw, dict):
        return CleanResult(
            None, dead_letter({}, None, "unreadable_row", f"value {raw!r} is not an object")
        )
    err = raw.get(RAW_ERROR)
    if err:
        e = err if isinstance(err, dict) else {"reason": "unreadable_row", "message": str(err)}
        return CleanResult(
            None,
            dead_letter(
                raw,
                e.get("field"),
                str(e.get("reason") or "unreadable_row"),
                str(e.get("message") or "unreadable row"),
            ),
        )
    try:
        rec = _clean(raw)
    except RowError as e:
        return CleanResult(None, dead_letter(raw, e.field, e.reason, e.detail))
    return CleanResult(rec, None)


def _clean(raw: dict[str, Any]) -> dict[str, Any]:
    run_id, dataset, file, row = provenance(raw)
    kind = raw.get(PROV_KIND)
    if kind not in CLUSTER_KINDS:
        raise RowError(PROV_KIND, "invalid_value", f"cluster kind {kind!r} is not known")
    instance_id = parse_int(raw.get("instance_id"), "instance_id")
    assert instance_id is not None
    cluster = cluster_key(kind, instance_id)
    query_id = parse_int(raw.get("query_id"), "query_id")
    user_id = optional_int(raw.get("user_id"), "user_id")
    database_id = optional_int(raw.get("database_id"), "database_id")
    arrival_us, arrival_text = parse_timestamp(raw.get("arrival_timestamp"))
    compile_ms = parse_duration(raw.get("compile_duration_ms"), "compile_duration_ms")
    queue_ms = parse_duration(raw.get("queue_duration_ms"), "queue_duration_ms")
    exec_ms = parse_duration(raw.get("execution_duration_ms"), "execution_duration_ms")
    cluster_size = optional_int(raw.get("cluster_size"), "cluster_size")
    if kind == "serverless":
        cluster_size = None
    fp = raw.get("feature_fingerprint")
    fingerprint = None if is_missing(fp) else str(fp).strip()
    rec: dict[str, Any] = {
        "query_key": query_key(run_id, cluster, query_id),  # type: ignore[arg-type]
        "run_id": run_id,
        "dataset": dataset,
        "file": file,
        "row": row,
        "cluster": cluster,
        "cluster_kind": kind,
        "instance_id": instance_id,
        "user_id": user_id,
        "database_id": database_id,
        "query_id": query_id,
        "cluster_size": cluster_size,
        "arrival_timestamp": arrival_text,
        "arrival_us": arrival_us,
        "compile_duration_ms": compile_ms,
        "queue_duration_ms": queue_ms,
        "execution_duration_ms": exec_ms,
        # unknown if either part is: a total without its queue time would look fast
        "total_duration_ms": None if queue_ms is None or exec_ms is None else queue_ms + exec_ms,
        "feature_fingerprint": fingerprint,
        "was_aborted": parse_bool(raw.get("was_aborted"), "was_aborted"),
        "was_cached": parse_bool(raw.get("was_cached"), "was_cached"),
        "cache_source_query_id": optional_int(
            raw.get("cache_source_query_id"), "cache_source_query_id"
        ),
        "query_type": parse_query_type(raw.get("query_type")),
        "num_permanent_tables_accessed": optional_int(
            raw.get("num_permanent_tables_accessed"), "num_permanent_tables_accessed"
        ),
        "num_external_tables_accessed": optional_int(
            raw.get("num_external_tables_accessed"), "num_external_tables_accessed"
        ),
        "num_system_tables_accessed": optional_int(
            raw.get("num_system_tables_accessed"), "num_system_tables_accessed"
        ),
        "read_table_ids": parse_table_ids(raw.get("read_table_ids"), "read_table_ids"),
        "write_table_ids": parse_table_ids(raw.get("write_table_ids"), "write_table_ids"),
        "mbytes_scanned": parse_nonneg_float(raw.get("mbytes_scanned"), "mbytes_scanned"),
        "mbytes_spilled": parse_nonneg_float(raw.get("mbytes_spilled"), "mbytes_spilled"),
        "num_joins": optional_int(raw.get("num_joins"), "num_joins"),
        "num_scans": optional_int(raw.get("num_scans"), "num_scans"),
        "num_aggregations": optional_int(raw.get("num_aggregations"), "num_aggregations"),
    }
    for f in (
        "num_joins",
        "num_scans",
        "num_aggregations",
        "cluster_size",
        "num_permanent_tables_accessed",
        "num_external_tables_accessed",
        "num_system_tables_accessed",
    ):
        if rec[f] is not None and rec[f] < 0:
            raise RowError(f, "invalid_value", f"{rec[f]!r} is negative")
    return rec
