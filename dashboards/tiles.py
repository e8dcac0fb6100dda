"""Aggregate dashboard helpers: headline tiles and leaderboard movement (pure, testable)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from dashboards import units


def movement(rank: int, prev: Any) -> str:
    """Arrow for a leaderboard entry's change of rank since the previous period."""
    if prev is None or (isinstance(prev, float) and math.isnan(prev)) or prev is pd.NA:
        return "new"
    prev = int(prev)
    if prev > rank:
        return f"▲ {prev - rank}"
    if prev < rank:
        return f"▼ {rank - prev}"
    return "="


def points(d: float) -> str:
    """A change of a share in percentage points (0.0005 -> '0.05 pp')."""
    return f"{d * 100:.2f} pp" if abs(d) < 0.001 else f"{d * 100:.1f} pp"


@dataclass(frozen=True)
class Metric:
    """A headline figure: its column in :func:`dashboards.overview.figures`, how it reads,
    how its change is shown and which way is better (None: neither, e.g. a count)."""

    label: str
    column: str
    fmt: Callable[[Any], str]
    higher_is_better: bool | None
    relative: bool  # change as +12 % (sums, counts) rather than in the figure's unit
    help: str


METRICS: tuple[Metric, ...] = (
    Metric(
        "Queries",
        "queries",
        units.compact_count,
        None,
        True,
        "clean queries (duplicates and rejected rows excluded)",
    ),
    Metric(
        "p95 latency",
        "p95_ms",
        units.duration,
        False,
        False,
        "95th percentile of queue + execution time, over every query of the range",
    ),
    Metric("Abort rate", "abort_rate", units.share, False, False, "share of queries aborted"),
    Metric(
        "Cache-hit rate",
        "cache_hit_rate",
        units.share,
        True,
        False,
        "share of queries answered from the result cache",
    ),
    Metric(
        "Data scanned",
        "mb_scanned",
        units.data_size,
        None,
        True,
        "data read by the queries (n/a when none was measured)",
    ),
    Metric(
        "Data spilled",
        "mb_spilled",
        units.data_size,
        False,
        True,
        "data spilled to disk (n/a when none was measured)",
    ),
)


@dataclass(frozen=True)
class Tile:
    label: str
    value: str
    delta: str | None
    color: units.DeltaColor
    arrow: Literal["auto", "off"]
    help: str


def _delta(m: Metric, cur: Any, prev: Any) -> str | None:
    a, b = units.number(cur), units.number(prev)
    if a is None or b is None:
        return None
    # a change too small to show in the figure's own unit is no change, not a red "+0.0"
    if m.relative:
        if b == 0:  # no relative change from nothing: the change in the figure's unit
            return "no change" if a == 0 else units.change(a, b, m.fmt)
        rel = units.relative_change(a, b)
        return "no change" if abs(a - b) < 0.0005 * abs(b) else rel
    if m.fmt(a) == m.fmt(b):
        return "no change"
    fmt = points if m.fmt is units.share else m.fmt
    return units.change(a, b, fmt)


def headline(
    figures: dict[str, Any],
    cur: dict[str, Any] | None,
    prev: dict[str, Any] | None,
    per: str = "",
) -> list[Tile]:
    """The tiles of a range: ``figures`` shown, the change from ``prev`` to ``cur`` as the
    delta (for a bounded range ``cur`` is ``figures``; for the whole run its last week,
    then ``per`` names the change on the tile, e.g. "wk/wk", as it is not the figure's).
    A period without queries gives no delta, never a change against nothing."""
    compare = cur is not None and prev is not None and cur["queries"] and prev["queries"]
    out = []
    for m in METRICS:
        value = (
            units.count(figures[m.column]) if m.column == "queries" else m.fmt(figures[m.column])
        )
        delta = _delta(m, cur[m.column], prev[m.column]) if compare and cur and prev else None
        shown = f"{delta} {per}" if per and delta not in (None, "no change") else delta
        out.append(
            Tile(
                m.label,
                value,
                shown,
                units.delta_color(m.higher_is_better, delta),
                units.delta_arrow(delta),
                m.help,
            )
        )
    return out
