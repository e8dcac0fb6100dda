"""Aggregate dashboard helpers: KPI tiles and leaderboard movement (pure, testable)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from dashboards.data import gb_from_mb, human_int, ms, pct


def movement(rank: int, prev: Any) -> str:
    """Arrow for a leaderboard entry's change of rank since the previous window."""
    if prev is None or (isinstance(prev, float) and math.isnan(prev)) or prev is pd.NA:
        return "new"
    prev = int(prev)
    if prev > rank:
        return f"▲ {prev - rank}"
    if prev < rank:
        return f"▼ {rank - prev}"
    return "="


def kpis(windows: pd.DataFrame) -> list[tuple[str, str, str | None]]:
    """(label, value, delta) tiles: the latest complete window against the one before."""
    if windows.empty:
        return []
    done = windows[windows["final"]] if windows["final"].any() else windows
    cur = done.iloc[-1]
    prev = done.iloc[-2] if len(done) > 1 else None

    def delta(col: str, fmt: Any) -> str | None:
        if prev is None or pd.isna(prev[col]) or pd.isna(cur[col]):
            return None
        d = float(cur[col]) - float(prev[col])
        return ("+" if d >= 0 else "-") + fmt(abs(d)).strip()

    return [
        ("Queries", human_int(cur["queries"]), delta("queries", human_int)),
        ("p95 latency", ms(cur["p95_total_ms"]), delta("p95_total_ms", ms)),
        ("Abort rate", pct(cur["abort_rate"]), delta("abort_rate", pct)),
        ("Cache-hit rate", pct(cur["cache_hit_rate"]), delta("cache_hit_rate", pct)),
        # NULL when no query of the window had its MB measured: "n/a", not 0
        ("GB scanned", gb_from_mb(cur["mbytes_scanned"]), delta("mbytes_scanned", gb_from_mb)),
        ("GB spilled", gb_from_mb(cur["mbytes_spilled"]), delta("mbytes_spilled", gb_from_mb)),
    ]
