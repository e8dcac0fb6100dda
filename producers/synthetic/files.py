"""Writing a synthetic dataset (or its manifest) to .parquet, .csv or .xlsx."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pyarrow as pa

from producers.synthetic.generator import generate
from producers.synthetic.spec import SyntheticData, SyntheticSpec


def write(spec: SyntheticSpec, path: str | Path) -> SyntheticData:
    """Write a synthetic dataset to .parquet, .csv (as DuckDB COPY writes it) or .xlsx."""
    data = generate(spec)
    write_table(data.table, path)
    return data


def write_table(table: pa.Table, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, path)
    elif suffix == ".csv":
        import duckdb

        con = duckdb.connect()
        con.register("t", table)
        con.execute(f"COPY t TO '{_sql_str(path)}' (HEADER, DELIMITER ',')")
        con.close()
    elif suffix == ".xlsx":
        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        ws = wb.create_sheet("redset")
        ws.append(table.column_names)
        for row in table.to_pylist():
            ws.append([_excel_value(v) for v in row.values()])
        wb.save(path)
    else:
        raise ValueError(f"{path}: unsupported extension {suffix!r} (use .parquet, .csv or .xlsx)")


def _sql_str(path: Path) -> str:
    return str(path).replace("'", "''")


def _excel_value(v: object) -> object:
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S.%f")
    return v
