"""The expert dashboard's read-only SQL box.

A query is accepted only if DuckDB's own parser sees exactly one SELECT statement whose
every table reference is one of the project's views or tables (or a CTE of the query
itself), with no table functions (``read_csv``, ``read_parquet``, ``glob``...), no
file-reading or environment functions anywhere, and no other catalog or schema. It then
runs on its own cursor with a row limit, and is interrupted after a timeout.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import duckdb
import pandas as pd

from processors.warehouse.store import Warehouse

#: functions that reach outside the database (files, network, environment, settings)
DENIED_FUNCTIONS = frozenset(
    {
        "read_csv", "read_csv_auto", "read_parquet", "parquet_scan", "read_json", "read_json_auto",
        "read_json_objects", "read_ndjson", "read_text", "read_blob", "glob", "sniff_csv",
        "parquet_metadata", "parquet_schema", "getenv", "current_setting", "query", "query_table",
        "iceberg_scan", "delta_scan", "sqlite_scan", "postgres_scan", "mysql_scan", "read_xlsx",
        "duckdb_secrets", "duckdb_settings", "duckdb_extensions", "load_extension", "from_csv_auto",
    }
)  # fmt: skip


class SqlRejected(ValueError):
    """The SQL box refuses this text; the message says why."""


def allowed_relations(wh: Warehouse) -> set[str]:
    df = wh.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'")
    return {str(n).lower() for n in df["table_name"]} - {"kafka_offsets", "schema_version"}


def _walk(node: Any, allowed: set[str], ctes: set[str]) -> None:
    if isinstance(node, list):
        for x in node:
            _walk(x, allowed, ctes)
        return
    if not isinstance(node, dict):
        return
    cte_map = node.get("cte_map")
    if isinstance(cte_map, dict):
        ctes = ctes | {str(e.get("key", "")).lower() for e in cte_map.get("map", [])}
    kind = node.get("type")
    if kind == "TABLE_FUNCTION":
        fn = node.get("function", {}).get("function_name", "?")
        raise SqlRejected(f"table function {fn}() is not allowed; query the project's views")
    if kind == "BASE_TABLE":
        name = str(node.get("table_name", "")).lower()
        if node.get("catalog_name") or node.get("schema_name") not in ("", "main"):
            raise SqlRejected(
                f"only the project's own views are allowed, not {name!r} in another catalog/schema"
            )
        if name not in allowed and name not in ctes:
            raise SqlRejected(
                f"unknown table or view {name!r}; allowed: {', '.join(sorted(allowed))}"
            )
    if node.get("class") == "FUNCTION":
        fn = str(node.get("function_name", "")).lower()
        if fn in DENIED_FUNCTIONS:
            raise SqlRejected(f"function {fn}() is not allowed in the SQL box")
    for value in node.values():
        _walk(value, allowed, ctes)


def validate(sql: str, allowed: set[str]) -> str:
    """Return the single SELECT statement's text, or raise SqlRejected."""
    text = sql.strip().rstrip(";").strip()
    if not text:
        raise SqlRejected("empty query")
    try:
        statements = duckdb.extract_statements(text)
    except duckdb.Error as e:
        raise SqlRejected(f"syntax error: {str(e).splitlines()[0]}") from e
    if len(statements) != 1:
        raise SqlRejected("exactly one statement is allowed")
    if statements[0].type != duckdb.StatementType.SELECT:
        raise SqlRejected(f"only SELECT is allowed, not {statements[0].type.name}")
    con = duckdb.connect()
    try:
        tree = json.loads(con.execute("SELECT json_serialize_sql(?)", [text]).fetchone()[0])  # type: ignore[index]
    finally:
        con.close()
    if tree.get("error"):
        raise SqlRejected(f"cannot analyse the query: {tree.get('error_message', 'unsupported')}")
    _walk(tree["statements"], allowed, set())
    return text


def run(wh: Warehouse, sql: str, *, limit: int = 1000, timeout_s: float = 5.0) -> pd.DataFrame:
    """Validate and run ``sql`` with a row limit and a timeout."""
    text = validate(sql, allowed_relations(wh))
    cur = wh.cursor()
    result: dict[str, Any] = {}

    def _go() -> None:
        try:
            # text passed validate(): one SELECT over allow-listed views only
            result["df"] = cur.execute(f"SELECT * FROM ({text}) AS q LIMIT {int(limit)}").df()  # noqa: S608
        except Exception as e:
            result["error"] = e

    t = threading.Thread(target=_go, daemon=True)
    t.start()
    t.join(timeout_s)
    if t.is_alive():
        cur.interrupt()
        t.join(5)
        cur.close()
        raise SqlRejected(f"query interrupted after {timeout_s:g} s")
    cur.close()
    if "error" in result:
        raise SqlRejected(str(result["error"]).splitlines()[0])
    df: pd.DataFrame = result["df"]
    return df
