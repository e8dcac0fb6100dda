"""Streamlit AppTest: each dashboard's logic end to end on a real DuckDB file."""

from __future__ import annotations

import duckdb
from streamlit.testing.v1 import AppTest

from dashboards import units

from .conftest import AGGREGATE, EXPERT


def _q(db: str, sql: str, params: list | None = None):
    con = duckdb.connect(db, read_only=True)
    try:
        return con.execute(sql, params or []).fetchone()
    finally:
        con.close()


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_aggregate_empty_state(empty_db: str, dash_env) -> None:
    dash_env(empty_db)
    at = AppTest.from_file(AGGREGATE, default_timeout=60).run()
    assert not at.exception
    assert any("No data yet" in i.value for i in at.info)
    assert not at.metric


def test_expert_empty_state(empty_db: str, dash_env) -> None:
    dash_env(empty_db)
    at = AppTest.from_file(EXPERT, default_timeout=60).run()
    assert not at.exception
    assert any("No data yet" in i.value for i in at.info)


def test_aggregate_kpis_equal_the_whole_run(filled_db: str, dash_env) -> None:
    """A finished run's tiles are its whole run's figures, from the query-level rows
    (tests/dashboards/test_aggregate_page.py covers ranges, deltas, boards and links)."""
    dash_env(filled_db)
    at = AppTest.from_file(AGGREGATE, default_timeout=60).run()
    assert not at.exception, at.exception
    row = _q(
        filled_db,
        "SELECT count(*), quantile_cont(total_duration_ms, 0.95), avg(was_aborted::INT), "
        "avg(was_cached::INT), sum(mbytes_scanned), sum(mbytes_spilled) FROM fact_query "
        "WHERE run_id = 'run-a'",
    )
    got = _metrics(at)
    assert got["Queries"] == units.count(row[0])
    assert got["p95 latency"] == units.duration(row[1])
    assert got["Abort rate"] == units.share(row[2])
    assert got["Cache-hit rate"] == units.share(row[3])
    assert got["Data scanned"] == units.data_size(row[4])
    assert got["Data spilled"] == units.data_size(row[5])
    # every leaderboard shown, as a linked table
    assert sum(m.value.startswith("| # |") for m in at.markdown) == 6


def test_expert_default_view_and_url(filled_db: str, dash_env) -> None:
    dash_env(filled_db)
    at = AppTest.from_file(EXPERT, default_timeout=60).run()
    assert not at.exception, at.exception
    (n,) = _q(filled_db, "SELECT count(*) FROM fact_query WHERE run_id = 'run-a'")
    assert _metrics(at)["Queries"] == units.count(n)
    assert at.query_params["run_id"] == "run-a"


def test_expert_drill_down_updates_url_and_numbers(filled_db: str, dash_env) -> None:
    dash_env(filled_db)
    at = AppTest.from_file(EXPERT, default_timeout=60).run()
    pick = next(s for s in at.selectbox if s.key == "drill-fleet-cluster-pick")
    cluster = pick.options[2]
    pick.select(cluster).run()
    assert not at.exception, at.exception
    assert at.query_params["cluster"] == cluster
    (n,) = _q(
        filled_db,
        "SELECT count(*) FROM fact_query WHERE run_id = 'run-a' AND cluster = ?",
        [cluster],
    )
    assert _metrics(at)["Queries"] == units.count(n)
    # next level: users of that cluster
    user_pick = next(s for s in at.selectbox if s.key == "drill-cluster-user-pick")
    user = user_pick.options[1]
    user_pick.select(user).run()
    assert not at.exception, at.exception
    assert at.query_params["user"] == str(user)
    (n,) = _q(
        filled_db,
        "SELECT count(*) FROM fact_query WHERE run_id = 'run-a' AND cluster = ? AND user_id = ?",
        [cluster, int(user)],
    )
    assert _metrics(at)["Queries"] == units.count(n)


def test_expert_url_reproduces_the_view(filled_db: str, dash_env) -> None:
    dash_env(filled_db)
    (cluster,) = _q(
        filled_db, "SELECT cluster FROM fact_query GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    )
    at = AppTest.from_file(EXPERT, default_timeout=60)
    at.query_params["run_id"] = "run-a"
    at.query_params["cluster"] = cluster
    at.query_params["qtypes"] = "select,insert"
    at.run()
    assert not at.exception, at.exception
    (n,) = _q(
        filled_db,
        "SELECT count(*) FROM fact_query WHERE run_id = 'run-a' AND cluster = ? "
        "AND query_type IN ('select', 'insert')",
        [cluster],
    )
    assert _metrics(at)["Queries"] == units.count(n)
    assert next(s for s in at.selectbox if str(s.key).startswith("cluster:")).value == cluster
    assert next(m for m in at.multiselect if m.key == "qtypes").value == ["select", "insert"]


def test_expert_hostile_url_values_are_data(filled_db: str, dash_env) -> None:
    dash_env(filled_db)
    at = AppTest.from_file(EXPERT, default_timeout=60)
    at.query_params["run_id"] = "run-a"
    at.query_params["cluster"] = "x' OR '1'='1"
    at.query_params["user"] = "1; DROP TABLE clean_queries"
    at.run()
    assert not at.exception, at.exception
    # an unknown cluster and a non-numeric user are named in warnings and kept in the link
    # (the filter stays on: nothing matches); nothing reached SQL as text
    (n,) = _q(filled_db, "SELECT count(*) FROM clean_queries WHERE run_id = 'run-a'")
    assert n > 0 and _metrics(at)["Queries"] == "0"
    warnings = " ".join(w.value for w in at.warning)
    assert "x' OR '1'='1" in warnings and "1; DROP TABLE clean_queries" in warnings
    assert at.query_params["cluster"] == "x' OR '1'='1"
    assert at.query_params["user"] == "1; DROP TABLE clean_queries"


def test_expert_sql_box(filled_db: str, dash_env) -> None:
    dash_env(filled_db)
    at = AppTest.from_file(EXPERT, default_timeout=60).run()
    box = next(t for t in at.text_area if t.key == "sql")
    box.input("SELECT count(*) AS n FROM fact_query").run()
    next(b for b in at.button if b.key == "sql-run").click().run()
    assert not at.exception and not at.error
    frames = [d.value for d in at.dataframe if list(d.value.columns) == ["n"]]
    assert frames and int(frames[0]["n"][0]) == _q(filled_db, "SELECT count(*) FROM fact_query")[0]
    for bad in (
        "DELETE FROM clean_queries",
        "SELECT * FROM read_csv('/etc/passwd')",
        "ATTACH 'x.db'",
    ):
        next(t for t in at.text_area if t.key == "sql").input(bad).run()
        next(b for b in at.button if b.key == "sql-run").click().run()
        assert any("Refused" in e.value for e in at.error), bad


def test_expert_search(filled_db: str, dash_env) -> None:
    dash_env(filled_db)
    (fp,) = _q(
        filled_db,
        "SELECT feature_fingerprint FROM fact_query WHERE feature_fingerprint IS NOT NULL LIMIT 1",
    )
    at = AppTest.from_file(EXPERT, default_timeout=60).run()
    next(t for t in at.text_input if t.key == "search").input(fp[:12]).run()
    assert not at.exception
    next(b for b in at.button if b.key == "search-open").click().run()
    assert not at.exception, at.exception
    assert at.query_params["fingerprint"].startswith(fp[:12])


def _chart_titles(at: AppTest) -> str:
    """The Vega-Lite specs on the page, as one string (titles are in them)."""
    return " ".join(str(getattr(e.proto, "spec", "")) for e in at.get("vega_lite_chart"))


def test_expert_chart_panel_is_in_the_url(filled_db: str, dash_env) -> None:
    dash_env(filled_db)
    at = AppTest.from_file(EXPERT, default_timeout=60)
    at.query_params["run_id"] = "run-a"
    at.query_params["panel"] = "tables"
    at.run()
    assert not at.exception, at.exception
    radio = next(r for r in at.radio if str(r.key).startswith("panel-"))
    assert radio.value == "tables"
    assert "Hot tables" in _chart_titles(at)
    assert "Latency distribution" not in _chart_titles(at)
    assert at.query_params["panel"] == "tables"

    radio.set_value("plans").run()
    assert not at.exception, at.exception
    assert at.query_params["panel"] == "plans"
    at.run()  # the page as the new URL shows it
    assert "Fingerprint repetition" in _chart_titles(at)
    assert "Hot tables" not in _chart_titles(at)


def test_expert_unknown_panel_falls_back_to_latency(filled_db: str, dash_env) -> None:
    dash_env(filled_db)
    at = AppTest.from_file(EXPERT, default_timeout=60)
    at.query_params["run_id"] = "run-a"
    at.query_params["panel"] = "../../etc/passwd"
    at.run()
    assert not at.exception, at.exception
    assert "Latency distribution" in _chart_titles(at)
    # the link is kept as given, and the page says what it shows instead
    assert at.query_params["panel"] == "../../etc/passwd"
    assert any("../../etc/passwd" in w.value for w in at.warning)
