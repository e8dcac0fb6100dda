"""The expert page's pure presentation logic (no Streamlit): human column names and units
for its tables, the query detail card's fields, the compile fit's curve, time buckets."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pandas as pd

from dashboards import units

NO_MATCH = "No queries match these filters"


def _text(x: Any) -> str:
    return units.UNKNOWN if x is None or (isinstance(x, float) and math.isnan(x)) else str(x)


def _when(x: Any) -> str:
    if x is None or x is pd.NaT or (isinstance(x, float) and math.isnan(x)):
        return units.UNKNOWN
    return pd.Timestamp(x).strftime("%Y-%m-%d %H:%M:%S")


def _yes_no(x: Any) -> str:
    v = units.number(x)
    return units.UNKNOWN if v is None else ("yes" if v else "no")


def _id(x: Any) -> str:
    v = units.number(x)
    return _text(x) if v is None or not float(v).is_integer() else str(int(v))


#: raw column -> (human header, formatter); every table on the expert page goes through it
COLUMNS: dict[str, tuple[str, Callable[[Any], str]]] = {
    "cluster": ("Cluster", _text),
    "user": ("User", _id),
    "user_id": ("User", _id),
    "database": ("Database", _id),
    "database_id": ("Database", _id),
    "table_id": ("Table", _id),
    "table_name": ("Table", _text),
    "fingerprint": ("Fingerprint", _text),
    "feature_fingerprint": ("Fingerprint", _text),
    "query_id": ("Query", _id),
    "query_type": ("Type", _text),
    "arrival_timestamp": ("Arrival", _when),
    "queries": ("Queries", units.count),
    "executions": ("Executions", units.count),
    "reads": ("Reads", units.count),
    "writes": ("Writes", units.count),
    "abort_rate": ("Aborted", units.share),
    "cache_hit_rate": ("Cache hits", units.share),
    "p95_total_ms": ("p95 latency", units.duration),
    "execution_ms": ("Execution time", units.duration),
    "mbytes_scanned": ("Scanned", units.data_size),
    "mbytes_spilled": ("Spilled", units.data_size),
    "total_duration_ms": ("Total", units.duration),
    "queue_duration_ms": ("Queue", units.duration),
    "compile_duration_ms": ("Compile", units.duration),
    "execution_duration_ms": ("Execution", units.duration),
    "mean_exec_ms": ("Mean execution", units.duration),
    "freshness_p50_ms": ("Freshness (median, since last write)", units.duration),
    "was_aborted": ("Aborted", _yes_no),
    "was_cached": ("Cached", _yes_no),
}


def humanize(
    df: pd.DataFrame, value_kind: str | None = None, value_label: str = ""
) -> pd.DataFrame:
    """A display copy of ``df``: human headers, every value a formatted string (no NaN);
    ``value`` (a Top-K figure) formatted by ``value_kind`` ("count", "duration", "size")."""
    out = pd.DataFrame(index=df.index)
    for col in df.columns:
        if col == "value" and value_kind is not None:
            fmt = {"count": units.count, "duration": units.duration, "size": units.data_size}
            out[value_label or "Value"] = [fmt[value_kind](v) for v in df[col]]
            continue
        label, fmt_one = COLUMNS[col]
        if label in out.columns:  # e.g. was_aborted next to abort_rate: keep the first
            label = f"{label} ({col})"
        out[label] = [fmt_one(v) for v in df[col]]
    return out.reset_index(drop=True)


_Field = tuple[str, str, Callable[[Any], str]]

#: the query detail card: sections of (label, column, formatter), in reading order
CARD: tuple[tuple[str, tuple[_Field, ...]], ...] = (
    (
        "Where and who",
        (
            ("Cluster", "cluster", _text),
            ("Cluster kind", "cluster_kind", _text),
            ("Cluster size (nodes)", "cluster_size", _id),
            ("User", "user_id", _id),
            ("Database", "database_id", _id),
            ("Query type", "query_type", _text),
            ("Arrival", "arrival_timestamp", _when),
        ),
    ),
    (
        "Time",
        (
            ("Total latency", "total_duration_ms", units.duration),
            ("Queue", "queue_duration_ms", units.duration),
            ("Compile", "compile_duration_ms", units.duration),
            ("Execution (incl. compile)", "execution_duration_ms", units.duration),
            ("Answered from the result cache", "was_cached", _yes_no),
            ("Aborted", "was_aborted", _yes_no),
        ),
    ),
    (
        "Work",
        (
            ("Data scanned", "mbytes_scanned", units.data_size),
            ("Data spilled", "mbytes_spilled", units.data_size),
            ("Joins", "num_joins", units.count),
            ("Scans", "num_scans", units.count),
            ("Aggregations", "num_aggregations", units.count),
            ("Tables read", "read_tables", lambda x: _text(x) or "none"),
            ("Tables written", "write_tables", lambda x: _text(x) or "none"),
            ("Plan fingerprint", "feature_fingerprint", _text),
        ),
    ),
)


def detail_sections(row: dict[str, Any]) -> list[tuple[str, list[tuple[str, str]]]]:
    """Per card section, (label, human value) for each field the row has."""
    return [
        (title, [(label, fmt(row.get(col))) for label, col, fmt in fields if col in row])
        for title, fields in CARD
    ]


def detail_fields(row: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, human value) for each card field the row has."""
    return [field for _, fields in detail_sections(row) for field in fields]


def fit_curve(
    slope: Any, intercept: Any, x_min: float, x_max: float, points: int = 30
) -> pd.DataFrame:
    """Points of compile = 10^intercept * x^slope, log-spaced over [x_min, x_max]; empty
    without a fit."""
    b, a = units.number(slope), units.number(intercept)
    if b is None or a is None or x_min <= 0 or x_max < x_min:
        return pd.DataFrame(columns=["complexity", "fit_compile_ms"])
    lo, hi = math.log10(x_min), math.log10(x_max)
    xs = [10 ** (lo + (hi - lo) * i / (points - 1)) for i in range(points)]
    return pd.DataFrame(
        {"complexity": xs, "fit_compile_ms": [10 ** (a + b * math.log10(x)) for x in xs]}
    )


def fit_caption(fit: dict[str, Any]) -> str:
    b, a, r2 = (units.number(fit.get(k)) for k in ("slope", "intercept", "r2"))
    if b is None or a is None or r2 is None:
        return "Not enough compiled queries for a fit."
    return (
        f"Fit (least squares in log-log): compile ≈ {10**a:,.1f} ms × complexity^{b:.2f}, "
        f"R² = {r2:.2f} over {units.count(fit.get('n'))} queries; dots: the geometric mean "
        "per complexity (the fit's own scale), sized by queries"
    )


def time_bucket(first: datetime | None, last: datetime | None) -> str:
    """Hours for a span up to three days, else days (a readable number of points)."""
    if first is None or last is None:
        return "hour"
    return "hour" if (last - first).total_seconds() <= 3 * 86_400 else "day"


def duration_unit(values: Any) -> tuple[float, str]:
    """The unit (divisor from ms, name) that reads best for durations around the median of
    ``values``: for an axis or a colour legend."""
    known = [v for v in (units.number(x) for x in values) if v is not None]
    mid = sorted(known)[len(known) // 2] if known else 0.0
    for div, name in ((86_400_000.0, "d"), (3_600_000.0, "h"), (60_000.0, "min"), (1000.0, "s")):
        if abs(mid) >= div:
            return div, name
    return 1.0, "ms"


def split_shares(lat: pd.DataFrame, parts: dict[str, str]) -> pd.DataFrame:
    """Per latency bin and part (name -> column of mean ms): the mean, its share of the
    bin's mean time and the stacked interval [y0, y1] it fills (drawn as rectangles: a
    stacked bar cannot also span a bin's x range)."""
    rows = []
    for rec in lat.to_dict("records"):
        means = {p: units.number(rec[c]) or 0.0 for p, c in parts.items()}
        total = sum(means.values())
        y0 = 0.0
        for part, mean in means.items():
            share = mean / total if total > 0 else 0.0
            rows.append(
                {
                    "bin_start_ms": rec["bin_start_ms"],
                    "bin_end_ms": rec["bin_end_ms"],
                    "part": part,
                    "mean_ms": mean,
                    "mean": units.duration(mean),
                    "share": share,
                    "y0": y0,
                    "y1": y0 + share,
                }
            )
            y0 += share
    return pd.DataFrame(rows)


#: the panels' own controls kept in the URL: parameter -> (widget key, URL id -> widget
#: value, default URL id); K is a number instead
PANEL_CONTROLS: dict[str, tuple[str, dict[str, str], str]] = {
    "measure": (
        "compile-measure",
        {
            "all": "joins + scans + aggregations",
            "joins": "joins",
            "scans": "scans",
            "aggregations": "aggregations",
        },
        "all",
    ),
    "top": (
        "topk-entity",
        {
            "cluster": "cluster",
            "user": "user",
            "database": "database",
            "fingerprint": "fingerprint",
        },
        "cluster",
    ),
    "by": (
        "topk-metric",
        {
            "queries": "queries",
            "execution": "total execution time",
            "p95": "p95 latency",
            "compile": "total compile time",
            "scanned": "data scanned",
            "spilled": "data spilled",
        },
        "queries",
    ),
}
K_KEY, K_DEFAULT, K_MAX = "topk-k", 10, 100


def controls_from_params(params: dict[str, str]) -> dict[str, Any]:
    """Widget key -> value for each panel control, from the link where it is valid."""
    out: dict[str, Any] = {}
    for name, (key, values, default) in PANEL_CONTROLS.items():
        out[key] = values.get(params.get(name, default), values[default])
    k = params.get("k", "")
    out[K_KEY] = int(k) if k.isdigit() and 1 <= int(k) <= K_MAX else K_DEFAULT
    return out


def controls_to_params(state: dict[str, Any]) -> dict[str, str]:
    """URL parameters for the controls that differ from their defaults."""
    out: dict[str, str] = {}
    for name, (key, values, default) in PANEL_CONTROLS.items():
        ids = {v: i for i, v in values.items()}
        if key in state and ids.get(state[key], default) != default:
            out[name] = ids[state[key]]
    if state.get(K_KEY, K_DEFAULT) != K_DEFAULT:
        out["k"] = str(int(state[K_KEY]))
    return out
