"""Deep links naming what the data does not hold: a visible warning naming it, the link
kept as it was; and filters that match nothing: "No queries match these filters", no NaN,
no chart drawn."""

from __future__ import annotations

import pytest

from .expert_page import charts, metrics, open_page, sql, texts

NO_MATCH = "No queries match these filters"


def _no_nan(at) -> None:
    shown = " ".join([texts(at), *metrics(at).values()]).lower()
    assert "nan" not in shown.replace("nanos", ""), shown


def test_unknown_run_is_named_and_the_link_kept(filled_db: str, dash_env) -> None:
    dash_env(filled_db)
    at = open_page(filled_db, run_id="zzz", cluster="provisioned-1")
    assert any("zzz" in w.value for w in at.warning)
    assert dict(at.query_params) == {"run_id": "zzz", "cluster": "provisioned-1"}
    assert not metrics(at) and not charts(at)
    # the page offers the runs it holds; picking one opens it
    pick = next(s for s in at.selectbox if s.key == "unknown-run")
    assert "run-a" in pick.options
    pick.select("run-a").run()
    assert not at.exception, at.exception
    assert at.query_params["run_id"] == "run-a"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("cluster", "nope-7"),
        ("user", "987654321"),
        ("fingerprint", "zzzz0000"),
        ("database", "424242"),
        ("query", "77777777"),
        ("table", "55555"),
    ],
)
def test_unknown_entity_is_named_and_the_link_kept(
    filled_db: str, dash_env, name: str, value: str
) -> None:
    dash_env(filled_db)
    at = open_page(filled_db, run_id="run-a", **{name: value})
    assert any(value in w.value and "not in run run-a" in w.value for w in at.warning), [
        w.value for w in at.warning
    ]
    assert at.query_params[name] == value and at.query_params["run_id"] == "run-a"
    assert metrics(at)["Queries"] == "0"
    assert any(NO_MATCH in i.value for i in at.info)
    assert not charts(at)
    _no_nan(at)


def test_known_values_that_match_nothing_together(filled_db: str, dash_env) -> None:
    """A real cluster and a real user of another cluster: no warning, an empty state."""
    pair = sql(
        filled_db,
        """SELECT c.cluster, u.user_id FROM (SELECT DISTINCT cluster FROM fact_query) c,
                  (SELECT DISTINCT user_id FROM fact_query) u
           WHERE NOT EXISTS (SELECT 1 FROM fact_query q WHERE q.cluster = c.cluster AND q.user_id = u.user_id)
           ORDER BY 1, 2 LIMIT 1""",
    )
    cluster, user = pair["cluster"][0], int(pair["user_id"][0])
    dash_env(filled_db)
    for panel in ("latency", "tables", "topk", "time"):
        at = open_page(filled_db, run_id="run-a", cluster=cluster, user=str(user), panel=panel)
        assert not at.warning, [w.value for w in at.warning]
        assert metrics(at)["Queries"] == "0"
        assert metrics(at)["p95 latency"] == "n/a"
        assert any(NO_MATCH in i.value for i in at.info)
        assert not charts(at) and not at.dataframe
        _no_nan(at)
        assert at.query_params["cluster"] == cluster and at.query_params["user"] == str(user)


def test_a_link_without_problems_warns_nothing(filled_db: str, dash_env) -> None:
    (cluster,) = sql(filled_db, "SELECT min(cluster) AS c FROM fact_query")["c"]
    dash_env(filled_db)
    at = open_page(filled_db, run_id="run-a", cluster=cluster, panel="plans", query="", user=" ")
    assert not at.warning, [w.value for w in at.warning]  # an empty value is no value
    assert dict(at.query_params) == {
        "run_id": "run-a",
        "cluster": cluster,
        "panel": "plans",
        "query": "",
        "user": " ",
    }


def test_anomaly_links_open_their_cluster_and_window(filled_db: str, dash_env) -> None:
    from urllib.parse import parse_qsl, urlsplit

    dash_env(filled_db)
    at = open_page(filled_db, run_id="run-a", panel="anomalies")
    table = next(df for df in at.dataframe if "Open" in df.value.columns).value
    assert len(table) > 0
    link = dict(parse_qsl(urlsplit(table["Open"][0]).query))
    cluster = table["Cluster"][0]
    assert link["cluster"] == cluster
    # the cluster filter applies to the anomaly table
    only = open_page(filled_db, run_id="run-a", panel="anomalies", cluster=cluster)
    shown = next(df for df in only.dataframe if "Open" in df.value.columns).value
    assert set(shown["Cluster"]) == {cluster}
    # the link opens that cluster and window as given, the page's figures over it
    opened = open_page(filled_db, **link)
    assert not opened.warning, [w.value for w in opened.warning]
    assert dict(opened.query_params) == link
    (n,) = sql(
        filled_db,
        "SELECT count(*) AS n FROM fact_query WHERE run_id = ? AND cluster = ? "
        "AND arrival_timestamp >= ?::TIMESTAMP AND arrival_timestamp < ?::TIMESTAMP",
        [link["run_id"], cluster, link["start"], link["end"]],
    )["n"]
    assert n > 0 and metrics(opened)["Queries"] == f"{n:,}"


def test_aggregate_board_links_open_as_given(filled_db: str, dash_env) -> None:
    """Each board's first entry, opened from the aggregate page: no warning, the link kept,
    the figures of the entry's filters."""
    import re
    from urllib.parse import parse_qsl, urlsplit

    from streamlit.testing.v1 import AppTest

    from dashboards.queries import Filters

    from .conftest import AGGREGATE

    dash_env(filled_db)
    agg = AppTest.from_file(AGGREGATE, default_timeout=60).run()
    tables = [m.value for m in agg.markdown if m.value.startswith("| # |")]
    links = [re.findall(r"\]\(([^)\s]+)\)", t)[0] for t in tables if "](" in t]
    assert links
    for url in links:
        link = dict(parse_qsl(urlsplit(url).query))
        opened = open_page(filled_db, **link)
        assert not opened.warning, (url, [w.value for w in opened.warning])
        assert dict(opened.query_params) == link, url
        where, values = Filters.from_params(link, "x").where()
        (n,) = sql(filled_db, f"SELECT count(*) AS n FROM fact_query WHERE {where}", values)["n"]
        assert n > 0 and metrics(opened)["Queries"] == f"{n:,}", url
