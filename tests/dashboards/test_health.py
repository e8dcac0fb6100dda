"""dashboards.health: the anomaly table and the clusters-needing-attention panel, by
AppTest against fill_synthetic data; expectations from pandas over the cluster_health
view (not from the module's SQL)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import duckdb
import pandas as pd
from streamlit.testing.v1 import AppTest

from common.contract import HEALTH_METRICS
from dashboards import health
from dashboards.queries import Filters


def _view(db: str) -> pd.DataFrame:
    con = duckdb.connect(db, read_only=True)
    try:
        return con.execute(
            "SELECT * FROM cluster_health WHERE run_id = 'run-a' AND cluster <> 'fleet'"
        ).df()
    finally:
        con.close()


def _flagged(
    view: pd.DataFrame, thr: float, min_queries: int = health.DEFAULT_MIN_QUERIES
) -> pd.DataFrame:
    z = view[[f"{m}_z" for m in HEALTH_METRICS]].abs()
    return view[view["final"] & (z >= thr).any(axis=1) & (view["queries"] >= min_queries)]


def _anomaly_app(db: str, cluster: str | None) -> None:
    from dashboards.health import render_anomalies
    from dashboards.queries import Data
    from warehouse.store import Warehouse

    render_anomalies(Data(Warehouse.open(db, read_only=True)), "run-a", cluster=cluster)


EXPERT = "http://expert.example:8501"


def _attention_app(db: str, run_id: str) -> None:
    from dashboards.health import render_attention
    from dashboards.queries import Data
    from warehouse.store import Warehouse

    render_attention(
        Data(Warehouse.open(db, read_only=True)), run_id, expert_url="http://expert.example:8501"
    )


def _link_filters(url: str) -> Filters:
    return Filters.from_params(dict(parse_qsl(urlsplit(url).query)), "none")


def test_anomaly_table_follows_the_threshold_and_links_each_window(filled_db: str) -> None:
    view = _view(filled_db)
    at = AppTest.from_function(_anomaly_app, args=(filled_db, None), default_timeout=60).run()
    assert not at.exception, at.exception
    assert at.slider[0].value == health.DEFAULT_THRESHOLD
    for thr in (health.DEFAULT_THRESHOLD, 8.0, 10.0):
        at.slider[0].set_value(thr).run()
        assert not at.exception, at.exception
        want = _flagged(view, thr)
        assert len(want) > 0, "fill_synthetic data has anomalies at every tested threshold"
        table = at.dataframe[0].value
        assert len(table) == min(len(want), 200)
        keys = set(zip(want["cluster"], want["window_start"], strict=True))
        for row in table.to_dict("records"):
            f = _link_filters(row["Open"])
            assert f.run_id == "run-a" and f.level == "cluster"
            assert f.end is not None and f.start is not None
            assert (f.cluster, pd.Timestamp(f.start)) in keys
            assert (f.end - f.start).total_seconds() == 3600
            assert "nan" not in " ".join(map(str, row.values())).lower()
    assert "_" not in " ".join(at.dataframe[0].value.columns)


def test_anomaly_table_leaves_out_windows_below_the_query_minimum(filled_db: str) -> None:
    view = _view(filled_db)
    at = AppTest.from_function(_anomaly_app, args=(filled_db, None), default_timeout=60).run()
    assert at.number_input[0].value == health.DEFAULT_MIN_QUERIES
    counts = []
    for n in (1, health.DEFAULT_MIN_QUERIES, int(view["queries"].max()) + 1):
        at.number_input[0].set_value(n).run()
        assert not at.exception, at.exception
        want = _flagged(view, health.DEFAULT_THRESHOLD, n)
        got = at.dataframe[0].value if at.dataframe else pd.DataFrame()
        assert len(got) == min(len(want), 200), n
        counts.append(len(want))
    assert counts[0] > counts[1] > counts[2] == 0  # the data has sparse flagged windows
    assert any("at least" in i.value for i in at.info)


def test_anomaly_table_of_one_cluster_and_its_empty_state(filled_db: str) -> None:
    per = _flagged(_view(filled_db), 3.5)["cluster"].value_counts()
    cluster = str(per.index[-1])
    at = AppTest.from_function(_anomaly_app, args=(filled_db, cluster), default_timeout=60).run()
    assert not at.exception, at.exception
    assert set(at.dataframe[0].value["Cluster"]) == {cluster}
    assert len(at.dataframe[0].value) == min(int(per[cluster]), 200)
    at = AppTest.from_function(_anomaly_app, args=(filled_db, "nope"), default_timeout=60).run()
    assert not at.exception, at.exception
    assert not at.dataframe and any("No anomalies" in i.value for i in at.info)


def test_attention_lists_clusters_whose_latest_window_is_flagged_or_not_healthy(
    filled_db: str,
) -> None:
    view = _view(filled_db)
    final = view[view["final"]].sort_values("window_start")
    latest = final.groupby("cluster").tail(1)
    need = latest[(latest["bottleneck"] != "healthy") | (latest["anomalies"].map(len) > 0)]
    at = AppTest.from_function(_attention_app, args=(filled_db, "run-a"), default_timeout=60).run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert set(table["Cluster"]) == set(need["cluster"])
    assert any(f"of {latest['cluster'].nunique()} clusters" in c.value for c in at.caption)
    for row in table.to_dict("records"):
        src = need[need["cluster"] == row["Cluster"]].iloc[0]
        assert row["State"] == health.BOTTLENECK_WORDS[src["bottleneck"]]
        f = _link_filters(row["Open"])
        assert row["Open"].startswith(EXPERT + "?")
        assert f.start is not None and f.cluster == row["Cluster"]
        assert pd.Timestamp(f.start) == src["window_start"]
        for m in src["anomalies"]:
            assert health.METRIC_NAMES[m] in row["Unusual"]


def test_attention_on_an_unknown_run_and_an_empty_warehouse(filled_db: str, empty_db: str) -> None:
    at = AppTest.from_function(_attention_app, args=(filled_db, "nope"), default_timeout=60).run()
    assert not at.exception and any("No complete cluster window" in i.value for i in at.info)
    at = AppTest.from_function(_attention_app, args=(empty_db, "run-a"), default_timeout=60).run()
    assert not at.exception and any("No complete cluster window" in i.value for i in at.info)


def test_human_texts() -> None:
    assert health.metric_text("queue_pressure", 0.425) == "42.5 %"
    assert health.metric_text("utilisation", 0.0004) == "0.04 %"
    assert health.metric_text("utilisation", 2.5) == "250.0 %"
    assert health.metric_text("scan_mb_per_s", 2048.0) == "2.0 GB/s"
    assert health.metric_text("spill_pressure", None) == "n/a"
    assert health.z_text(-4.26) == "-4.3" and health.z_text(1e7) == "> +100"
    assert health.window_text("2024-03-01 23:00", "2024-03-02 00:00") == (
        "2024-03-01 23:00 \u2013 00:00 UTC"
    )
    assert health.window_text("2024-03-01 00:00", "2024-03-03 00:00").endswith("on 2024-03-03 UTC")
    link = health.expert_link(
        "r 1", "provisioned-3", pd.Timestamp("2024-03-01 10:00"), pd.Timestamp("2024-03-01 11:00")
    )
    f = _link_filters(link)
    assert (f.run_id, f.cluster, f.start, f.end) == (
        "r 1",
        "provisioned-3",
        pd.Timestamp("2024-03-01 10:00").to_pydatetime(),
        pd.Timestamp("2024-03-01 11:00").to_pydatetime(),
    )
