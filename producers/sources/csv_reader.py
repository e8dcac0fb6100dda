"""CSV (and .tsv / .txt): pyarrow's streaming reader, every field as text, in bounded
blocks; bad rows are kept as raw text with the reason."""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from common.contract import REDSET_COLUMNS
from producers.sources.errors import SourceError
from producers.sources.rows import REQUIRED, BadRow, bad_rows_batch, check_columns, staged_batch

#: delimiters tried, in order, on the header row (.tsv files and ';'-separated exports)
DELIMITERS = (",", "\t", ";", "|")
#: the CSV block grows up to this size for rows longer than a block (huge fields)
MAX_BLOCK_SIZE = 1 << 28


def sniff_delimiter(header_line: str) -> str:
    """The delimiter that splits the header into the Redset columns (default ',')."""
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


class _BlockTooSmall(Exception):
    def __init__(self, row: int) -> None:
        self.row = row


class _RowNumbers:
    """The row numbers of each batch's valid rows, and the skipped rows that belong to it.

    The reader skips a row with the wrong field count (its handler appends it to
    ``reported``) and parses blocks ahead, so it may report rows of a block beyond the
    batch being numbered: those wait in ``_unplaced``."""

    def __init__(self) -> None:
        self.reported: list[BadRow] = []
        self.next_row = 1
        self._unplaced: list[BadRow] = []

    def number(self, num_rows: int) -> tuple[list[int], list[BadRow]]:
        """(numbers of the next ``num_rows`` valid rows, skipped rows among them)."""
        unplaced = sorted(self._unplaced + [b for b in self.reported if b[0] >= self.next_row])
        self.reported.clear()
        # valid rows take the numbers not used by the skipped rows
        rows: list[int] = []
        skip = {b[0] for b in unplaced}
        r = self.next_row
        while len(rows) < num_rows:
            if r not in skip:
                rows.append(r)
            r += 1
        while r in skip:  # skipped rows right after the batch belong to it too
            r += 1
        self.next_row = r
        self._unplaced = [b for b in unplaced if b[0] >= r]
        return rows, [b for b in unplaced if b[0] < r]

    def rest(self) -> list[BadRow]:
        """Skipped rows after the last batch."""
        return sorted(self._unplaced + [b for b in self.reported if b[0] >= self.next_row])


def _open(
    path: str,
    encoding: str,
    block_size: int,
    delimiter: str,
    names: list[str],
    numbers: _RowNumbers,
) -> pcsv.CSVStreamingReader:
    def on_invalid(row: pcsv.InvalidRow) -> str:
        line = (row.number or 0) - 1  # header is line 1
        detail = f"expected {row.expected_columns} fields, found {row.actual_columns}"
        numbers.reported.append((line, row.text, detail, None, "unreadable_row"))
        return "skip"

    try:
        return pcsv.open_csv(
            path,
            read_options=pcsv.ReadOptions(
                block_size=block_size,
                encoding=encoding,
                use_threads=False,
                column_names=names,
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
        )
    except pa.ArrowInvalid as e:
        if "straddl" in str(e):
            raise _BlockTooSmall(1) from None
        raise SourceError(f"{path}: unreadable: {e}") from e


def _csv_pass(
    path: str, encoding: str, block_size: int, delimiter: str, names: list[str]
) -> Iterator[pa.RecordBatch]:
    numbers = _RowNumbers()
    reader = _open(path, encoding, block_size, delimiter, names, numbers)
    try:
        for batch in reader:
            rows, bad_here = numbers.number(batch.num_rows)
            good, undecodable = _decode_batch(batch, path, rows, encoding, delimiter)
            yield good
            if undecodable or bad_here:
                yield bad_rows_batch(path, sorted(bad_here + undecodable))
    except pa.ArrowInvalid as e:
        if "straddl" in str(e):
            raise _BlockTooSmall(numbers.next_row) from None
        raise SourceError(f"{path}: unreadable near row {numbers.next_row}: {e}") from e
    rest = numbers.rest()
    if rest:
        yield bad_rows_batch(path, rest)


def _decode_batch(
    batch: pa.RecordBatch, path: str, rows: list[int], encoding: str, delimiter: str
) -> tuple[pa.RecordBatch, list[BadRow]]:
    """Binary columns -> text; rows with a field that is not valid text become bad rows."""
    cols: dict[str, pa.Array] = {}
    bad_field: dict[int, str] = {}  # index in batch -> first undecodable field
    for c in REDSET_COLUMNS:
        cols[c] = _decoded(batch.column(c), c, bad_field)
    undecodable: list[BadRow] = []
    if bad_field:
        for i, c in sorted(bad_field.items()):
            raw = delimiter.join(
                (batch.column(n)[i].as_py() or b"").decode("utf-8", "backslashreplace")
                for n in REDSET_COLUMNS
            )
            detail = f"not {encoding} text; try --encoding latin-1"
            undecodable.append((rows[i], raw, detail, c, "invalid_encoding"))
        keep = pa.array([i not in bad_field for i in range(batch.num_rows)])
        rows = [r for i, r in enumerate(rows) if i not in bad_field]
        cols = {c: a.filter(keep) for c, a in cols.items()}
    return staged_batch([_empty_to_null(cols[c]) for c in REDSET_COLUMNS], path, rows), undecodable


def _decoded(arr: pa.Array, column: str, bad_field: dict[int, str]) -> pa.Array:
    """``arr`` as text; where a value is not UTF-8, NULL, noted in ``bad_field``."""
    try:
        return arr.cast(pa.string())
    except pa.ArrowInvalid:
        texts: list[str | None] = []
        for i, v in enumerate(arr.to_pylist()):
            try:
                texts.append(None if v is None else v.decode("utf-8"))
            except UnicodeDecodeError:
                bad_field.setdefault(i, column)
                texts.append(None)
        return pa.array(texts, pa.string())


def _empty_to_null(arr: pa.Array) -> pa.Array:
    """Empty CSV fields are NULL (as DuckDB and the real files treat them)."""
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)
