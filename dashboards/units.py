"""Human units for every figure the dashboards show (pure): durations in ms / s / min / h /
d, data sizes in MB / GB / TB, shares in %, counts with separators, and the colour a change
of a metric deserves (better green, worse red, no change neutral)."""

from __future__ import annotations

import math
from typing import Any, Literal

#: a figure with no known value (NULL: not measured, e.g. MB of result-cache hits): never 0
UNKNOWN = "n/a"

#: how Streamlit's ``st.metric`` colours a delta: "normal" = up is green, "inverse" = up is
#: red, "off" = grey
DeltaColor = Literal["normal", "inverse", "off"]


def number(x: Any) -> float | None:
    """``x`` as a float, None when unknown (None, NaN, pandas NA, not a number)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) or math.isinf(v) else v


def count(n: Any) -> str:
    """12,345 (a whole count)."""
    v = number(n)
    return UNKNOWN if v is None else f"{round(v):,}"


def compact_count(n: Any) -> str:
    """1.2 k, 3.4 M: a count for a tile or an axis."""
    v = number(n)
    if v is None:
        return UNKNOWN
    for div, unit in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(v) >= div:
            return f"{v / div:,.1f}{unit}"
    return f"{round(v):,}"


def share(x: Any, digits: int = 1) -> str:
    """A fraction 0..1 as a percentage."""
    v = number(x)
    return UNKNOWN if v is None else f"{v * 100:.{digits}f} %"


_DURATIONS = ((86_400_000.0, "d"), (3_600_000.0, "h"), (60_000.0, "min"), (1000.0, "s"))


def duration(ms: Any) -> str:
    """A duration given in milliseconds: 850 ms, 4.2 s, 3.5 min, 2.1 h, 1.3 d."""
    v = number(ms)
    if v is None:
        return UNKNOWN
    for div, unit in _DURATIONS:
        if abs(v) >= div:
            return f"{v / div:,.1f} {unit}"
    return f"{v:,.0f} ms"


def data_size(mb: Any) -> str:
    """A size given in MB: 512 MB, 3.2 GB, 130.0 TB."""
    v = number(mb)
    if v is None:
        return UNKNOWN
    for div, unit in ((1024.0**3, "PB"), (1024.0**2, "TB"), (1024.0, "GB")):
        if abs(v) >= div:
            return f"{v / div:,.1f} {unit}"
    return f"{v:,.0f} MB"


def rate_per_s(x: Any, unit: str = "rows") -> str:
    v = number(x)
    return UNKNOWN if v is None else f"{v:,.0f} {unit}/s"


def change(cur: Any, prev: Any, fmt: Any) -> str | None:
    """The signed change from ``prev`` to ``cur`` in ``fmt``'s unit; None when either is
    unknown; "no change" when equal (show it with :func:`delta_arrow`'s "off")."""
    a, b = number(cur), number(prev)
    if a is None or b is None:
        return None
    d = a - b
    if d == 0:
        return "no change"
    return ("+" if d > 0 else "-") + str(fmt(abs(d)))


def relative_change(cur: Any, prev: Any) -> str | None:
    """+12.5 % against the previous value; None without a previous value or from 0."""
    a, b = number(cur), number(prev)
    if a is None or b is None or b == 0:
        return None
    d = (a - b) / abs(b)
    if d == 0:
        return "no change"
    return f"{'+' if d > 0 else '-'}{abs(d) * 100:.1f} %"


def delta_color(higher_is_better: bool | None, delta: str | None) -> DeltaColor:
    """Streamlit's delta colour for a metric: green when it moved the better way, red when
    worse, grey when it did not move or has no better direction (e.g. a query count)."""
    if higher_is_better is None or delta is None or delta == "no change":
        return "off"
    return "normal" if higher_is_better else "inverse"


def delta_arrow(delta: str | None) -> Literal["auto", "off"]:
    """No arrow on an unchanged figure (``st.metric(..., delta_arrow=...)``)."""
    return "off" if delta in (None, "no change") else "auto"
