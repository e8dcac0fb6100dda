"""The expert dashboard's read-only SQL box.

A query is accepted only if DuckDB's own parser sees exactly one SELECT statement whose
every table reference is one of the project's views or tables (or a CTE of the query
itself), with no table functions (``read_csv``, ``read_parquet``, ``glob``...), no
file-reading or environment functions anywhere, and no other catalog or schema. It then
runs on its own cursor with a row limit, and is interrupted after a timeout.

What comes back is made safe to show (:func:`fit_for_page`): long cells are shortened,
very wide or very large results are cut, and each cut is said in words, so the page never
reaches Streamlit's message size limit (a raw "MessageSizeError" page).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd
import streamlit as st
from pandas.api.types import is_object_dtype, is_string_dtype

from dashboards.units import count
from warehouse.store import Warehouse

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


#: what the box shows at most: rows, columns, characters per cell, and bytes in all (far
#: under Streamlit's 200 MB ``server.maxMessageSize``: a browser tab chokes long before)
ROW_LIMIT = 1000
TIMEOUT_S = 5.0
MAX_COLUMNS = 100
MAX_CELL_CHARS = 1000
MAX_RESULT_BYTES = 16 * 1024 * 1024


class SqlTimeout(SqlRejected):
    """The query ran longer than the box allows and was interrupted."""


@dataclass(frozen=True)
class SqlResult:
    df: pd.DataFrame
    #: rows the query returns in all; None when counting them ran out of time
    total_rows: int | None
    #: whether rows beyond the limit exist
    more: bool
    #: each cut made so the result fits the page, in words
    notes: tuple[str, ...] = ()
    elapsed_s: float = 0.0

    @property
    def summary(self) -> str:
        """'1,000 of 7,801 rows', 'the first 1,000 rows of more', '42 rows'."""
        shown = len(self.df)
        if self.total_rows is None:
            return f"the first {count(shown)} rows (there are more; counting them took too long)"
        if self.total_rows == shown:
            return f"{count(shown)} row{'s' if shown != 1 else ''}"
        return f"{count(shown)} of {count(self.total_rows)} rows"


def timeout_message(timeout_s: float) -> str:
    return (
        f"The query was interrupted: it ran longer than {timeout_s:g} s, the SQL box's limit. "
        "Narrow it (a WHERE on run_id, cluster or arrival time), aggregate, or join fewer rows."
    )


def _timed(cur: duckdb.DuckDBPyConnection, sql: str, timeout_s: float) -> pd.DataFrame:
    """``sql``'s result, or SqlTimeout after ``timeout_s`` (the cursor is interrupted and
    closed: it must not be used again)."""
    result: dict[str, Any] = {}

    def _go() -> None:
        try:
            result["df"] = cur.execute(sql).df()
        except Exception as e:
            result["error"] = e

    t = threading.Thread(target=_go, daemon=True)
    t.start()
    t.join(max(timeout_s, 0.0))
    if t.is_alive():
        cur.interrupt()
        t.join(5)
        cur.close()
        raise SqlTimeout(timeout_message(timeout_s))
    if "error" in result:
        raise SqlRejected(str(result["error"]).splitlines()[0])
    df: pd.DataFrame = result["df"]
    return df


def execute(
    wh: Warehouse, sql: str, *, limit: int = ROW_LIMIT, timeout_s: float = TIMEOUT_S
) -> SqlResult:
    """Validate and run ``sql``: at most ``limit`` rows (and how many there are in all,
    counted in the time left), cut to fit the page, interrupted after ``timeout_s``."""
    text = validate(sql, allowed_relations(wh))
    t0 = time.monotonic()
    cur = wh.cursor()
    # text passed validate(): one SELECT over allow-listed views only; one row past the
    # limit tells whether the result was cut without counting every time
    df = _timed(cur, f"SELECT * FROM ({text}) AS q LIMIT {int(limit) + 1}", timeout_s)  # noqa: S608
    more = len(df) > limit
    total: int | None = len(df)
    if more:
        df = df.head(limit)
        try:
            left = timeout_s - (time.monotonic() - t0)
            counted = _timed(cur, f"SELECT count(*) AS n FROM ({text}) AS q", left)  # noqa: S608
            total = int(counted["n"].iloc[0])
        except SqlTimeout:
            total = None
            cur = wh.cursor()  # the interrupted one is closed
    cur.close()
    df, notes = fit_for_page(df)
    return SqlResult(df, total, more, notes, time.monotonic() - t0)


def run(
    wh: Warehouse, sql: str, *, limit: int = ROW_LIMIT, timeout_s: float = TIMEOUT_S
) -> pd.DataFrame:
    """:func:`execute`'s rows only."""
    return execute(wh, sql, limit=limit, timeout_s=timeout_s).df


def _short(value: Any, max_chars: int) -> tuple[Any, bool]:
    """A cell no longer than ``max_chars`` characters as text, and whether it was cut.
    Nested values (lists, structs, maps) and bytes are shown as text when long."""
    if value is None or isinstance(value, bool | int | float):
        return value, False
    if isinstance(value, bytes | bytearray | memoryview):
        text = bytes(value).hex()
    elif isinstance(value, str):
        if len(value) <= max_chars:
            return value, False
        text = value
    else:
        text = str(value)
        if len(text) <= max_chars:
            return value, False
    if len(text) <= max_chars:
        return text, False
    return text[: max_chars - 1] + "…", True


def fit_for_page(
    df: pd.DataFrame,
    *,
    max_columns: int = MAX_COLUMNS,
    max_cell_chars: int = MAX_CELL_CHARS,
    max_bytes: int = MAX_RESULT_BYTES,
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """``df`` cut to what a page can show, and each cut in words: the first
    ``max_columns`` columns, text cells shortened to ``max_cell_chars``, then the first
    rows that fit in ``max_bytes`` (pandas' deep memory size, above Arrow's)."""
    notes: list[str] = []
    if df.shape[1] > max_columns:
        notes.append(f"showing the first {max_columns} of {df.shape[1]:,} columns")
        df = df.iloc[:, :max_columns]
    cut_cells = 0
    out = df.copy()
    for i in range(out.shape[1]):  # by position: a result may repeat a column name
        column = out.iloc[:, i]
        if not (is_object_dtype(column) or is_string_dtype(column)):
            continue
        pairs = [_short(v, max_cell_chars) for v in column]
        cut_cells += sum(cut for _, cut in pairs)
        out.isetitem(i, [v for v, _ in pairs])
    if cut_cells:
        plural = "s" if cut_cells != 1 else ""
        notes.append(f"{cut_cells:,} long cell{plural} shortened to {max_cell_chars:,} characters")
    size = int(out.memory_usage(deep=True, index=False).sum())
    if size > max_bytes and len(out):
        keep = max(1, int(len(out) * max_bytes / size))
        notes.append(
            f"showing the first {keep:,} rows: the result is about {size / 2**20:,.0f} MB, "
            f"the page shows at most {max_bytes / 2**20:,.0f} MB"
        )
        out = out.head(keep)
    return out, tuple(notes)


# --- the expert page's SQL tab (Streamlit I/O) ------------------------------------------------
#: session-state key of the last result or refusal: kept across reruns and tab switches
LAST = "sql-last"
EXAMPLE = "SELECT query_type, count(*) AS queries FROM fact_query GROUP BY ALL ORDER BY 2 DESC"


def caption(views: set[str]) -> str:
    """The tab's caption as Markdown: names in code spans (a bare ``v_*`` or ``dim_*``
    turns into italics)."""
    shown = ", ".join(f"`{v}`" for v in sorted(views))
    return (
        f"Read-only: one `SELECT` (or `WITH ... SELECT`) over the project's views, at most "
        f"{ROW_LIMIT:,} rows shown, stopped after {TIMEOUT_S:g} s. Views: {shown}."
    )


def sql_tab(wh: Warehouse) -> None:
    """The SQL box: text, Run, and the last result (or why it was refused) until the next Run."""
    st.caption(caption(allowed_relations(wh)))
    sql = st.text_area("SQL", value=EXAMPLE, key="sql")
    if st.button("Run", key="sql-run"):
        try:
            result = execute(wh, sql, limit=ROW_LIMIT, timeout_s=TIMEOUT_S)
            st.session_state[LAST] = {"sql": sql, "result": result}
        except SqlTimeout as e:
            st.session_state[LAST] = {"sql": sql, "timeout": str(e)}
        except SqlRejected as e:
            st.session_state[LAST] = {"sql": sql, "refused": str(e)}
    last = st.session_state.get(LAST)
    if not last:
        return
    if last["sql"] != sql:
        st.caption("the result of the previous query (press Run for this one)")
    if "timeout" in last:
        st.warning(last["timeout"])
    elif "refused" in last:
        st.error(f"Refused: {last['refused']}")
    else:
        res: SqlResult = last["result"]
        st.caption(f"{res.summary}, {res.elapsed_s:,.2f} s")
        for note in res.notes:
            st.info(f"Cut to fit the page: {note}.")
        st.dataframe(res.df, hide_index=True)
