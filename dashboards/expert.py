"""Expert dashboard: drill down from the fleet to a single query.

``streamlit run dashboards/expert.py``. Every filter and drill-down selection lives in the
URL (``st.query_params``), so a link reproduces the view exactly; a link naming a run,
cluster, user or fingerprint the data does not hold says so and is kept as it is.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import streamlit as st

from dashboards import expert_charts, health, sqlbox, units
from dashboards.data import Backend, backend
from dashboards.detail import detail_card, drill_table, topk_panel
from dashboards.expert_format import NO_MATCH, controls_from_params, controls_to_params
from dashboards.expert_sidebar import breadcrumbs, link_warnings, sidebar_filters
from dashboards.queries import Data, Filters
from dashboards.replay_tab import replay_tab
from dashboards.search import search_box

NEXT_LEVEL = {
    "fleet": ["cluster"],
    "cluster": ["user", "database", "table"],
    "user": ["fingerprint"],
    "database": ["fingerprint"],
    "table": ["fingerprint"],
    "fingerprint": ["query"],
}
HEADINGS = {
    "cluster": "Clusters",
    "user": "Users",
    "database": "Databases",
    "table": "Tables",
    "fingerprint": "Plans (fingerprints)",
    "query": "Slowest queries",
}


def anomalies_panel(data: Data, f: Filters) -> None:
    # health metrics are per cluster and window: of the filters, the run and cluster apply
    health.render_anomalies(data, f.run_id, cluster=f.cluster)
    st.caption("Per cluster and window: the run and cluster filters apply to this table.")


PANELS: dict[str, tuple[str, Callable[[Data, Filters], None]]] = {
    "latency": ("Latency", expert_charts.latency_panel),
    "compile": ("Compile vs complexity", expert_charts.compile_panel),
    "time": ("Over time", expert_charts.over_time_panel),
    "plans": ("Plan repetition", expert_charts.plans_panel),
    "tables": ("Hot tables & freshness", expert_charts.tables_panel),
    "topk": ("Top K", topk_panel),
    "anomalies": ("Anomalies", anomalies_panel),
}
DEFAULT_PANEL = "latency"


def panel_from_params(params: dict[str, str]) -> str:
    p = params.get("panel", DEFAULT_PANEL)
    return p if p in PANELS else DEFAULT_PANEL


def charts(data: Data, f: Filters, panel: str) -> str:
    """One panel at a time (each is a scan of the filtered queries): returns the panel
    picked, which the URL mirrors."""
    options = list(PANELS)
    panel = st.radio(
        "Chart",
        options,
        index=options.index(panel),
        format_func=lambda p: PANELS[p][0],
        horizontal=True,
        key=f"panel-{panel}",
        label_visibility="collapsed",
    )
    PANELS[panel][1](data, f)
    return panel


def kpi_strip(data: Data, f: Filters) -> None:
    totals = data.totals(f)
    cols = st.columns(5)
    cols[0].metric("Queries", units.count(totals["queries"]))
    cols[1].metric("p95 latency", units.duration(totals["p95_total_ms"]))
    cols[2].metric("Abort rate", units.share(totals["abort_rate"]))
    cols[3].metric("Cache-hit rate", units.share(totals["cache_hit_rate"]))
    gb_scanned = units.number(totals["gb_scanned"])  # n/a when none measured
    cols[4].metric(
        "Data scanned", units.data_size(None if gb_scanned is None else gb_scanned * 1024)
    )


def _level_tables(data: Data, f: Filters) -> Filters | None:
    """The next level's entities to drill into; the filters a pick opens, or None."""
    for nxt in NEXT_LEVEL[f.level]:
        st.subheader(HEADINGS[nxt])
        if nxt == "table":
            df = data.tables(f)[["table_id", "reads", "writes", "freshness_p50_ms"]]
        elif nxt == "query":
            df = data.slowest(f)
        else:
            df = data.breakdown(f, nxt)
        picked = drill_table(df, nxt, key=f"drill-{f.level}-{nxt}")
        if picked is not None:
            return f.drill(**{nxt: picked if nxt in ("cluster", "fingerprint") else int(picked)})
    return None


def explore(
    data: Data, f: Filters, panel: str = DEFAULT_PANEL, refresh_s: float | None = None
) -> tuple[Filters, str]:
    """The current level: KPIs (live: refreshed every ``refresh_s`` while a replay runs),
    the next level's entities to drill into, one chart panel, the slowest queries."""
    f = breadcrumbs(f)
    st.fragment(run_every=refresh_s)(kpi_strip)(data, f)
    if not data.totals(f)["queries"]:
        st.info(NO_MATCH)
        return f, panel
    if f.level == "query":
        detail_card(data, f)
        return f, panel
    picked = _level_tables(data, f)
    if picked is not None:
        return picked, panel
    panel = charts(data, f, panel)
    if f.level != "fingerprint":
        st.subheader("Slowest queries")
        pick = drill_table(data.slowest(f, 20), "query", key=f"slowest-{f.level}")
        if pick is not None:
            return f.drill(query=int(pick)), panel
    return f, panel


def _rerun_when_data(data: Data) -> None:
    if not data.runs().empty:
        st.rerun(scope="app")


def unknown_run(run_id: str, run_ids: list[str]) -> Filters | None:
    """A link to a run this file does not hold: say so, offer the runs it holds."""
    st.warning(f"Run “{run_id}” is not in this database. Pick one of its runs:")
    pick = st.selectbox("Open run", ["—", *run_ids], key="unknown-run")
    return None if pick == "—" else Filters(pick)


def _reset_widgets() -> None:
    for key in list(st.session_state.keys()):  # widgets follow the URL, picks start empty
        if str(key) in ("cluster", "user", "database", "run", "search", "search-pick") or str(
            key
        ).startswith(("drill-", "slowest-")):
            del st.session_state[key]


def show_explore(be: Backend, run_ids: list[str], params: dict[str, str]) -> None:
    parsed = Filters.from_params(params, run_ids[0])
    if parsed.run_id not in run_ids:
        f: Filters | None = unknown_run(parsed.run_id, run_ids)
        if f is not None:
            st.query_params.from_dict(f.to_params())
            st.rerun()
        return
    t0 = time.perf_counter()
    f = sidebar_filters(be.data, run_ids, parsed)
    for message in link_warnings(be.data, f, params):
        st.warning(message)
    if params.get("panel", DEFAULT_PANEL) not in PANELS:
        st.warning(
            f"The link's panel “{params['panel']}” is unknown: showing {PANELS[DEFAULT_PANEL][0]}."
        )
    f = search_box(be.data, f)
    shown = f
    panel = panel_from_params(params)
    # the panels' controls start from the link (widgets read their value by key)
    link_controls = controls_from_params(params)
    for key, value in link_controls.items():
        if key not in st.session_state:
            st.session_state[key] = value
    live = be.materializer is not None
    f, panel = explore(be.data, f, panel, be.settings.refresh_seconds if live else None)
    data, view = be.data, f
    st.download_button(
        "Export this view's queries (CSV, up to 100,000 rows)",
        lambda: data.export_rows(view).to_csv(index=False),
        file_name=f"queries-{f.run_id}.csv",
        mime="text/csv",
        key="export",
    )
    st.caption(f"rendered in {(time.perf_counter() - t0) * 1000:,.0f} ms")
    # the URL changes only with the view: a link's unknown or invalid values stay in it
    controls = controls_to_params({k: st.session_state.get(k, v) for k, v in link_controls.items()})
    moved = f != parsed or panel != panel_from_params(params)
    if moved or controls != controls_to_params(link_controls) or "run_id" not in params:
        new = f.to_params()
        if panel != DEFAULT_PANEL:
            new["panel"] = panel
        st.query_params.from_dict({**new, **controls})
    if f != shown:  # a drill-down or breadcrumb click: render the new level
        _reset_widgets()
        st.rerun()


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
        sqlbox.sql_tab(be.warehouse)
    with tab_explore:
        if runs.empty:
            st.info(
                "No data yet. Start a replay in the Replay tab or with `python -m producers.replay`."
            )
            if be.materializer is not None:
                # live: look again every refresh and show the runs once the first is in
                st.fragment(run_every=be.settings.refresh_seconds)(_rerun_when_data)(be.data)
            return
        show_explore(
            be, [str(r) for r in runs["run_id"]], {k: st.query_params[k] for k in st.query_params}
        )


main()
