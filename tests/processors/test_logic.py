"""Window assignment, the window row log, dedup ring, percentiles, sketch and top-k merge."""

from __future__ import annotations

import math
import random

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.logic import leaderboard, sketch
from processors.logic.dedup import DictState, remembered, seen_or_add
from processors.logic.stats import quantile_cont
from processors.logic.windows import is_late, window_bounds
from processors.logic.winlog import WindowSpec, add_row, mark_flushed, pending

H = 3_600_000


@given(
    st.integers(min_value=-(10**13), max_value=10**13), st.integers(min_value=1, max_value=10**8)
)
def test_window_assignment(ts: int, size: int) -> None:
    start, end = window_bounds(ts, size)
    assert start <= ts < end and end - start == size and start % size == 0


def test_window_examples() -> None:
    assert window_bounds(0, H) == (0, H)
    assert window_bounds(H - 1, H) == (0, H)
    assert window_bounds(H, H) == (H, 2 * H)
    assert not is_late(10, H, 60_000, None)
    assert not is_late(10, H, 60_000, H + 59_999)
    assert is_late(10, H, 60_000, H + 60_000)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=20 * H), min_size=1, max_size=300),
    st.integers(min_value=1, max_value=3 * H),
    st.integers(min_value=0, max_value=H),
    st.integers(min_value=0, max_value=2 * H),
)
def test_row_log_matches_a_reference_model(
    base: list[int], size: int, grace: int, jitter: int
) -> None:
    """Rows with random disorder: every accepted row is emitted exactly once in its own
    window (closed windows final, the rest pending), late rows are exactly those whose
    window had closed (by the max event time seen before them)."""
    rng = random.Random(len(base) + size)
    tss = [max(0, t - rng.randint(0, jitter)) for t in sorted(base)]
    stt = DictState()
    spec = WindowSpec(size, grace)
    emitted: dict[int, list[int]] = {}
    late: list[int] = []
    mx: int | None = None
    want_late = []
    for i, ts in enumerate(tss):
        if mx is not None and (ts - ts % size) + size + grace <= mx:
            want_late.append(i)
        mx = ts if mx is None else max(mx, ts)
        accepted, out = add_row(stt, spec, "r", ts, [i, ts], seq=i)
        if not accepted:
            late.append(i)
        for e in out:
            assert e.final and e.start not in emitted
            emitted[e.start] = [r[0] for r in e.rows]
            assert all(e.start <= r[1] < e.end for r in e.rows)
    assert late == want_late
    provisional = list(pending(stt, spec))
    for e in provisional:
        assert not e.final and e.start not in emitted
        emitted[e.start] = [r[0] for r in e.rows]
    got = sorted(i for rows in emitted.values() for i in rows)
    assert got == sorted(set(range(len(tss))) - set(late))
    mark_flushed(stt)
    assert list(pending(stt, spec)) == []
    # a re-emitted copy (seq not above the high-water mark) is ignored
    assert add_row(stt, spec, "r", tss[-1], [0, 0], seq=len(tss) - 1) == (None, [])


def test_row_log_state_is_bounded_once_windows_close() -> None:
    stt = DictState()
    spec = WindowSpec(H, 0)
    for i in range(5000):
        add_row(stt, spec, "r", i * 60_000, [i], seq=i)  # 1 row a minute for ~3.5 days
    rows_kept = [k for k in stt.data if str(k).startswith("r:")]
    assert len(rows_kept) <= 2  # only the open window's chunk(s)


def test_dedup_ring() -> None:
    stt = DictState()
    h = 10_000
    assert seen_or_add(stt, "a", 0, ["f", 1], h) is None
    assert seen_or_add(stt, "a", 5, ["f", 9], h) == ["f", 1]
    assert seen_or_add(stt, "b", 20_000, ["f", 2], h) is None  # evicts "a" (older than horizon)
    assert seen_or_add(stt, "a", 20_001, ["f", 3], h) is None
    for i in range(1000):
        seen_or_add(stt, f"q{i}", 30_000 + i * 1000, 1, h)
    # bounded by the horizon (10 s = 10 ids) plus one bucket (1.25 s)
    assert 10 <= remembered(stt) <= 12


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=200),
    st.sampled_from([0.5, 0.95, 0.99, 0.0, 1.0]),
)
def test_quantile_cont_equals_duckdb(values: list[int], q: float) -> None:
    with duckdb.connect() as con:  # never the shared default connection
        (want,) = con.execute(
            "SELECT quantile_cont(x, ?) FROM unnest(?) AS t(x)", [q, values]
        ).fetchall()[0]
    got = quantile_cont(sorted(values), q)
    assert got is not None and math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-9)


@given(
    st.lists(
        st.lists(st.integers(min_value=0, max_value=10**8), max_size=50), min_size=1, max_size=6
    ),
    st.sampled_from([0.5, 0.95, 0.99]),
)
def test_sketch_merge_is_within_relative_bound(parts: list[list[int]], q: float) -> None:
    merged = sketch.merge(sketch.build(p) for p in parts)
    values = sorted(v for p in parts for v in p)
    got = sketch.quantile(merged, q)
    if not values:
        assert got is None
        return
    exact = values[math.floor(q * (len(values) - 1))]
    assert got is not None and abs(got - exact) <= sketch.ALPHA * exact + 1e-9


@given(
    st.dictionaries(
        st.sampled_from([f"c{i}" for i in range(5)]),
        st.dictionaries(st.text("ab", min_size=1, max_size=3), st.integers(0, 5), max_size=8),
        min_size=1,
    ),
    st.integers(min_value=1, max_value=6),
)
def test_top_k_of_cluster_top_ks_is_the_global_top_k(
    per_cluster: dict[str, dict[str, int]], k: int
) -> None:
    """Entities are cluster-scoped, so merging per-cluster top-k lists is exact."""
    scoped = {c: {f"{c}/{e}": float(v) for e, v in ents.items()} for c, ents in per_cluster.items()}
    everything = {e: v for ents in scoped.values() for e, v in ents.items()}
    union: dict[str, float] = {}
    for ents in scoped.values():
        union.update(dict(leaderboard.top_k(ents, k)))
    assert leaderboard.top_k(union, k) == leaderboard.top_k(everything, k)
    # deterministic tie-break: value desc, entity asc
    ranked = leaderboard.top_k(everything, len(everything))
    assert ranked == sorted(everything.items(), key=lambda kv: (-kv[1], kv[0]))


@settings(max_examples=50, deadline=None)
@given(
    clusters=st.lists(
        st.lists(
            st.tuples(st.integers(0, 10**6), st.floats(0, 1e6, allow_nan=False)),
            min_size=1,
            max_size=20,
        ),
        min_size=2,
        max_size=6,
    ),
    seed=st.integers(0, 2**16),
)
def test_window_and_fleet_records_do_not_depend_on_arrival_order(
    clusters: list[list[tuple[int, float]]], seed: int
) -> None:
    """A restart changes the order the fleet merge receives partials in (and a replayed
    window sees the same rows): the records must be equal byte for byte (a float sum must
    not differ in its last digit)."""
    from processors.logic import query_metrics

    rec = {
        "query_type": "select",
        "was_aborted": False,
        "was_cached": False,
        "queue_duration_ms": 0,
        "mbytes_spilled": 0.0,
        "compile_duration_ms": 0,
    }

    def partials(order: random.Random) -> dict[str, dict]:
        out = {}
        names = [f"c{i}" for i in range(len(clusters))]
        order.shuffle(names)
        for name in names:
            rows = [
                query_metrics.qm_row(
                    {
                        **rec,
                        "execution_duration_ms": ms,
                        "total_duration_ms": ms,
                        "mbytes_scanned": mb,
                    }
                )
                for ms, mb in clusters[int(name[1:])]
            ]
            out[name] = query_metrics.window_record("r", name, 0, 60_000, rows, True)[1]
        return out

    a = query_metrics.fleet_record("r", 0, 60_000, partials(random.Random(seed)))
    b = query_metrics.fleet_record("r", 0, 60_000, partials(random.Random(seed + 1)))
    assert a == b
    exact = math.fsum(mb for c in clusters for _, mb in c)
    assert math.isclose(a["mbytes_scanned_sum"], exact, rel_tol=1e-12, abs_tol=1e-9)


@given(st.lists(st.integers(min_value=0, max_value=10**8), max_size=200))
def test_sketch_quantiles_in_one_pass_equal_the_bucket_of_each_rank(values: list[int]) -> None:
    s = sketch.build(values)
    qs = (0.0, 0.5, 0.95, 0.99, 1.0)
    got = sketch.quantiles(s, qs)
    if not values:
        assert got == [None] * len(qs)
        return
    ordered = sorted(values)
    for q, g in zip(qs, got, strict=True):
        v = ordered[math.floor(q * (len(ordered) - 1))]
        b = sketch.bucket(v)
        want = 0.0 if b == "z" else 2 * sketch._GAMMA ** int(b) / (sketch._GAMMA + 1)
        assert g == want
