"""A resolved source as one DuckDB relation: Parquet read in place, every other format
staged into a table batch by batch."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from producers.sources.csv_reader import csv_batches
from producers.sources.excel_reader import xlsx_batches
from producers.sources.parquet import parquet_relation
from producers.sources.resolve import ResolvedSource
from producers.sources.rows import STAGE_SCHEMA
from producers.sources.synthetic import synthetic_table

#: rows per batch a synthetic frame is staged in
SYNTHETIC_BATCH_ROWS = 100_000


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
        return parquet_relation(con, src.paths)
    con.execute(
        "CREATE OR REPLACE TABLE staged ("
        + ", ".join(
            f'"{f.name}" {"BIGINT" if f.name == "_row" else "VARCHAR"}' for f in STAGE_SCHEMA
        )
        + ")"
    )
    order = _OrderCheck()
    for batch in _batches(src, encoding):
        order.add(batch)
        con.register("_batch", pa.Table.from_batches([batch]))
        con.execute("INSERT INTO staged SELECT * FROM _batch")
        con.unregister("_batch")
        if on_rows:
            on_rows(batch.num_rows)
    return "SELECT * FROM staged", order.in_order


def _batches(src: ResolvedSource, encoding: str) -> Iterator[pa.RecordBatch]:
    if src.kind == "synthetic":
        yield from synthetic_table(src.paths[0]).to_batches(SYNTHETIC_BATCH_ROWS)
        return
    for p in src.paths:
        if src.kind == "csv":
            yield from csv_batches(p, encoding=encoding)
        else:
            yield from xlsx_batches(p)


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
