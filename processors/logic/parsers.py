"""Value parsers of the clean stage: one RAW_DATA field -> its CLEAN_DATA value, or a
:class:`RowError` naming the field and the dead-letter reason (pure logic).

* ints accept JSON ints, integral floats and their strings (``"34"``, ``"34.0"``);
  durations that are non-integral floats are rounded to the nearest ms;
* booleans accept true/false, 0/1 (int, float or string), "t"/"f", "yes"/"no";
* ``None`` or ``""`` is NULL (:func:`is_missing`);
* timestamps ``YYYY-MM-DD HH:MM:SS[.ffffff]`` (or with ``T``), read as UTC; plausible
  means within [2000-01-01, 2100-01-01);
* table-id lists: ``"0,1,2"``, ``"[1, 2]"`` or a JSON list of ints; ``""`` is the empty
  list, null stays null (not measured).

Each parser tries the common shapes of a value first (checked by ``type(v) is ...``) and
falls back to the general rule.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from common.contract import QUERY_TYPES

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


def is_missing(v: Any) -> bool:
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
    if is_missing(v):
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
    if is_missing(v):
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
    if is_missing(v):
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
    if is_missing(v):
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
    if is_missing(v):
        raise RowError(field, "missing_field", "is missing")
    if not isinstance(v, str):
        raise RowError(field, "unknown_query_type", f"{v!r} is not a known query type")
    s = v.strip().lower()
    if s not in _QUERY_TYPES:
        raise RowError(field, "unknown_query_type", f"{v!r} is not a known query type")
    return s


def optional_int(v: Any, field: str) -> int | None:
    if v is None:  # most optional ints of a row
        return None
    return parse_int(v, field, required=False)
