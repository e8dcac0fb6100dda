"""Replay order (the replay's SQL and the staged scan order): pure logic, no broker."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from common.contract import PLAUSIBLE_ARRIVAL, REDSET_COLUMNS
from producers.replay import Filters, order_check_sql, ordered_sql
from producers.sources import resolve, stage_ordered

T0 = datetime(2024, 3, 1)
# (file index, arrival minute or None = unparseable, query id or None)
ROW = st.tuples(
    st.integers(0, 1),
    st.one_of(st.none(), st.integers(0, 5)),
    st.one_of(st.none(), st.integers(0, 5)),
)


def _table(rows: list[tuple[int, int | None, int | None]]) -> pa.Table:
    cols: dict[str, list[Any]] = {c: [None] * len(rows) for c in REDSET_COLUMNS}
    cols["instance_id"] = ["1"] * len(rows)
    cols["cluster_size"] = ["4"] * len(rows)
    cols["arrival_timestamp"] = [
        "2024-13-45 25:61:00" if t is None else str(T0 + timedelta(minutes=t)) for _, t, _ in rows
    ]
    cols["query_id"] = [None if q is None else str(q) for _, _, q in rows]
    data = {c: pa.array(v, pa.string()) for c, v in cols.items()}
    counters = [0, 0]
    row_no = []
    for f, _, _ in rows:
        counters[f] += 1
        row_no.append(counters[f])
    data["_file"] = pa.array([f"f{f}" for f, _, _ in rows], pa.string())
    data["_row"] = pa.array(row_no, pa.int64())
    data["_raw"] = pa.nulls(len(rows), pa.string())
    data["_error"] = pa.nulls(len(rows), pa.string())
    # stored in (file, row) order, as the sources read it
    return pa.table(data).sort_by([("_file", "ascending"), ("_row", "ascending")])


def _expected(table: pa.Table) -> list[tuple[str, int]]:
    """Replay order computed in plain Python: arrival filled forward within a file,
    NULLs first, then query id (NULLs first), file, row."""
    out = []
    last: dict[str, datetime | None] = {}
    for r in table.to_pylist():
        try:
            ts: datetime | None = datetime.fromisoformat(r["arrival_timestamp"])
        except ValueError:
            ts = None
        ts = ts if ts is not None else last.get(r["_file"])
        last[r["_file"]] = ts
        q = None if r["query_id"] is None else int(r["query_id"])
        out.append(((ts is not None, ts or T0, q is not None, q or 0, r["_file"], r["_row"]), r))
    return [(r["_file"], r["_row"]) for _, r in sorted(out, key=lambda x: x[0])]


def _run(table: pa.Table, presorted: bool = False, fill_ts: bool = True) -> list[tuple[str, int]]:
    con = duckdb.connect()
    con.register("t", table)
    sql = ordered_sql("SELECT * FROM t", Filters(), presorted=presorted, fill_ts=fill_ts)
    return [
        (f, r) for _, _, f, r, _ in con.execute(sql, {"run_id": "r", "dataset": "d"}).fetchall()
    ]


@settings(max_examples=60, deadline=None)
@given(st.lists(ROW, min_size=1, max_size=25))
def test_order_check_and_sorted_order_match_python(
    rows: list[tuple[int, int | None, int | None]],
) -> None:
    table = _table(rows)
    want = _expected(table)
    con = duckdb.connect()
    con.register("t", table)
    null_ts, disorder = con.execute(order_check_sql("SELECT * FROM t")).fetchall()[0]
    assert null_ts == sum(1 for _, t, _ in rows if t is None)
    as_read = [(r["_file"], r["_row"]) for r in table.to_pylist()]
    assert (disorder == 0) == (as_read == want)
    assert _run(table) == want
    if null_ts == 0:
        assert _run(table, fill_ts=False) == want
    if disorder == 0:
        assert _run(table, presorted=True) == want


def test_order_check_counts_each_step_back() -> None:
    # minutes 0,5,3,4,1 in one file: steps back at 3 (after 5) and 1 (after 4)
    table = _table([(0, 0, 1), (0, 5, 1), (0, 3, 1), (0, 4, 1), (0, 1, 1)])
    con = duckdb.connect()
    con.register("t", table)
    assert con.execute(order_check_sql("SELECT * FROM t")).fetchall()[0] == (0, 2)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=40))
def test_staged_scan_order_flag(tmp_path_factory: Any, bad: list[bool]) -> None:
    """stage_ordered says "in (file, row) order" only when a scan of the staged table
    really yields the rows so (unreadable rows go in after their batch); a file without
    unreadable rows is in order."""
    path = tmp_path_factory.mktemp("csv") / "q.csv"
    header = ",".join(REDSET_COLUMNS)
    good = ",".join(["1"] * len(REDSET_COLUMNS))
    path.write_text(header + "\n" + "".join(("1,2\n" if b else good + "\n") for b in bad))
    con = duckdb.connect()
    rel, in_order = stage_ordered(con, resolve(str(path), str(path.parent)))
    scanned = [r for (r,) in con.execute(f"SELECT _row FROM ({rel})").fetchall()]
    assert len(scanned) == len(bad)
    if in_order:
        assert scanned == sorted(scanned)
    if not any(bad):
        assert in_order


def test_implausible_arrivals_are_sent_without_a_timestamp_of_their_own() -> None:
    """A broker refuses a negative timestamp (and Kafka 4 one far ahead): a row whose
    arrival is outside the clean stage's range gets NULL ts (sent as the previous row's)."""
    from processors.logic.parsers import MAX_PLAUSIBLE_US, MIN_PLAUSIBLE_US

    arrivals = ["1900-01-01 00:00:00", "2024-03-01 00:00:00", "2150-01-01 00:00:00"]
    rows: list[tuple[int, int | None, int | None]] = [(0, 0, i) for i in range(3)]
    t = _table(rows).set_column(
        list(REDSET_COLUMNS).index("arrival_timestamp"),
        "arrival_timestamp",
        pa.array(arrivals, pa.string()),
    )
    con = duckdb.connect()
    con.register("t", t)
    got = con.execute(
        ordered_sql("SELECT * FROM t", Filters()), {"run_id": "r", "dataset": "d"}
    ).fetchall()
    assert [ts for _, ts, *_ in got] == [None, 1709251200000, None]
    # the replay's range is the clean stage's
    lo, hi = (datetime.fromisoformat(x) for x in PLAUSIBLE_ARRIVAL)
    assert int((lo - datetime(1970, 1, 1)).total_seconds()) * 10**6 == MIN_PLAUSIBLE_US
    assert int((hi - datetime(1970, 1, 1)).total_seconds()) * 10**6 == MAX_PLAUSIBLE_US
