"""Excel (.xlsx / .xlsm): openpyxl read-only, the first sheet, header in row 1; a row with
a Redset cell inside merged cells (other than their top-left cell) is kept as raw text."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from common.contract import REDSET_COLUMNS
from producers.sources.errors import SourceError
from producers.sources.rows import BadRow, bad_rows_batch, check_columns, staged_batch

_MERGE_REF = re.compile(rb"<(?:\w+:)?mergeCell\s[^>]*?ref=\"([A-Z]+[0-9]+):([A-Z]+[0-9]+)\"")


def xlsx_batches(path: str, batch_rows: int = 20_000) -> Iterator[pa.RecordBatch]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as e:
        raise SourceError(f"{path}: not a readable Excel file ({e})") from e
    try:
        yield from _sheet_batches(wb.worksheets[0], path, batch_rows)
    finally:
        wb.close()


def _sheet_batches(ws: Any, path: str, batch_rows: int) -> Iterator[pa.RecordBatch]:
    it = ws.iter_rows(values_only=True)
    header = next(it, None)
    if header is None:
        raise SourceError(f"{path}: empty sheet (no header row)")
    names = ["" if h is None else str(h).strip() for h in header]
    check_columns(path, names)
    idx = [names.index(c) for c in REDSET_COLUMNS]
    covered = _merged_covered(ws, {i + 1: c for i, c in zip(idx, REDSET_COLUMNS, strict=True)})
    buf: list[list[str | None]] = []
    rows: list[int] = []
    bad: list[BadRow] = []
    for r, values in enumerate(it, start=1):
        if values is None or all(v is None for v in values):
            continue
        cells = [_cell(values[i]) if i < len(values) else None for i in idx]
        merged = covered.get(r + 1)  # the header is sheet row 1
        if merged:
            bad.append(_merged_row(r, cells, *merged))
            continue
        buf.append(cells)
        rows.append(r)
        if len(buf) >= batch_rows:
            yield _rows_batch(buf, path, rows)
            buf, rows = [], []
    if buf:
        yield _rows_batch(buf, path, rows)
    if bad:
        yield bad_rows_batch(path, bad)


def _merged_row(r: int, cells: list[str | None], field: str, cell: str, rng: str) -> BadRow:
    raw = ",".join("" if v is None else v for v in cells)
    detail = (
        f"cell {cell} is inside merged cells {rng}, "
        "which hold one value for several cells; unmerge them"
    )
    return (r, raw, detail, field, "merged_cell")


def _merged_covered(ws: Any, columns: dict[int, str]) -> dict[int, tuple[str, str, str]]:
    """Sheet row -> (Redset column, cell, range) of its first Redset cell that lies inside
    merged cells without being their top-left cell (which alone holds the value)."""
    from openpyxl.utils.cell import coordinate_to_tuple, get_column_letter

    out: dict[int, tuple[str, str, str]] = {}
    for a, b in _merge_refs(ws):
        r0, c0 = coordinate_to_tuple(a)
        r1, c1 = coordinate_to_tuple(b)
        for row in range(r0, r1 + 1):
            for col in range(c0, c1 + 1):
                if (row, col) == (r0, c0) or col not in columns:
                    continue
                cell = f"{get_column_letter(col)}{row}"
                prev = out.get(row)
                if prev is None or col < coordinate_to_tuple(prev[1])[1]:
                    out[row] = (columns[col], cell, f"{a}:{b}")
    return out


def _merge_refs(ws: Any) -> list[tuple[str, str]]:
    """(top-left, bottom-right) of each merged range. Read-only worksheets do not expose
    merged cells; their ``<mergeCell ref=...>`` tags follow the sheet data, so the sheet
    XML is scanned once for them."""
    refs: list[tuple[str, str]] = []
    tail = b""
    with ws._get_source() as src:
        while chunk := src.read(1 << 20):
            data = tail + chunk
            refs.extend((m[1].decode(), m[2].decode()) for m in _MERGE_REF.finditer(data))
            # keep an unfinished tag for the next chunk (a finished one is not seen twice)
            cut = data.rfind(b"<")
            tail = data[cut:] if cut >= 0 and b">" not in data[cut:] else b""
    return refs


def _cell(v: object) -> str | None:
    if v is None or v == "":
        return None
    if hasattr(v, "strftime"):
        return v.strftime("%Y-%m-%d %H:%M:%S.%f")
    return str(v)


def _rows_batch(buf: list[list[str | None]], path: str, rows: list[int]) -> pa.RecordBatch:
    cols = [pa.array([b[i] for b in buf], pa.string()) for i in range(len(REDSET_COLUMNS))]
    return staged_batch(cols, path, rows)
