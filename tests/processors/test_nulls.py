"""Window records over NULL measures equal SQL's NULL semantics (DuckDB over the same rows):
sums, known-counts and percentiles over the known values, counts and rates over every
query, boards that skip unknowns, no FLATTENED row for a query without table ids."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.logic import compile_metrics, leaderboard, query_metrics
from processors.logic.flatten import flatten
from tests.support.query_records import close_or_both_null, duckdb_row, maybe, query_fields

_ms = st.integers(0, 10**7)
_mb = st.floats(0, 1e7, allow_nan=False, allow_infinity=False)

_records = st.lists(
    st.fixed_dictionaries(
        {
            **query_fields(_ms, _mb),
            "num_joins": maybe(st.integers(0, 20)),
            "num_scans": maybe(st.integers(0, 20)),
            "num_aggregations": maybe(st.integers(0, 20)),
            "user_id": maybe(st.integers(0, 3)),
            "read_table_ids": maybe(st.lists(st.integers(0, 5), max_size=3)),
            "write_table_ids": maybe(st.lists(st.integers(0, 5), max_size=2)),
            "cluster": st.sampled_from(["provisioned-1", "serverless-1", "provisioned-2"]),
        }
    ),
    min_size=1,
    max_size=40,
)


def _with_total(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for i, r in enumerate(recs):
        q, e = r["queue_duration_ms"], r["execution_duration_ms"]
        out.append(
            {
                **r,
                "total_duration_ms": None if q is None or e is None else q + e,
                "query_key": f"run/{r['cluster']}/{i}",
            }
        )
    return out


_SQL_COLS = {
    "queue_ms": "queue_duration_ms",
    "execution_ms": "execution_duration_ms",
    "total_ms": "total_duration_ms",
    "mbytes_scanned": "mbytes_scanned",
    "mbytes_spilled": "mbytes_spilled",
}


def _close(a: Any, b: Any) -> bool:
    return close_or_both_null(a, b, abs_tol=1e-6)


def _duckdb(recs: list[dict[str, Any]], select: str) -> dict[str, Any]:
    return duckdb_row(recs, f"SELECT {select} FROM t")


@settings(max_examples=60, deadline=None)
@given(_records)
def test_query_metrics_window_equals_sql_null_semantics(raw: list[dict[str, Any]]) -> None:
    recs = _with_total(raw)
    rows = [query_metrics.qm_row(r) for r in recs]
    got, partial = query_metrics.window_record("r", "c", 0, 60_000, rows, True)
    sel = ", ".join(
        f"sum({c}) AS {n}_sum, count({c}) AS {n}_known, "
        f"quantile_cont({c}, 0.5) AS {n}_p50, quantile_cont({c}, 0.99) AS {n}_p99"
        for n, c in _SQL_COLS.items()
    )
    want = _duckdb(
        recs, f"count(*) AS queries, count(*) FILTER (WHERE was_cached) AS cached, {sel}"
    )
    assert got["queries"] == want["queries"] and got["cached"] == want["cached"]
    assert _close(got["cache_hit_rate"], want["cached"] / want["queries"])  # every query
    for n in _SQL_COLS:
        assert got[f"{n}_known"] == want[f"{n}_known"], n
        assert _close(got[f"{n}_sum"], want[f"{n}_sum"]), n
        if n in query_metrics.MEASURES[:3]:
            assert _close(got[f"{n}_p50"], want[f"{n}_p50"]), n
            assert _close(got[f"{n}_p99"], want[f"{n}_p99"]), n
    # the fleet roll-up of two halves keeps the same sums and known-counts
    half = len(rows) // 2
    parts = {
        "a": query_metrics.window_record("r", "a", 0, 60_000, rows[:half], True)[1],
        "b": query_metrics.window_record("r", "b", 0, 60_000, rows[half:], True)[1],
    }
    fleet = query_metrics.fleet_record("r", 0, 60_000, parts)
    for n in _SQL_COLS:
        assert fleet[f"{n}_known"] == want[f"{n}_known"], n
        assert _close(fleet[f"{n}_sum"], want[f"{n}_sum"]), n
    assert partial["queries"] == len(rows)


@settings(max_examples=60, deadline=None)
@given(_records, st.lists(st.sampled_from([None, True, False]), min_size=40, max_size=40))
def test_compile_metrics_window_equals_sql_null_semantics(
    raw: list[dict[str, Any]], first: list[bool | None]
) -> None:
    recs = _with_total(raw)
    rows = [compile_metrics.cm_row(r, first[i]) for i, r in enumerate(recs)]
    got = compile_metrics.window_record("r", "c", 0, 60_000, rows, True)
    want = _duckdb(
        recs,
        """count(*) AS queries, count(compile_duration_ms) AS known,
           count(*) FILTER (WHERE compile_duration_ms > 0) AS compiled,
           sum(compile_duration_ms) AS s, avg(compile_duration_ms) AS mean,
           quantile_cont(compile_duration_ms, 0.95) AS p95""",
    )
    assert got["queries"] == want["queries"]
    assert got["compile_known"] == want["known"] and got["compiled"] == want["compiled"]
    assert got["compile_ms_sum"] == want["s"]
    assert _close(got["compile_ms_mean"], want["mean"])
    assert _close(got["compile_ms_p95"], want["p95"])
    assert _close(
        got["compiled_share"], want["compiled"] / want["known"] if want["known"] else None
    )
    assert sum(b["queries"] for b in got["by_complexity"].values()) == want["queries"]
    assert sum(b["compile_known"] for b in got["by_complexity"].values()) == want["known"]
    n_fp = sum(1 for f in first[: len(recs)] if f is not None)
    assert got["fingerprint_known"] == n_fp


@settings(max_examples=60, deadline=None)
@given(_records)
def test_boards_and_flattened_skip_unknowns(raw: list[dict[str, Any]]) -> None:
    recs = [{**r, "user_id": r["user_id"]} for r in _with_total(raw)]
    values = leaderboard.board_values([leaderboard.lb_row(r) for r in recs])
    known_comp = {r["query_key"] for r in recs if (r["compile_duration_ms"] or 0) > 0}
    assert set(values["longest_compiles"]) == known_comp
    spills = {r["query_key"] for r in recs if (r["mbytes_spilled"] or 0) > 0}
    assert set(values["biggest_spillers"]) == spills
    users = {f"{r['cluster']}/{r['user_id']}" for r in recs if r["user_id"] is not None}
    assert set(values["top_users_by_queries"]) == users
    busy = {r["cluster"] for r in recs if r["execution_duration_ms"] is not None}
    assert set(values["busiest_clusters"]) == busy
    for r in recs:
        rows, _ = flatten({**r, **_attrs(r)}, {})
        n = len(set(r["read_table_ids"] or ())) + len(set(r["write_table_ids"] or ()))
        assert len(rows) == n


def _attrs(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "run_id": "run",
        "cluster_kind": r["cluster"].split("-")[0],
        "instance_id": 1,
        "query_id": 1,
        "database_id": None,
        "arrival_timestamp": "",
        "arrival_us": 0,
    }
