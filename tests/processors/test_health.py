"""processors.logic.health: metrics against DuckDB over the same records, the bottleneck's
precedence, robust z-scores against numpy, and the trailing history's bookkeeping."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from common.contract import BOTTLENECKS, HEALTH_METRICS
from common.settings import Settings
from processors.logic import health, query_metrics
from processors.logic.winlog import WindowSpec, add_row
from tests.support.query_records import close_or_both_null, duckdb_row, maybe, query_fields

WINDOW_MS = 3_600_000


_ms = st.one_of(st.just(0), st.integers(0, 10**7))
_mb = st.one_of(st.just(0.0), st.floats(0, 1e6, allow_nan=False).map(lambda x: round(x, 1)))
_records = st.lists(st.fixed_dictionaries(query_fields(_ms, _mb)), min_size=1, max_size=40)


def _rows(recs: list[dict[str, Any]]) -> list[list[Any]]:
    out = []
    for r in recs:
        q, e = r["queue_duration_ms"], r["execution_duration_ms"]
        total = None if q is None or e is None else q + e
        out.append(query_metrics.qm_row({**r, "total_duration_ms": total}))
    return out


_SQL = f"""
SELECT count(*) FILTER (WHERE q > 0) / count(q) AS queue_pressure,
       count(*) FILTER (WHERE sp > 0) / count(sp) AS spill_pressure,
       sum(mb) FILTER (WHERE e IS NOT NULL)
         / (sum(e) FILTER (WHERE mb IS NOT NULL) / 1000) AS scan_mb_per_s,
       sum(e) / {WINDOW_MS} AS utilisation,
       avg(cached::INT) AS cache_hit_rate,
       sum(c) FILTER (WHERE e IS NOT NULL) / sum(e) FILTER (WHERE c IS NOT NULL) AS compile_share
FROM (SELECT queue_duration_ms AS q, execution_duration_ms::DOUBLE AS e,
             compile_duration_ms::DOUBLE AS c, mbytes_scanned AS mb, mbytes_spilled AS sp,
             was_cached AS cached FROM t)
"""


def _duckdb(recs: list[dict[str, Any]]) -> dict[str, Any]:
    out = duckdb_row(recs, _SQL)
    # DuckDB divides by zero to NULL only for integers; x / 0.0 is inf or nan
    return {k: None if v is None or not math.isfinite(v) else v for k, v in out.items()}


def _close(a: float | None, b: float | None) -> bool:
    return close_or_both_null(a, b, abs_tol=1e-9)


@settings(max_examples=80, deadline=None)
@given(_records)
def test_window_health_metrics_equal_sql(recs: list[dict[str, Any]]) -> None:
    rows = _rows(recs)
    rec, _ = query_metrics.window_record("r", "c", 0, WINDOW_MS, rows, True)
    want = _duckdb(recs)
    for name in (*HEALTH_METRICS, "compile_share"):
        assert _close(rec[name], want[name]), (name, rec[name], want[name])
    assert rec["bottleneck"] in BOTTLENECKS
    # the fleet roll-up of two halves has the metrics of the whole
    half = len(rows) // 2
    parts = {
        "a": query_metrics.window_record("r", "a", 0, WINDOW_MS, rows[:half], True)[1],
        "b": query_metrics.window_record("r", "b", 0, WINDOW_MS, rows[half:], True)[1],
    }
    fleet = query_metrics.fleet_record("r", 0, WINDOW_MS, parts)
    for name in (*HEALTH_METRICS, "compile_share"):
        assert _close(fleet[name], want[name]), name
    assert fleet["bottleneck"] == rec["bottleneck"]
    assert fleet["anomalies"] is None and all(fleet[f"{m}_z"] is None for m in HEALTH_METRICS)


def _m(**kw: float | None) -> dict[str, float | None]:
    base: dict[str, float | None] = {k: 0.0 for k in (*HEALTH_METRICS, "compile_share")}
    return {**base, **kw}


def test_bottleneck_precedence_and_thresholds() -> None:
    t = health.Thresholds(
        queue_pressure=0.5, spill_pressure=0.1, compile_share=0.3, scan_mb_per_s=100.0
    )
    every = _m(queue_pressure=0.5, spill_pressure=0.1, compile_share=0.3, scan_mb_per_s=100.0)
    assert health.bottleneck(every, t) == "queue-bound"  # at the threshold trips
    assert health.bottleneck({**every, "queue_pressure": 0.49}, t) == "spill-bound"
    assert (
        health.bottleneck({**every, "queue_pressure": None, "spill_pressure": 0.0}, t)
        == "compile-bound"
    )
    assert health.bottleneck(_m(scan_mb_per_s=1e9), t) == "scan-bound"
    assert health.bottleneck(_m(utilisation=50.0, cache_hit_rate=1.0), t) == "healthy"
    nothing = {k: None for k in every}
    assert health.bottleneck(nothing, t) == "healthy"


def test_thresholds_and_anomaly_come_from_settings() -> None:
    s = Settings().with_(
        health_queue_pressure=0.9,
        health_trailing_windows=5,
        health_min_trailing=2,
        health_z_threshold=2.0,
    )
    assert health.Thresholds.from_settings(s).queue_pressure == 0.9
    assert health.Anomaly.from_settings(s) == health.Anomaly(5, 2, 2.0)


_vals = st.lists(maybe(st.floats(-1e6, 1e6, allow_nan=False)), max_size=30)


@settings(max_examples=200, deadline=None)
@given(_vals, st.floats(-1e6, 1e6, allow_nan=False), st.integers(1, 8))
def test_robust_z_equals_numpy(trailing: list[float | None], x: float, min_n: int) -> None:
    got = health.robust_z(x, trailing, min_n)
    known = np.array([v for v in trailing if v is not None], dtype=float)
    if len(known) < min_n:
        assert got is None
        return
    med = np.median(known)
    mad = np.median(np.abs(known - med))
    if mad == 0:
        assert got is None
    else:
        assert got is not None
        assert math.isclose(got, (x - med) / (1.4826 * mad), rel_tol=1e-9, abs_tol=1e-9)


def test_robust_z_edges() -> None:
    assert health.robust_z(None, [1.0, 2.0, 3.0], 1) is None
    assert health.robust_z(5.0, [2.0, 2.0, 2.0], 1) is None  # MAD 0
    assert health.robust_z(5.0, [1.0, None, 3.0], 3) is None  # two known of three
    # median 2, |dev| [1, 0, 1] -> MAD 1
    z = health.robust_z(5.0, [1.0, 2.0, 3.0], 3)
    assert z is not None and math.isclose(z, 3 / 1.4826)


def _rec(start: int, final: bool, v: float) -> dict[str, Any]:
    return {"window_start": start, "final": final, **{m: v for m in HEALTH_METRICS}}


def test_score_keeps_trailing_final_windows_once() -> None:
    a = health.Anomaly(trailing=3, min_trailing=2, z_threshold=3.0)
    hist: list[list[Any]] = []
    for i, v in enumerate([1.0, 2.0, 3.0, 4.0]):
        _, hist = health.score(_rec(i, True, v), hist, a)
    assert [h[0] for h in hist] == [1, 2, 3]  # capped at the last 3
    z, same = health.score(_rec(3, True, 4.0), hist, a)  # a re-emitted final window
    assert same == hist
    assert z["health_trailing"] == 2  # windows 1 and 2 precede it
    z_prov, kept = health.score(_rec(4, False, 100.0), hist, a)
    assert kept is hist  # a provisional window is not history
    assert z_prov["health_trailing"] == 3
    # trailing [2, 3, 4]: median 3, MAD 1
    assert math.isclose(z_prov["queue_pressure_z"], 97 / 1.4826)
    assert z_prov["anomalies"] == list(HEALTH_METRICS)
    z_low, _ = health.score(_rec(4, False, 3.5), hist, a)
    assert z_low["anomalies"] == []


def test_closed_windows_are_emitted_in_event_time_order() -> None:
    """The history is in window order only if windows closed together come out in order,
    whatever order they opened in."""
    state: dict[str, Any] = {}

    class S:
        def get(self, k: str, default: Any = None) -> Any:
            return state.get(k, default)

        def set(self, k: str, v: Any) -> None:
            state[k] = v

        def delete(self, k: str) -> None:
            state.pop(k, None)

    spec = WindowSpec(1000, 500)
    add_row(S(), spec, "r", 1400, "b")  # opens [1000, 2000)
    add_row(S(), spec, "r", 900, "a")  # within grace: opens [0, 1000) after it
    _, emits = add_row(S(), spec, "r", 5000, "c")
    assert [e.start for e in emits] == [0, 1000]
