"""Sources: every input becomes a DuckDB relation of raw rows with provenance.

A source is staged (CSV, Excel, synthetic) or read in place (Parquet) and exposed as a
DuckDB SQL relation with the 24 Redset columns *as read* plus ``_file``, ``_row`` and, for
unreadable rows, ``_raw`` / ``_error``. DuckDB then orders it by (arrival, query_id) with a
memory limit, spilling to disk, so no source is ever held in Python memory whole.
"""

from __future__ import annotations

import codecs
import glob
import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from common.contract import REDSET_COLUMNS, row_location

REQUIRED = frozenset(REDSET_COLUMNS)
EXTRA_COLS = ("_file", "_row", "_raw", "_error")


class SourceError(ValueError):
    """A source cannot be read at all (missing file, wrong columns); the message names it."""


@dataclass(frozen=True)
class ResolvedSource:
    """What a SOURCE argument points at."""

    text: str
    kind: str  # parquet | csv | xlsx | synthetic
    paths: tuple[str, ...]
    dataset: str


def dataset_name(path: str) -> str:
    """``.../redset/provisioned/sample_0.001.parquet`` -> ``provisioned/sample_0.001``."""
    p = Path(path)
    parent = p.parent.name
    return f"{parent}/{p.stem}" if parent in ("provisioned", "serverless", "parts") else p.stem


def kind_from_path(path: str) -> str | None:
    low = path.lower()
    if "serverless" in low:
        return "serverless"
    if "provisioned" in low:
        return "provisioned"
    return None


def resolve(text: str, cache_dir: str, progress: bool = True) -> ResolvedSource:
    if text.startswith("synthetic:") or text == "synthetic":
        return ResolvedSource(text, "synthetic", (text,), "synthetic")
    if text.startswith(("https://", "http://", "s3://")):
        from producers.download import fetch

        local = fetch(text, cache_dir, progress=progress)
        return ResolvedSource(text, _kind_of(local), (local,), dataset_name(text))
    paths = sorted(glob.glob(text)) if any(ch in text for ch in "*?[") else [text]
    if not paths:
        raise SourceError(f"{text}: no file matches")
    for p in paths:
        if not os.path.isfile(p):
            raise SourceError(f"{p}: no such file")
    kinds = {_kind_of(p) for p in paths}
    if len(kinds) != 1:
        raise SourceError(f"{text}: mixes file types {sorted(kinds)}")
    return ResolvedSource(text, kinds.pop(), tuple(paths), dataset_name(paths[0]))


def _kind_of(path: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".csv", ".txt", ".tsv"):
        return "csv"
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx"
    raise SourceError(f"{path}: unsupported file type {suffix!r} (use .parquet, .csv, .xlsx)")


def check_columns(path: str, names: list[str]) -> list[str]:
    """Raise SourceError if required columns are missing; return the extra ones."""
    missing = [c for c in REDSET_COLUMNS if c not in names]
    if missing:
        raise SourceError(
            f"{path}: wrong column set: missing {', '.join(missing)}"
            f" (found {', '.join(names[:8])}{'...' if len(names) > 8 else ''})"
        )
    return [n for n in names if n not in REQUIRED]


# --- staging: everything that is not Parquet becomes a DuckDB table ----------------------
STAGE_SCHEMA = pa.schema(
    [pa.field(c, pa.string()) for c in REDSET_COLUMNS]
    + [pa.field("_file", pa.string()), pa.field("_row", pa.int64()),
       pa.field("_raw", pa.string()), pa.field("_error", pa.string())]
)  # fmt: skip


#: a row kept as raw text: (row, text, detail, field or None, reason)
BadRow = tuple[int, str, str, str | None, str]


def _error_json(field: str | None, reason: str, message: str) -> str:
    return json.dumps({"field": field, "reason": reason, "message": message})


#: delimiters tried, in order, on the header row (.tsv files and ';'-separated exports)
DELIMITERS = (",", "\t", ";", "|")
#: the CSV block grows up to this size for rows longer than a block (huge fields)
MAX_BLOCK_SIZE = 1 << 28


def _read_header(path: str, encoding: str) -> str:
    """The header line, decoded strictly (a UTF-8 byte-order mark is dropped)."""
    codec = codecs.lookup(encoding).name
    try:
        if codec.startswith(("utf-16", "utf-32")):
            with open(path, encoding=encoding, errors="strict") as fh:
                return fh.readline()
        with open(path, "rb") as fb:
            line = fb.readline()
        return line.decode("utf-8-sig" if codec == "utf-8" else encoding, errors="strict")
    except UnicodeDecodeError as e:
        raise SourceError(
            f"{path}: header row is not {encoding} text ({e.reason}); try --encoding latin-1"
        ) from e
    except OSError as e:
        raise SourceError(f"{path}: {e.strerror}") from e


def sniff_delimiter(header_line: str) -> str:
    """The delimiter that splits the header into the Redset columns (default ',')."""
    import csv

    for d in DELIMITERS:
        names = next(iter(csv.reader([header_line], delimiter=d)), [])
        if {n.strip() for n in names} >= REQUIRED:
            return d
    return ","


def csv_batches(
    path: str, encoding: str = "utf8", block_size: int = 1 << 20
) -> Iterator[pa.RecordBatch]:
    """Stream a CSV as all-string batches with row numbers; bad rows kept as raw text.

    The delimiter is taken from the header (',', tab, ';' or '|'). A row with the wrong
    field count, or a field that is not text in ``encoding``, is kept as raw text with the
    reason; a row longer than a block is read with a larger block."""
    import csv

    header_line = _read_header(path, encoding)
    if not header_line.strip():
        raise SourceError(f"{path}: empty file (no header row)")
    delimiter = sniff_delimiter(header_line)
    names = [n.strip() for n in next(iter(csv.reader([header_line], delimiter=delimiter)))]
    check_columns(path, names)
    emitted = 1  # rows below this one were yielded by an earlier pass
    while True:
        try:
            for batch in _csv_pass(path, encoding, block_size, delimiter, names):
                if emitted > 1:
                    keep = pc.greater_equal(batch.column("_row"), pa.scalar(emitted, pa.int64()))
                    batch = batch.filter(keep)
                if batch.num_rows:
                    yield batch
            return
        except _BlockTooSmall as e:
            emitted = e.row  # every row below it was yielded
            if block_size >= MAX_BLOCK_SIZE:
                raise SourceError(
                    f"{path}: row {e.row} or the next is longer than {MAX_BLOCK_SIZE >> 20} MB"
                ) from None
            block_size = min(block_size * 4, MAX_BLOCK_SIZE)


class _BlockTooSmall(Exception):
    def __init__(self, row: int) -> None:
        self.row = row


def _csv_pass(
    path: str, encoding: str, block_size: int, delimiter: str, names: list[str]
) -> Iterator[pa.RecordBatch]:
    import pyarrow.csv as pcsv

    bad: list[BadRow] = []

    def on_invalid(row: pcsv.InvalidRow) -> str:
        line = (row.number or 0) - 1  # header is line 1
        detail = f"expected {row.expected_columns} fields, found {row.actual_columns}"
        bad.append((line, row.text, detail, None, "unreadable_row"))
        return "skip"

    try:
        reader = pcsv.open_csv(
            path,
            read_options=pcsv.ReadOptions(
                block_size=block_size, encoding=encoding, use_threads=False, column_names=names,
                skip_rows=1,
            ),
            parse_options=pcsv.ParseOptions(
                delimiter=delimiter, invalid_row_handler=on_invalid, newlines_in_values=False
            ),
            convert_options=pcsv.ConvertOptions(
                column_types={n: pa.binary() for n in names},
                strings_can_be_null=False,
                include_columns=list(REDSET_COLUMNS),
            ),
        )  # fmt: skip
    except pa.ArrowInvalid as e:
        if "straddl" in str(e):
            raise _BlockTooSmall(1) from None
        raise SourceError(f"{path}: unreadable: {e}") from e
    next_row = 1
    # skipped rows reported but not placed yet: the reader parses blocks ahead, so the
    # handler may report rows of a block beyond the batch being numbered
    unplaced: list[BadRow] = []
    try:
        for batch in reader:
            unplaced = sorted(unplaced + [b for b in bad if b[0] >= next_row])
            bad.clear()
            # valid rows take the numbers not used by the skipped rows
            rows: list[int] = []
            skip = {b[0] for b in unplaced}
            r = next_row
            while len(rows) < batch.num_rows:
                if r not in skip:
                    rows.append(r)
                r += 1
            while r in skip:  # skipped rows right after the batch belong to it too
                r += 1
            next_row = r
            bad_here = [b for b in unplaced if b[0] < r]
            unplaced = [b for b in unplaced if b[0] >= r]
            good, undecodable = _decode_batch(batch, path, rows, encoding, delimiter)
            yield good
            if undecodable or bad_here:
                yield _bad_rows_batch(path, sorted(bad_here + undecodable))
    except pa.ArrowInvalid as e:
        if "straddl" in str(e):
            raise _BlockTooSmall(next_row) from None
        raise SourceError(f"{path}: unreadable near row {next_row}: {e}") from e
    rest = sorted(unplaced + [b for b in bad if b[0] >= next_row])
    if rest:
        yield _bad_rows_batch(path, rest)


def _decode_batch(
    batch: pa.RecordBatch, path: str, rows: list[int], encoding: str, delimiter: str
) -> tuple[pa.RecordBatch, list[BadRow]]:
    """Binary columns -> text; rows with a field that is not valid text become bad rows."""
    cols: dict[str, pa.Array] = {}
    bad_field: dict[int, str] = {}  # index in batch -> first undecodable field
    for c in REDSET_COLUMNS:
        arr = batch.column(c)
        try:
            cols[c] = arr.cast(pa.string())
        except pa.ArrowInvalid:
            values = arr.to_pylist()
            texts: list[str | None] = []
            for i, v in enumerate(values):
                try:
                    texts.append(None if v is None else v.decode("utf-8"))
                except UnicodeDecodeError:
                    bad_field.setdefault(i, c)
                    texts.append(None)
            cols[c] = pa.array(texts, pa.string())
    undecodable: list[BadRow] = []
    if bad_field:
        for i, c in sorted(bad_field.items()):
            raw = delimiter.join(
                (batch.column(n)[i].as_py() or b"").decode("utf-8", "backslashreplace")
                for n in REDSET_COLUMNS
            )
            undecodable.append(
                (rows[i], raw, f"not {encoding} text; try --encoding latin-1",
                 c, "invalid_encoding")
            )  # fmt: skip
        keep = pa.array([i not in bad_field for i in range(batch.num_rows)])
        rows = [r for i, r in enumerate(rows) if i not in bad_field]
        cols = {c: a.filter(keep) for c, a in cols.items()}
    batch = pa.RecordBatch.from_arrays(
        [cols[c] for c in REDSET_COLUMNS], names=list(REDSET_COLUMNS)
    )
    return _stage_batch(batch, path, rows), undecodable


def _stage_batch(batch: pa.RecordBatch, path: str, rows: list[int]) -> pa.RecordBatch:
    n = batch.num_rows
    cols = [_empty_to_null(batch.column(c).cast(pa.string())) for c in REDSET_COLUMNS]
    cols += [pa.array([path] * n, pa.string()), pa.array(rows, pa.int64()),
             pa.nulls(n, pa.string()), pa.nulls(n, pa.string())]  # fmt: skip
    return pa.RecordBatch.from_arrays(cols, schema=STAGE_SCHEMA)


def _empty_to_null(arr: pa.Array) -> pa.Array:
    """Empty CSV fields are NULL (as DuckDB and the real files treat them)."""
    import pyarrow.compute as pc

    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)


def _bad_rows_batch(path: str, bad: Sequence[BadRow]) -> pa.RecordBatch:
    """Rows kept as raw text: (row, text, detail, field, reason)."""
    n = len(bad)
    cols = [pa.nulls(n, pa.string()) for _ in REDSET_COLUMNS]
    cols += [
        pa.array([path] * n, pa.string()),
        pa.array([b[0] for b in bad], pa.int64()),
        pa.array([b[1] for b in bad], pa.string()),
        pa.array(
            [
                _error_json(
                    b[3],
                    b[4],
                    f"{row_location(path, b[0], b[3])}: {b[2]}",
                )
                for b in bad
            ],
            pa.string(),
        ),
    ]
    return pa.RecordBatch.from_arrays(cols, schema=STAGE_SCHEMA)


def xlsx_batches(path: str, batch_rows: int = 20_000) -> Iterator[pa.RecordBatch]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as e:
        raise SourceError(f"{path}: not a readable Excel file ({e})") from e
    try:
        ws = wb.worksheets[0]
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
                field, cell, rng = merged
                raw = ",".join("" if v is None else v for v in cells)
                detail = (
                    f"cell {cell} is inside merged cells {rng}, "
                    "which hold one value for several cells; unmerge them"
                )
                bad.append((r, raw, detail, field, "merged_cell"))
                continue
            buf.append(cells)
            rows.append(r)
            if len(buf) >= batch_rows:
                yield _rows_batch(buf, path, rows)
                buf, rows = [], []
        if buf:
            yield _rows_batch(buf, path, rows)
        if bad:
            yield _bad_rows_batch(path, bad)
    finally:
        wb.close()


_MERGE_REF = re.compile(rb"<(?:\w+:)?mergeCell\s[^>]*?ref=\"([A-Z]+[0-9]+):([A-Z]+[0-9]+)\"")


def _merged_covered(ws: Any, columns: dict[int, str]) -> dict[int, tuple[str, str, str]]:
    """Sheet row -> (Redset column, cell, range) of its first Redset cell that lies inside
    merged cells without being their top-left cell (which alone holds the value).

    Read-only worksheets do not expose merged cells; their ``<mergeCell ref=...>`` tags
    follow the sheet data, so the sheet XML is scanned once for them."""
    from openpyxl.utils.cell import coordinate_to_tuple, get_column_letter

    refs: list[tuple[bytes, bytes]] = []
    tail = b""
    with ws._get_source() as src:
        while chunk := src.read(1 << 20):
            data = tail + chunk
            refs.extend((m[1], m[2]) for m in _MERGE_REF.finditer(data))
            # keep an unfinished tag for the next chunk (a finished one is not seen twice)
            cut = data.rfind(b"<")
            tail = data[cut:] if cut >= 0 and b">" not in data[cut:] else b""
    out: dict[int, tuple[str, str, str]] = {}
    for a, b in refs:
        r0, c0 = coordinate_to_tuple(a.decode())
        r1, c1 = coordinate_to_tuple(b.decode())
        for row in range(r0, r1 + 1):
            for col in range(c0, c1 + 1):
                if (row, col) == (r0, c0) or col not in columns:
                    continue
                cell = f"{get_column_letter(col)}{row}"
                prev = out.get(row)
                if prev is None or col < coordinate_to_tuple(prev[1])[1]:
                    out[row] = (columns[col], cell, f"{a.decode()}:{b.decode()}")
    return out


def _cell(v: object) -> str | None:
    if v is None or v == "":
        return None
    if hasattr(v, "strftime"):
        return v.strftime("%Y-%m-%d %H:%M:%S.%f")
    return str(v)


def _rows_batch(buf: list[list[str | None]], path: str, rows: list[int]) -> pa.RecordBatch:
    cols = [pa.array([b[i] for b in buf], pa.string()) for i in range(len(REDSET_COLUMNS))]
    n = len(buf)
    cols += [pa.array([path] * n, pa.string()), pa.array(rows, pa.int64()),
             pa.nulls(n, pa.string()), pa.nulls(n, pa.string())]  # fmt: skip
    return pa.RecordBatch.from_arrays(cols, schema=STAGE_SCHEMA)


def synthetic_table(spec_text: str) -> pa.Table:
    from producers.synthetic import SyntheticSpec, generate

    spec = SyntheticSpec.parse(spec_text)
    t = generate(spec).table
    n = t.num_rows
    return (
        t.append_column("_file", pa.array([spec.to_string()] * n, pa.string()))
        .append_column("_row", pa.array(range(1, n + 1), pa.int64()))
        .append_column("_raw", pa.nulls(n, pa.string()))
        .append_column("_error", pa.nulls(n, pa.string()))
    )


def stage(
    con: duckdb.DuckDBPyConnection,
    src: ResolvedSource,
    on_rows: Callable[[int], None] | None = None,
    encoding: str = "utf8",
) -> str:
    """Make ``src`` available as SQL in ``con``; return the relation's SQL text."""
    return stage_ordered(con, src, on_rows, encoding)[0]


def stage_ordered(
    con: duckdb.DuckDBPyConnection,
    src: ResolvedSource,
    on_rows: Callable[[int], None] | None = None,
    encoding: str = "utf8",
) -> tuple[str, bool]:
    """:func:`stage`, and whether scanning the relation yields its rows in (file, row)
    order: always for Parquet (read in file order, row numbers ascending); for a staged
    table when every batch went in after the previous one in that order (a table scan
    keeps insertion order; rows kept as raw text come after their batch, so a file with
    unreadable rows is not in order)."""
    if src.kind == "parquet":
        for p in src.paths:
            try:
                names = [
                    r[0]
                    for r in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [p]).fetchall()
                ]
            except duckdb.Error as e:
                raise SourceError(
                    f"{p}: not a readable Parquet file ({str(e).splitlines()[0]})"
                ) from e
            check_columns(p, names)
        cols = ", ".join(f'"{c}"' for c in REDSET_COLUMNS)
        files = "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in src.paths) + "]"
        return (
            f"SELECT {cols}, filename AS _file, file_row_number + 1 AS _row, "
            f"NULL::VARCHAR AS _raw, NULL::VARCHAR AS _error "
            f"FROM read_parquet({files}, filename=true, file_row_number=true)"
        ), sorted(src.paths) == list(src.paths)
    con.execute(
        "CREATE OR REPLACE TABLE staged ("
        + ", ".join(
            f'"{f.name}" {"BIGINT" if f.name == "_row" else "VARCHAR"}' for f in STAGE_SCHEMA
        )
        + ")"
    )
    if src.kind == "synthetic":
        batches: Iterator[pa.RecordBatch] = iter(synthetic_table(src.paths[0]).to_batches(100_000))
    else:
        batches = _chain(src, encoding)
    order = _OrderCheck()
    for batch in batches:
        order.add(batch)
        con.register("_batch", pa.Table.from_batches([batch]))
        con.execute("INSERT INTO staged SELECT * FROM _batch")
        con.unregister("_batch")
        if on_rows:
            on_rows(batch.num_rows)
    return "SELECT * FROM staged", order.in_order


class _OrderCheck:
    """Whether staged batches arrive in strictly ascending (file, row) order."""

    def __init__(self) -> None:
        self.in_order = True
        self._last: tuple[str, int] | None = None

    def add(self, batch: pa.RecordBatch) -> None:
        if not self.in_order or not batch.num_rows:
            return
        files, rows = batch.column("_file"), batch.column("_row")
        first, last = (files[0].as_py(), rows[0].as_py()), (files[-1].as_py(), rows[-1].as_py())
        n = batch.num_rows
        ascending = (
            pc.all(pc.equal(files, files[0])).as_py()
            and pc.all(pc.greater(rows.slice(1), rows.slice(0, n - 1))).as_py() is not False
        )
        if not ascending or (self._last is not None and first <= self._last):
            self.in_order = False
        self._last = last


def _chain(src: ResolvedSource, encoding: str) -> Iterator[pa.RecordBatch]:
    for p in src.paths:
        if src.kind == "csv":
            yield from csv_batches(p, encoding=encoding)
        else:
            yield from xlsx_batches(p)
