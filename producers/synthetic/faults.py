"""Broken rows and exact duplicates injected into a synthetic frame, with the manifest
(the ground truth oracle tests compare the dead letters with)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from producers.synthetic.calibration import BAD_NUMBERS, BAD_TIMESTAMPS, ERROR_KINDS, TYPOS
from producers.synthetic.spec import SyntheticSpec

MANIFEST_SCHEMA = pa.schema(
    [
        pa.field("row", pa.int64()),
        pa.field("kind", pa.string()),
        pa.field("field", pa.string()),
        pa.field("duplicate_of", pa.int64()),
    ]
)
#: columns that can hold broken text become strings, as in a CSV
TEXT_COLUMNS = (
    "arrival_timestamp",
    "compile_duration_ms",
    "queue_duration_ms",
    "execution_duration_ms",
)
DURATION_COLUMNS = ("compile_duration_ms", "queue_duration_ms", "execution_duration_ms")

#: an injected problem: (0-based row, kind, field)
Fault = tuple[int, str, str]


def inject(
    table: pa.Table, spec: SyntheticSpec, rng: np.random.Generator
) -> tuple[pa.Table, pa.Table]:
    """``table`` with ``spec.error_rate`` of its rows broken (one problem each) and
    ``spec.duplicate_rate`` of the others copied right after themselves; and the manifest
    (row (1-based, in the new table), kind, field, duplicate_of)."""
    n = table.num_rows
    if n == 0 or (spec.error_rate == 0 and spec.duplicate_rate == 0):
        return table, pa.table({f.name: pa.array([], f.type) for f in MANIFEST_SCHEMA})
    bad = np.flatnonzero(rng.random(n) < spec.error_rate)
    kinds = rng.choice(len(ERROR_KINDS), size=bad.size)
    cols: dict[str, pa.Array] = {c: _as_text(table.column(c)) for c in TEXT_COLUMNS}
    for c in ("query_type", "query_id", "instance_id"):
        cols[c] = table.column(c).combine_chunks()
    edits: dict[str, dict[int, Any]] = {c: {} for c in cols}  # column -> row -> new value
    faults: list[Fault] = []
    for i, k in zip(bad.tolist(), kinds.tolist(), strict=True):
        field, value = _break(i, ERROR_KINDS[k])
        edits[field][i] = value
        faults.append((i, ERROR_KINDS[k], field))
    for c, changes in edits.items():
        if changes:
            cols[c] = _replaced(cols[c], changes, n)
    # exact duplicates of (still valid) rows, inserted right after the original
    is_bad = np.zeros(n, dtype=bool)
    is_bad[bad] = True
    is_dup = (rng.random(n) < spec.duplicate_rate) & ~is_bad
    return _with_duplicates(table, cols, is_dup), _manifest(faults, is_dup)


def _as_text(col: pa.ChunkedArray) -> pa.Array:
    """A column as CSV text: whole floats without ``.0``; a timestamp's seconds with their
    fraction ("%S" of a microsecond timestamp carries it: "05.123456")."""
    if pa.types.is_timestamp(col.type):
        text = pc.strftime(col, format="%Y-%m-%d %H:%M:%S")
    elif pa.types.is_floating(col.type) and pc.all(
        pc.equal(pc.floor(col), col), skip_nulls=True
    ).as_py() in (True, None):
        text = col.cast(pa.int64()).cast(pa.string())
    elif pa.types.is_integer(col.type):
        text = col.cast(pa.string())
    else:
        text = pa.array(
            [
                None if v is None else (str(int(v)) if float(v).is_integer() else str(v))
                for v in col.to_pylist()
            ],
            pa.string(),
        )
    return text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text


def _break(i: int, kind: str) -> tuple[str, str | None]:
    """(field, new value) that gives row ``i`` the problem ``kind``."""
    if kind == "unknown_query_type":
        return "query_type", TYPOS[i % len(TYPOS)]
    if kind == "negative_duration":
        return DURATION_COLUMNS[1 + i % 2], str(-1 - i % 500)
    if kind == "invalid_number":
        return DURATION_COLUMNS[i % 3], BAD_NUMBERS[i % len(BAD_NUMBERS)]
    if kind == "invalid_timestamp":
        return "arrival_timestamp", BAD_TIMESTAMPS[i % len(BAD_TIMESTAMPS)]
    # only what a query cannot be without (a NULL measure is valid: not measured)
    return ("query_id", "instance_id", "arrival_timestamp")[i % 3], None


def _replaced(col: pa.Array, changes: dict[int, Any], n: int) -> pa.Array:
    at = sorted(changes)
    mask = np.zeros(n, dtype=bool)
    mask[at] = True
    values = pa.array([changes[i] for i in at], col.type)
    return pc.replace_with_mask(col, pa.array(mask), values)


def _with_duplicates(table: pa.Table, cols: dict[str, pa.Array], is_dup: np.ndarray) -> pa.Table:
    """``table`` with the edited ``cols`` and each row where ``is_dup`` twice."""
    new_index = pa.array(np.repeat(np.arange(table.num_rows), 1 + is_dup.astype(np.int64)))
    schema = pa.schema(
        [
            pa.field(c, pa.string() if c in TEXT_COLUMNS else table.schema.field(c).type)
            for c in table.column_names
        ]
    )
    arrays = [
        (cols[f.name] if f.name in cols else table.column(f.name)).cast(f.type).take(new_index)
        for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def _manifest(faults: list[Fault], is_dup: np.ndarray) -> pa.Table:
    n = is_dup.size
    # original index -> new 1-based row of its first copy
    position = np.arange(n) + np.concatenate(([0], np.cumsum(is_dup)[:-1])) + 1
    dups = np.flatnonzero(is_dup)
    return pa.table(
        {
            "row": pa.array(
                [int(position[i]) for i, _, _ in faults] + (position[dups] + 1).tolist(),
                pa.int64(),
            ),
            "kind": pa.array([k for _, k, _ in faults] + ["duplicate"] * dups.size, pa.string()),
            "field": pa.array([f for _, _, f in faults] + [None] * dups.size, pa.string()),
            "duplicate_of": pa.array([None] * len(faults) + position[dups].tolist(), pa.int64()),
        },
        schema=MANIFEST_SCHEMA,
    ).sort_by("row")
