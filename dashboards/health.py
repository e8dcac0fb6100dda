"""Streamed cluster health on the dashboards: the expert page's anomaly table (a threshold
control, each row a link to that cluster and window) and the aggregate page's "clusters
needing attention" panel, both over the warehouse view ``cluster_health``.

SQL building and wording are pure functions (unit-tested); ``anomalies`` / ``attention``
query DuckDB through the pages' ``Data`` (or its cached wrapper); ``render_*`` draw.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import duckdb
import pandas as pd
import streamlit as st

from common.contract import HEALTH_METRICS
from common.settings import Settings
from dashboards import units
from dashboards.queries import Filters

#: the stage's default flag threshold (HEALTH_Z_THRESHOLD)
DEFAULT_THRESHOLD = Settings.from_env().health_z_threshold
#: the anomaly table's default smallest window worth scoring (the control changes it)
DEFAULT_MIN_QUERIES = 10

METRIC_NAMES = {
    "queue_pressure": "queue pressure",
    "spill_pressure": "spill pressure",
    "scan_mb_per_s": "scan throughput",
    "utilisation": "utilisation",
    "cache_hit_rate": "cache-hit rate",
}
BOTTLENECK_WORDS = {
    "queue-bound": "Queue-bound: many queries wait for a slot",
    "spill-bound": "Spill-bound: queries run out of memory and spill to disk",
    "compile-bound": "Compile-bound: compiling takes a large share of execution time",
    "scan-bound": "Scan-bound: queries scan data at a very high rate",
    "healthy": "Healthy",
}


def metric_text(name: str, value: Any) -> str:
    """A health metric in human units (utilisation is a share of the window's length:
    over 100 % means queries ran concurrently)."""
    v = units.number(value)
    if v is None:
        return units.UNKNOWN
    if name == "scan_mb_per_s":
        return f"{units.data_size(v)}/s"
    return units.share(v, 2 if 0 < v < 0.1 else 1)


def z_text(z: Any) -> str:
    """A z-score for people: one decimal, signed; beyond +-100 only its side (a window far
    off a cluster's usually steady value has an enormous z that says no more)."""
    v = units.number(z)
    if v is None:
        return units.UNKNOWN
    if abs(v) >= 100:
        return "> +100" if v > 0 else "< -100"
    return f"{v:+.1f}"


def expert_link(run_id: str, cluster: str, start: Any, end: Any, base: str = "") -> str:
    """Deep link to the expert page at one cluster and window (``Filters.to_params``)."""

    def ts(x: Any) -> datetime:
        return x.to_pydatetime() if isinstance(x, pd.Timestamp) else x

    f = Filters(run_id=run_id, cluster=cluster, start=ts(start), end=ts(end))
    return f"{base}?{urlencode(f.to_params())}"


def anomalies_sql(cluster: str | None = None) -> str:
    """Final cluster windows with a metric at |z| >= the threshold, strongest first; params
    :func:`anomalies_params`."""
    flags = ", ".join(f"CASE WHEN abs({m}_z) >= ? THEN '{m}' END" for m in HEALTH_METRICS)
    abs_z = ", ".join(f"abs({m}_z)" for m in HEALTH_METRICS)
    where = " AND cluster = ?" if cluster is not None else ""
    return f"""
        SELECT * FROM (
            SELECT *, list_filter([{flags}], lambda x: x IS NOT NULL) AS flagged,
                   greatest({abs_z}) AS max_abs_z
            FROM cluster_health
            WHERE run_id = ? AND final AND cluster <> 'fleet' AND queries >= ?{where})
        WHERE len(flagged) > 0
        ORDER BY max_abs_z DESC, window_start DESC, cluster LIMIT ?"""  # noqa: S608 (fixed names, values bound)


def anomalies_params(
    run_id: str,
    threshold: float,
    cluster: str | None = None,
    limit: int = 200,
    min_queries: int = 1,
) -> list[Any]:
    return [
        *([threshold] * len(HEALTH_METRICS)),
        run_id,
        min_queries,
        *([cluster] if cluster is not None else []),
        limit,
    ]


#: clusters whose latest final window is not healthy or flagged (param: run id)
ATTENTION_SQL = """
    SELECT * FROM (
        SELECT *, row_number() OVER (PARTITION BY cluster ORDER BY window_start DESC) AS rn
        FROM cluster_health WHERE run_id = ? AND final AND cluster <> 'fleet')
    WHERE rn = 1 AND (bottleneck <> 'healthy' OR len(anomalies) > 0)
    ORDER BY len(anomalies) DESC, bottleneck = 'healthy', cluster"""
#: clusters with a final window (param: run id)
CLUSTERS_SQL = """
    SELECT count(DISTINCT cluster) AS n FROM cluster_health
    WHERE run_id = ? AND final AND cluster <> 'fleet'"""


def anomalies(
    data: Any,
    run_id: str,
    threshold: float,
    cluster: str | None = None,
    limit: int = 200,
    min_queries: int = 1,
) -> pd.DataFrame:
    """``data``: a ``dashboards.queries.Data`` (or the pages' cached wrapper of one)."""
    df: pd.DataFrame = data.df(
        anomalies_sql(cluster),
        anomalies_params(run_id, threshold, cluster, limit, min_queries),
    )
    return df


def attention(data: Any, run_id: str) -> tuple[pd.DataFrame, int]:
    """(clusters whose latest final window is flagged or not healthy, clusters with a
    final window)."""
    n = data.df(CLUSTERS_SQL, [run_id])
    return data.df(ATTENTION_SQL, [run_id]), int(n["n"].iloc[0]) if len(n) else 0


def flagged_text(row: Mapping[Any, Any], names: list[str]) -> str:
    """'queue pressure 42.0 % (z 5.1); ...' for the flagged metrics of one window."""
    parts = []
    for m in names:
        z = units.number(row.get(f"{m}_z"))
        zt = "" if z is None else f" (z {z_text(z)})"
        parts.append(f"{METRIC_NAMES[m]} {metric_text(m, row.get(m))}{zt}")
    return "; ".join(parts)


def window_text(start: Any, end: Any) -> str:
    """'2024-03-01 10:00 - 11:00 UTC' (an en dash), the end's date when another day."""
    a, b = pd.Timestamp(start), pd.Timestamp(end)
    same_day = b.date() == a.date() or b == a.normalize() + pd.Timedelta(days=1)
    return f"{a:%Y-%m-%d %H:%M} – {b:%H:%M}{'' if same_day else f' on {b:%Y-%m-%d}'} UTC"


def anomaly_table(df: pd.DataFrame, run_id: str, base: str = "") -> pd.DataFrame:
    rows = []
    for r in df.to_dict("records"):
        rows.append(
            {
                "Cluster": r["cluster"],
                "Window": window_text(r["window_start"], r["window_end"]),
                "Unusual": flagged_text(r, list(r["flagged"])),
                "Strongest |z|": z_text(r["max_abs_z"]).replace("+", ""),
                "Bottleneck": BOTTLENECK_WORDS.get(r["bottleneck"], r["bottleneck"]),
                "Queries": units.count(r["queries"]),
                "Open": expert_link(run_id, r["cluster"], r["window_start"], r["window_end"], base),
            }
        )
    return pd.DataFrame(rows)


def attention_table(df: pd.DataFrame, run_id: str, base: str) -> pd.DataFrame:
    rows = []
    for r in df.to_dict("records"):
        flagged = list(r["anomalies"]) if r["anomalies"] is not None else []
        rows.append(
            {
                "Cluster": r["cluster"],
                "Latest complete window": window_text(r["window_start"], r["window_end"]),
                "State": BOTTLENECK_WORDS.get(r["bottleneck"], r["bottleneck"]),
                "Unusual": flagged_text(r, flagged) if flagged else "nothing unusual",
                "Open": expert_link(run_id, r["cluster"], r["window_start"], r["window_end"], base),
            }
        )
    return pd.DataFrame(rows)


_LINK = {"Open": st.column_config.LinkColumn("Open", display_text="Open in expert view")}


def render_anomalies(
    data: Any,
    run_id: str,
    *,
    default_threshold: float = DEFAULT_THRESHOLD,
    cluster: str | None = None,
    key: str = "health-anomalies",
) -> None:
    """The expert page's anomaly table: final windows with a metric at |z| >= the slider's
    threshold (robust z against the cluster's trailing windows), links to each window."""
    st.subheader("Anomalies")
    thr = st.slider(
        "Flag a metric when its robust z-score is at least (either direction)",
        min_value=1.0,
        max_value=10.0,
        value=float(default_threshold),
        step=0.5,
        key=f"{key}-threshold",
        help="z = (value - median) / (1.4826 x MAD) over the cluster's trailing windows; "
        f"the stream flags at {default_threshold:g}.",
    )
    # a window of two queries has shares of 0, 50 or 100 %: extreme z-scores, little meaning
    min_q = st.number_input(
        "Only windows with at least this many queries",
        min_value=1,
        value=DEFAULT_MIN_QUERIES,
        step=5,
        key=f"{key}-min-queries",
    )
    try:
        df = anomalies(data, run_id, thr, cluster, min_queries=int(min_q))
    except duckdb.Error as e:
        st.warning(f"Cluster health is not available in this warehouse: {e}")
        return
    if df.empty:
        st.info(
            f"No anomalies: no complete window of at least {int(min_q):,} queries has a "
            f"metric at |z| ≥ {thr:g}."
        )
        return
    st.dataframe(anomaly_table(df, run_id), column_config=_LINK, hide_index=True, key=key)
    st.caption(f"{units.count(len(df))} windows (the strongest first, at most 200).")


def render_attention(data: Any, run_id: str, *, expert_url: str) -> None:
    """The aggregate page's "clusters needing attention": clusters whose latest complete
    window is not healthy or has a metric flagged anomalous, with a link to it."""
    st.subheader("Clusters needing attention")
    try:
        df, n = attention(data, run_id)
    except duckdb.Error as e:
        st.warning(f"Cluster health is not available in this warehouse: {e}")
        return
    if n == 0:
        st.info("No complete cluster window yet.")
        return
    if df.empty:
        st.success(f"All {units.count(n)} clusters are healthy in their latest complete window.")
        return
    st.caption(
        f"{units.count(len(df))} of {units.count(n)} clusters, by their latest complete window."
    )
    st.dataframe(attention_table(df, run_id, expert_url), column_config=_LINK, hide_index=True)
