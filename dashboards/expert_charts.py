"""The expert page's chart panels: one Altair chart per figure, each titled (the AppTests
find a chart's data by its title), axes in ms on log scales where latencies span decades,
tooltips in human units, and "no queries match" instead of an empty chart."""

from __future__ import annotations

from typing import Any

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


def latency_charts(lat: pd.DataFrame) -> tuple[alt.Chart, alt.Chart]:
    lat = lat.assign(
        bin=[
            f"{units.duration(a)} – {units.duration(b)}"
            for a, b in zip(lat["bin_start_ms"], lat["bin_end_ms"], strict=True)
        ],
    )
    x = alt.X("bin_start_ms:Q", title="total latency (ms, log scale)", scale=alt.Scale(type="log"))
    hist = (
        alt.Chart(lat, title=HIST_TITLE)
        .mark_bar()
        .encode(
            x=x,
            x2="bin_end_ms:Q",
            y=alt.Y("queries:Q", title="queries"),
            tooltip=[alt.Tooltip("bin:N", title="latency"), alt.Tooltip("queries:Q", format=",")],
        )
        .properties(height=220)
    )
    long = lat.melt(
        id_vars=["bin_start_ms", "bin_end_ms", "bin"],
        value_vars=list(PARTS.values()),
        var_name="col",
        value_name="mean_ms",
    )
    long["part"] = long["col"].map({v: k for k, v in PARTS.items()})
    long["order"] = long["col"].map({v: i for i, v in enumerate(PARTS.values())})
    long["mean"] = [units.duration(v) for v in long["mean_ms"]]
    long["mean_ms"] = long["mean_ms"].fillna(0.0)
    split = (
        alt.Chart(long.drop(columns="col"), title=SPLIT_TITLE)
        .mark_bar()
        .encode(
            x=x,
            x2="bin_end_ms:Q",
            y=alt.Y(
                "mean_ms:Q", stack="normalize", title="share of the time", axis=alt.Axis(format="%")
            ),
            color=alt.Color("part:N", title="part", sort=list(PARTS)),
            order=alt.Order("order:Q"),
            tooltip=[
                alt.Tooltip("bin:N", title="latency"),
                "part:N",
                alt.Tooltip("mean:N", title="mean per query"),
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
        "mean_compile_ms:Q", title="mean compile time (ms, log scale)", scale=alt.Scale(type="log")
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
    measure = st.selectbox("Complexity", list(COMPLEXITY), index=3, key="compile-measure")
    points = data.compile_vs_complexity(f, measure)
    if points.empty:
        st.info(f"{NO_MATCH} (that compiled, with at least one {measure.split()[0][:-1]})")
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
        alt.Y("mean_ms:Q", title="mean per query (ms, log scale)", scale=alt.Scale(type="log")),
        color=alt.Color("part:N", title="part"),
        tooltip=["bucket:T", "part:N", alt.Tooltip("mean:N", title="mean")],
    )


def cached_chart(cached: pd.DataFrame, bucket: str) -> alt.Chart:
    cached = cached.assign(mean=[units.duration(v) for v in cached["mean_execution_ms"]])
    return _time_chart(
        cached,
        CACHED_TITLE,
        alt.Y(
            "mean_execution_ms:Q",
            title=f"mean execution per {bucket} (ms, symlog)",
            scale=alt.Scale(type="symlog"),
        ),
        color=alt.Color("query_type:N", title="query type"),
        strokeDash=alt.StrokeDash("cache:N", title="result cache"),
        tooltip=[
            "bucket:T",
            "query_type:N",
            "cache:N",
            alt.Tooltip("queries:Q", format=","),
            alt.Tooltip("mean:N", title="mean execution"),
        ],
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
        _show(spill)
    with c2:
        _show(cache)
    hourly = compile_exec_chart(over if bucket == "hour" else data.over_time(f, "hour"))
    if hourly is not None:
        _show(hourly)
    cached = data.cached_vs_uncached(f, bucket)
    if not cached.empty:
        _show(cached_chart(cached, bucket))


def plans_panel(data: Data, f: Filters) -> None:
    fps = data.fingerprint_repetition(f)
    if fps.empty:
        st.info(NO_MATCH)
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


def tables_panel(data: Data, f: Filters) -> None:
    tables = data.tables(f)
    if tables.empty:
        st.info(f"{NO_MATCH} (no table accesses)")
        return
    div, unit = duration_unit(tables["freshness_p50_ms"])
    shown = tables.assign(
        accesses=tables["reads"] + tables["writes"],
        freshness=tables["freshness_p50_ms"] / div,
        fresh=[units.duration(v) for v in tables["freshness_p50_ms"]],
    )
    _show(
        alt.Chart(shown, title=TABLES_TITLE)
        .mark_bar()
        .encode(
            x=alt.X("accesses:Q", title="accesses (reads + writes)"),
            y=alt.Y("table_name:N", sort="-x", title="table"),
            color=alt.Color(
                "freshness:Q",
                title=f"median freshness ({unit})",
                scale=alt.Scale(scheme="orangered"),
            ),
            tooltip=[
                "table_name:N",
                alt.Tooltip("reads:Q", format=","),
                alt.Tooltip("writes:Q", format=","),
                alt.Tooltip("fresh:N", title="median freshness"),
            ],
        )
        .properties(height=380)
    )
    st.dataframe(
        humanize(tables[["table_name", "reads", "writes", "freshness_p50_ms"]]),
        hide_index=True,
        width="stretch",
        key="tables-table",
    )
