"""The big tables' keyless dedup (writers.append.insert_new) and the migration to it."""

from __future__ import annotations

import duckdb
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from warehouse.store import Warehouse, migrations
from warehouse.writers.append import insert_new, unique_records

# (query number, arrival): a record's arrival is fixed by its source row, so a re-emission
# repeats both; one query number may recur with another arrival (a later query_id reuse)
RECORD = st.tuples(st.integers(0, 15), st.integers(0, 5))


def _batch(records: list[tuple[int, int]]) -> pa.Table:
    return pa.table(
        {
            "query_key": pa.array([f"r/c/{q}" for q, _ in records], pa.string()),
            "arrival_us": pa.array([a * 1_000_000 for _, a in records], pa.int64()),
            "v": pa.array([q * 10 + a for q, a in records], pa.int64()),
        }
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(RECORD, max_size=12), min_size=1, max_size=6))
def test_each_identity_lands_once_whatever_the_batches(
    batches: list[list[tuple[int, int]]],
) -> None:
    """Any split into batches, any repetition within or across batches: the table holds
    exactly one row per (query_key, arrival_us) seen."""
    con = duckdb.connect()
    con.execute("CREATE TABLE t (query_key VARCHAR, arrival_us BIGINT, v BIGINT)")
    for records in batches:
        ident = ("query_key", "arrival_us")
        insert_new(con, "t", unique_records(_batch(records), ident), ident, "b.*")
    got = sorted(con.execute("SELECT query_key, arrival_us, v FROM t").fetchall())
    want = sorted({(f"r/c/{q}", a * 1_000_000, q * 10 + a) for rs in batches for q, a in rs})
    assert got == want


def test_null_arrival_still_deduplicated() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (query_key VARCHAR, arrival_us BIGINT, v BIGINT)")
    b = pa.table(
        {"query_key": ["a", "b"], "arrival_us": pa.array([None, 5], pa.int64()), "v": [1, 2]}
    )
    ident = ("query_key", "arrival_us")
    for _ in range(3):
        insert_new(con, "t", unique_records(b, ident), ident, "b.*")
    assert con.execute("SELECT count(*) FROM t").fetchone() == (2,)


def test_unique_records_keeps_the_first_of_each_identity() -> None:
    b = pa.table(
        {
            "query_key": ["a", "b", "a", None, None, "b"],
            "arrival_us": pa.array([1, 1, 1, None, None, 2], pa.int64()),
            "v": [1, 2, 3, 4, 5, 6],
        }
    )
    got = unique_records(b, ("query_key", "arrival_us"))
    assert got.table.column("v").to_pylist() == [1, 2, 4, 6]
    assert got.arrival_range is None  # a NULL arrival: no range to narrow the anti-join
    assert unique_records(b.slice(0, 3), ("query_key", "arrival_us")).arrival_range == (1, 1)


def test_migration_keeps_rows_and_drops_the_index(tmp_path: object) -> None:
    """A file written before migration 004 keeps its rows; the tables lose their keys."""
    path = f"{tmp_path}/old.duckdb"
    con = duckdb.connect(path)
    con.execute(
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)"
    )
    for version, name, sql in migrations():
        if version < 4:
            con.execute(sql)
            con.execute("INSERT INTO schema_version VALUES (?, ?, now())", [version, name])
    con.execute(
        "INSERT INTO clean_queries (query_key, run_id, arrival_us) VALUES ('k2', 'r', 2), ('k1', 'r', 1)"
    )
    con.execute(
        "INSERT INTO flattened (query_key, table_id, access, arrival_us) VALUES ('k1', 7, 'read', 1)"
    )
    con.close()
    wh = Warehouse.open(path)
    cur = wh.cursor()
    assert cur.execute("SELECT query_key FROM clean_queries").fetchall() == [("k1",), ("k2",)]
    assert cur.execute("SELECT count(*) FROM flattened").fetchone() == (1,)
    keys = cur.execute(
        "SELECT table_name FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY' "
        "AND table_name IN ('clean_queries', 'flattened')"
    ).fetchall()
    assert keys == []
    wh.close()
