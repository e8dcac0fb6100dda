"""The expert page's chart panels: one Altair chart per figure, each titled (the AppTests
find a chart's data by its title), axes in ms on log scales where latencies span decades,
tooltips in human units, and "no queries match" instead of an empty chart."""

from __future__ import annotations

from typing import Any, Literal

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import units
from dashboards.expert_format import (
    NO_MATCH,
    duration_unit,
    fit_caption,
    fit_curve,
    humanize,
    split_shares,
    time_bucket,
)
from dashboards.expert_queries import COMPLEXITY
from dashboards.queries import Data, Filters

#: the split chart's parts, in stacking order, with their column
PARTS = {
    "queue": "queue_ms",
    "compile": "compile_ms",
    "execution after compile": "execution_after_compile_ms",
}

HIST_TITLE = "Latency distribution (total latency, log-spaced bins)"
SPLIT_TITLE = "Where the time goes, per latency bin: queue / compile / execution after compile"
COMPILE_TITLE = "Compile time against plan complexity"
SPILL_TITLE = "Data spilled over time"
CACHE_TITLE = "Cache-hit rate over time"
COMPILE_EXEC_TITLE = "Hourly compile vs execution after compile (mean per query)"
CACHED_TITLE = "Execution time per query type: cached vs not cached"
PLANS_TITLE = "Fingerprint repetition (top plans)"
TABLES_TITLE = "Hot tables and freshness (time since the last write when read)"


def _show(chart: alt.Chart | alt.LayerChart | alt.FacetChart) -> None:
    st.altair_chart(chart, width="stretch")


#: axis labels for a log axis of milliseconds, in the unit that reads (1 ms, 10 s, 2 h)
MS_LABELS = (
    "datum.value >= 86400000 ? format(datum.value / 86400000, '.3~g') + ' d'"
    " : datum.value >= 3600000 ? format(datum.value / 3600000, '.3~g') + ' h'"
    " : datum.value >= 60000 ? format(datum.value / 60000, '.3~g') + ' min'"
    " : datum.value >= 1000 ? format(datum.value / 1000, '.3~g') + ' s'"
    " : format(datum.value, '.3~g') + ' ms'"
)


#: round durations for a log axis's ticks, in ms (1 ms, 10 ms, ... 1 min, 10 min, 1 h ...)
MS_TICKS = (1, 10, 100, 1e3, 1e4, 6e4, 6e5, 3.6e6, 3.6e7, 8.64e7, 8.64e8)


def _ms_ticks(lo: float, hi: float) -> list[float]:
    return [t for t in MS_TICKS if lo <= t <= hi] or [lo, hi]


def ms_axis(field: str, title: str, lo: float, hi: float) -> alt.X:
    return alt.X(
        f"{field}:Q",
        title=title,
        scale=alt.Scale(type="log"),
        axis=alt.Axis(labelExpr=MS_LABELS, values=_ms_ticks(lo, hi)),
    )


def ms_y(
    field: str, title: str, lo: float, hi: float, scale: Literal["log", "symlog"] = "log"
) -> alt.Y:
    ticks = ([0.0] if scale == "symlog" else []) + _ms_ticks(max(lo, 1.0), hi)
    return alt.Y(
        f"{field}:Q",
        title=title,
        scale=alt.Scale(type=scale),
        axis=alt.Axis(labelExpr=MS_LABELS, values=ticks),
    )


def latency_charts(lat: pd.DataFrame) -> tuple[alt.Chart, alt.Chart]:
    labels = [
        f"{units.duration(a)} – {units.duration(b)}"
        for a, b in zip(lat["bin_start_ms"], lat["bin_end_ms"], strict=True)
    ]
    x = ms_axis(
        "bin_start_ms",
        "total latency (ms, log scale)",
        lat["bin_start_ms"].min(),
        lat["bin_end_ms"].max(),
    )
    hist = (
        alt.Chart(lat.assign(bin=labels), title=HIST_TITLE)
        .mark_rect(stroke="white", strokeWidth=1)
        .encode(
            x=x,
            x2="bin_end_ms:Q",
            y=alt.Y("queries:Q", title="queries"),
            y2=alt.datum(0),
            tooltip=[alt.Tooltip("bin:N", title="latency"), alt.Tooltip("queries:Q", format=",")],
        )
        .properties(height=220)
    )
    long = split_shares(lat, PARTS)
    long["bin"] = [labels[i // len(PARTS)] for i in range(len(long))]
    split = (
        alt.Chart(long, title=SPLIT_TITLE)
        .mark_rect(stroke="white", strokeWidth=1)
        .encode(
            x=x,
            x2="bin_end_ms:Q",
            y=alt.Y(
                "y0:Q",
                title="share of the mean time",
                axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1]),
            ),
            y2="y1:Q",
            color=alt.Color("part:N", title="part", sort=list(PARTS)),
            tooltip=[
                alt.Tooltip("bin:N", title="latency"),
                "part:N",
                alt.Tooltip("mean:N", title="mean per query"),
                alt.Tooltip("share:Q", title="share", format=".0%"),
            ],
        )
        .properties(height=170)
    )
    return hist, split


def latency_panel(data: Data, f: Filters) -> None:
    lat = data.latency_distribution(f)
    if lat.empty:
        st.info(NO_MATCH)
        return
    hist, split = latency_charts(lat)
    _show(hist)
    _show(split)


def compile_chart(
    points: pd.DataFrame, fit: dict[str, Any], measure: str
) -> alt.LayerChart | alt.FacetChart:
    points = points.assign(
        geo=[units.duration(v) for v in points["geomean_compile_ms"]],
        mean=[units.duration(v) for v in points["mean_compile_ms"]],
        p95=[units.duration(v) for v in points["p95_compile_ms"]],
    )
    curve = fit_curve(
        fit.get("slope"),
        fit.get("intercept"),
        points["complexity"].min(),
        points["complexity"].max(),
    )
    x = alt.X("complexity:Q", title=f"{measure} (log scale)", scale=alt.Scale(type="log"))
    y = alt.Y(
        "geomean_compile_ms:Q",
        title="compile time, geometric mean (ms, log scale)",
        scale=alt.Scale(type="log"),
    )
    dots = (
        alt.Chart(points)
        .mark_circle(opacity=0.7)
        .encode(
            x=x,
            y=y,
            size=alt.Size("queries:Q", title="queries"),
            tooltip=[
                "complexity:Q",
                alt.Tooltip("queries:Q", format=","),
                alt.Tooltip("geo:N", title="geometric mean compile"),
                alt.Tooltip("mean:N", title="mean compile"),
                alt.Tooltip("p95:N", title="p95 compile"),
            ],
        )
    )
    line = (
        alt.Chart(curve)
        .mark_line(color="firebrick")
        .encode(x="complexity:Q", y=alt.Y("fit_compile_ms:Q", scale=alt.Scale(type="log")))
    )
    return alt.layer(dots, line, title=COMPILE_TITLE, height=380)


def compile_panel(data: Data, f: Filters) -> None:
    measure = st.selectbox("Complexity", list(COMPLEXITY), key="compile-measure")
    points = data.compile_vs_complexity(f, measure)
    if points.empty:
        st.info(f"None of these queries compiled with {measure} ≥ 1 (both axes are logarithmic).")
        return
    fit = data.compile_fit(f, measure)
    _show(compile_chart(points, fit, measure))
    st.caption(fit_caption(fit))


def _time_chart(df: pd.DataFrame, title: str, y: alt.Y, **enc: Any) -> alt.Chart:
    return (
        alt.Chart(df, title=title)
        .mark_line(point=len(df) < 60)
        .encode(x=alt.X("bucket:T", title="event time"), y=y, **enc)
        .properties(height=240)
    )


def spill_cache_charts(over: pd.DataFrame, bucket: str) -> tuple[alt.Chart, alt.Chart]:
    spill = over.assign(
        gb_spilled=over["mbytes_spilled"] / 1024,
        spilled=[units.data_size(v) for v in over["mbytes_spilled"]],
    )
    return (
        _time_chart(
            spill,
            SPILL_TITLE,
            alt.Y("gb_spilled:Q", title=f"spilled per {bucket} (GB)"),
            tooltip=["bucket:T", alt.Tooltip("spilled:N", title="spilled")],
        ),
        _time_chart(
            over,
            CACHE_TITLE,
            alt.Y("cache_hit_rate:Q", title="cache-hit rate", axis=alt.Axis(format="%")),
            tooltip=["bucket:T", alt.Tooltip("cache_hit_rate:Q", format=".1%")],
        ),
    )


def compile_exec_chart(hourly: pd.DataFrame) -> alt.Chart | None:
    """Mean compile and execution-after-compile per hour (log axis: zero means drop)."""
    parts = {"compile_ms": "compile", "execution_after_compile_ms": "execution after compile"}
    long = hourly.melt(
        id_vars=["bucket"], value_vars=list(parts), var_name="col", value_name="mean_ms"
    ).dropna(subset=["mean_ms"])
    long = long[long["mean_ms"] > 0]
    if long.empty:
        return None
    long = long.assign(
        part=long["col"].map(parts), mean=[units.duration(v) for v in long["mean_ms"]]
    ).drop(columns="col")
    return _time_chart(
        long,
        COMPILE_EXEC_TITLE,
        ms_y("mean_ms", "mean per query (log scale)", long["mean_ms"].min(), long["mean_ms"].max()),
        color=alt.Color("part:N", title="part"),
        tooltip=["bucket:T", "part:N", alt.Tooltip("mean:N", title="mean")],
    )


def cached_chart(cached: pd.DataFrame, bucket: str) -> alt.FacetChart:
    """One small chart per query type: mean execution of cached and not cached queries
    (symlog: a cached query's execution is often 0 ms)."""
    cached = cached.assign(mean=[units.duration(v) for v in cached["mean_execution_ms"]])
    hi = float(cached["mean_execution_ms"].max())
    return (
        alt.Chart(cached)
        .mark_line(point=True)
        .encode(
            x=alt.X("bucket:T", title=None),
            y=ms_y("mean_execution_ms", f"mean execution per {bucket}", 1.0, hi, "symlog"),
            color=alt.Color("cache:N", title="result cache"),
            tooltip=[
                "bucket:T",
                "query_type:N",
                "cache:N",
                alt.Tooltip("queries:Q", format=","),
                alt.Tooltip("mean:N", title="mean execution"),
            ],
        )
        .properties(height=110, width=180)
        .facet(facet=alt.Facet("query_type:N", title=None), columns=5, title=CACHED_TITLE)
    )


def over_time_panel(data: Data, f: Filters) -> None:
    first, last = data.time_range(f.run_id)
    bucket = time_bucket(f.start or first, f.end or last)
    over = data.over_time(f, bucket)
    if over.empty:
        st.info(NO_MATCH)
        return
    spill, cache = spill_cache_charts(over, bucket)
    c1, c2 = st.columns(2)
    with c1:
        if over["mbytes_spilled"].notna().any():
            _show(spill)
        else:  # e.g. only result-cache hits: nothing measured, not zero
            st.info("No spill measured for these queries.")
    with c2:
        _show(cache)
    hourly = compile_exec_chart(over if bucket == "hour" else data.over_time(f, "hour"))
    if hourly is not None:
        _show(hourly)
    cached = data.cached_vs_uncached(f, bucket)
    if hourly is None or cached.empty:
        st.info("No compile or execution time measured for these queries.")
    if not cached.empty:
        _show(cached_chart(cached, bucket))


def plans_panel(data: Data, f: Filters) -> None:
    fps = data.fingerprint_repetition(f)
    if fps.empty:
        st.info("These queries have no plan fingerprint.")
        return
    fps = fps.assign(
        fp=fps["fingerprint"].str[:10] + "…", mean=[units.duration(v) for v in fps["mean_exec_ms"]]
    )
    _show(
        alt.Chart(fps, title=PLANS_TITLE)
        .mark_bar()
        .encode(
            x=alt.X("executions:Q", title="executions"),
            y=alt.Y("fp:N", sort="-x", title="fingerprint"),
            tooltip=[
                "fingerprint:N",
                alt.Tooltip("executions:Q", format=","),
                alt.Tooltip("mean:N", title="mean execution"),
            ],
        )
        .properties(height=380)
    )


def tables_chart(tables: pd.DataFrame) -> alt.LayerChart | alt.FacetChart:
    div, unit = duration_unit(tables["freshness_p50_ms"])
    shown = tables.assign(
        accesses=tables["reads"] + tables["writes"],
        freshness=tables["freshness_p50_ms"] / div,
        fresh=[units.duration(v) for v in tables["freshness_p50_ms"]],
    )
    base = (
        alt.Chart(shown)
        .mark_bar()
        .encode(
            x=alt.X("accesses:Q", title="accesses (reads + writes)"),
            y=alt.Y(
                "table_name:N",
                sort=list(
                    shown.sort_values("accesses", ascending=False, kind="stable")["table_name"]
                ),
                title="table",
            ),
            tooltip=[
                "table_name:N",
                alt.Tooltip("reads:Q", format=","),
                alt.Tooltip("writes:Q", format=","),
                alt.Tooltip("fresh:N", title="median freshness"),
            ],
        )
    )
    colour = alt.Color(
        "freshness:Q", title=f"median freshness ({unit})", scale=alt.Scale(scheme="orangered")
    )
    # a table not read after any write has no freshness: a grey bar, not a missing one
    fresh = base.transform_filter("isValid(datum.freshness)").encode(color=colour)
    unknown = base.transform_filter("!isValid(datum.freshness)").mark_bar(color="lightgray")
    return alt.layer(fresh, unknown, title=TABLES_TITLE, height=380)


def tables_panel(data: Data, f: Filters) -> None:
    tables = data.tables(f)
    if tables.empty:
        st.info("These queries accessed no tables.")
        return
    _show(tables_chart(tables))
    st.caption("Grey: no read after a write in these queries, so no freshness.")
    st.dataframe(
        humanize(tables[["table_name", "reads", "writes", "freshness_p50_ms"]]),
        hide_index=True,
        width="stretch",
        key="tables-table",
    )
