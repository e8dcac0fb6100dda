"""The expert page's tables: drill-down tables with human headers and units, the query
detail card, and the Top-K panel."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import units
from dashboards.expert_format import K_KEY, K_MAX, NO_MATCH, detail_sections, humanize
from dashboards.expert_queries import TOP_ENTITIES, TOP_METRICS
from dashboards.queries import Data, Filters

TOPK_TITLE = "Top K"


def drill_table(df: pd.DataFrame, level: str, key: str) -> Any:
    """A table whose row click drills into ``level``; returns the picked value or None."""
    if df.empty:
        st.info(NO_MATCH)
        return None
    event = st.dataframe(
        humanize(df),
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key=key,
    )
    rows = event.selection.rows if event is not None and hasattr(event, "selection") else []
    column = "table_id" if level == "table" else ("query_id" if level == "query" else level)
    options = df[column].tolist()
    choice = st.selectbox(f"Open {level}", ["—", *options], key=f"{key}-pick")
    if rows:
        return options[rows[0]]
    return None if choice == "—" else choice


def detail_card(data: Data, f: Filters) -> None:
    """The picked query as labelled fields in human units."""
    st.subheader(f"Query {f.query}")
    detail = data.query_detail(f)
    if detail.empty:
        st.info(f"{NO_MATCH} (query {f.query})")
        return
    row = {str(k): v for k, v in detail.iloc[0].items()}
    for col, (title, fields) in zip(st.columns(3), detail_sections(row), strict=True):
        col.markdown(f"##### {title}")
        for label, value in fields:
            col.markdown(f"**{label}**  \n{value}")


def topk_panel(data: Data, f: Filters) -> None:
    """The ``K`` biggest entities by a metric, as a chart and a table."""
    c1, c2, c3 = st.columns([2, 2, 1])
    entity = c1.selectbox("Top", list(TOP_ENTITIES), key="topk-entity")
    metric = c2.selectbox("by", list(TOP_METRICS), key="topk-metric")
    k = int(c3.number_input("K", min_value=1, max_value=K_MAX, step=1, key=K_KEY))
    top = data.top_k(f, entity, metric, k)
    if metric == "queries":
        top = top.drop(columns="queries")
    if top.empty:
        st.info(NO_MATCH)
        return
    kind = TOP_METRICS[metric][1]
    fmt = {"count": units.count, "duration": units.duration, "size": units.data_size}[kind]
    shown = top.assign(
        label=top[entity].astype(str).str[:24],
        shown=[fmt(v) for v in top["value"]],
        plotted=top["value"] / (1024 if kind == "size" else 1),
    )
    unit = {"count": "", "duration": " (ms)", "size": " (GB)"}[kind]
    st.altair_chart(
        alt.Chart(shown, title=f"{TOPK_TITLE}: {k} {entity}s by {metric}")
        .mark_bar()
        .encode(
            x=alt.X("plotted:Q", title=f"{metric}{unit}", axis=alt.Axis(tickCount=5)),
            y=alt.Y("label:N", sort="-x", title=entity),
            tooltip=[alt.Tooltip("label:N", title=entity), alt.Tooltip("shown:N", title=metric)],
        )
        .properties(height=max(120, 24 * len(shown))),
        width="stretch",
    )
    st.dataframe(
        humanize(top, kind, metric.capitalize()), hide_index=True, width="stretch", key="topk-table"
    )
