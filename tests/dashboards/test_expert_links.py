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
    at = open_page(filled_db, run_id="run-a", cluster=cluster, panel="plans")
    assert not at.warning
    assert dict(at.query_params) == {"run_id": "run-a", "cluster": cluster, "panel": "plans"}
