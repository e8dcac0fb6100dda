"""A real-shaped synthetic file (the real files' NULL measures, as Parquet, as a CSV written
by DuckDB, or generated) read the way the replay reads it and cleaned row by row: zero dead
letters whatever its NULLs, every NULL kept, and with injected errors exactly the
manifest's rows dead, each with its reason, file, row and field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.logic.clean import clean_row
from producers.replay import Filters, ordered_sql, safe_value
from producers.sources import resolve, stage
from producers.synthetic import SyntheticSpec, generate, write_table

#: columns NULL on result-cache hits in the real files, and where each lands in CLEAN_DATA
NULLABLE = (
    "compile_duration_ms",
    "feature_fingerprint",
    "num_permanent_tables_accessed",
    "num_system_tables_accessed",
    "mbytes_scanned",
    "mbytes_spilled",
    "cluster_size",
)


def raw_values(source: str, tmp: Path) -> list[dict[str, Any]]:
    """RAW_DATA values as the replay builds them (its SQL, its JSON fix-ups), no broker."""
    src = resolve(source, str(tmp), progress=False)
    with duckdb.connect() as con:
        rel = stage(con, src)
        sql = ordered_sql(rel, Filters())
        rows = con.execute(sql, {"run_id": "r1", "dataset": src.dataset}).fetchall()
    return [json.loads(safe_value(v, f, r)[0]) for _, _, f, r, v in rows]


def _source(spec: SyntheticSpec, form: str, tmp: Path) -> tuple[str, Any]:
    data = generate(spec)
    if form == "synthetic":
        return spec.to_string(), data
    parquet = tmp / "redset.parquet"
    write_table(data.table, parquet)
    if form == "parquet":
        return str(parquet), data
    csv = tmp / "redset.csv"
    with duckdb.connect() as con:  # the way users convert the real files
        con.execute(f"COPY (SELECT * FROM '{parquet}') TO '{csv}' (FORMAT CSV, HEADER)")
    return str(csv), data


_specs = st.builds(
    SyntheticSpec,
    rows=st.integers(1, 400),
    seed=st.integers(0, 10_000),
    clusters=st.integers(1, 8),
    kind=st.sampled_from(["provisioned", "serverless", "mixed"]),
    days=st.sampled_from([0.1, 1.0, 7.0]),
    nulls=st.sampled_from([0.0, 1.0, 30.0, 200.0]),  # up to ~90 % NULL fingerprints
)


@settings(max_examples=30, deadline=None)
@given(_specs, st.sampled_from(["parquet", "csv", "synthetic"]))
def test_real_shaped_file_has_no_dead_letters(
    tmp_path_factory: Any, spec: SyntheticSpec, form: str
) -> None:
    tmp = tmp_path_factory.mktemp("rs")
    source, data = _source(spec, form, tmp)
    raws = raw_values(source, tmp)
    assert len(raws) == data.table.num_rows
    results = [clean_row(r) for r in raws]
    dead = [r.dead for r in results if r.dead is not None]
    assert dead == [], dead[:3]
    clean = [r.clean for r in results if r.clean is not None]
    # every NULL of the file is a NULL in CLEAN_DATA, and nothing else is
    with duckdb.connect() as con:
        con.register("t", data.table)
        for c in NULLABLE:
            (want,) = con.execute(f'SELECT count(*) FROM t WHERE "{c}" IS NULL').fetchall()[0]
            assert sum(1 for r in clean if r[c] is None) == want, c
        (cached,) = con.execute("SELECT count(*) FROM t WHERE was_cached = 1").fetchall()[0]
    assert sum(r["was_cached"] for r in clean) == cached
    assert all(r["read_table_ids"] is None for r in clean if r["was_cached"])


@settings(max_examples=15, deadline=None)
@given(_specs, st.sampled_from(["parquet", "csv"]), st.sampled_from([0.02, 0.1]))
def test_injected_errors_are_exactly_the_dead_letters(
    tmp_path_factory: Any, spec: SyntheticSpec, form: str, error_rate: float
) -> None:
    spec = SyntheticSpec(**{**spec.__dict__, "error_rate": error_rate})
    tmp = tmp_path_factory.mktemp("inj")
    source, data = _source(spec, form, tmp)
    raws = raw_values(source, tmp)
    dead = {}
    for raw in raws:
        res = clean_row(raw)
        if res.dead is not None:
            d = res.dead
            dead[d["row"]] = (d["reason"], d["field"], d["file"])
            assert d["message"].startswith(f"{d['file']} row {d['row']} field {d['field']}: ")
    file = raws[0]["_file"] if raws else None
    want = {
        m["row"]: (m["kind"], m["field"], file)
        for m in data.injected.to_pylist()
        if m["kind"] != "duplicate"
    }
    assert dead == want
