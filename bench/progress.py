"""A topology's progress from its consumer groups' committed offsets (pure: no broker).

A run is sampled as ``(seconds since launch, {group: committed offsets on its input})``.
Each group's fraction is its committed count over its final one (the input it had once
every process stopped); the pipeline's progress is the smallest fraction, so a row counts
as through once every stage has committed it. The sustained rate is the slope of that
progress between ``lo`` and ``hi`` (10 % and 90 %), which leaves out the start-up (process
and group joins) and the tail (the last commits, the idle wait).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: one sample: seconds since launch, committed offsets per group
Sample = tuple[float, Mapping[str, int]]


@dataclass(frozen=True)
class Progress:
    """What a run's samples say (None: never reached)."""

    #: launch -> every group has committed something
    startup_s: float | None
    #: launch -> every group has committed its final offset
    total_s: float | None
    #: input rows per second between ``lo`` and ``hi`` of the progress
    sustained_rows_per_s: float | None
    #: times at which progress first reached 50 % and ``hi`` (RSS halfway and late)
    half_s: float | None
    late_s: float | None


def fractions(samples: Sequence[Sample], groups: Sequence[str]) -> list[tuple[float, float]]:
    """(t, smallest fraction over ``groups``) per sample, against the last sample's offsets."""
    final = samples[-1][1] if samples else {}
    out = []
    for t, committed in samples:
        parts = [min(1.0, committed.get(g, 0) / final[g]) if final.get(g) else 0.0 for g in groups]
        out.append((t, min(parts) if parts else 0.0))
    return out


def first_reaching(series: Sequence[tuple[float, float]], level: float) -> float | None:
    """When the progress first reached ``level``, interpolated between the two samples
    around it (commits come in steps, but the samples are closer together than a step)."""
    prev: tuple[float, float] | None = None
    for t, p in series:
        if p >= level:
            if prev is None or p == prev[1]:
                return t
            t0, p0 = prev
            return t0 + (t - t0) * (level - p0) / (p - p0)
        prev = (t, p)
    return None


def slope(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of y over t (None with fewer than two distinct times)."""
    n = len(points)
    if n < 2:
        return None
    mt = sum(t for t, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    if var == 0:
        return None
    return sum((t - mt) * (y - my) for t, y in points) / var


def analyse(
    samples: Sequence[Sample],
    groups: Sequence[str],
    rows: int,
    lo: float = 0.1,
    hi: float = 0.9,
) -> Progress:
    """The progress of ``rows`` input rows through ``groups``. The sustained rate is the
    least-squares slope over every sample between the 10 % and 90 % crossings (a fit over
    the commit steps, not two single steps); with too few samples there, the crossings'
    own slope."""
    series = fractions(samples, groups)
    started = next((t for t, p in series if p > 0), None)
    done = next((t for t, p in series if p >= 1.0), None)
    t_lo, t_hi = first_reaching(series, lo), first_reaching(series, hi)
    rate = None
    if t_lo is not None and t_hi is not None and t_hi > t_lo:
        inside = [(t, p) for t, p in series if t_lo <= t <= t_hi]
        fitted = slope(inside) if len(inside) >= 4 else None
        rate = (fitted if fitted else (hi - lo) / (t_hi - t_lo)) * rows
    return Progress(started, done, rate, first_reaching(series, 0.5), t_hi)


def value_at(series: Sequence[tuple[float, float]], t: float | None) -> float | None:
    """The value of the sample nearest to time ``t`` (e.g. RSS halfway through)."""
    if t is None or not series:
        return None
    return min(series, key=lambda s: abs(s[0] - t))[1]
