"""Cluster health per window (pure logic): five metrics, a bottleneck label and a robust
z-score per metric against the same cluster's trailing final windows.

Computed once per window emission from the window's ``query_metrics.qm_row`` rows, never
per row. Definitions (docs/processors.md, "Cluster health"):

- ``queue_pressure`` = queries that queued (queue time > 0) / queries with a known queue
  time; ``spill_pressure`` = queries that spilled (MB spilled > 0) / queries with known MB
  spilled; ``cache_hit_rate`` = result-cache hits / queries;
- ``scan_mb_per_s`` = MB scanned / execution seconds, over the queries with both known;
- ``utilisation`` = execution ms summed (known values) / the window's length in ms: the
  average number of queries executing at once, so it can exceed 1;
- ``compile_share`` (behind the compile-bound label) = compile ms / execution ms, over the
  queries with both known (compile time is part of execution time).

A metric over no known value is None. The label is the first of queue-, spill-, compile-,
scan-bound whose metric reaches its threshold, else ``healthy`` (a None never trips):
waiting for a slot is what users feel first, spilling slows every query of the cluster,
compile time is overhead on top, and a high scan rate is the weakest sign of trouble.

The z-score of metric x is ``(x - median) / (1.4826 * MAD)`` over the metric's known
values in the cluster's trailing ``trailing`` final windows (the window itself excluded).
It is None when x is None, when fewer than ``min_trailing`` of those values are known, or
when their MAD is 0 (no spread: any difference would be an infinite z).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from common.contract import BOTTLENECKS, HEALTH_METRICS
from common.settings import Settings

#: MAD * this estimates the standard deviation of normally distributed data
MAD_SCALE = 1.4826

#: the per-window counters a metric is computed from (summed across clusters for the fleet)
COUNTERS: tuple[str, ...] = (
    "queries",
    "cached",
    "queue_known",
    "queued",
    "spill_known",
    "spilled",
    "exec_known",
    "exec_ms",
    "scan_mb",
    "scan_exec_ms",
    "compile_ms",
    "compile_exec_ms",
)


@dataclass(frozen=True)
class Thresholds:
    queue_pressure: float
    spill_pressure: float
    compile_share: float
    scan_mb_per_s: float

    @classmethod
    def from_settings(cls, s: Settings) -> Thresholds:
        return cls(
            s.health_queue_pressure,
            s.health_spill_pressure,
            s.health_compile_share,
            s.health_scan_mb_per_s,
        )


@dataclass(frozen=True)
class Anomaly:
    trailing: int
    min_trailing: int
    z_threshold: float

    @classmethod
    def from_settings(cls, s: Settings) -> Anomaly:
        return cls(s.health_trailing_windows, s.health_min_trailing, s.health_z_threshold)


#: the documented defaults (common/settings.py)
DEFAULT_THRESHOLDS = Thresholds.from_settings(Settings())
DEFAULT_ANOMALY = Anomaly.from_settings(Settings())


def counters(rows: Sequence[Sequence[Any]]) -> list[Any]:
    """One pass over ``qm_row`` rows -> the values of :data:`COUNTERS`, in order."""
    cached = queue_known = queued = spill_known = spilled = exec_known = 0
    exec_ms = scan_exec = compile_ms = compile_exec = 0
    scan_mb = 0.0
    for r in rows:
        cached += r[2]
        q, ex, mb, sp = r[3], r[4], r[6], r[7]
        if q is not None:
            queue_known += 1
            if q > 0:
                queued += 1
        if sp is not None:
            spill_known += 1
            if sp > 0:
                spilled += 1
        if ex is None:
            continue
        exec_known += 1
        exec_ms += ex
        if mb is not None:
            scan_mb += mb
            scan_exec += ex
        c = r[8] if len(r) > 8 else None  # rows kept before compile was in them have none
        if c is not None:
            compile_ms += c
            compile_exec += ex
    return [
        len(rows),
        cached,
        queue_known,
        queued,
        spill_known,
        spilled,
        exec_known,
        exec_ms,
        scan_mb,
        scan_exec,
        compile_ms,
        compile_exec,
    ]


def _ratio(num: float, den: float, scale: float = 1.0) -> float | None:
    return num / den * scale if den else None


def metrics(c: Sequence[Any], window_ms: int) -> dict[str, float | None]:
    """The health metrics (and ``compile_share``) of a window from its :func:`counters`."""
    d = dict(zip(COUNTERS, c, strict=True))
    return {
        "queue_pressure": _ratio(d["queued"], d["queue_known"]),
        "spill_pressure": _ratio(d["spilled"], d["spill_known"]),
        "scan_mb_per_s": _ratio(d["scan_mb"], d["scan_exec_ms"], 1000.0),
        "utilisation": d["exec_ms"] / window_ms if d["exec_known"] else None,
        "cache_hit_rate": _ratio(d["cached"], d["queries"]),
        "compile_share": _ratio(d["compile_ms"], d["compile_exec_ms"]),
    }


def bottleneck(m: Mapping[str, float | None], t: Thresholds) -> str:
    """The first label (in :data:`BOTTLENECKS` order) whose metric reaches its threshold."""
    checks = (
        (m["queue_pressure"], t.queue_pressure),
        (m["spill_pressure"], t.spill_pressure),
        (m["compile_share"], t.compile_share),
        (m["scan_mb_per_s"], t.scan_mb_per_s),
    )
    for label, (v, limit) in zip(BOTTLENECKS, checks, strict=False):
        if v is not None and v >= limit:
            return label
    return BOTTLENECKS[-1]


def _median(values: list[float]) -> float:
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def robust_z(x: float | None, trailing: Sequence[float | None], min_trailing: int) -> float | None:
    """(x - median) / (1.4826 * MAD) over the known trailing values; None as documented."""
    vals = [v for v in trailing if v is not None]
    if x is None or len(vals) < min_trailing:
        return None
    med = _median(vals)
    mad = _median([abs(v - med) for v in vals])
    if mad == 0:
        return None
    return (x - med) / (MAD_SCALE * mad)


def health_fields(c: Sequence[Any], window_ms: int, t: Thresholds) -> dict[str, Any]:
    """The record's health fields without z-scores (those need the cluster's history)."""
    m = metrics(c, window_ms)
    return {**m, "bottleneck": bottleneck(m, t)}


def trailing(history: list[list[Any]], start: int, n: int) -> list[list[Any]]:
    """The last ``n`` history entries ``[window_start, *metrics]`` before ``start``."""
    return [h for h in history if h[0] < start][-n:]


def score(
    rec: dict[str, Any], history: list[list[Any]], a: Anomaly
) -> tuple[dict[str, Any], list[list[Any]]]:
    """The z fields of a cluster window record (``<metric>_z``, ``anomalies``: the metrics
    with |z| >= the threshold, ``health_trailing``: trailing windows used) and the history
    to keep: a final window is appended (once: a re-emitted one is already there), capped
    at ``a.trailing`` entries; a provisional one leaves it as it was."""
    start = rec["window_start"]
    past = trailing(history, start, a.trailing)
    out: dict[str, Any] = {"health_trailing": len(past)}
    flagged = []
    for i, name in enumerate(HEALTH_METRICS, start=1):
        z = robust_z(rec[name], [h[i] for h in past], a.min_trailing)
        out[f"{name}_z"] = z
        if z is not None and abs(z) >= a.z_threshold:
            flagged.append(name)
    out["anomalies"] = flagged
    if rec["final"] and not any(h[0] == start for h in history):
        entry = [start, *(rec[name] for name in HEALTH_METRICS)]
        history = sorted([*history, entry], key=lambda h: h[0])[-a.trailing :]
    return out, history


def unscored() -> dict[str, Any]:
    """The z fields of a record not scored (the fleet roll-up)."""
    return {
        "health_trailing": None,
        **{f"{name}_z": None for name in HEALTH_METRICS},
        "anomalies": None,
    }
