"""The expert page's search box: ranked hits (exact matches first, then by the queries
behind each), and the hit picked opens."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboards import units
from dashboards.queries import Data, Filters

#: a hit's kind -> the Filters field it opens
FIELD = {
    "query": "query",
    "user": "user",
    "database": "database",
    "table": "table",
    "fingerprint": "fingerprint",
    "cluster": "cluster",
}


def hit_label(hit: dict[str, Any]) -> str:
    match = str(hit["match"])
    if hit["kind"] == "fingerprint":
        match = match[:16] + "…"
    where = "" if hit["kind"] == "cluster" else f" on {hit['cluster']}"
    return f"{hit['kind']} {match}{where} ({units.count(hit['queries'])} queries)"


def open_hit(f: Filters, hit: dict[str, Any]) -> Filters:
    """The view a hit opens: its cluster, and the entity itself."""
    field = FIELD[str(hit["kind"])]
    value: Any = str(hit["match"]) if field in ("fingerprint", "cluster") else int(hit["match"])
    reset = {"user": None, "database": None, "table": None, "fingerprint": None, "query": None}
    return f.drill(**{**reset, "cluster": str(hit["cluster"]), field: value})


def search_box(data: Data, f: Filters) -> Filters:
    text = st.text_input(
        "Search a query, user, database or table id, a fingerprint prefix or a cluster name",
        key="search",
    )
    if not text.strip():
        return f
    hits: pd.DataFrame = data.search(f.run_id, text)
    if hits.empty:
        st.info(f"Nothing matches “{text.strip()}” in run {f.run_id}")
        return f
    rows = [{str(k): v for k, v in r.items()} for r in hits.to_dict("records")]
    labels = [hit_label(r) for r in rows]
    c1, c2 = st.columns([4, 1])
    picked = c1.selectbox(
        f"{len(rows)} hits, best first",
        range(len(rows)),
        format_func=labels.__getitem__,
        key="search-pick",
    )
    if c2.button("Open", key="search-open"):
        return open_hit(f, rows[int(picked or 0)])
    return f
