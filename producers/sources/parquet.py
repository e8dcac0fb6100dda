"""Parquet: read in place by DuckDB (typed values as stored; row = file row number)."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from common.contract import REDSET_COLUMNS
from producers.sources.errors import SourceError
from producers.sources.rows import check_columns


def parquet_relation(con: duckdb.DuckDBPyConnection, paths: Sequence[str]) -> tuple[str, bool]:
    """(SQL of the files as one relation with provenance, whether scanning it yields its
    rows in (file, row) order: when the files are given sorted, as DuckDB reads them in
    order and row numbers ascend)."""
    for p in paths:
        try:
            names = [
                r[0] for r in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [p]).fetchall()
            ]
        except duckdb.Error as e:
            raise SourceError(f"{p}: not a readable Parquet file ({str(e).splitlines()[0]})") from e
        check_columns(p, names)
    cols = ", ".join(f'"{c}"' for c in REDSET_COLUMNS)
    files = "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"
    return (
        f"SELECT {cols}, filename AS _file, file_row_number + 1 AS _row, "
        f"NULL::VARCHAR AS _raw, NULL::VARCHAR AS _error "
        f"FROM read_parquet({files}, filename=true, file_row_number=true)"
    ), sorted(paths) == list(paths)
