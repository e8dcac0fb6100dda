"""Aggregate dashboard (for managers, on a projector): a few trustworthy numbers over a
range of the run's event time, their day and week trends, and leaderboards.

``streamlit run dashboards/aggregate.py`` (env: DUCKDB_PATH, KAFKA_BOOTSTRAP_SERVERS,
EXPERT_URL for the boards' links, ...).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from dashboards import boards_view, overview, trends, units
from dashboards.data import backend
from dashboards.health import render_attention
from dashboards.queries import Data
from dashboards.tiles import headline

#: trims Streamlit's default top padding (down to its header bar) and the boards' table
#: rows, so the headline fits 1280x720 and more of the boards fit below it
_COMPACT_CSS = (
    "<style>[data-testid='stMainBlockContainer']{padding-top:3rem;padding-bottom:1rem}"
    "[data-testid='stMarkdownContainer'] table{font-size:0.9rem;margin-bottom:0.2rem}"
    "[data-testid='stMarkdownContainer'] :is(td,th){padding:0.12rem 0.5rem}"
    "[data-testid='stMetricValue']{font-size:1.9rem}</style>"
)


def render_status(
    data: Data, run_id: str, stale_after_s: float, live: bool, lag: dict[str, int] | None
) -> dict[str, Any]:
    """One caption line on the run; returns its status row."""
    status = data.run_status(run_id)
    first, last = status.get("first_event"), status.get("last_event")
    raw = int(status.get("raw_rows", 0))
    accounted = sum(
        int(status.get(c, 0)) for c in ("clean_rows", "dead_letter_rows", "duplicate_rows")
    )
    parts = [f"Run `{run_id}` {status.get('dataset', '')}".strip()]
    if pd.notna(first):
        parts.append(f"event time {first:%Y-%m-%d %H:%M} → {last:%Y-%m-%d %H:%M}")
    parts.append(f"{units.count(status.get('clean_rows'))} clean queries")
    if live:
        parts.append(f"ingest {units.rate_per_s(data.ingest_rate(run_id))}")
        backlog = max(raw - accounted, 0) + sum((lag or {}).values())
        parts.append(
            "live" if not backlog else f"live, {units.count(backlog)} rows still on the way"
        )
    else:
        parts.append("stored run: no broker attached, figures as the file holds them")
    st.caption(" · ".join(parts))
    updated = status.get("last_update")
    if live and pd.notna(updated):
        age = (pd.Timestamp.now() - pd.Timestamp(updated)).total_seconds()
        if age > stale_after_s:
            st.warning(
                f"Data is stale: last update {units.duration(age * 1000)} ago. "
                "Is the replay or the pipeline stopped?"
            )
    return status


def range_control(live: bool) -> list[str]:
    """The ranges chosen (several at once: one headline row each), in :data:`RANGES` order.
    The default depends on the run; the URL's ``range=`` overrides it, so a bookmark on the
    projector keeps its ranges."""
    asked = [r for r in st.query_params.get("range", "").split(",") if r in overview.RANGES]
    default = asked or overview.default_ranges(live)
    chosen = st.segmented_control(
        "Range",
        list(overview.RANGES),
        selection_mode="multi",
        default=default,
        format_func=lambda k: overview.RANGES[k][0],
        key="range",
        label_visibility="collapsed",
    )
    picked = [r for r in overview.RANGES if r in (chosen or [])] or default
    if picked != overview.default_ranges(live):
        st.query_params["range"] = ",".join(picked)
    elif "range" in st.query_params:
        del st.query_params["range"]
    return picked


def render_headline(data: Data, run_id: str, p: overview.Period) -> bool:
    """One row of tiles for period ``p``; False when it holds no queries."""
    figs = overview.figures(data, p.filters(run_id))
    if not figs["queries"]:
        st.info(f"No queries in this range ({p.span()}).")
        return False
    cur = (
        figs if p.start is not None else overview.figures(data, overview.window(run_id, p.cmp_cur))
    )
    prev = overview.figures(data, overview.window(run_id, p.cmp_prev))
    note = p.compare if prev["queries"] else "no earlier period to compare with"
    st.caption(f"**{p.span()}** · {note}")
    tiles = headline(figs, cur, prev, per="" if p.start is not None else "wk/wk")
    for col, t in zip(st.columns(len(tiles)), tiles, strict=True):
        col.metric(t.label, t.value, t.delta, delta_color=t.color, delta_arrow=t.arrow, help=t.help)
    return True


def render_trends(
    data: Data, run_id: str, p: overview.Period, first: datetime, last: datetime
) -> None:
    """Trends over the widest range chosen; per day and per week for a long run."""
    start = p.start or first
    end = p.end or last
    grain = overview.grain_for(end - start)
    f = p.filters(run_id)
    mix = overview.type_mix(data, f)
    grains = [grain, "week"] if grain == "day" and end - start >= 4 * overview.WEEK else [grain]
    tabs = (
        st.tabs([overview.GRAINS[g][1].capitalize() for g in grains])
        if len(grains) > 1
        else [st.container()]
    )
    for tab, g in zip(tabs, grains, strict=True):
        with tab:
            df = overview.trend(data, f, g)
            cols = st.columns(4)
            if df.empty:
                cols[0].info("No queries in this range.")
                continue
            for col, chart in zip(cols, trends.charts(df, g), strict=False):
                col.altair_chart(chart, width="stretch")
            if mix.empty:
                cols[3].info("No queries in this range.")
            else:
                cols[3].altair_chart(trends.mix_chart(mix), width="stretch")


def render_boards(data: Data, run_id: str, p: overview.Period, live: bool, k: int) -> None:
    """Every board over period ``p``, each entry linked into the expert page."""
    f = p.filters(run_id)
    prev = None if p.start is None else overview.window(run_id, p.cmp_prev)
    state = ("so far (live)" if live else "final") if p.start is None else "complete period"
    st.markdown(f"**Leaderboards** · {p.span()} · top {k} · {state}")
    base = boards_view.expert_url()
    cols = st.columns(3)
    for i, board in enumerate(boards_view.BOARDS):
        col = cols[i % 3]
        top = boards_view.ranked(data, board.name, f, k)
        col.markdown(f"**{board.title}** · {board.unit}")
        if top.empty:
            col.caption(f"Empty: {board.empty}.")
            continue
        before = None if prev is None else boards_view.ranked(data, board.name, prev, k)
        col.markdown(boards_view.markdown(board, top, before, f, base))


def render(data: Data, refresh_s: float, live: bool, lag: dict[str, int] | None, k: int) -> None:
    runs = data.runs()
    if runs.empty:
        st.info(
            "No data yet. Start a replay (`make demo`, or `python -m producers.replay ...`); "
            "this page fills in as soon as the first rows arrive."
        )
        return
    run_id = str(runs["run_id"].iloc[0])
    status = render_status(data, run_id, max(30.0, 10 * refresh_s), live, lag)
    first, last = status.get("first_event"), status.get("last_event")
    if not isinstance(first, datetime) or not isinstance(last, datetime) or pd.isna(first):
        st.info("No clean queries in this run yet: rows arrived, none has been cleaned so far.")
        return
    periods = [overview.period(r, last, live) for r in range_control(live)]
    for p in periods:
        render_headline(data, run_id, p)
    # the widest range chosen draws the trends, the narrowest the boards
    render_trends(data, run_id, periods[-1], first, last)
    render_attention(data, run_id, expert_url=boards_view.expert_url())
    render_boards(data, run_id, periods[0], live, k)
    st.caption(
        "Redset's clusters were chosen by busyness: these figures describe this dataset, "
        "not the Redshift fleet."
    )


def main() -> None:
    st.set_page_config(
        page_title="redset-stream · overview", page_icon=":material/monitoring:", layout="wide"
    )
    st.html(_COMPACT_CSS)
    st.markdown("#### :material/monitoring: Query workload overview")
    be = backend("aggregate")
    live = be.materializer is not None
    if be.error:
        st.caption(be.error)

    @st.fragment(run_every=be.settings.refresh_seconds if live else None)
    def live_view() -> None:
        t0 = time.perf_counter()
        render(
            be.data,
            be.settings.refresh_seconds,
            live,
            be.materializer_lag(),
            be.settings.leaderboard_k,
        )
        st.caption(f"rendered in {units.duration((time.perf_counter() - t0) * 1000)}")

    live_view()


if __name__ == "__main__":
    main()
