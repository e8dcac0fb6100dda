"""Pure dashboard logic: filters <-> URL, SQL box validation, movement arrows."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashboards import tiles
from dashboards.queries import Filters
from dashboards.sqlbox import SqlRejected, validate

ALLOWED = {"fact_query", "dead_letters", "v_runs", "v_cluster_health"}


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO fact_query VALUES (1)",
        "DELETE FROM fact_query",
        "DROP VIEW fact_query",
        "ATTACH 'other.duckdb' AS o",
        "COPY fact_query TO '/tmp/x.csv'",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM '/etc/passwd'",
        "SELECT read_text('/etc/passwd')",
        "SELECT getenv('HOME')",
        "SELECT 1; DROP TABLE clean_queries",
        "INSTALL httpfs",
        "LOAD httpfs",
        "PRAGMA database_list",
        "SET enable_external_access = true",
        "CALL duckdb_settings()",
        "SELECT * FROM clean_queries",
        "SELECT * FROM kafka_offsets",
        "SELECT * FROM glob('*')",
        "SELECT * FROM other.main.fact_query",
        "WITH x AS (SELECT * FROM read_parquet('a.parquet')) SELECT * FROM x",
        "",
    ],
)
def test_sql_box_refuses(sql: str) -> None:
    with pytest.raises(SqlRejected):
        validate(sql, ALLOWED)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM fact_query",
        "select query_type, count(*) from fact_query group by all;",
        "WITH a AS (SELECT * FROM fact_query) SELECT count(*) FROM a JOIN v_runs USING (run_id)",
        "SELECT * FROM (SELECT cluster FROM v_cluster_health) s",
    ],
)
def test_sql_box_accepts_selects_over_views(sql: str) -> None:
    assert validate(sql, ALLOWED).lower().startswith(("select", "with"))


@given(
    cluster=st.none() | st.text(min_size=1, max_size=20).filter(lambda s: "," not in s),
    user=st.none() | st.integers(0, 10**9),
    qtypes=st.lists(st.sampled_from(["select", "insert", "copy"]), unique=True, max_size=3),
    start=st.none() | st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2024, 12, 1)),
)
def test_filters_round_trip_through_url(cluster, user, qtypes, start) -> None:
    f = Filters("run-1", start=start, cluster=cluster or None, user=user, qtypes=tuple(qtypes))
    assert Filters.from_params(f.to_params(), "other") == f


def test_bad_url_values_are_dropped_not_passed_to_sql() -> None:
    f = Filters.from_params({"user": "1 OR 1=1", "start": "yesterday", "table": "x"}, "run-1")
    assert f == Filters("run-1")
    where, params = Filters("r", cluster="x' OR '1'='1").where()
    assert "x'" not in where and params == ["r", "x' OR '1'='1"]


def test_levels() -> None:
    f = Filters("r")
    assert f.level == "fleet"
    assert f.drill(cluster="c").level == "cluster"
    assert f.drill(cluster="c", user=1).level == "user"
    assert f.drill(cluster="c", table=3, fingerprint="ab").level == "fingerprint"
    assert f.drill(query=5).level == "query"


def test_movement_arrows() -> None:
    mod = tiles
    assert mod.movement(1, 3) == "▲ 2"
    assert mod.movement(4, 2) == "▼ 2"
    assert mod.movement(2, 2) == "="
    assert mod.movement(1, None) == "new"
    assert mod.movement(1, pd.NA) == "new"


def test_dashboard_args_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboards.data import settings_from_argv

    monkeypatch.setenv("DUCKDB_PATH", "from-env.duckdb")
    monkeypatch.setenv("DASHBOARD_REFRESH_SECONDS", "7")
    s = settings_from_argv([])
    assert (s.duckdb_path, s.refresh_seconds, s.dashboard_read_only) == (
        "from-env.duckdb",
        7.0,
        False,
    )
    s = settings_from_argv(["--db", "x.duckdb", "--read-only", "--refresh-seconds", "2.5"])
    assert (s.duckdb_path, s.refresh_seconds, s.dashboard_read_only) == ("x.duckdb", 2.5, True)
    # streamlit's / pytest's own flags are not ours and never abbreviate to ours
    assert settings_from_argv(["--ref", "9", "-q"]).refresh_seconds == 7.0


def test_bad_dashboard_arg_is_one_line_naming_the_flag() -> None:
    from dashboards.data import ArgsError, settings_from_argv

    with pytest.raises(ArgsError, match=r"--refresh-seconds.*'soon'"):
        settings_from_argv(["--refresh-seconds", "soon"])


def test_a_figure_with_nothing_known_is_na_not_zero() -> None:
    """NULL (not measured) reads n/a, a known zero stays a zero (the aggregate's tiles:
    tests/dashboards/test_aggregate_logic.py)."""
    from dashboards.units import count, data_size, duration, share

    for f in (data_size, count, duration, share):
        assert f(None) == f(float("nan")) == f(pd.NA) == "n/a"
    assert data_size(0.0) == "0 MB" and share(0) == "0.0 %"  # a known zero stays a zero
