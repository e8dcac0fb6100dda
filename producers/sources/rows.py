"""What every staged format produces: Arrow batches of :data:`STAGE_SCHEMA` (the 24 Redset
columns as text, then ``_file``, ``_row``, and for a row kept as raw text ``_raw`` /
``_error``)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pyarrow as pa

from common.contract import REDSET_COLUMNS, row_location
from producers.sources.errors import SourceError

REQUIRED = frozenset(REDSET_COLUMNS)

STAGE_SCHEMA = pa.schema(
    [pa.field(c, pa.string()) for c in REDSET_COLUMNS]
    + [
        pa.field("_file", pa.string()),
        pa.field("_row", pa.int64()),
        pa.field("_raw", pa.string()),
        pa.field("_error", pa.string()),
    ]
)

#: a row kept as raw text: (row, text, detail, field or None, reason)
BadRow = tuple[int, str, str, str | None, str]


def check_columns(path: str, names: list[str]) -> None:
    """Raise SourceError, naming ``path``, if a Redset column is missing from ``names``."""
    missing = [c for c in REDSET_COLUMNS if c not in names]
    if missing:
        raise SourceError(
            f"{path}: wrong column set: missing {', '.join(missing)}"
            f" (found {', '.join(names[:8])}{'...' if len(names) > 8 else ''})"
        )


def staged_batch(columns: Sequence[pa.Array], path: str, rows: list[int]) -> pa.RecordBatch:
    """Readable rows: the Redset ``columns`` (text, in :data:`REDSET_COLUMNS` order) of the
    ``rows`` of ``path``."""
    n = len(rows)
    provenance = [
        pa.array([path] * n, pa.string()),
        pa.array(rows, pa.int64()),
        pa.nulls(n, pa.string()),
        pa.nulls(n, pa.string()),
    ]
    return pa.RecordBatch.from_arrays([*columns, *provenance], schema=STAGE_SCHEMA)


def bad_rows_batch(path: str, bad: Sequence[BadRow]) -> pa.RecordBatch:
    """Rows kept as raw text, with the reason (field, reason, message naming file and row)."""
    n = len(bad)
    cols = [pa.nulls(n, pa.string()) for _ in REDSET_COLUMNS]
    errors = [
        json.dumps(
            {
                "field": field,
                "reason": reason,
                "message": f"{row_location(path, row, field)}: {detail}",
            }
        )
        for row, _, detail, field, reason in bad
    ]
    cols += [
        pa.array([path] * n, pa.string()),
        pa.array([b[0] for b in bad], pa.int64()),
        pa.array([b[1] for b in bad], pa.string()),
        pa.array(errors, pa.string()),
    ]
    return pa.RecordBatch.from_arrays(cols, schema=STAGE_SCHEMA)
