"""The query_metrics stage: per cluster and window metrics with health scores, a record
per late row, and the fleet roll-up merged from the clusters' partials."""

from __future__ import annotations

from typing import Any

from common.contract import FLEET
from processors.logic import health, query_metrics
from processors.logic.windows import window_bounds
from processors.logic.winlog import Emit
from processors.streaming.quix_internals import CachedState
from processors.streaming.runtime import Windowed
from processors.streaming.topology import fleet_partials_topic
from processors.streaming.wiring import Wiring

#: the stage's state namespace (one per cluster)
NAMESPACE = "query_metrics/"
#: state key prefix: a run's trailing final windows' health metrics
HEALTH_HISTORY = "hh:"


def wire_query_metrics(w: Wiring) -> None:
    s = w.settings
    t_out = s.topic("query_metrics")
    t_fleet = fleet_partials_topic(s)
    spec = w.spec(s.window_seconds)
    limits, anomaly = health.Thresholds.from_settings(s), health.Anomaly.from_settings(s)

    def emit_cluster(key: str, e: Emit, st: CachedState) -> None:
        rec, partial = query_metrics.window_record(
            e.run_id, key, e.start, e.end, e.rows, e.final, limits
        )
        # the trailing windows live in the cluster's window state: committed with it, so a
        # window re-emitted after a restart is scored against the same history
        history_key = HEALTH_HISTORY + e.run_id
        history = st.get(history_key) or []
        z, kept = health.score(rec, history, anomaly)
        rec.update(z)
        if kept is not history:
            st.set(history_key, kept)
        w.produce(t_out, key, rec, e.start)
        fleet_msg = [e.run_id, e.start, e.end, key, partial, w.rt.sent_internal()]
        w.produce(t_fleet, FLEET, fleet_msg, e.start)

    windows = Windowed(w.cache, NAMESPACE, spec, emit_cluster)

    def on_clean(value: Any, key: Any, ts: int, headers: Any) -> None:
        if windows.add(value, query_metrics.qm_row(value)) is False:
            ts_ms = value["arrival_us"] // 1000
            start, end = window_bounds(ts_ms, spec.size_ms)
            late = query_metrics.late_record(value, start, end)
            w.produce(t_out, value["cluster"], late, ts_ms)

    w.handlers.append(on_clean)

    def emit_fleet(run: str, start: int, end: int, partials: dict[str, Any]) -> None:
        rec = query_metrics.fleet_record(run, start, end, partials, limits)
        w.produce(t_out, FLEET, rec, start)

    w.merge(t_fleet, emit_fleet)
    w.rt.flushers.append(windows.flush)
