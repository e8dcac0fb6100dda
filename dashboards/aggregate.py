"""Aggregate dashboard (for managers): a few trustworthy numbers, trends, live leaderboards.

``streamlit run dashboards/aggregate.py`` (env: DUCKDB_PATH, KAFKA_BOOTSTRAP_SERVERS, ...).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

sys.path.insert(
    0, str(Path(__file__).resolve().parents[1])
)  # `streamlit run` adds only dashboards/

from dashboards.data import backend, gb, human_int, ms, pct
from dashboards.queries import Data, Filters
from dashboards.tiles import kpis, movement

BOARD_TITLES = {
    "busiest_clusters": "Busiest clusters (execution time)",
    "top_users_by_runtime": "Slowest users (total runtime)",
    "top_users_by_queries": "Most active users (queries)",
    "longest_compiles": "Longest-compiling queries",
    "biggest_spillers": "Biggest spillers (MB)",
    "hottest_tables": "Hottest tables (accesses)",
}


def render_status(
    data: Data,
    run_id: str,
    stale_after_s: float,
    live: bool,
    lag: dict[str, int] | None = None,
) -> None:
    status = data.run_status(run_id)
    first, last = status.get("first_event"), status.get("last_event")
    raw = int(status.get("raw_rows", 0))
    accounted = (
        int(status.get("clean_rows", 0))
        + int(status.get("dead_letter_rows", 0))
        + int(status.get("duplicate_rows", 0))
    )
    rate = data.ingest_rate(run_id) if live else 0.0
    cols = st.columns(4)
    cols[0].markdown(f"**Run** `{run_id}`  \n{status.get('dataset', '')}")
    cols[1].markdown(
        f"**Event time**  \n{first:%Y-%m-%d %H:%M} → {last:%Y-%m-%d %H:%M}"
        if pd.notna(first)
        else "**Event time**  \n–"
    )
    cols[2].markdown(f"**Ingest**  \n{rate:,.0f} rows/s")
    cols[3].markdown(
        f"**Lag**  \nclean stage {max(raw - accounted, 0):,} rows"
        + (
            "  \nnot yet on this page: "
            + (", ".join(f"{t} {n:,}" for t, n in lag.items() if n) or "none")
            if lag is not None
            else ""
        )
    )
    updated = status.get("last_update")
    if live and pd.notna(updated):
        age = (pd.Timestamp.now() - pd.Timestamp(updated)).total_seconds()
        if age > stale_after_s:
            st.warning(
                f"Data is stale: last update {age:,.0f} s ago. Is the replay or the pipeline stopped?"
            )


def render(data: Data, refresh_s: float, live: bool, lag: dict[str, int] | None = None) -> None:
    runs = data.runs()
    if runs.empty:
        st.info("No data yet. Start a replay (`make demo`, or `python -m producers.replay ...`); "
                "this page fills in as soon as the first rows arrive.")  # fmt: skip
        return
    run_id = str(runs["run_id"].iloc[0])
    render_status(data, run_id, stale_after_s=max(30.0, 10 * refresh_s), live=live, lag=lag)

    windows = data.fleet_windows(run_id)
    tiles = kpis(windows)
    if tiles:
        cur = windows[windows["final"]].iloc[-1] if windows["final"].any() else windows.iloc[-1]
        st.caption(
            f"Latest complete window {cur['window_start']:%Y-%m-%d %H:%M} (change against the window before)"
        )
        for col, (label, value, delta) in zip(st.columns(len(tiles)), tiles, strict=True):
            col.metric(
                label,
                value,
                delta,
                delta_color="off" if label in ("Queries", "GB scanned") else "inverse",
            )
    totals = data.totals(Filters(run_id))
    st.markdown(
        f"**Whole run:** {human_int(totals['queries'])} queries · p95 {ms(totals['p95_total_ms'])} · "
        f"aborts {pct(totals['abort_rate'])} · cache hits {pct(totals['cache_hit_rate'])} · "
        f"{gb(totals['gb_scanned'])} scanned · {gb(totals['gb_spilled'])} spilled"
    )

    left, right = st.columns([2, 1])
    with left:
        if not windows.empty:
            base = alt.Chart(windows).encode(x=alt.X("window_start:T", title="event time"))
            q = base.mark_bar(opacity=0.5).encode(y=alt.Y("queries:Q", title="queries per window"))
            p = base.mark_line(color="#d62728").encode(
                y=alt.Y("p95_total_ms:Q", title="p95 latency (ms)")
            )
            st.altair_chart(
                alt.layer(q, p)
                .resolve_scale(y="independent")
                .properties(height=260, title="Queries and p95 latency"),
                width="stretch",
            )
    with right:
        mix = data.type_mix(Filters(run_id))
        if not mix.empty:
            st.altair_chart(
                alt.Chart(mix).mark_arc(innerRadius=50).encode(
                    theta="queries:Q", color=alt.Color("query_type:N", title="type"),
                    tooltip=["query_type", "queries", "runtime_s"],
                ).properties(height=260, title="Query-type mix"),
                width="stretch",
            )  # fmt: skip

    boards = data.boards(run_id)
    st.subheader("Live leaderboards")
    if boards.empty:
        st.caption("Leaderboards appear when the first window closes.")
    else:
        names = [b for b in BOARD_TITLES if b in set(boards["board"])]
        for i in range(0, len(names), 3):
            for col, name in zip(st.columns(3), names[i : i + 3], strict=False):
                b = boards[boards["board"] == name].head(5)
                label = "running" if (b["variant"] == "current").any() else "final"
                col.markdown(
                    f"**{BOARD_TITLES[name]}**  \n<small>{b['window_start'].iloc[0]:%m-%d %H:%M} · {label}</small>",
                    unsafe_allow_html=True,
                )
                col.dataframe(
                    pd.DataFrame({
                        "#": b["rank"], "": [movement(int(r), p) for r, p in zip(b["rank"], b["prev_rank"], strict=True)],
                        "entity": b["entity"], "value": b["value"].map(lambda v: f"{v:,.0f}"),
                    }),
                    hide_index=True, width="stretch",
                )  # fmt: skip
    st.caption(
        "Redset's clusters were chosen by busyness: these figures describe this dataset, "
        "not the Redshift fleet."
    )


def main() -> None:
    st.set_page_config(page_title="Query workload: overview", layout="wide")
    st.title("Query workload — overview")
    be = backend("aggregate")
    live = be.materializer is not None
    if be.error:
        st.caption(be.error)

    @st.fragment(run_every=be.settings.refresh_seconds if live else None)
    def live_view() -> None:
        t0 = time.perf_counter()
        render(be.data, be.settings.refresh_seconds, live, be.materializer_lag())
        st.caption(f"rendered in {(time.perf_counter() - t0) * 1000:,.0f} ms")

    live_view()


main()
