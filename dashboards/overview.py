"""The aggregate page's ranges and their SQL (no Streamlit here: unit-testable).

Every figure over a range is computed from the query-level rows (``fact_query``, the clean
topic), so a p95 over a week is the exact p95 of that week's queries, never an average of
hourly window percentiles. Ranges are in the run's event time, never wall-clock time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from dashboards.queries import Data, Filters

HOUR = timedelta(hours=1)

#: range key -> (label on the control, length; None = the whole run)
RANGES: dict[str, tuple[str, timedelta | None]] = {
    "hour": ("Last hour", HOUR),
    "day": ("Last 24 h", timedelta(days=1)),
    "week": ("Last 7 days", timedelta(days=7)),
    "run": ("Whole run", None),
}
#: what the previous period of each range is called in a delta's caption
_BEFORE = {"hour": "the hour before", "day": "the 24 h before", "week": "the 7 days before"}
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Period:
    """One range of the run's event time, and the period its deltas compare against.

    ``start`` / ``end`` None: unbounded (the whole run). ``cmp_*``: the two equal-length
    periods whose change the tiles show (for the whole run: its last week against the
    week before)."""

    key: str
    label: str
    start: datetime | None
    end: datetime | None
    cmp_cur: tuple[datetime, datetime]
    cmp_prev: tuple[datetime, datetime]
    compare: str

    def filters(self, run_id: str) -> Filters:
        return Filters(run_id, start=self.start, end=self.end)

    def span(self) -> str:
        """The range in words, e.g. 'Last hour · 03-14 13:00 - 14:00'."""
        if self.start is None or self.end is None:
            return self.label
        fmt = "%H:%M" if self.start.date() == self.end.date() else "%m-%d %H:%M"
        return f"{self.label} · {self.start:%Y-%m-%d %H:%M} - {self.end:{fmt}}"


def range_end(last_event: datetime, live: bool) -> datetime:
    """End of the newest complete hour. Live: the hour holding the newest event is still
    filling, so the ranges end where it starts; finished: that hour is as complete as it
    will ever be, so it is included."""
    hour = pd.Timestamp(last_event).floor("h").to_pydatetime()
    return hour if live else hour + HOUR


def period(key: str, last_event: datetime, live: bool) -> Period:
    """The period ``key`` (from :data:`RANGES`) of a run whose newest event is ``last_event``."""
    label, length = RANGES[key]
    end = range_end(last_event, live)
    if length is None:
        # the whole run; its change is week over week
        cur = (end - WEEK, end)
        prev = (end - 2 * WEEK, end - WEEK)
        return Period(key, label, None, None, cur, prev, "change: last 7 days against the 7 before")
    start = end - length
    return Period(
        key,
        label,
        start,
        end,
        (start, end),
        (start - length, start),
        f"change against {_BEFORE[key]}",
    )


def default_ranges(live: bool) -> list[str]:
    """A live run: the newest complete hour and day; a finished one: the whole run."""
    return ["hour", "day"] if live else ["run"]


_FIGURES = """SELECT count(*) AS queries,
       quantile_cont(total_duration_ms, 0.95) AS p95_ms,
       avg(was_aborted::INT) AS abort_rate,
       avg(was_cached::INT) AS cache_hit_rate,
       sum(mbytes_scanned) AS mb_scanned,
       sum(mbytes_spilled) AS mb_spilled
FROM fact_query WHERE {where}"""


def figures(data: Data, f: Filters) -> dict[str, Any]:
    """The headline figures of the queries matching ``f`` (exact, from query-level rows)."""
    where, params = f.where()
    df = data.df(_FIGURES.format(where=where), params)
    return {str(k): v for k, v in df.iloc[0].items()}


def window(run_id: str, bounds: tuple[datetime, datetime]) -> Filters:
    return Filters(run_id, start=bounds[0], end=bounds[1])


#: trend grain -> (time_bucket interval, label, points of the smoothing mean)
GRAINS: dict[str, tuple[str, str, int]] = {
    "5min": ("5 minutes", "per 5 min", 3),
    "hour": ("1 hour", "per hour", 6),
    "day": ("1 day", "per day", 7),
    "week": ("7 days", "per week", 1),
}


def grain_for(span: timedelta) -> str:
    """The finest grain that keeps a trend readable at a glance (tens of points)."""
    if span <= timedelta(hours=3):
        return "5min"
    if span <= timedelta(days=3):
        return "hour"
    return "day"


_TREND = """SELECT time_bucket(CAST(? AS INTERVAL), arrival_timestamp) AS t, count(*) AS queries,
       quantile_cont(total_duration_ms, 0.95) AS p95_ms,
       avg(was_cached::INT) AS cache_hit_rate, avg(was_aborted::INT) AS abort_rate,
       sum(mbytes_scanned) AS mb_scanned
FROM fact_query WHERE {where} GROUP BY 1 ORDER BY 1"""


def trend(data: Data, f: Filters, grain: str) -> pd.DataFrame:
    """Per-bucket figures (weeks start on Mondays: DuckDB's bucket origin is a Monday)."""
    where, params = f.where()
    return data.df(_TREND.format(where=where), [GRAINS[grain][0], *params])


def type_mix(data: Data, f: Filters) -> pd.DataFrame:
    """Queries per type with their share of the range."""
    where, params = f.where()
    return data.df(
        f"""SELECT query_type, count(*) AS queries, count(*) / sum(count(*)) OVER () AS share
            FROM fact_query WHERE {where} GROUP BY ALL ORDER BY queries DESC, query_type""",
        params,
    )
