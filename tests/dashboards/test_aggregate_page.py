"""AppTest of the aggregate page: every figure against a DuckDB query over the same file."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from dashboards import units
from dashboards.boards_view import BOARDS, EXPERT_URL_ENV
from dashboards.queries import Filters

from .conftest import AGGREGATE
from .expert_page import open_script

RUN = "run-a"
LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
WHOLE_RUN_SQL = """SELECT count(*), quantile_cont(total_duration_ms, 0.95), avg(was_aborted::INT),
    avg(was_cached::INT), sum(mbytes_scanned), sum(mbytes_spilled) FROM clean_queries
    WHERE run_id = ? {extra}"""


def _q(db: str, sql: str, params: list | None = None) -> tuple[Any, ...]:
    con = duckdb.connect(db, read_only=True)
    try:
        row = con.execute(sql, params or []).fetchone()
        assert row is not None
        return row
    finally:
        con.close()


def _run(db: str, dash_env, **params: str) -> AppTest:
    dash_env(db)
    return open_script(AGGREGATE, **params)


def _tiles(at: AppTest) -> dict[str, Any]:
    return {m.label: m for m in at.metric}


def _texts(at: AppTest) -> list[str]:
    """Every text a reader sees: tiles, markdown, captions, notices, chart specs."""
    out = [f"{m.label} {m.value} {m.proto.delta}" for m in at.metric]
    for kind in ("markdown", "caption", "info", "warning", "error", "subheader"):
        out += [str(getattr(e, "value", "")) for e in at.get(kind)]
    out += [str(e.proto.spec) for e in at.get("vega_lite_chart")]
    return out


def _hour_bounds(db: str, live: bool) -> tuple[Any, Any]:
    """The newest complete hour, computed in DuckDB: live, the hour before the one holding
    the newest event; finished, that hour itself."""
    shift = "- INTERVAL 1 HOUR" if live else ""
    return _q(
        db,
        f"SELECT date_trunc('hour', max(arrival_timestamp)) {shift}, "
        f"date_trunc('hour', max(arrival_timestamp)) {shift} + INTERVAL 1 HOUR "
        "FROM clean_queries WHERE run_id = ?",
        [RUN],
    )


def test_finished_run_defaults_to_the_whole_run(filled_db: str, dash_env) -> None:
    at = _run(filled_db, dash_env)
    assert at.segmented_control(key="range").value == ["run"]
    n, p95, aborts, hits, scanned, spilled = _q(filled_db, WHOLE_RUN_SQL.format(extra=""), [RUN])
    (clean,) = _q(filled_db, "SELECT clean_rows FROM v_runs WHERE run_id = ?", [RUN])
    t = _tiles(at)
    assert n == clean > 0
    assert t["Queries"].value == units.count(n)
    assert t["p95 latency"].value == units.duration(p95)
    assert t["Abort rate"].value == units.share(aborts)
    assert t["Cache-hit rate"].value == units.share(hits)
    assert t["Data scanned"].value == units.data_size(scanned)
    assert t["Data spilled"].value == units.data_size(spilled)
    assert any("Whole run" in c.value and "last 7 days" in c.value for c in at.caption)
    assert not any("running" in s for s in _texts(at))


def test_the_range_control_changes_the_figures(filled_db: str, dash_env) -> None:
    at = _run(filled_db, dash_env)
    whole = _tiles(at)["Queries"].value
    at.segmented_control(key="range").set_value(["hour"]).run()
    assert not at.exception, at.exception
    start, end = _hour_bounds(filled_db, live=False)
    n, p95, *_ = _q(
        filled_db,
        WHOLE_RUN_SQL.format(extra="AND arrival_timestamp >= ? AND arrival_timestamp < ?"),
        [RUN, start, end],
    )
    t = _tiles(at)
    assert t["Queries"].value == units.count(n) != whole
    assert t["p95 latency"].value == units.duration(p95)
    assert at.query_params["range"] == "hour"  # a bookmark keeps the range
    # the boards follow the range: the hour's busiest cluster leads
    (top,) = _q(
        filled_db,
        "SELECT cluster FROM clean_queries WHERE run_id = ? AND arrival_timestamp >= ? "
        "AND arrival_timestamp < ? GROUP BY cluster ORDER BY sum(execution_duration_ms) DESC, cluster LIMIT 1",
        [RUN, start, end],
    )
    busiest = next(m.value for m in at.markdown if m.value.startswith("| # |"))
    assert LINK.search(busiest).group(1) == top  # type: ignore[union-attr]


def test_the_range_in_the_url_and_several_ranges(filled_db: str, dash_env) -> None:
    at = _run(filled_db, dash_env, range="day,week")
    assert at.segmented_control(key="range").value == ["day", "week"]
    assert len(at.metric) == 2 * 6  # one row of tiles per range
    labels = [c.value for c in at.caption if c.value.startswith("**Last")]
    assert labels[0].startswith("**Last 24 h") and labels[1].startswith("**Last 7 days")


def test_an_unknown_range_in_the_url_falls_back_to_the_default(filled_db: str, dash_env) -> None:
    at = _run(filled_db, dash_env, range="../../etc,x' OR 1=1")
    assert at.segmented_control(key="range").value == ["run"]
    assert "range" not in at.query_params
    (n,) = _q(filled_db, "SELECT count(*) FROM clean_queries WHERE run_id = ?", [RUN])
    assert _tiles(at)["Queries"].value == units.count(n)


def test_no_nan_and_units_everywhere(filled_db: str, dash_env) -> None:
    for rng in ("run", "hour", "week"):
        at = _run(filled_db, dash_env, range=rng)
        for text in _texts(at):
            assert not re.search(r"\bnan\b|\bNaN\b|None", text), text
        t = _tiles(at)
        assert re.fullmatch(r"[\d,.]+ (ms|s|min|h|d)", t["p95 latency"].value)
        for label in ("Abort rate", "Cache-hit rate"):
            assert re.fullmatch(r"[\d.]+ %", t[label].value)
        for label in ("Data scanned", "Data spilled"):
            assert re.fullmatch(r"[\d,.]+ (MB|GB|TB|PB)", t[label].value)


def test_delta_colours_follow_each_metric_meaning(filled_db: str, dash_env) -> None:
    """Whole run: week over week. The sign of each change comes from DuckDB; the colour
    must be green where the change is good, red where bad, grey for a count."""
    at = _run(filled_db, dash_env)
    (end,) = _q(
        filled_db,
        "SELECT date_trunc('hour', max(arrival_timestamp)) + INTERVAL 1 HOUR FROM clean_queries WHERE run_id = ?",
        [RUN],
    )
    week = (
        "AND arrival_timestamp >= ? - INTERVAL {a} DAY AND arrival_timestamp < ? - INTERVAL {b} DAY"
    )
    cur = _q(filled_db, WHOLE_RUN_SQL.format(extra=week.format(a=7, b=0)), [RUN, end, end])
    prev = _q(filled_db, WHOLE_RUN_SQL.format(extra=week.format(a=14, b=7)), [RUN, end, end])
    better = {"p95 latency": (1, -1), "Abort rate": (2, -1), "Cache-hit rate": (3, 1)}
    better |= {"Data spilled": (5, -1)}
    t = _tiles(at)
    for label, (i, good) in better.items():
        m = t[label].proto
        if m.delta == "no change":
            assert m.color == m.GRAY and m.direction == m.NONE
            continue
        moved = 1 if cur[i] > prev[i] else -1
        assert m.direction == (m.UP if moved > 0 else m.DOWN), label
        assert m.color == (m.GREEN if moved == good else m.RED), label
    for label in ("Queries", "Data scanned"):  # no better direction
        assert t[label].proto.color == t[label].proto.GRAY
    # the whole run's tile shows the run; its change is the last week's, and says so
    assert t["Queries"].proto.delta == f"{units.relative_change(cur[0], prev[0])} wk/wk"


def test_every_board_is_present_with_well_formed_links(
    filled_db: str, dash_env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(EXPERT_URL_ENV, "http://expert.example:9123/")
    at = _run(filled_db, dash_env)
    md = [m.value for m in at.markdown]
    for board in BOARDS:
        assert f"**{board.title}** · {board.unit}" in md
    tables = [m for m in md if m.startswith("| # |")]
    assert len(tables) == len(BOARDS)
    con = duckdb.connect(filled_db, read_only=True)
    try:
        for table in tables:
            for name, url in LINK.findall(table):
                parts = urlsplit(url)
                assert (parts.scheme, parts.netloc, parts.path) == (
                    "http",
                    "expert.example:9123",
                    "/",
                )
                params = dict(parse_qsl(parts.query, strict_parsing=True))
                f = Filters.from_params(params, "x")
                assert f.to_params() == params  # nothing dropped: every value valid
                assert f.run_id == RUN and f.cluster and f.cluster in name
                where, values = f.where()
                (n,) = con.execute(
                    f"SELECT count(*) FROM fact_query WHERE {where}", values
                ).fetchone()  # type: ignore[misc]
                assert n > 0, url  # the link leads to queries
    finally:
        con.close()
    # readable names, never the processor's keys
    assert not re.search(r"run-a/|/\d+\]", " ".join(tables))


def test_whole_run_board_is_the_whole_runs_top_k(filled_db: str, dash_env) -> None:
    at = _run(filled_db, dash_env)
    con = duckdb.connect(filled_db, read_only=True)
    try:
        rows = con.execute(
            "SELECT cluster, user_id FROM clean_queries WHERE run_id = ? AND user_id IS NOT NULL",
            [RUN],
        ).fetchall()
    finally:
        con.close()
    counts: dict[tuple[str, int], int] = {}
    for cluster, user in rows:
        counts[(cluster, user)] = counts.get((cluster, user), 0) + 1
    expect = sorted(counts.items(), key=lambda kv: (-kv[1], f"{kv[0][0]}/{kv[0][1]}"))[:10]
    table = next(m.value for m in at.markdown if "| user | queries |" in m.value)
    got = [
        (name, value) for name, value in re.findall(r"\[([^\]]+)\]\([^)]+\) \| ([\d,]+) \|", table)
    ]
    assert got == [(f"user {u} on {c}", units.count(n)) for (c, u), n in expect]


def _live_page(db: str) -> None:
    from dashboards.aggregate import render
    from dashboards.queries import Data
    from warehouse.store import Warehouse

    render(Data(Warehouse.open(db, read_only=True)), 3.0, True, {}, 10)


def test_live_run_defaults_to_the_last_hour_and_day(filled_db: str) -> None:
    at = AppTest.from_function(_live_page, args=(filled_db,), default_timeout=60).run()
    assert not at.exception, at.exception
    assert at.segmented_control(key="range").value == ["hour", "day"]
    start, end = _hour_bounds(filled_db, live=True)
    (n,) = _q(
        filled_db,
        "SELECT count(*) FROM clean_queries WHERE run_id = ? AND arrival_timestamp >= ? AND arrival_timestamp < ?",
        [RUN, start, end],
    )
    (day,) = _q(
        filled_db,
        "SELECT count(*) FROM clean_queries WHERE run_id = ? AND arrival_timestamp >= ? - INTERVAL 1 DAY "
        "AND arrival_timestamp < ?",
        [RUN, end, end],
    )
    queries = [m for m in at.metric if m.label == "Queries"]
    assert [m.value for m in queries] == [units.count(n), units.count(day)]
    heads = [c.value for c in at.caption if c.value.startswith("**Last")]
    assert "the hour before" in heads[0] and "the 24 h before" in heads[1]
    assert any("complete period" in m.value for m in at.markdown)  # boards of that hour


def test_empty_states_say_what_is_missing(filled_db: str, tmp_path: Path) -> None:
    """A live run whose newest complete hour holds no query, and where no query spilled."""
    db = str(tmp_path / "gaps.duckdb")
    shutil.copy(filled_db, db)
    start, end = _hour_bounds(filled_db, live=True)
    con = duckdb.connect(db)
    con.execute(
        "DELETE FROM clean_queries WHERE arrival_timestamp >= ? AND arrival_timestamp < ?",
        [start, end],
    )
    con.execute("UPDATE clean_queries SET mbytes_spilled = 0")
    con.close()
    at = AppTest.from_function(_live_page, args=(db,), default_timeout=60).run()
    assert not at.exception, at.exception
    assert any(i.value.startswith("No queries in this range (Last hour") for i in at.info)
    assert len(at.metric) == 6  # the day's row only
    at.segmented_control(key="range").set_value(["run"]).run()
    assert "Empty: no query in this range spilled to disk." in [c.value for c in at.caption]
    for text in _texts(at):
        assert not re.search(r"\bnan\b|\bNaN\b", text), text


def test_a_long_run_trends_per_day_and_per_week(filled_db: str, dash_env, tmp_path: Path) -> None:
    at = _run(filled_db, dash_env)
    assert not at.tabs  # two weeks: per day only
    assert "Queries per day" in " ".join(_texts(at))
    db = str(tmp_path / "long.duckdb")
    shutil.copy(filled_db, db)
    con = duckdb.connect(db)
    con.execute(  # the same queries spread over fourteen weeks
        "UPDATE clean_queries SET arrival_timestamp = TIMESTAMP '2024-03-01' "
        "+ (arrival_timestamp - TIMESTAMP '2024-03-01') * 7"
    )
    con.close()
    at = _run(db, dash_env)
    assert [t.label for t in at.tabs] == ["Per day", "Per week"]
    specs = " ".join(_texts(at))
    assert "Queries per day" in specs and "Queries per week" in specs
