"""Experiment runner end to end on a Redset-shaped CSV written by DuckDB from a Parquet file.

Expectations come from the generator's manifest (which rows are bad or duplicated) and one
DuckDB query over the input CSV, never from the warehouse code under test.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from common.settings import Settings
from processors.experiment import run_experiment
from processors.warehouse.store import Warehouse
from producers.synthetic import SyntheticSpec, write

pytestmark = pytest.mark.integration


def _expected(csv: Path, bad_rows: list[int]) -> dict[str, object]:
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
    row = con.execute(
        f"""WITH src AS (SELECT *, row_number() OVER () AS rn FROM read_csv('{csv}', all_varchar=true))
            SELECT count(*), avg((lower(was_cached) IN ('true', '1'))::INT),
                   avg((lower(was_aborted) IN ('true', '1'))::INT),
                   sum(mbytes_scanned::DOUBLE), sum(mbytes_spilled::DOUBLE)
            FROM src ANTI JOIN bad USING (rn)"""
    ).fetchone()
    assert row is not None
    con.close()
    return {
        "by_type": by_type,
        "queries": row[0],
        "cache_hit_rate": row[1],
        "abort_rate": row[2],
        "mb_scanned": row[3],
        "mb_spilled": row[4],
    }


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
        # the dead letters are exactly the manifest's bad rows
        dl_rows = set(wh.query("SELECT row FROM dead_letters WHERE run_id = ?", [run_id])["row"])
        assert dl_rows == {int(r["row"]) for r in injected if r["kind"] != "duplicate"}

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
