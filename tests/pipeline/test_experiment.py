"""Experiment runner end to end on a Redset-shaped CSV written by DuckDB from a Parquet file.

Expectations come from the generator's manifest (which rows are bad or duplicated) and one
DuckDB query over the input CSV, never from the warehouse code under test. The file has the
real files' NULL measures (every result-cache hit, a few other rows): the fleet figures in
fact_query, the views and the dashboards' totals must equal SQL over the file (sums over
known values, rates over every query), and only the manifest's rows may be dead letters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from common.settings import Settings
from pipeline.experiment import run_experiment
from producers.synthetic import SyntheticSpec, write
from warehouse.store import Warehouse

pytestmark = pytest.mark.integration


def _expected(csv: Path, bad_rows: list[int]) -> dict[str, Any]:
    con = duckdb.connect()
    con.execute("SET threads = 1")  # keep the file's row order for row_number()
    con.execute("CREATE TABLE bad (rn BIGINT)")
    con.executemany("INSERT INTO bad VALUES (?)", [[r] for r in bad_rows])
    by_type = dict(
        con.execute(
            f"""WITH src AS (SELECT *, row_number() OVER () AS rn FROM read_csv('{csv}', all_varchar=true))
                SELECT query_type, count(*) FROM src ANTI JOIN bad USING (rn) GROUP BY 1"""
        ).fetchall()
    )
    cur = con.execute(
        f"""WITH src AS (SELECT *, row_number() OVER () AS rn FROM read_csv('{csv}', all_varchar=true)),
            t AS (SELECT *, compile_duration_ms::DOUBLE AS c, queue_duration_ms::DOUBLE AS q,
                         execution_duration_ms::DOUBLE AS e FROM src ANTI JOIN bad USING (rn))
            SELECT count(*) AS queries,
                   count(*) FILTER (WHERE lower(was_cached) IN ('true', '1')) AS cached,
                   count(*) FILTER (WHERE lower(was_aborted) IN ('true', '1')) AS aborted,
                   avg((lower(was_cached) IN ('true', '1'))::INT) AS cache_hit_rate,
                   avg((lower(was_aborted) IN ('true', '1'))::INT) AS abort_rate,
                   sum(c) AS compile_ms, sum(q) AS queue_ms, sum(e) AS exec_ms, sum(q + e) AS total_ms,
                   count(c) AS compile_known,
                   sum(mbytes_scanned::DOUBLE) AS mb_scanned, sum(mbytes_spilled::DOUBLE) AS mb_spilled,
                   count(mbytes_scanned) AS mb_known
            FROM t"""
    )
    row = cur.fetchone()
    assert row is not None
    out: dict[str, Any] = dict(zip([d[0] for d in cur.description], row, strict=True))
    con.close()
    return {"by_type": by_type, **out}


def test_experiment_reconciles_on_duckdb_written_csv(
    topic_settings: Settings, tmp_path: Path
) -> None:
    spec = SyntheticSpec(
        rows=3000, seed=11, clusters=6, kind="mixed", days=1.0, error_rate=0.02, duplicate_rate=0.01
    )
    parquet = tmp_path / "redset.parquet"
    data = write(spec, parquet)
    csv = tmp_path / "redset.csv"
    with duckdb.connect() as con:  # own connection: the module default is shared by tests
        con.execute(f"COPY (SELECT * FROM '{parquet}') TO '{csv}' (FORMAT CSV, HEADER)")
    injected = data.injected.to_pylist()
    bad_rows = [int(r["row"]) for r in injected]
    n_dead = sum(1 for r in injected if r["kind"] != "duplicate")
    n_dup = sum(1 for r in injected if r["kind"] == "duplicate")
    assert n_dead > 0 and n_dup > 0  # the file really has bad rows
    expected = _expected(csv, bad_rows)
    # ... and the real files' NULLs: cache hits, NULL compile times and MB
    assert isinstance(expected["queries"], int) and expected["cached"]
    assert expected["compile_known"] < expected["queries"]
    assert expected["mb_known"] < expected["queries"]

    db = tmp_path / "out.duckdb"
    run_id, summary, checks = run_experiment(
        str(csv), str(db), topic_settings, idle_s=6.0, timeout_s=600.0, progress=False
    )
    assert [c.name for c in checks if not c.ok] == []
    assert summary.rows_read == data.table.num_rows

    wh = Warehouse.open(str(db), read_only=True)
    try:
        runs = wh.query("SELECT * FROM v_runs WHERE run_id = ?", [run_id])
        assert runs["raw_rows"].item() == data.table.num_rows
        assert runs["clean_rows"].item() == expected["queries"]
        assert runs["dead_letter_rows"].item() == n_dead
        assert runs["duplicate_rows"].item() == n_dup
        # the dead letters are exactly the manifest's bad rows, with its reason and field
        dl = wh.query(
            "SELECT row, reason, field, file FROM dead_letters WHERE run_id = ?", [run_id]
        )
        assert {
            (int(r), str(why), f)
            for r, why, f in zip(dl["row"], dl["reason"], dl["field"], strict=True)
        } == {(int(r["row"]), r["kind"], r["field"]) for r in injected if r["kind"] != "duplicate"}
        assert set(dl["file"]) == {str(csv)}

        fact = wh.query(
            """SELECT count(*) AS queries, count(*) FILTER (WHERE was_cached) AS cached,
                      count(*) FILTER (WHERE was_aborted) AS aborted,
                      sum(compile_duration_ms) AS compile_ms, sum(queue_duration_ms) AS queue_ms,
                      sum(execution_duration_ms) AS exec_ms, sum(total_duration_ms) AS total_ms,
                      count(compile_duration_ms) AS compile_known,
                      sum(mbytes_scanned) AS mb_scanned, sum(mbytes_spilled) AS mb_spilled,
                      count(mbytes_scanned) AS mb_known
               FROM fact_query WHERE run_id = ?""",
            [run_id],
        ).iloc[0]
        for k in (
            "queries",
            "cached",
            "aborted",
            "compile_ms",
            "queue_ms",
            "exec_ms",
            "total_ms",
            "compile_known",
            "mb_known",
        ):
            assert fact[k] == expected[k], k
        for k in ("mb_scanned", "mb_spilled"):
            assert fact[k] == pytest.approx(expected[k], rel=1e-9), k
        # the dashboards' whole-run figures (aggregate and expert pages) are the file's
        from dashboards.queries import Data, Filters

        totals = Data(wh).totals(Filters(run_id))
        assert totals["queries"] == expected["queries"]
        assert totals["cache_hit_rate"] == pytest.approx(expected["cache_hit_rate"], abs=1e-12)
        assert totals["abort_rate"] == pytest.approx(expected["abort_rate"], abs=1e-12)
        assert totals["gb_scanned"] * 1024 == pytest.approx(expected["mb_scanned"], rel=1e-9)
        windows = wh.query(
            """SELECT sum(queue_ms_sum) AS queue_ms, sum(execution_ms_sum) AS exec_ms,
                      sum(total_ms_sum) AS total_ms, sum(mbytes_spilled) AS mb_spilled,
                      sum(mbytes_scanned_known) AS mb_known
               FROM v_query_metrics WHERE run_id = ? AND cluster = 'fleet'""",
            [run_id],
        ).iloc[0]
        for k in ("queue_ms", "exec_ms", "total_ms", "mb_known"):
            assert windows[k] == expected[k], k
        assert windows["mb_spilled"] == pytest.approx(expected["mb_spilled"], rel=1e-9)
        compile_ = wh.query(
            """SELECT sum(compile_ms_total) AS compile_ms, sum(compile_known) AS compile_known
               FROM v_compile_metrics WHERE run_id = ?""",
            [run_id],
        ).iloc[0]
        assert compile_["compile_ms"] == expected["compile_ms"]
        assert compile_["compile_known"] == expected["compile_known"]

        by_type = wh.query(
            "SELECT query_type, count(*) AS n FROM fact_query WHERE run_id = ? GROUP BY 1", [run_id]
        )
        assert dict(zip(by_type["query_type"], by_type["n"], strict=True)) == expected["by_type"]
        fleet = wh.query(
            """SELECT sum(queries) AS q, sum(cached) / sum(queries) AS chr,
                      sum(aborted) / sum(queries) AS ar, sum(mbytes_scanned) AS mb
               FROM v_fleet_kpi WHERE run_id = ?""",
            [run_id],
        )
        late = wh.scalar(
            "SELECT count(*) FROM late_rows WHERE run_id = ? AND cluster = 'fleet'", [run_id]
        )
        assert late == 0  # the synthetic file is in arrival order: nothing is late
        assert fleet["q"].item() == expected["queries"]
        assert fleet["chr"].item() == pytest.approx(expected["cache_hit_rate"], abs=1e-12)
        assert fleet["ar"].item() == pytest.approx(expected["abort_rate"], abs=1e-12)
        assert fleet["mb"].item() == pytest.approx(expected["mb_scanned"], rel=1e-9)
        health = wh.query(
            """SELECT sum(queries) AS q, sum(mbytes_scanned) AS mb, sum(mbytes_spilled) AS sp
               FROM v_cluster_health WHERE run_id = ?""",
            [run_id],
        )
        assert health["q"].item() == expected["queries"]
        assert health["sp"].item() == pytest.approx(expected["mb_spilled"], rel=1e-9)
        types = wh.query(
            """SELECT sum(n_select) AS s, sum(n_insert) AS i, sum(n_copy) AS c
               FROM v_query_metrics WHERE run_id = ? AND cluster = 'fleet'""",
            [run_id],
        )
        exp_types = expected["by_type"]
        assert isinstance(exp_types, dict)
        assert types["s"].item() == exp_types.get("select", 0)
        assert types["i"].item() == exp_types.get("insert", 0)
        assert types["c"].item() == exp_types.get("copy", 0)
    finally:
        wh.close()
