"""The expert page's sidebar filters, breadcrumbs and deep-link checks: a link naming a
run's unknown cluster, user, database, table or fingerprint keeps it (the view is empty)
and says so."""

from __future__ import annotations

from datetime import datetime
from datetime import time as dtime
from typing import Any

import streamlit as st

from common.contract import QUERY_TYPES
from dashboards.queries import Data, Filters

#: deep-link values checked against the run: Filters field -> what the warning calls it
CHECKED = ("cluster", "user", "database", "table", "fingerprint", "query")
#: URL parameters that must be numbers
NUMERIC = ("user", "database", "table", "query")


def link_warnings(data: Data, f: Filters, params: dict[str, str]) -> list[str]:
    """What a deep link names that this run does not hold, or that is not a valid value."""
    out = []
    for name in NUMERIC:
        raw = params.get(name)
        if raw and raw.strip() and getattr(f, name) is None:
            out.append(f"The link's {name} “{raw}” is not a number: it is ignored.")
    for name in CHECKED:
        value = getattr(f, name)
        if value is not None and not data.known(f.run_id, name, value):
            out.append(f"{name.capitalize()} “{value}” is not in run {f.run_id}.")
    return out


def _dates(data: Data, f: Filters) -> tuple[datetime | None, datetime | None]:
    first, last = data.time_range(f.run_id)
    start, end = f.start, f.end
    if first is None or last is None:
        return start, end
    lo, hi = first.date(), last.date()
    picked = st.sidebar.date_input(
        "Event time",
        value=(min(max((start or first).date(), lo), hi), max(min((end or last).date(), hi), lo)),
        min_value=lo,
        max_value=hi,
        key="dates",
    )
    if isinstance(picked, tuple) and len(picked) == 2:
        s_day, e_day = picked
        # a link's own start / end stay exact while their day is the one picked
        if not (start is not None and s_day == start.date()):
            start = datetime.combine(s_day, dtime.min) if s_day != lo else None
        if not (end is not None and e_day == end.date()):
            end = datetime.combine(e_day, dtime.max) if e_day != hi else None
    return start, end


def _id_input(label: str, value: int | None, key: str) -> int | None:
    text = st.sidebar.text_input(label, value="" if value is None else str(value), key=key)
    return int(text) if text.strip().isdigit() else None


def sidebar_filters(data: Data, run_ids: list[str], f: Filters) -> Filters:
    sb = st.sidebar
    sb.header("Filters")
    run = sb.selectbox(
        "Run", run_ids, index=run_ids.index(f.run_id) if f.run_id in run_ids else 0, key="run"
    )
    if run != f.run_id:
        return Filters(run)  # another run: start from the fleet
    opts = data.options(f.run_id)
    start, end = _dates(data, f)
    kinds = tuple(
        sb.multiselect(
            "Cluster kind",
            opts["kinds"],
            default=[k for k in f.kinds if k in opts["kinds"]],
            key="kinds",
        )
    )
    # an unknown cluster from a link stays selected (and warned about), never replaced
    clusters = [
        "(all)",
        *opts["clusters"],
        *([f.cluster] if f.cluster and f.cluster not in opts["clusters"] else []),
    ]
    cluster = sb.selectbox(
        "Cluster",
        clusters,
        index=clusters.index(f.cluster) if f.cluster in clusters else 0,
        key=f"cluster:{f.cluster}",
    )  # a new widget per drill state: the URL wins
    user = _id_input("User id", f.user, f"user:{f.user}")
    database = _id_input("Database id", f.database, f"database:{f.database}")
    qtypes = tuple(
        sb.multiselect(
            "Query type",
            list(QUERY_TYPES),
            default=[q for q in f.qtypes if q in QUERY_TYPES],
            key="qtypes",
        )
    )
    return f.drill(
        start=start,
        end=end,
        kinds=kinds,
        cluster=None if cluster == "(all)" else cluster,
        user=user,
        database=database,
        qtypes=qtypes,
    )


def breadcrumbs(f: Filters) -> Filters:
    below = ("cluster", "user", "database", "table", "fingerprint", "query")
    parts: list[tuple[str, dict[str, Any]]] = [("Fleet", dict.fromkeys(below))]
    if f.cluster:
        parts.append((f"cluster {f.cluster}", dict.fromkeys(below[1:])))
    for name in ("user", "database", "table"):
        if getattr(f, name) is not None:
            parts.append((f"{name} {getattr(f, name)}", {"fingerprint": None, "query": None}))
    if f.fingerprint:
        parts.append((f"fingerprint {f.fingerprint[:10]}…", {"query": None}))
    if f.query is not None:
        parts.append((f"query {f.query}", {}))
    cols = st.columns(len(parts) + 1)
    for i, (col, (label, reset)) in enumerate(zip(cols, parts, strict=False)):
        if i < len(parts) - 1 and col.button(f"↑ {label}", key=f"crumb{i}"):
            return f.drill(**reset)
        if i == len(parts) - 1:
            col.markdown(f"**{label}**")
    return f
