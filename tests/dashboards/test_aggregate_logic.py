"""The aggregate page's pure logic: ranges, tiles, boards (against the stream's own
ranking over the same rows), links, trends."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import duckdb
import pandas as pd
import pytest

from dashboards import boards_view, overview, trends, units
from dashboards.queries import Data, Filters
from dashboards.tiles import METRICS, headline, points
from processors.logic.leaderboard import board_values, lb_row, top_k
from warehouse.store import Warehouse

LAST = datetime(2024, 3, 14, 23, 58, 12)
H = timedelta(hours=1)


def test_ranges_end_at_the_newest_complete_hour() -> None:
    live = overview.period("hour", LAST, live=True)
    assert (live.start, live.end) == (datetime(2024, 3, 14, 22), datetime(2024, 3, 14, 23))
    assert live.cmp_prev == (datetime(2024, 3, 14, 21), datetime(2024, 3, 14, 22))
    done = overview.period("hour", LAST, live=False)
    assert (done.start, done.end) == (datetime(2024, 3, 14, 23), datetime(2024, 3, 15))
    day = overview.period("day", LAST, live=False)
    assert day.cmp_cur[1] - day.cmp_cur[0] == timedelta(days=1) and day.cmp_prev[1] == day.start
    week = overview.period("week", LAST, live=True)
    assert week.cmp_cur[1] - week.cmp_cur[0] == timedelta(days=7)
    assert (week.start, week.end) == week.cmp_cur and "7 days before" in week.compare


def test_whole_run_is_unbounded_with_week_over_week() -> None:
    p = overview.period("run", LAST, live=False)
    assert (p.start, p.end) == (None, None)
    assert p.filters("r") == Filters("r")
    end = datetime(2024, 3, 15)
    assert p.cmp_cur == (end - timedelta(days=7), end)
    assert p.cmp_prev == (end - timedelta(days=14), end - timedelta(days=7))
    assert p.span() == "Whole run"
    assert overview.default_ranges(live=False) == ["run"]
    assert overview.default_ranges(live=True) == ["hour", "day"]


def test_span_names_the_range() -> None:
    assert overview.period("hour", LAST, True).span() == "Last hour · 2024-03-14 22:00 - 23:00"
    assert overview.period("day", LAST, False).span() == (
        "Last 24 h · 2024-03-14 00:00 - 03-15 00:00"
    )


@pytest.mark.parametrize(
    ("span", "grain"),
    [
        (H, "5min"),
        (3 * H, "5min"),
        (4 * H, "hour"),
        (timedelta(days=3), "hour"),
        (timedelta(days=4), "day"),
        (timedelta(days=90), "day"),
    ],
)
def test_trend_grain(span: timedelta, grain: str) -> None:
    assert overview.grain_for(span) == grain


FIGS = {
    "queries": 1000,
    "p95_ms": 2500.0,
    "abort_rate": 0.01,
    "cache_hit_rate": 0.2,
    "mb_scanned": 3 * 1024**2,
    "mb_spilled": 512.0,
}


def _tiles(cur: dict, prev: dict | None) -> dict:
    return {t.label: t for t in headline(cur, cur, prev)}


def test_tiles_colour_by_meaning() -> None:
    worse = dict(
        FIGS,
        queries=1250,
        p95_ms=3000.0,
        abort_rate=0.02,
        cache_hit_rate=0.3,
        mb_scanned=2 * 1024**2,
        mb_spilled=1024.0,
    )
    t = _tiles(worse, FIGS)
    assert (t["Queries"].value, t["Queries"].delta, t["Queries"].color) == (
        "1,250",
        "+25.0 %",
        "off",
    )
    assert (t["p95 latency"].value, t["p95 latency"].delta) == ("3.0 s", "+500 ms")
    assert t["p95 latency"].color == "inverse"  # up is red
    assert (t["Abort rate"].delta, t["Abort rate"].color) == ("+1.0 pp", "inverse")
    assert (t["Cache-hit rate"].delta, t["Cache-hit rate"].color) == ("+10.0 pp", "normal")
    assert (t["Data scanned"].value, t["Data scanned"].delta) == ("2.0 TB", "-33.3 %")
    assert t["Data scanned"].color == "off"  # more data read is neither good nor bad
    assert (t["Data spilled"].delta, t["Data spilled"].color) == ("+100.0 %", "inverse")
    assert all(x.arrow == "auto" for x in t.values())


def test_an_unchanged_figure_is_grey_without_arrow() -> None:
    # a change that does not show in the figure's unit is no change either
    t = _tiles(dict(FIGS, p95_ms=2500.2, queries=1000), FIGS)
    for label in ("Queries", "p95 latency", "Abort rate"):
        assert (t[label].delta, t[label].color, t[label].arrow) == ("no change", "off", "off")


def test_the_whole_runs_change_names_its_period() -> None:
    t = {x.label: x for x in headline(FIGS, dict(FIGS, queries=1100), FIGS, per="wk/wk")}
    assert t["Queries"].delta == "+10.0 % wk/wk" and t["Queries"].arrow == "auto"
    assert t["p95 latency"].delta == "no change" and t["p95 latency"].color == "off"


def test_a_change_from_nothing_is_in_the_figures_unit() -> None:
    t = _tiles(
        dict(FIGS, mb_spilled=2048.0, mb_scanned=0.0), dict(FIGS, mb_spilled=0.0, mb_scanned=0.0)
    )
    assert (t["Data spilled"].delta, t["Data spilled"].color) == ("+2.0 GB", "inverse")
    assert (t["Data scanned"].delta, t["Data scanned"].arrow) == ("no change", "off")


def test_unknown_figures_read_na_and_have_no_delta() -> None:
    unknown = dict(FIGS, p95_ms=None, mb_scanned=float("nan"), mb_spilled=pd.NA)
    t = _tiles(unknown, FIGS)
    for label in ("p95 latency", "Data scanned", "Data spilled"):
        assert (t[label].value, t[label].delta, t[label].color) == ("n/a", None, "off")
    # no earlier period, or an empty one: no delta at all, never a change against nothing
    for prev in (None, dict(FIGS, queries=0)):
        assert all(x.delta is None for x in _tiles(FIGS, prev).values())
    assert [m.label for m in METRICS] == list(_tiles(FIGS, None))


def test_points() -> None:
    assert points(0.0123) == "1.2 pp" and points(0.0004) == "0.04 pp"


def test_readable_names_and_links_round_trip() -> None:
    assert boards_view.readable("cluster", "serverless-134", None) == "serverless-134"
    assert boards_view.readable("user", "serverless-134", 703167) == "user 703167 on serverless-134"
    assert boards_view.readable("query", "provisioned-3", 12.0) == "query 12 on provisioned-3"
    f = Filters("run 1", start=datetime(2024, 3, 1), end=datetime(2024, 3, 8))
    for kind, ident, field in (("user", 7, "user"), ("table", 106, "table"), ("query", 9, "query")):
        url = boards_view.link("http://h:1/", f, kind, "serverless-1", ident)
        parts = urlsplit(url)
        assert url.startswith("http://h:1/?")
        back = Filters.from_params(dict(parse_qsl(parts.query)), "other")
        assert back == f.drill(cluster="serverless-1", **{field: ident})
    url = boards_view.link("http://h:1", f, "cluster", "provisioned-2", None)
    assert Filters.from_params(dict(parse_qsl(urlsplit(url).query)), "x").level == "cluster"


def test_expert_url_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(boards_view.EXPERT_URL_ENV, raising=False)
    assert boards_view.expert_url() == boards_view.DEFAULT_EXPERT_URL
    monkeypatch.setenv(boards_view.EXPERT_URL_ENV, " http://e:8 ")
    assert boards_view.expert_url() == "http://e:8"


def _board(name: str) -> boards_view.Board:
    return next(b for b in boards_view.BOARDS if b.name == name)


def test_markdown_board_escapes_names_and_moves() -> None:
    top = pd.DataFrame(
        {
            "rank": [1, 2],
            "entity": ["a|b/1", "c/2"],
            "cluster": ["a|b", "c"],
            "ident": [1, 2],
            "value": [3_600_000.0, 60_000.0],
        }
    )
    prev = pd.DataFrame({"rank": [1], "entity": ["c/2"]})
    md = boards_view.markdown(_board("top_users_by_runtime"), top, prev, Filters("r"), "http://x")
    lines = md.splitlines()
    assert lines[0] == "| # | move | user | total runtime |"
    assert lines[2].startswith(
        "| 1 | new | [user 1 on a\\|b](http://x/?run_id=r&cluster=a%7Cb&user=1)"
    )
    assert lines[2].endswith("| 1.0 h |") and lines[3].startswith("| 2 | ▼ 1 |")
    # a query is on one period only: no movement column; no previous period: none either
    q = boards_view.markdown(_board("longest_compiles"), top, prev, Filters("r"), "http://x")
    assert q.splitlines()[0] == "| # | query | compile time |"
    none = boards_view.markdown(_board("top_users_by_runtime"), top, None, Filters("r"), "x")
    assert "move" not in none


@pytest.mark.parametrize("rng", ["run", "day"])
def test_boards_equal_the_streams_ranking_over_the_same_rows(filled_db: str, rng: str) -> None:
    """Each SQL board over a range is what processors/logic/leaderboard.py ranks from the rows."""
    con = duckdb.connect(filled_db, read_only=True)
    try:
        (last,) = con.execute("SELECT max(arrival_timestamp) FROM clean_queries").fetchone()  # type: ignore[misc]
        p = overview.period(rng, last, live=False)
        f = p.filters("run-a")
        where, params = f.where()
        recs = con.execute(f"SELECT * FROM clean_queries WHERE {where}", params).fetch_df()
    finally:
        con.close()
    recs = recs.astype(object).where(recs.notna(), None)
    rows = [lb_row({str(k): v for k, v in r.items()}) for r in recs.to_dict("records")]
    for r in rows:  # arrays arrive as numpy arrays
        r[7], r[8] = (None if x is None else [int(i) for i in x] for x in (r[7], r[8]))
    expect = board_values(rows)
    wh = Warehouse.open(filled_db, read_only=True)
    try:
        data = Data(wh)
        for board in boards_view.BOARDS:
            got = boards_view.ranked(data, board.name, f, 10)
            want = top_k(expect[board.name], 10)
            assert list(zip(got["entity"], got["value"], strict=True)) == want, board.name
            assert list(got["rank"]) == list(range(1, len(want) + 1))
    finally:
        wh.close()


def test_trend_frames_are_smoothed_with_human_tooltips() -> None:
    df = pd.DataFrame(
        {
            "t": pd.date_range("2024-03-01", periods=9, freq="D"),
            "queries": [10, 20, 30] * 3,
            "p95_ms": [1000.0, None, 0.0] * 3,
            "cache_hit_rate": [0.5] * 9,
            "abort_rate": [0.0] * 9,
            "mb_scanned": [None] * 9,
        }
    )
    d = trends.prepare(df, "day")
    assert d["queries_smooth"].iloc[1] == 15  # the first buckets average what there is
    assert d["queries_smooth"].iloc[8] == pytest.approx(sum([30, 10, 20, 30, 10, 20, 30]) / 7)
    assert list(d["p95 latency"][:3]) == ["1.0 s", units.UNKNOWN, "0 ms"]
    assert d["Data scanned"].iloc[0] == "n/a" and d["when"].iloc[0] == "2024-03-01"
    for chart in trends.charts(df, "day"):
        chart.to_dict()  # a valid Vega-Lite spec
    mix = pd.DataFrame(
        {"query_type": ["select", "insert"], "queries": [3, 1], "share": [0.75, 0.25]}
    )
    assert "75.0 %" in trends.mix_chart(mix).to_json()


def test_a_bucket_without_queries_is_zero_not_skipped() -> None:
    df = pd.DataFrame(
        {
            "t": pd.to_datetime(["2024-03-01", "2024-03-03"]),
            "queries": [4, 6],
            "p95_ms": [10.0, 30.0],
            "cache_hit_rate": [0.5, 1.0],
            "abort_rate": [0.0, 0.0],
            "mb_scanned": [1.0, 2.0],
        }
    )
    d = trends.prepare(df, "day")
    assert list(d["queries"]) == [4, 0, 6]
    assert list(d["p95 latency"]) == ["10 ms", units.UNKNOWN, "30 ms"]
    assert d["cache_hit_rate_smooth"].iloc[2] == pytest.approx(0.75)  # the gap is skipped
