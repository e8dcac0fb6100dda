"""Reading the expert page in AppTests: chart data by title, tables, warnings; and an
independent DuckDB reader for the expectations."""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pandas as pd
from streamlit import dataframe_util
from streamlit.testing.v1 import AppTest

from .conftest import EXPERT


def open_script(script: str, **params: str) -> AppTest:
    """Run a page script once with ``params`` as its URL's query; no exception allowed."""
    at = AppTest.from_file(script, default_timeout=60)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, at.exception
    return at


def open_page(db: str, **params: str) -> AppTest:
    return open_script(EXPERT, **params)


def charts(at: AppTest) -> dict[str, list[pd.DataFrame]]:
    """Each chart's title -> its datasets (the data the browser draws)."""
    out: dict[str, list[pd.DataFrame]] = {}
    for e in at.get("vega_lite_chart"):
        spec = json.loads(e.proto.spec)
        title = spec.get("title")
        title = title.get("text") if isinstance(title, dict) else title
        out[str(title)] = [
            dataframe_util.convert_arrow_bytes_to_pandas_df(d.data.data) for d in e.proto.datasets
        ]
    return out


def chart(at: AppTest, prefix: str, column: str) -> pd.DataFrame:
    """The dataset holding ``column`` of the chart whose title starts with ``prefix``."""
    found = [dfs for title, dfs in charts(at).items() if title.startswith(prefix)]
    assert found, (prefix, list(charts(at)))
    return next(df for df in found[0] if column in df.columns)


def frames(at: AppTest) -> list[pd.DataFrame]:
    return [d.value for d in at.dataframe]


def frame_with(at: AppTest, *columns: str) -> pd.DataFrame:
    found = [df for df in frames(at) if all(c in df.columns for c in columns)]
    assert found, (columns, [list(df.columns) for df in frames(at)])
    return found[0]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def texts(at: AppTest) -> str:
    """Every warning, info and caption on the page."""
    parts: list[Any] = [*at.warning, *at.info, *at.caption, *at.markdown]
    return "\n".join(str(p.value) for p in parts)


def sql(db: str, query: str, params: list[Any] | None = None) -> pd.DataFrame:
    con = duckdb.connect(db, read_only=True)
    try:
        return con.execute(query, params or []).df()
    finally:
        con.close()
