"""JSON messages -> Arrow tables, parsed by DuckDB's ``json_transform`` on a private
single-threaded in-memory DuckDB (apart from the warehouse, whose threads serve the writes
and the readers; one thread parses with the least CPU)."""

from __future__ import annotations

import threading

import duckdb
import numpy as np
import pyarrow as pa

#: the Arrow types a schema may use, as ``json_transform`` names them
_DUCK_TYPES = {
    pa.string(): "VARCHAR",
    pa.int64(): "BIGINT",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
    pa.list_(pa.int64()): "BIGINT[]",
}
_parse_db: duckdb.DuckDBPyConnection | None = None
_parse_db_lock = threading.Lock()


def _parse_connection() -> duckdb.DuckDBPyConnection:
    """A cursor of the private parsing DuckDB (opened on first use)."""
    global _parse_db
    with _parse_db_lock:
        if _parse_db is None:
            _parse_db = duckdb.connect(config={"threads": 1})
        return _parse_db.cursor()


def _forget_parse_connection() -> None:
    """After a fatal DuckDB error the database is unusable: the next batch opens another."""
    global _parse_db
    with _parse_db_lock:
        _parse_db = None


def utf8_array(values: list[bytes]) -> pa.Array:
    """``values`` as one Arrow string array, built from one joined buffer and its offsets
    (``pa.array`` converts item by item holding the GIL); invalid UTF-8 raises
    ``pyarrow.ArrowInvalid``, as ``pa.array`` does."""
    offsets = np.zeros(len(values) + 1, np.int64)
    np.cumsum(np.fromiter(map(len, values), np.int64, len(values)), out=offsets[1:])
    data = pa.py_buffer(b"".join(values))
    array = pa.Array.from_buffers(
        pa.large_string(), len(values), [None, pa.py_buffer(offsets), data]
    )
    array.validate(full=True)
    return array


def json_table(values: list[bytes], schema: pa.Schema) -> pa.Table:
    """JSON messages -> an Arrow table of ``schema``, one row per message (unknown fields
    ignored, missing ones NULL, a ``null`` message a row of NULLs). Malformed JSON fails
    the batch. A value of another JSON type is converted as DuckDB casts it (``"5"`` -> 5,
    ``1.5`` -> 2, an object -> its text): the stages emit typed records, and the
    materializer trusts them."""
    if not values:
        return schema.empty_table()
    structure = "{" + ", ".join(f'"{f.name}": "{_DUCK_TYPES[f.type]}"' for f in schema) + "}"
    cur = _parse_connection()
    try:
        cur.register("messages", pa.table({"v": utf8_array(values)}))
        table = cur.sql(
            f"SELECT j.* FROM (SELECT json_transform(v, '{structure}') AS j FROM messages)"
        ).to_arrow_table()
    except duckdb.FatalException:
        _forget_parse_connection()
        raise
    finally:
        cur.close()
    return table.cast(schema)
