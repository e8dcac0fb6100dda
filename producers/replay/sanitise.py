"""RAW_DATA values Kafka and every JSON reader accept: non-finite numbers as strings, a row
too large for Kafka as an unreadable row."""

from __future__ import annotations

import json
import math

import pyarrow as pa
import pyarrow.compute as pc

from common.contract import RAW_TEXT, REDSET_COLUMNS, row_location

#: a row whose JSON (in UTF-8) is longer than this is sent as an unreadable row
#: (``field_too_large``): Kafka refuses messages over ~1 MB, and the clean stage's dead
#: letter carries the raw row
MAX_ROW_BYTES = 512 * 1024
#: a field larger than this (as JSON) is left out of a ``field_too_large`` row
MAX_KEPT_FIELD_BYTES = 1024
_NONFINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
_REDSET = frozenset(REDSET_COLUMNS)


def safe_value(value: str, file: str, row: int) -> tuple[str, str | None]:
    """A RAW_DATA value Kafka and every JSON reader accept, and the reason if the row
    became unreadable here. Non-finite numbers (DuckDB writes them as bare ``NaN`` /
    ``Infinity``, which is not JSON) become strings the clean stage rejects as
    ``invalid_number``; a row over :data:`MAX_ROW_BYTES` becomes an unreadable row
    (``field_too_large``) naming its largest field, with a shortened ``_raw``."""
    try:
        v = json.loads(value)  # Python's json reads NaN and Infinity
    except ValueError:
        return value, None
    if not isinstance(v, dict):
        return value, None
    changed = False
    for k, x in v.items():
        if isinstance(x, float) and not math.isfinite(x):
            v[k] = _NONFINITE[repr(x)]
            changed = True
    text = json.dumps(v) if changed else value
    if len(text.encode()) <= MAX_ROW_BYTES:
        return text, None
    given = v.get(RAW_TEXT)
    if isinstance(given, str) and isinstance(v.get("_error"), dict):
        v[RAW_TEXT] = _shorten(given)  # unreadable already: keep its reason
        return json.dumps(v), None
    return _too_large(v, text, file, row), "field_too_large"


def _too_large(v: dict[str, object], text: str, file: str, row: int) -> str:
    """The unreadable row (``field_too_large``) that stands for the row ``v``."""
    sizes = {k: len(json.dumps(x)) for k, x in v.items() if k in _REDSET}
    big = max(sizes, key=lambda k: sizes[k])
    out = {k: (None if sizes.get(k, 0) > MAX_KEPT_FIELD_BYTES else x) for k, x in v.items()}
    out[RAW_TEXT] = _shorten(text)
    out["_error"] = {
        "field": big,
        "reason": "field_too_large",
        "message": f"{row_location(file, row, big)}: {sizes[big]:,} bytes as JSON; "
        f"a row may hold at most {MAX_ROW_BYTES:,}",
    }
    return json.dumps(out)


def suspects(values: pa.Array, flagged: pa.Array | None, search_text: bool) -> list[int]:
    """Indices of the JSON values :func:`safe_value` must see (vectorized: the per-row
    loop pays nothing when a batch has none). ``flagged``: the SQL's ``nonfinite`` column
    (typed float columns); ``search_text``: look for NaN/Infinity in the JSON text too (a
    float nested in another type)."""
    flag = pc.greater(pc.binary_length(values), MAX_ROW_BYTES)
    if flagged is not None:
        flag = pc.or_(flag, flagged)
    if search_text and _may_hold_nonfinite(values):
        nan = pc.or_(pc.match_substring(values, "NaN"), pc.match_substring(values, "Infinity"))
        flag = pc.or_(flag, nan)
    if not pc.any(flag).as_py():
        return []
    return [int(i) for i in pc.indices_nonzero(flag).to_pylist()]


def _may_hold_nonfinite(values: pa.Array) -> bool:
    """One bytes search over a batch's character data, before the per-value search: almost
    no batch has a non-finite number."""
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return True  # another layout: let match_substring look
    data = values.buffers()[2]
    if data is None:
        return False
    raw = data.to_pybytes()
    return b"NaN" in raw or b"Infinity" in raw


def _shorten(text: str) -> str:
    return text[:1000] + f"... ({len(text):,} characters in all)"
