"""Broker-free tests: migrations, batch writes (prepare/apply), window upsert rule, views."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.fixtures import fill_synthetic
from common.settings import Settings
from warehouse.materializer import Materializer
from warehouse.store import Warehouse

from .conftest import FakeMessage


def _settings() -> Settings:
    p = argparse.ArgumentParser()
    Settings.add_arguments(p)
    return Settings.from_args(p.parse_args(["--topic-prefix", "t."]))


def _msgs(s: Settings, logical: str, values: list[dict[str, Any]]) -> list[Any]:
    return [FakeMessage(s.topic(logical), json.dumps(v).encode(), i) for i, v in enumerate(values)]


def _rows(wh: Warehouse, sql: str) -> list[tuple[Any, ...]]:
    cur = wh.cursor()
    try:
        return cur.execute(sql).fetchall()
    finally:
        cur.close()


def test_migrations_are_idempotent(tmp_path: Path) -> None:
    db = str(tmp_path / "w.duckdb")
    wh = Warehouse.open(db)
    versions = wh.query("SELECT version FROM schema_version ORDER BY 1")["version"].tolist()
    assert versions == sorted(set(versions)) and len(versions) >= 2
    assert wh.migrate() == []
    wh.close()
    wh = Warehouse.open(db)  # reopening applies nothing new
    assert wh.query("SELECT version FROM schema_version ORDER BY 1")["version"].tolist() == versions
    wh.close()
    ro = Warehouse.open(db, read_only=True)
    assert ro.scalar("SELECT count(*) FROM fact_query") == 0
    ro.close()


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 2), st.booleans(), st.integers(0, 100)), min_size=1, max_size=25
    ),
    st.integers(1, 6),
)
def test_window_upsert_final_wins(records: list[tuple[int, bool, int]], batch: int) -> None:
    """Whatever the order and batching: a window holds the last final record if one was
    delivered, else the last running one."""
    s = _settings()
    wh = Warehouse.open(":memory:")
    mat = Materializer(s, wh, topics=["query_metrics"])
    values = [
        {
            "record": "window",
            "run_id": "r",
            "cluster": "c-1",
            "window_start": w * 1000,
            "window_end": (w + 1) * 1000,
            "final": final,
            "queries": q,
        }
        for w, final, q in records
    ]
    msgs = _msgs(s, "query_metrics", values)
    for i in range(0, len(msgs), batch):
        mat.write(msgs[i : i + batch])
    expected: dict[int, tuple[bool, int]] = {}
    for w, final, q in records:
        if final or not expected.get(w, (False, 0))[0]:
            expected[w] = (final, q)
    rows = _rows(
        wh, "SELECT window_start // 1000, final, (payload->>'queries')::INT FROM query_metrics"
    )
    assert {w: (f, q) for w, f, q in rows} == expected
    assert wh.scalar("SELECT next_offset FROM kafka_offsets") == len(msgs)
    wh.close()


def test_failed_batch_rolls_back_rows_and_offsets() -> None:
    s = _settings()
    wh = Warehouse.open(":memory:")
    mat = Materializer(s, wh, topics=["leaderboard", "dead_letters"])
    good = _msgs(s, "dead_letters", [{"run_id": "r", "file": "f", "row": 1, "reason": "x"}])
    bad = _msgs(s, "leaderboard", [{"run_id": "r"}])  # no board: the batch must fail whole
    with pytest.raises(KeyError):
        mat.write(good + bad)
    assert wh.scalar("SELECT count(*) FROM rejects") == 0
    assert wh.scalar("SELECT count(*) FROM kafka_offsets") == 0
    mat.write(good)
    mat.write(good)  # redelivered
    assert wh.scalar("SELECT count(*) FROM rejects") == 1
    wh.close()


def test_run_compare_and_fleet_views_match_pandas() -> None:
    wh = Warehouse.open(":memory:")
    fill_synthetic(wh, 3000, seed=1, run_id="a")
    fill_synthetic(wh, 2000, seed=2, run_id="b")
    df = wh.query("SELECT * FROM clean_queries")
    cmp = wh.query("SELECT * FROM run_compare('a', 'b')").set_index("metric")
    for run, col in (("a", "run_a"), ("b", "run_b")):
        d = df[df["run_id"] == run]
        assert cmp.loc["queries", col] == len(d)
        assert cmp.loc["cache_hit_rate", col] == pytest.approx(d["was_cached"].mean())
        assert cmp.loc["abort_rate", col] == pytest.approx(d["was_aborted"].mean())
        assert cmp.loc["mbytes_scanned", col] == pytest.approx(d["mbytes_scanned"].sum())
    assert cmp.loc["queries", "difference"] == 2000 - 3000
    health = wh.query(
        "SELECT run_id, sum(queries) AS q FROM v_cluster_health GROUP BY 1 ORDER BY 1"
    )
    assert health["q"].tolist() == [3000, 2000]
    runs = wh.query("SELECT run_id, clean_rows FROM v_runs ORDER BY 1")
    assert runs["clean_rows"].tolist() == [3000, 2000]
    wh.close()


def test_leaderboard_prev_rank() -> None:
    s = _settings()
    wh = Warehouse.open(":memory:")
    mat = Materializer(s, wh, topics=["leaderboard"])

    def board(variant: str, w: int, entities: list[str]) -> dict[str, Any]:
        return {
            "record": "board",
            "run_id": "r",
            "board": "b",
            "variant": variant,
            "window_start": w * 1000,
            "window_end": (w + 1) * 1000,
            "entries": [
                {"rank": i + 1, "entity": e, "value": float(10 - i)} for i, e in enumerate(entities)
            ],
        }

    boards = [board("final", 0, ["x", "y"]), board("final", 1, ["y", "z"])]
    boards.append(board("current", 2, ["z", "x"]))
    mat.write(_msgs(s, "leaderboard", boards))
    lb = _rows(wh, "SELECT epoch(window_start)::INT, entity, rank, prev_rank FROM v_leaderboard")
    got = {(w, e): (r, p) for w, e, r, p in lb}
    assert got[(1, "y")] == (1, 2)  # was 2nd on window 0
    assert got[(1, "z")] == (2, None)  # new on this board
    assert got[(0, "x")] == (1, None) and got[(0, "y")] == (2, None)  # no previous window
    assert got[(2, "z")] == (1, 2) and got[(2, "x")][0] == 2
    latest = wh.query(
        "SELECT DISTINCT variant, epoch(window_start)::INT AS w FROM v_leaderboard_latest"
    )
    assert latest.values.tolist() == [["current", 2]]
    wh.close()


def test_export_refuses_unknown_relation(tmp_path: Path) -> None:
    from warehouse.export import export

    db = str(tmp_path / "w.duckdb")
    Warehouse.open(db).close()
    with pytest.raises(ValueError, match="no table or view"):
        export(db, "nope; DROP TABLE x", str(tmp_path / "o.csv"))
    assert export(db, "fact_query", str(tmp_path / "o.csv")) == 0
    con = duckdb.connect()
    assert con.execute(f"SELECT count(*) FROM read_csv('{tmp_path / 'o.csv'}')").fetchone() == (0,)
    con.close()


def test_views_keep_sql_null_semantics_for_unmeasured_values() -> None:
    """fact_query keeps the NULLs (every result-cache hit has NULL MB and compile time);
    the views' sums, known-counts and means are over known values, the dashboards' totals
    count every query in the rates."""
    wh = Warehouse.open(":memory:")
    fill_synthetic(wh, 3000, seed=3, run_id="n")
    df = wh.query("SELECT * FROM fact_query")
    cached = df[df["was_cached"]]
    assert len(cached) > 0 and cached["mbytes_scanned"].isna().all()
    assert cached["compile_duration_ms"].isna().all()
    health = wh.query(
        "SELECT sum(queries) AS q, sum(mbytes_known) AS mk, sum(compile_known) AS ck, "
        "sum(mbytes_scanned) AS mb FROM v_cluster_health"
    ).iloc[0]
    assert health["q"] == len(df)
    assert health["mk"] == df["mbytes_scanned"].notna().sum() < len(df)
    assert health["ck"] == df["compile_duration_ms"].notna().sum() < len(df)
    assert health["mb"] == pytest.approx(df["mbytes_scanned"].sum())  # pandas skips NaN too
    fleet = wh.query(
        "SELECT sum(queries) AS q, sum(cached) AS c, sum(mbytes_scanned_known) AS mk, "
        "sum(total_known) AS tk FROM v_fleet_kpi"
    ).iloc[0]
    assert fleet["q"] == len(df) and fleet["c"] == len(cached)
    assert fleet["mk"] == df["mbytes_scanned"].notna().sum()
    assert fleet["tk"] == df["total_duration_ms"].notna().sum()
    cm = wh.query("SELECT sum(queries) AS q, sum(compile_known) AS k FROM v_compile_metrics")
    assert cm["k"].item() == df["compile_duration_ms"].notna().sum() < cm["q"].item()
    wh.close()
