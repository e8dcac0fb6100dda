"""Expert dashboard: drill down from the fleet to a single query.

``streamlit run dashboards/expert.py``. Every filter and drill-down selection lives in the
URL (``st.query_params``), so a link reproduces the view exactly.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import uuid
from datetime import datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any

sys.path.insert(
    0, str(Path(__file__).resolve().parents[1])
)  # `streamlit run` adds only dashboards/

import altair as alt
import pandas as pd
import streamlit as st

from common.contract import QUERY_TYPES
from dashboards import sqlbox
from dashboards.data import Backend, backend, gb, human_int, ms, pct
from dashboards.queries import Data, Filters

NEXT_LEVEL = {"fleet": ["cluster"], "cluster": ["user", "database", "table"], "user": ["fingerprint"],
              "database": ["fingerprint"], "table": ["fingerprint"], "fingerprint": ["query"]}  # fmt: skip
DRILL_FIELD = {"cluster": "cluster", "user": "user", "database": "database", "table": "table_id",
               "fingerprint": "fingerprint", "query": "query_id"}  # fmt: skip


def sidebar_filters(data: Data, run_ids: list[str], f: Filters) -> Filters:
    sb = st.sidebar
    sb.header("Filters")
    run = sb.selectbox(
        "Run", run_ids, index=run_ids.index(f.run_id) if f.run_id in run_ids else 0, key="run"
    )
    if run != f.run_id:
        f = Filters(run)  # another run: start from the fleet
    opts = data.options(f.run_id)
    first, last = data.time_range(f.run_id)
    start, end = f.start, f.end
    if first is not None and last is not None:
        picked = sb.date_input(
            "Event time", value=((start or first).date(), (end or last).date()),
            min_value=first.date(), max_value=last.date(), key="dates",
        )  # fmt: skip
        if isinstance(picked, tuple) and len(picked) == 2:
            s_day, e_day = picked
            start = datetime.combine(s_day, dtime.min) if s_day != first.date() else None
            end = datetime.combine(e_day, dtime.max) if e_day != last.date() else None
    kinds = tuple(
        sb.multiselect(
            "Cluster kind",
            opts["kinds"],
            default=[k for k in f.kinds if k in opts["kinds"]],
            key="kinds",
        )
    )
    clusters = ["(all)", *opts["clusters"]]
    cluster = sb.selectbox(
        "Cluster",
        clusters,
        index=clusters.index(f.cluster) if f.cluster in clusters else 0,
        key=f"cluster:{f.cluster}",  # a new widget per drill state: the URL wins
    )
    user = sb.text_input(
        "User id", value="" if f.user is None else str(f.user), key=f"user:{f.user}"
    )
    database = sb.text_input(
        "Database id",
        value="" if f.database is None else str(f.database),
        key=f"database:{f.database}",
    )
    qtypes = tuple(
        sb.multiselect("Query type", list(QUERY_TYPES), default=list(f.qtypes), key="qtypes")
    )
    return f.drill(
        start=start, end=end, kinds=kinds, cluster=None if cluster == "(all)" else cluster,
        user=int(user) if user.strip().isdigit() else None,
        database=int(database) if database.strip().isdigit() else None, qtypes=qtypes,
    )  # fmt: skip


def breadcrumbs(f: Filters) -> Filters:
    parts: list[tuple[str, dict[str, Any]]] = [("Fleet", {"cluster": None, "user": None, "database": None,
                                                         "table": None, "fingerprint": None, "query": None})]  # fmt: skip
    if f.cluster:
        parts.append(
            (
                f"cluster {f.cluster}",
                {"user": None, "database": None, "table": None, "fingerprint": None, "query": None},
            )
        )
    for label, name in (("user", "user"), ("database", "database"), ("table", "table")):
        if getattr(f, name) is not None:
            parts.append((f"{label} {getattr(f, name)}", {"fingerprint": None, "query": None}))
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


def drill_table(df: pd.DataFrame, level: str, key: str) -> Any:
    """A table whose row click drills into ``level``; returns the picked value or None."""
    if df.empty:
        st.caption(f"no {level}s for these filters")
        return None
    event = st.dataframe(
        df,
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


PANELS = {
    "latency": "Latency",
    "compile": "Compile vs complexity",
    "time": "Spill & cache over time",
    "plans": "Plan repetition",
    "tables": "Hot tables & freshness",
}
DEFAULT_PANEL = "latency"


def panel_from_params(params: dict[str, str]) -> str:
    p = params.get("panel", DEFAULT_PANEL)
    return p if p in PANELS else DEFAULT_PANEL


def charts(data: Data, f: Filters, panel: str) -> str:
    """One chart panel at a time (each is a scan of the filtered queries): returns the
    panel picked, which the URL mirrors."""
    options = list(PANELS)
    panel = st.radio("Chart", options, index=options.index(panel), format_func=PANELS.__getitem__,
                     horizontal=True, key=f"panel-{panel}", label_visibility="collapsed")  # fmt: skip
    if panel == "latency":
        lat = data.latency_distribution(f)
        if lat.empty:
            return panel
        long = lat.melt(id_vars=["log10_ms", "queries"], value_vars=["queue_ms", "compile_ms", "execution_ms"],
                        var_name="phase", value_name="mean_ms")  # fmt: skip
        hist = alt.Chart(lat).mark_bar().encode(
            x=alt.X("log10_ms:Q", title="total latency, log10(ms)"), y=alt.Y("queries:Q"),
            tooltip=["log10_ms", "queries"],
        ).properties(height=200, title="Latency distribution (log scale)")  # fmt: skip
        split = alt.Chart(long).mark_area().encode(
            x=alt.X("log10_ms:Q", title="total latency, log10(ms)"), y=alt.Y("mean_ms:Q", stack="normalize", title="share of time"),
            color=alt.Color("phase:N"),
        ).properties(height=150, title="Queue / compile / execution split")  # fmt: skip
        st.altair_chart(alt.vconcat(hist, split), width="stretch")
    elif panel == "compile":
        comp = data.compile_vs_complexity(f)
        if not comp.empty:
            st.altair_chart(
                alt.Chart(comp).mark_circle().encode(
                    x=alt.X("complexity:Q", title="joins + scans + aggregations"),
                    y=alt.Y("mean_compile_ms:Q", title="mean compile (ms)"), size="queries:Q",
                    tooltip=["complexity", "queries", "compile_known", "mean_compile_ms", "p95_compile_ms"],
                ).properties(height=380, title="Compile time against plan complexity"),
                width="stretch",
            )  # fmt: skip
    elif panel == "time":
        over = data.over_time(f)
        if not over.empty:
            c3, c4 = st.columns(2)
            c3.altair_chart(
                alt.Chart(over).mark_line().encode(
                    x=alt.X("hour:T", title="event time"), y=alt.Y("gb_spilled:Q", title="GB spilled")
                ).properties(height=260, title="Spill over time"),
                width="stretch",
            )  # fmt: skip
            c4.altair_chart(
                alt.Chart(over).mark_line().encode(
                    x=alt.X("hour:T", title="event time"),
                    y=alt.Y("cache_hit_rate:Q", title="cache-hit rate", axis=alt.Axis(format="%")),
                ).properties(height=260, title="Cache-hit rate over time"),
                width="stretch",
            )  # fmt: skip
    elif panel == "plans":
        fps = data.fingerprint_repetition(f)
        if not fps.empty:
            fps["fp"] = fps["fingerprint"].str[:10]
            st.altair_chart(
                alt.Chart(fps).mark_bar().encode(
                    x=alt.X("executions:Q"), y=alt.Y("fp:N", sort="-x", title="fingerprint"),
                    tooltip=["fingerprint", "executions", "mean_exec_ms"],
                ).properties(height=380, title="Fingerprint repetition (top plans)"),
                width="stretch",
            )  # fmt: skip
    else:
        tables = data.tables(f)
        if not tables.empty:
            st.altair_chart(
                alt.Chart(tables).mark_bar().encode(
                    x=alt.X("reads:Q", title="reads (bars) / freshness p50 s (color)"), y=alt.Y("table_name:N", sort="-x", title="table"),
                    color=alt.Color("freshness_p50_s:Q", title="freshness p50 (s)", scale=alt.Scale(scheme="orangered")),
                    tooltip=["table_name", "reads", "writes", "freshness_p50_s"],
                ).properties(height=380, title="Hot tables and freshness (time since last write when read)"),
                width="stretch",
            )  # fmt: skip
    return panel


def kpi_strip(data: Data, f: Filters) -> None:
    totals = data.totals(f)
    cols = st.columns(5)
    cols[0].metric("Queries", human_int(totals["queries"]))
    cols[1].metric("p95 latency", ms(totals["p95_total_ms"]))
    cols[2].metric("Abort rate", pct(totals["abort_rate"]))
    cols[3].metric("Cache-hit rate", pct(totals["cache_hit_rate"]))
    cols[4].metric("GB scanned", gb(totals["gb_scanned"]))  # n/a when none measured


def explore(
    data: Data, f: Filters, panel: str = DEFAULT_PANEL, refresh_s: float | None = None
) -> tuple[Filters, str]:
    """The current level: KPIs (live: refreshed every ``refresh_s`` while a replay runs),
    the next level's entities to drill into, one chart panel, the slowest queries."""
    f = breadcrumbs(f)
    st.fragment(run_every=refresh_s)(kpi_strip)(data, f)
    level = f.level
    if level == "query":
        detail = data.query_detail(f)
        st.subheader(f"Query {f.query}")
        if detail.empty:
            st.info("no such query for these filters")
        else:
            st.json(json.loads(detail.iloc[0].to_json(date_format="iso", default_handler=str)))
        return f, panel
    for nxt in NEXT_LEVEL[level]:
        st.subheader({"cluster": "Clusters", "user": "Users", "database": "Databases", "table": "Tables",
                      "fingerprint": "Plans (fingerprints)", "query": "Slowest queries"}[nxt])  # fmt: skip
        if nxt == "table":
            df = data.tables(f)[["table_id", "reads", "writes", "freshness_p50_s"]]
        elif nxt == "query":
            df = data.slowest(f)
        else:
            df = data.breakdown(f, nxt)
        picked = drill_table(df, nxt, key=f"drill-{level}-{nxt}")
        if picked is not None:
            return f.drill(
                **{nxt: picked if nxt in ("cluster", "fingerprint") else int(picked)}
            ), panel
    panel = charts(data, f, panel)
    if level != "fingerprint":
        st.subheader("Slowest queries")
        slow = data.slowest(f, 20)
        picked = drill_table(slow, "query", key=f"slowest-{level}")
        if picked is not None:
            return f.drill(query=int(picked)), panel
    return f, panel


def search_box(data: Data, f: Filters) -> Filters:
    text = st.text_input("Search a query id, user id, table id or fingerprint prefix", key="search")
    if text:
        hits = data.search(f.run_id, text)
        if hits.empty:
            st.caption("no match")
        else:
            st.dataframe(hits, hide_index=True)
            first = hits.iloc[0]
            if st.button(f"Open {first['kind']} {first['match']}", key="search-open"):
                field = {
                    "query": "query",
                    "user": "user",
                    "table": "table",
                    "fingerprint": "fingerprint",
                }[first["kind"]]
                value: Any = first["match"] if field == "fingerprint" else int(first["match"])
                return f.drill(cluster=first["cluster"], **{field: value})
    return f


def sql_tab(be: Backend) -> None:
    st.caption("Read-only: one SELECT over the project's views (fact_query, dead_letters, v_*, dim_*), "
               "at most 1,000 rows, 5 s.")  # fmt: skip
    sql = st.text_area(
        "SQL",
        value="SELECT query_type, count(*) FROM fact_query GROUP BY ALL ORDER BY 2 DESC",
        key="sql",
    )
    if st.button("Run", key="sql-run"):
        try:
            st.dataframe(sqlbox.run(be.warehouse, sql), hide_index=True)
        except sqlbox.SqlRejected as e:
            st.error(f"Refused: {e}")


@st.cache_resource
def _replays() -> dict[str, Any]:
    """Replays started from this server (shared by all sessions): run id -> process."""
    return {}


def replay_tab(be: Backend) -> None:
    if be.settings.embedded or be.materializer is None:
        st.info(
            "Replay control needs a broker: start the dashboards with KAFKA_BOOTSTRAP_SERVERS (make demo does)."
        )
        return
    procs = _replays()
    c1, c2 = st.columns([3, 1])
    source = c1.text_input(
        "Source (file, glob, URL or synthetic:...)",
        value="synthetic:rows=50000,seed=1",
        key="rp-source",
    )
    rate = c2.number_input("Rows/s (0 = max)", min_value=0, value=2000, step=500, key="rp-rate")
    if st.button("Start replay", key="rp-start"):
        run_id = uuid.uuid4().hex[:12]
        cmd = [
            sys.executable,
            "-m",
            "producers.replay",
            source,
            "--run-id",
            run_id,
            "--no-progress",
        ]
        if rate:
            cmd += ["--rate", str(rate)]
        procs[run_id] = subprocess.Popen(cmd, env=be.settings.to_env(), stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    run_dir = Path(be.settings.run_dir)
    for run_id, proc in list(procs.items()):
        pause_file = run_dir / f"replay-{run_id}.pause"
        paused = pause_file.exists()
        cols = st.columns([3, 1, 1])
        if proc.poll() is None:
            if cols[1].button("Resume" if paused else "Pause", key=f"pause-{run_id}"):
                # the replay watches this file: present = paused, removed = running
                if paused:
                    pause_file.unlink(missing_ok=True)
                else:
                    pause_file.parent.mkdir(parents=True, exist_ok=True)
                    pause_file.touch()
                st.rerun()  # show the new state and button label
            if cols[2].button("Stop", key=f"stop-{run_id}"):
                proc.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=10)
                pause_file.unlink(missing_ok=True)
                st.rerun()
        state = "running" if proc.poll() is None else f"finished (exit {proc.returncode})"
        cols[0].markdown(
            f"`{run_id}` pid {proc.pid}: {state}{' (paused)' if paused else ''}, "
            f"{replay_acked(run_dir / f'replay-{run_id}.json'):,} rows acknowledged"
        )


def replay_acked(checkpoint: Path) -> int:
    """Rows the replay has acknowledged, from its checkpoint file (0 before the first)."""
    try:
        return int(json.loads(checkpoint.read_text()).get("acked", 0))
    except (OSError, ValueError, AttributeError):
        return 0


def _rerun_when_data(data: Data) -> None:
    if not data.runs().empty:
        st.rerun(scope="app")


def main() -> None:
    st.set_page_config(page_title="Query workload: expert", layout="wide")
    st.title("Query workload — expert drill-down")
    be = backend("expert")
    if be.error:
        st.caption(be.error)
    runs = be.data.runs()
    tab_explore, tab_sql, tab_replay = st.tabs(["Explore", "SQL", "Replay"])
    with tab_replay:
        replay_tab(be)
    with tab_sql:
        sql_tab(be)
    if runs.empty:
        with tab_explore:
            st.info(
                "No data yet. Start a replay in the Replay tab or with `python -m producers.replay`."
            )
            if be.materializer is not None:
                # live: look again every refresh and show the runs once the first is in
                # (before, the page stayed empty until reloaded)
                st.fragment(run_every=be.settings.refresh_seconds)(_rerun_when_data)(be.data)
        return
    run_ids = [str(r) for r in runs["run_id"]]
    params = {k: st.query_params[k] for k in st.query_params}
    f = Filters.from_params(params, run_ids[0])
    with tab_explore:
        t0 = time.perf_counter()
        f = sidebar_filters(be.data, run_ids, f)
        f = search_box(be.data, f)
        shown = f
        panel = panel_from_params(params)
        live = be.materializer is not None
        f, panel = explore(be.data, f, panel, be.settings.refresh_seconds if live else None)
        data, view = be.data, f
        st.download_button("Export this view's queries (CSV, up to 100,000 rows)",
                           lambda: data.export_rows(view).to_csv(index=False), file_name=f"queries-{f.run_id}.csv",
                           mime="text/csv", key="export")  # fmt: skip
        st.caption(f"rendered in {(time.perf_counter() - t0) * 1000:,.0f} ms")
    new = f.to_params()
    if panel != DEFAULT_PANEL:
        new["panel"] = panel
    if new != params:
        st.query_params.from_dict(new)
    if f != shown:  # a drill-down or breadcrumb click: render the new level
        for key in list(st.session_state.keys()):  # widgets follow the URL, picks start empty
            if str(key) in ("cluster", "user", "database", "run", "search") or str(key).startswith(
                ("drill-", "slowest-")
            ):
                del st.session_state[key]
        st.rerun()


main()
