"""The soak harness's pure verdicts (make soak itself is never part of make test)."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from bench.soak.verdicts import kill_schedule, memory_verdict, slope_per_min, table_diff


def test_slope_per_min_of_a_line_and_degenerate_inputs() -> None:
    assert slope_per_min([(t, 100 + 0.5 * t) for t in range(0, 120, 5)]) == 30.0
    assert slope_per_min([]) == 0.0 and slope_per_min([(1.0, 5.0)]) == 0.0
    assert slope_per_min([(3.0, 1.0), (3.0, 9.0)]) == 0.0  # no time span


@given(
    base=st.floats(10, 5000),
    noise=st.lists(st.floats(-5, 5), min_size=8, max_size=60),
)
def test_noisy_flat_memory_is_flat(base: float, noise: list[float]) -> None:
    v = memory_verdict([(5.0 * i, base + n) for i, n in enumerate(noise)])
    assert v["flat"] is True and v["growth_mb"] <= v["allowed_mb"]


def test_a_leak_is_not_flat_and_warm_up_growth_is_ignored() -> None:
    leak = memory_verdict([(60.0 * i, 200 + 10.0 * i) for i in range(20)])  # 10 MB/min
    assert leak["flat"] is False and leak["slope_mb_per_min"] == 10.0
    # grows in the first half (caches, state), flat in the second
    warm = memory_verdict([(60.0 * i, 200 + 30.0 * min(i, 10)) for i in range(20)])
    assert warm["flat"] is True and warm["first_mb"] == 200 and warm["max_mb"] == 500
    assert memory_verdict([(0.0, 1.0)])["flat"] is None  # too few samples: no verdict


@given(seed=st.integers(0, 2**32), n=st.integers(1, 10))
def test_kill_schedule_kills_each_target_once_inside_the_window(seed: int, n: int) -> None:
    targets = [f"t{i}" for i in range(n)]
    sched = kill_schedule(targets, 10.0, 50.0, random.Random(seed))
    assert sorted(t for _, t in sched) == targets
    assert all(10.0 <= at <= 50.0 for at, _ in sched)
    assert [at for at, _ in sched] == sorted(at for at, _ in sched)
    assert sched == kill_schedule(targets, 10.0, 50.0, random.Random(seed))  # seeded


def test_table_diff_counts_rows_on_each_side_as_multisets() -> None:
    a = [("x", 1), ("y", 2), ("y", 2)]
    assert table_diff(a, list(reversed(a))) == (0, 0)
    assert table_diff(a, [("x", 1), ("y", 2), ("z", 3)]) == (1, 1)
    assert table_diff([], a) == (0, 3)
