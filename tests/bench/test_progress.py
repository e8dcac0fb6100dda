"""make bench's sustained-rate computation from committed offsets (pure: no broker)."""

from __future__ import annotations

import pytest

from bench.progress import analyse, first_reaching, fractions, slope, value_at


def steady(rate: float, rows: int, start: float, every: float = 0.5) -> list[int]:
    """Committed counts sampled every ``every`` s of a group that starts at ``start``."""
    out: list[int] = []
    t = 0.0
    while True:
        n = min(rows, max(0, int((t - start) * rate)))
        out.append(n)
        if n == rows:
            return out
        t += every


def test_sustained_rate_leaves_out_startup_and_is_the_slowest_groups() -> None:
    rows = 10_000
    fast = steady(1000.0, rows, start=5.0)  # joins after 5 s, then 1000 rows/s
    slow = steady(500.0, rows, start=8.0)  # the stage holding the chain back
    n = max(len(fast), len(slow))
    samples = [
        (i * 0.5, {"a": fast[min(i, len(fast) - 1)], "b": slow[min(i, len(slow) - 1)]})
        for i in range(n)
    ]
    p = analyse(samples, ["a", "b"], rows)
    assert p.sustained_rows_per_s == pytest.approx(500.0, rel=0.02)
    assert p.startup_s == pytest.approx(8.5, abs=0.5)
    assert p.total_s == pytest.approx(28.0, abs=0.5)
    assert p.half_s == pytest.approx(18.0, abs=0.5)
    # the overall rate (rows / total time) counts the start-up in: lower than sustained
    assert p.total_s is not None and p.sustained_rows_per_s is not None
    assert rows / p.total_s < p.sustained_rows_per_s


def test_commit_steps_are_fitted_not_taken_from_two_single_steps() -> None:
    # commits every 2 s at a true 1000 rows/s, sampled every 0.5 s
    rows = 40_000
    samples = [(t / 2, {"g": min(rows, int(t / 4) * 2000)}) for t in range(0, 200)]
    p = analyse(samples, ["g"], rows)
    assert p.sustained_rows_per_s == pytest.approx(1000.0, rel=0.05)


def test_fractions_are_against_each_groups_final_offsets() -> None:
    # a downstream group reads fewer messages than RAW (dead letters, duplicates)
    samples = [
        (0.0, {"raw": 0, "down": 0}),
        (1.0, {"raw": 100, "down": 45}),
        (2.0, {"raw": 100, "down": 90}),
    ]
    assert fractions(samples, ["raw", "down"]) == [(0.0, 0.0), (1.0, 0.5), (2.0, 1.0)]


def test_never_reached_and_degenerate_cases() -> None:
    assert analyse([], ["g"], 10).sustained_rows_per_s is None
    flat = [(0.0, {"g": 0}), (1.0, {"g": 0})]
    p = analyse(flat, ["g"], 10)
    assert p.startup_s is None and p.total_s is None and p.sustained_rows_per_s is None
    assert first_reaching([(0.0, 0.0), (2.0, 1.0)], 0.25) == 0.5
    assert slope([(1.0, 1.0)]) is None and slope([(1.0, 1.0), (1.0, 2.0)]) is None
    assert value_at([(0.0, 10.0), (5.0, 20.0)], 4.0) == 20.0 and value_at([], 1.0) is None
