"""The soak's pure verdicts: is memory flat, the kill schedule, table differences."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

#: growth allowed over the second half of the load run, per process
FLAT_REL, FLAT_ABS_MB = 0.15, 40.0


def slope_per_min(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) samples, per minute (0 for < 2 samples)."""
    n = len(samples)
    if n < 2:
        return 0.0
    mx = sum(t for t, _ in samples) / n
    my = sum(v for _, v in samples) / n
    sxx = sum((t - mx) ** 2 for t, _ in samples)
    if sxx == 0:
        return 0.0
    return 60.0 * sum((t - mx) * (v - my) for t, v in samples) / sxx


def memory_verdict(samples: list[tuple[float, float]]) -> dict[str, Any]:
    """Is a process's RSS flat? Compares the second half's fitted growth with the allowance
    ``max(FLAT_REL * median, FLAT_ABS_MB)`` (the first half is warm-up: caches, state)."""
    if len(samples) < 4:
        return {"flat": None, "growth_mb": None, "allowed_mb": None, "slope_mb_per_min": None}
    half = samples[len(samples) // 2 :]
    slope = slope_per_min(half)
    span_min = (half[-1][0] - half[0][0]) / 60.0
    growth = slope * span_min
    values = sorted(v for _, v in half)
    allowed = max(FLAT_REL * values[len(values) // 2], FLAT_ABS_MB)
    return {
        "flat": growth <= allowed,
        "growth_mb": round(growth, 1),
        "allowed_mb": round(allowed, 1),
        "slope_mb_per_min": round(slope, 2),
        "first_mb": round(samples[0][1], 1),
        "last_mb": round(samples[-1][1], 1),
        "max_mb": round(max(v for _, v in samples), 1),
    }


def kill_schedule(
    targets: list[str], start_s: float, end_s: float, rng: random.Random
) -> list[tuple[float, str]]:
    """Each target killed once at a random time in [start_s, end_s], sorted by time."""
    return sorted((rng.uniform(start_s, end_s), t) for t in targets)


def table_diff(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> tuple[int, int]:
    """(rows only in a, rows only in b), multiset semantics."""
    ca, cb = Counter(a), Counter(b)
    return sum((ca - cb).values()), sum((cb - ca).values())
