"""The aggregate page's trend charts (Altair specs from trend frames; no Streamlit here).

Each chart draws the raw buckets faintly and a trailing mean over a few buckets boldly, so
a spike does not hide the trend; tooltips and axes are in human units.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from dashboards import units
from dashboards.overview import GRAINS

HEIGHT = 170

#: Vega expression: an axis value in ms as 850 ms / 4.2 s / 3.5 min / 2.1 h / 1.3 d
_DURATION_LABEL = (
    "datum.value >= 86400000 ? format(datum.value / 86400000, '.2~f') + ' d'"
    " : datum.value >= 3600000 ? format(datum.value / 3600000, '.2~f') + ' h'"
    " : datum.value >= 60000 ? format(datum.value / 60000, '.2~f') + ' min'"
    " : datum.value >= 1000 ? format(datum.value / 1000, '.2~f') + ' s'"
    " : format(datum.value, '.0f') + ' ms'"
)

#: log-axis ticks at round durations (1 ms .. 10 d); Vega draws those inside the domain
_DURATION_TICKS = [1, 10, 100, 1e3, 1e4, 6e4, 6e5, 3.6e6, 3.6e7, 8.64e7, 8.64e8]


_FREQ = {"5min": "5min", "hour": "h", "day": "D", "week": "7D"}
#: time-axis labels per grain
_X_FORMAT = {"5min": "%H:%M", "hour": "%H:%M", "day": "%b %d", "week": "%b %d"}


def smoothed(df: pd.DataFrame, column: str, points: int) -> pd.Series:
    """Trailing mean over ``points`` buckets (the first buckets average what there is)."""
    return df[column].rolling(points, min_periods=1).mean()


def prepare(df: pd.DataFrame, grain: str) -> pd.DataFrame:
    """Trend rows with smoothed series and human-unit tooltip columns."""
    points = GRAINS[grain][2]
    # a bucket without queries is a 0 in the counts and a gap in the rates, not skipped
    full = pd.date_range(df["t"].min(), df["t"].max(), freq=_FREQ[grain], name="t")
    out = df.set_index("t").reindex(full).reset_index()
    out["queries"] = out["queries"].fillna(0)
    for col in ("queries", "p95_ms", "cache_hit_rate"):
        out[f"{col}_smooth"] = smoothed(out, col, points)
    out["when"] = out["t"].dt.strftime("%Y-%m-%d" if grain in ("day", "week") else "%m-%d %H:%M")
    out["Queries"] = out["queries"].map(units.count)
    out["p95 latency"] = out["p95_ms"].map(units.duration)
    out["Cache-hit rate"] = out["cache_hit_rate"].map(units.share)
    out["Abort rate"] = out["abort_rate"].map(units.share)
    out["Data scanned"] = out["mb_scanned"].map(units.data_size)
    return out


def _tooltip() -> list[alt.Tooltip]:
    return [
        alt.Tooltip("when:N", title="from"),
        *(alt.Tooltip(f"{c}:N") for c in ("Queries", "p95 latency", "Cache-hit rate")),
        alt.Tooltip("Abort rate:N"),
        alt.Tooltip("Data scanned:N"),
    ]


def _chart(
    df: pd.DataFrame,
    raw: str,
    axis: alt.Axis,
    title: str,
    color: str,
    x_format: str,
    log: bool = False,
    bars: bool = False,
) -> alt.LayerChart | alt.FacetChart:
    x = alt.X("t:T", title=None, axis=alt.Axis(format=x_format, labelOverlap=True))
    base = alt.Chart(df).encode(x=x, tooltip=_tooltip())
    faint = (
        base.mark_bar(opacity=0.3, color=color)
        if bars
        else base.mark_point(opacity=0.35, color=color, size=14, filled=True)
    )
    line = base.mark_line(color=color, strokeWidth=2.5)
    scale = alt.Scale(type="log") if log else alt.Scale(zero=True)

    def y(col: str) -> alt.Y:
        return alt.Y(f"{col}:Q", title=None, axis=axis, scale=scale)

    return alt.layer(faint.encode(y=y(raw)), line.encode(y=y(f"{raw}_smooth"))).properties(
        height=HEIGHT, title=title
    )


def charts(df: pd.DataFrame, grain: str) -> list[alt.LayerChart | alt.FacetChart]:
    """Queries, p95 latency (log axis) and cache-hit rate per bucket."""
    per, xf = GRAINS[grain][1], _X_FORMAT[grain]
    d = prepare(df, grain)
    # log scales cannot show 0; a bucket whose p95 is 0 ms is drawn at 1 ms
    d["p95_ms"] = d["p95_ms"].clip(lower=1)
    d["p95_ms_smooth"] = d["p95_ms_smooth"].clip(lower=1)
    return [
        _chart(d, "queries", alt.Axis(format="~s"), f"Queries {per}", "#4c78a8", xf, bars=True),
        _chart(
            d,
            "p95_ms",
            alt.Axis(labelExpr=_DURATION_LABEL, values=_DURATION_TICKS),
            f"p95 latency {per} (log scale)",
            "#e45756",
            xf,
            log=True,
        ),
        _chart(d, "cache_hit_rate", alt.Axis(format="%"), f"Cache-hit rate {per}", "#54a24b", xf),
    ]


def mix_chart(mix: pd.DataFrame) -> alt.LayerChart | alt.FacetChart:
    """Query types as horizontal bars labelled with their share."""
    # room right of the longest bar for its label
    d = mix.assign(label=mix["share"].map(units.share), count=mix["queries"].map(units.count))
    base = alt.Chart(d).encode(
        y=alt.Y("query_type:N", sort="-x", title=None, axis=alt.Axis(labelOverlap=False)),
        x=alt.X("share:Q", axis=None, scale=alt.Scale(domain=[0, float(mix["share"].max()) * 1.4])),
        tooltip=[
            alt.Tooltip("query_type:N", title="type"),
            alt.Tooltip("count:N", title="queries"),
            alt.Tooltip("label:N", title="share"),
        ],
    )
    bars = base.mark_bar(color="#72b7b2")
    text = base.mark_text(align="left", dx=3).encode(text="label:N")
    # as tall as the trend charts with their time axis, which this chart has not
    return alt.layer(bars, text).properties(height=HEIGHT + 25, title="Query-type mix")
