"""Export any table or view of a warehouse file to Parquet or CSV."""

from __future__ import annotations

from pathlib import Path

from warehouse.store import Warehouse


def relations(wh: Warehouse) -> list[str]:
    """Every table and view of the warehouse (the export allow-list)."""
    df = wh.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY 1"
    )
    return [str(n) for n in df["table_name"]]


def export(db: str, name: str, out: str) -> int:
    """Write one table or view to Parquet or CSV (by the output's extension); return rows."""
    fmt = {".parquet": "PARQUET", ".csv": "CSV"}.get(Path(out).suffix.lower())
    if fmt is None:
        raise ValueError(f"{out}: use a .parquet or .csv file name")
    wh = Warehouse.open(db, read_only=True)
    try:
        if name not in relations(wh):
            raise ValueError(f"{db}: no table or view named {name!r} (see `views`)")
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        cur = wh.cursor()
        target = out.replace("'", "''")
        cur.execute(f"COPY (SELECT * FROM \"{name}\") TO '{target}' (FORMAT {fmt})")
        n = cur.execute(f'SELECT count(*) FROM "{name}"').fetchone()
        return int(n[0]) if n else 0
    finally:
        wh.close()
