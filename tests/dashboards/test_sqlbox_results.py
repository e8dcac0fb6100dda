"""The SQL box's results: how many rows there are when they are cut, cells and results cut
to fit the page (each cut said), a timeout in words, the last result kept across reruns,
the caption's Markdown."""

from __future__ import annotations

import re
from collections.abc import Iterator

import duckdb
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboards import sqlbox
from warehouse.store import Warehouse


@pytest.fixture
def wh(filled_db: str) -> Iterator[Warehouse]:
    w = Warehouse.open(filled_db, read_only=True)
    yield w
    w.close()


def _scalar(db: str, sql: str) -> int:
    con = duckdb.connect(db, read_only=True)
    try:
        return int(con.execute(sql).fetchone()[0])  # type: ignore[index]
    finally:
        con.close()


def test_a_cut_result_says_how_many_rows_there_are(wh: Warehouse, filled_db: str) -> None:
    n = _scalar(filled_db, "SELECT count(*) FROM fact_query")
    assert n > 50
    res = sqlbox.execute(wh, "SELECT query_id FROM fact_query", limit=50)
    assert len(res.df) == 50 and res.more and res.total_rows == n
    assert res.summary == f"50 of {n:,} rows"
    whole = sqlbox.execute(wh, "SELECT query_id FROM fact_query", limit=n)
    assert len(whole.df) == n and not whole.more and whole.summary == f"{n:,} rows"


def test_counting_out_of_time_still_shows_the_first_rows(wh: Warehouse) -> None:
    # the first rows of a triple cross join stream at once; counting them all never ends
    cross = "SELECT a.query_id FROM fact_query a, fact_query b, fact_query c"
    res = sqlbox.execute(wh, cross, limit=20, timeout_s=1.0)
    assert len(res.df) == 20 and res.total_rows is None
    assert res.summary.startswith("the first 20 rows") and "more" in res.summary
    assert len(sqlbox.run(wh, "SELECT 1 AS one")) == 1  # the connection is still usable


def test_a_timeout_is_said_in_plain_words(wh: Warehouse) -> None:
    slow = "SELECT count(*) FROM fact_query a, fact_query b, fact_query c WHERE a.query_id + b.query_id > c.query_id"
    with pytest.raises(sqlbox.SqlTimeout) as e:
        sqlbox.execute(wh, slow, timeout_s=0.5)
    msg = str(e.value)
    assert "ran longer than 0.5 s" in msg and "interrupted" in msg
    assert "Interrupt" not in msg  # DuckDB's own error text is not shown


def test_long_cells_are_shortened_and_said(wh: Warehouse, filled_db: str) -> None:
    n = _scalar(filled_db, "SELECT count(*) FROM fact_query")
    width = sqlbox.MAX_CELL_CHARS * 50
    res = sqlbox.execute(wh, f"SELECT repeat('x', {width}) AS wide, query_id FROM fact_query")
    shown = len(res.df)
    assert shown == min(n, sqlbox.ROW_LIMIT)
    assert res.df["wide"].str.len().max() == sqlbox.MAX_CELL_CHARS
    assert res.df["wide"].iloc[0].endswith("…")
    assert any(f"{shown:,} long cells shortened" in note for note in res.notes), res.notes
    size = int(res.df.memory_usage(deep=True, index=False).sum())
    assert size <= sqlbox.MAX_RESULT_BYTES


def test_nested_and_binary_values_are_shortened_as_text() -> None:
    df = pd.DataFrame({"ids": [list(range(5000)), [1, 2]], "blob": [b"\x00" * 4000, b"ab"]})
    out, notes = sqlbox.fit_for_page(df, max_cell_chars=100)
    assert len(out["ids"].iloc[0]) == 100 and out["ids"].iloc[1] == [1, 2]
    assert len(out["blob"].iloc[0]) == 100 and out["blob"].iloc[1] == "6162"
    assert notes == ("2 long cells shortened to 100 characters",)


def test_too_many_columns_and_too_many_bytes_are_cut() -> None:
    wide = pd.DataFrame({f"c{i}": range(10) for i in range(30)})
    out, notes = sqlbox.fit_for_page(wide, max_columns=12)
    assert list(out.columns) == [f"c{i}" for i in range(12)]
    assert notes == ("showing the first 12 of 30 columns",)
    big = pd.DataFrame({"t": ["y" * 900] * 2000})
    size = int(big.memory_usage(deep=True, index=False).sum())
    budget = size // 4
    out, notes = sqlbox.fit_for_page(big, max_bytes=budget)
    assert 0 < len(out) < len(big)
    assert int(out.memory_usage(deep=True, index=False).sum()) <= budget
    assert len(notes) == 1 and notes[0].startswith(f"showing the first {len(out):,} rows")


def test_repeated_column_names_do_not_break_the_cut() -> None:
    df = pd.DataFrame([["a" * 50, "b" * 50]], columns=["x", "x"])
    out, notes = sqlbox.fit_for_page(df, max_cell_chars=10)
    assert [len(v) for v in out.iloc[0]] == [10, 10] and len(notes) == 1


def test_the_caption_puts_names_in_code_spans(wh: Warehouse) -> None:
    views = sqlbox.allowed_relations(wh)
    text = sqlbox.caption(views)
    assert "fact_query" in views
    # outside code spans no name is left whose underscores or stars Markdown would eat
    outside = re.sub(r"`[^`]*`", "", text)
    assert "_" not in outside and "*" not in outside
    assert all(f"`{v}`" in text for v in views)


def _sql_page(db: str) -> None:
    import streamlit as st

    from dashboards import sqlbox
    from warehouse.store import Warehouse

    @st.cache_resource
    def open_db(path: str) -> Warehouse:
        return Warehouse.open(path, read_only=True)

    tab_sql, tab_other = st.tabs(["SQL", "Other"])
    with tab_other:
        st.checkbox("something else", key="other")
    with tab_sql:
        sqlbox.sql_tab(open_db(db))


def _run(at: AppTest, sql: str) -> None:
    at.text_area(key="sql").input(sql).run()
    at.button(key="sql-run").click().run()
    assert not at.exception, at.exception


def test_the_tab_keeps_its_last_result_and_says_what_was_cut(filled_db: str) -> None:
    n = _scalar(filled_db, "SELECT count(*) FROM fact_query")
    assert n > sqlbox.ROW_LIMIT
    at = AppTest.from_function(_sql_page, args=(filled_db,), default_timeout=60).run()
    assert not at.exception
    _run(at, "SELECT query_id FROM fact_query")
    captions = [c.value for c in at.caption]
    assert any(f"{sqlbox.ROW_LIMIT:,} of {n:,} rows" in c for c in captions), captions
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == sqlbox.ROW_LIMIT
    # another widget's rerun (as a tab switch or a drill-down does) keeps the result
    at.checkbox(key="other").check().run()
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == sqlbox.ROW_LIMIT
    # a refusal replaces it, and stays too
    _run(at, "DELETE FROM clean_queries")
    at.checkbox(key="other").uncheck().run()
    assert any(e.value.startswith("Refused:") for e in at.error) and not at.dataframe


def test_the_tab_says_a_timeout_in_words(filled_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlbox, "TIMEOUT_S", 0.5)
    at = AppTest.from_function(_sql_page, args=(filled_db,), default_timeout=60).run()
    _run(
        at,
        "SELECT count(*) FROM fact_query a, fact_query b, fact_query c WHERE a.query_id > c.query_id + b.query_id",
    )
    assert not at.error
    assert any("ran longer than 0.5 s" in w.value for w in at.warning), [
        w.value for w in at.warning
    ]
