"""Exact order statistics over a bounded window.

Percentiles use linear interpolation between closest ranks, the definition of DuckDB's
``quantile_cont`` (and numpy's default): for sorted values ``x[0..n-1]`` and fraction
``p``, ``h = (n - 1) * p``, result ``x[floor h] + (h - floor h) * (x[ceil h] - x[floor h])``.
Empty input gives None.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def quantile_cont(sorted_values: Sequence[float], p: float) -> float | None:
    n = len(sorted_values)
    if n == 0:
        return None
    h = (n - 1) * p
    lo = math.floor(h)
    hi = min(lo + 1, n - 1)
    frac = h - lo
    a = float(sorted_values[lo])
    if frac == 0 or hi == lo:
        return a
    return a + frac * (float(sorted_values[hi]) - a)


def percentiles(
    values: Sequence[float], ps: Sequence[float] = (0.5, 0.95, 0.99)
) -> list[float | None]:
    s = sorted(values)
    return [quantile_cont(s, p) for p in ps]
