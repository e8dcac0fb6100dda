"""Cleaning rules: one RAW_DATA value -> a CLEAN_DATA record or a dead-letter record.

Pure logic (no Kafka). See docs/CONTRACT.md (RAW_DATA, CLEAN_DATA, DEAD_LETTERS) and
docs/processors.md "clean" for every rule. Summary:

* ints accept JSON ints, integral floats and their strings (``"34"``, ``"34.0"``);
  durations that are non-integral floats are rounded to the nearest ms;
* booleans accept true/false, 0/1 (int, float or string), "t"/"f", "yes"/"no";
* ``None`` or ``""`` is NULL. Only the identity (instance and query id, arrival time) and
  the classification (query type, aborted, cached) are required: NULL there is
  ``missing_field`` (the timestamp: ``""`` is ``invalid_timestamp``). Every other column
  is a measure or attribute, and NULL there means "not measured" (result-cache hits in
  the real files): it stays NULL in CLEAN_DATA (docs/CONTRACT.md, rule per column);
* timestamps ``YYYY-MM-DD HH:MM:SS[.ffffff]`` (or with ``T``), read as UTC; plausible
  means within [2000-01-01, 2100-01-01);
* table-id lists: ``"0,1,2"``, ``"[1, 2]"`` or a JSON list of ints; ``""`` is the empty
  list, null stays null (not measured).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from common.contract import (
    PROV_DATASET,
    PROV_FILE,
    PROV_KIND,
    PROV_ROW,
    PROV_RUN_ID,
    QUERY_TYPES,
    RAW_ERROR,
    cluster_key,
    query_key,
    row_location,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MIN_PLAUSIBLE_US = int((datetime(2000, 1, 1, tzinfo=UTC) - _EPOCH).total_seconds()) * 10**6
MAX_PLAUSIBLE_US = int((datetime(2100, 1, 1, tzinfo=UTC) - _EPOCH).total_seconds()) * 10**6

_QUERY_TYPES = frozenset(QUERY_TYPES)
_TRUE = frozenset({"1", "true", "t", "yes", "y", "1.0"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "0.0"})
_BOOLS = {**dict.fromkeys(_TRUE, True), **dict.fromkeys(_FALSE, False)}


class RowError(ValueError):
    """A field of a row cannot be cleaned."""

    def __init__(self, field: str | None, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class CleanResult:
    """Exactly one of ``clean`` / ``dead`` is set."""

    clean: dict[str, Any] | None
    dead: dict[str, Any] | None

    @property
    def ok(self) -> bool:
        return self.clean is not None


# --------------------------------------------------------------------------- parsers
def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, str) and v.strip() == "")


_INF = math.inf


def parse_int(v: Any, field: str, *, required: bool = True) -> int | None:
    t = type(v)  # fast paths for the common cases; bool is not int here
    if t is int:
        return v
    if t is float and v.is_integer():
        return int(v)
    if t is str:
        # text from CSV and Excel sources: "34", and "34.0" for the counts the real files
        # store as floats (tried first: a failed int() costs a raised exception)
        try:
            return int(v[:-2]) if v[-2:] == ".0" else int(v)
        except ValueError:
            pass
    if _missing(v):
        if required:
            raise RowError(field, "missing_field", "is missing")
        return None
    if isinstance(v, bool):
        raise RowError(field, "invalid_number", f"{v!r} is not a number")
    if isinstance(v, int):
        return v
    x = _to_float(v, field)
    if not x.is_integer():
        raise RowError(field, "invalid_number", f"{v!r} is not an integer")
    return int(x)


def _to_float(v: Any, field: str) -> float:
    if isinstance(v, bool):
        raise RowError(field, "invalid_number", f"{v!r} is not a number")
    try:
        x = float(v.strip()) if isinstance(v, str) else float(v)
    except (TypeError, ValueError):
        raise RowError(field, "invalid_number", f"{v!r} is not a number") from None
    if not math.isfinite(x):
        raise RowError(field, "invalid_number", f"{v!r} is not a finite number")
    return x


def parse_duration(v: Any, field: str) -> int | None:
    t = type(v)
    if t is int and v >= 0:
        return v
    if t is float and 0.0 <= v < _INF:
        return round(v)
    if t is str:
        try:
            n = int(v)
        except ValueError:
            pass
        else:
            if n >= 0:
                return n
    if _missing(v):
        return None
    x = float(v) if isinstance(v, int) and not isinstance(v, bool) else _to_float(v, field)
    if x < 0:
        raise RowError(field, "negative_duration", f"{v!r} is negative")
    return int(x) if isinstance(v, int) else round(x)


def parse_nonneg_float(v: Any, field: str) -> float | None:
    t = type(v)
    if t is float and 0.0 <= v < _INF:
        return v
    if t is str:
        try:
            x = float(v)
        except ValueError:
            pass
        else:
            if 0.0 <= x < _INF:
                return x
    if _missing(v):
        return None
    x = _to_float(v, field)
    if x < 0:
        raise RowError(field, "invalid_value", f"{v!r} is negative")
    return x


def parse_bool(v: Any, field: str) -> bool:
    if v is True or v is False:
        return v
    fast = _BOOLS.get(v) if type(v) is str else None
    if fast is not None:
        return fast
    if _missing(v):
        raise RowError(field, "missing_field", "is missing")
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        if v == 1:
            return True
        if v == 0:
            return False
    elif isinstance(v, str):
        s = v.strip().lower()
        if s in _TRUE:
            return True
        if s in _FALSE:
            return False
    raise RowError(field, "invalid_boolean", f"{v!r} is not a boolean")


_EPOCH_ORDINAL = _EPOCH.toordinal()


def parse_timestamp(v: Any, field: str = "arrival_timestamp") -> tuple[int, str]:
    """(epoch microseconds, the CLEAN_DATA text) of a zone-less timestamp read as UTC."""
    if type(v) is str and len(v) == 26 and v[10] in " T" and v[19] == ".":
        # the files' own form ``YYYY-MM-DD HH:MM:SS.ffffff``: its text is already canonical
        try:
            dt = datetime.fromisoformat(v)
        except ValueError:
            dt = None
        if dt is not None and dt.tzinfo is None and v[4] == "-" and v[7] == "-":
            us = (
                ((dt.toordinal() - _EPOCH_ORDINAL) * 86400 + dt.hour * 3600 + dt.minute * 60)
                + dt.second
            ) * 10**6 + dt.microsecond
            if MIN_PLAUSIBLE_US <= us < MAX_PLAUSIBLE_US:
                return us, v if v[10] == "T" else f"{v[:10]}T{v[11:]}"
    us = parse_timestamp_us(v, field)
    return us, format_timestamp_us(us)


def parse_timestamp_us(v: Any, field: str = "arrival_timestamp") -> int:
    """Epoch microseconds of a zone-less timestamp read as UTC."""
    if v is None:
        raise RowError(field, "missing_field", "is missing")
    if not isinstance(v, str):
        raise RowError(field, "invalid_timestamp", f"{v!r} is not a timestamp string")
    s = v.strip()
    try:
        if len(s) < 19 or s[4] != "-" or s[7] != "-" or s[10] not in " T":
            raise ValueError
        dt = datetime.fromisoformat(s.replace(" ", "T", 1))
    except ValueError:
        raise RowError(field, "invalid_timestamp", f"{v!r} is not a valid timestamp") from None
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    delta = dt - _EPOCH.replace(tzinfo=None)
    us = (delta.days * 86400 + delta.seconds) * 10**6 + delta.microseconds
    if not MIN_PLAUSIBLE_US <= us < MAX_PLAUSIBLE_US:
        raise RowError(field, "implausible_timestamp", f"{v!r} is outside 2000..2099")
    return us


_DAYS: dict[int, str] = {}


def format_timestamp_us(us: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffff`` (UTC, no zone suffix)."""
    secs, micros = divmod(us, 10**6)
    day, sod = divmod(secs, 86400)
    date = _DAYS.get(day)
    if date is None:
        date = datetime.fromtimestamp(day * 86400, tz=UTC).strftime("%Y-%m-%d")
        if len(_DAYS) < 100_000:
            _DAYS[day] = date
    h, rest = divmod(sod, 3600)
    m, sec = divmod(rest, 60)
    return f"{date}T{h:02d}:{m:02d}:{sec:02d}.{micros:06d}"


def parse_table_ids(v: Any, field: str) -> list[int] | None:
    if v is None:
        return None
    if type(v) is list and all(type(i) is int and i >= 0 for i in v):
        return v
    if type(v) is str and v.isdecimal():  # one table, the most common list
        return [int(v)]
    if isinstance(v, list):
        items: list[Any] = v
    elif isinstance(v, str):
        s = v.strip().strip("[]").strip()
        if not s:
            return []
        items = [p.strip() for p in s.split(",")]
    elif isinstance(v, int | float) and not isinstance(v, bool):
        items = [v]
    else:
        raise RowError(field, "invalid_table_ids", f"{v!r} is not a list of table ids")
    out: list[int] = []
    for it in items:
        try:
            n = parse_int(it, field)
        except RowError:
            raise RowError(
                field, "invalid_table_ids", f"{v!r} is not a list of table ids"
            ) from None
        if n is None or n < 0:
            raise RowError(field, "invalid_table_ids", f"{v!r} is not a list of table ids")
        out.append(n)
    return out


def parse_query_type(v: Any, field: str = "query_type") -> str:
    if _missing(v):
        raise RowError(field, "missing_field", "is missing")
    if not isinstance(v, str):
        raise RowError(field, "unknown_query_type", f"{v!r} is not a known query type")
    s = v.strip().lower()
    if s not in _QUERY_TYPES:
        raise RowError(field, "unknown_query_type", f"{v!r} is not a known query type")
    return s


def _opt_int(v: Any, field: str) -> int | None:
    if v is None:  # most optional ints of a row
        return None
    return parse_int(v, field, required=False)


# --------------------------------------------------------------------------- the rule
def provenance(raw: dict[str, Any]) -> tuple[str, str, str, int | None]:
    row = raw.get(PROV_ROW)
    try:
        row_n = int(row) if row is not None else None
    except (TypeError, ValueError):
        row_n = None
    return (
        str(raw.get(PROV_RUN_ID) or ""),
        str(raw.get(PROV_DATASET) or ""),
        str(raw.get(PROV_FILE) or ""),
        row_n,
    )


def raw_cluster(raw: dict[str, Any]) -> str | None:
    """Cluster of a raw row if its instance id is readable, else None."""
    kind = raw.get(PROV_KIND) or "provisioned"
    try:
        iid = parse_int(raw.get("instance_id"), "instance_id")
    except RowError:
        return None
    return cluster_key(str(kind), iid) if iid is not None else None


def dead_letter(
    raw: dict[str, Any], field: str | None, reason: str, detail: str, cluster: str | None = None
) -> dict[str, Any]:
    run_id, dataset, file, row = provenance(raw)
    qid: int | None
    try:
        qid = parse_int(raw.get("query_id"), "query_id", required=False)
    except RowError:
        qid = None
    where = row_location(file, row, field)
    return {
        "run_id": run_id,
        "dataset": dataset,
        "file": file,
        "row": row,
        "cluster": cluster if cluster is not None else raw_cluster(raw),
        "query_id": qid,
        "stage": "clean",
        "reason": reason,
        "field": field,
        # a reader's message already names file and row: do not say it twice
        "message": detail if detail.startswith(row_location(file, row)) else f"{where}: {detail}",
        "raw": raw,
    }


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
    if kind not in ("provisioned", "serverless"):
        raise RowError(PROV_KIND, "invalid_value", f"cluster kind {kind!r} is not known")
    instance_id = parse_int(raw.get("instance_id"), "instance_id")
    assert instance_id is not None
    cluster = cluster_key(kind, instance_id)
    query_id = parse_int(raw.get("query_id"), "query_id")
    user_id = _opt_int(raw.get("user_id"), "user_id")
    database_id = _opt_int(raw.get("database_id"), "database_id")
    arrival_us, arrival_text = parse_timestamp(raw.get("arrival_timestamp"))
    compile_ms = parse_duration(raw.get("compile_duration_ms"), "compile_duration_ms")
    queue_ms = parse_duration(raw.get("queue_duration_ms"), "queue_duration_ms")
    exec_ms = parse_duration(raw.get("execution_duration_ms"), "execution_duration_ms")
    cluster_size = _opt_int(raw.get("cluster_size"), "cluster_size")
    if kind == "serverless":
        cluster_size = None
    fp = raw.get("feature_fingerprint")
    fingerprint = None if _missing(fp) else str(fp).strip()
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
        "cache_source_query_id": _opt_int(
            raw.get("cache_source_query_id"), "cache_source_query_id"
        ),
        "query_type": parse_query_type(raw.get("query_type")),
        "num_permanent_tables_accessed": _opt_int(
            raw.get("num_permanent_tables_accessed"), "num_permanent_tables_accessed"
        ),
        "num_external_tables_accessed": _opt_int(
            raw.get("num_external_tables_accessed"), "num_external_tables_accessed"
        ),
        "num_system_tables_accessed": _opt_int(
            raw.get("num_system_tables_accessed"), "num_system_tables_accessed"
        ),
        "read_table_ids": parse_table_ids(raw.get("read_table_ids"), "read_table_ids"),
        "write_table_ids": parse_table_ids(raw.get("write_table_ids"), "write_table_ids"),
        "mbytes_scanned": parse_nonneg_float(raw.get("mbytes_scanned"), "mbytes_scanned"),
        "mbytes_spilled": parse_nonneg_float(raw.get("mbytes_spilled"), "mbytes_spilled"),
        "num_joins": _opt_int(raw.get("num_joins"), "num_joins"),
        "num_scans": _opt_int(raw.get("num_scans"), "num_scans"),
        "num_aggregations": _opt_int(raw.get("num_aggregations"), "num_aggregations"),
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
