"""What each stage does with a message of its input: one ``wire_<stage>`` per stage, each
adding its handler to the worker's dataframe of that input. The per-row logic lives in the
pure modules (clean, dedup, winlog, query_metrics, compile_metrics, leaderboard, flatten).

State keys are namespaced per stage (``<stage>/<cluster>``), so stages reading the same
input can share one worker process, one dataframe and one store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from quixstreams import Application
from quixstreams.dataframe import StreamingDataFrame

from common.contract import FLEET
from common.settings import Settings
from processors.logic import compile_metrics, health, leaderboard, query_metrics
from processors.logic.clean import clean_row, dead_letter
from processors.logic.dedup import seen_or_add
from processors.logic.flatten import flatten
from processors.logic.windows import window_bounds
from processors.logic.winlog import Emit, WindowSpec, is_fresh
from processors.streaming.quix_internals import CachedState, StateCache
from processors.streaming.runtime import MergeStep, Runtime, Windowed

#: what a stage does with one input message (value, key, timestamp, headers)
Handler = Callable[[Any, Any, int, Any], None]
#: seconds between running ("current") leaderboards while data flows
CURRENT_EVERY_S = 10.0
#: wall seconds a fleet / board window's merge state is kept after its last update
MERGE_KEEP_S = 1800.0
#: the leaderboard's partials all go under this key (one partition of its merge topic)
BOARDS_KEY = "boards"
# state keys within a stage's key namespace
SEQ = "n:"  # clean: next sequence number of a run
FINGERPRINT = "f:"  # compile_metrics: a fingerprint seen in a run
HIGH_WATER = "hwm:"  # flatten: highest sequence number done of a run
LAST_WRITE = "lw:"  # flatten: latest write (us) of a table in a run
HEALTH_HISTORY = "hh:"  # query_metrics: a run's trailing final windows' health metrics


def fleet_partials_topic(s: Settings) -> str:
    """query_metrics' private topic: cluster window partials for the fleet roll-up."""
    return s.topic("query_metrics") + ".fleet-partials"


def board_partials_topic(s: Settings) -> str:
    """The leaderboard's private topic: cluster top-k partials for the boards."""
    return s.topic("leaderboard") + ".cluster-partials"


@dataclass
class Wiring:
    """What a stage's wiring needs from its worker."""

    app: Application
    rt: Runtime
    settings: Settings
    sdf: StreamingDataFrame
    cache: StateCache
    send: Callable[[str, bytes, str | None, int], None]
    #: each stage's handler of an input message, called in order
    handlers: list[Handler] = field(default_factory=list)
    #: merge steps, whose changed windows are emitted before every commit
    merges: list[MergeStep] = field(default_factory=list)
    #: handlers of the stages fed in the process with each CLEAN_DATA record produced
    fed: list[Handler] = field(default_factory=list)

    def produce(self, topic: str, key: str | None, value: Any, ts_ms: int) -> None:
        self.send(topic, orjson.dumps(value), key, ts_ms)

    def topic_in(self, name: str) -> Any:
        return self.app.topic(name, key_deserializer="str", value_deserializer="json")

    def merge(self, topic: str, emit: Callable[[str, int, int, dict[str, Any]], None]) -> None:
        self.merges.append(MergeStep(self.app, self.rt, self.topic_in(topic), emit, MERGE_KEEP_S))

    def spec(self, window_seconds: int) -> WindowSpec:
        return WindowSpec(window_seconds * 1000, self.settings.grace_seconds * 1000)


def wire_clean(w: Wiring) -> None:
    s = w.settings
    t_clean, t_dead = s.topic("clean"), s.topic("dead_letters")
    horizon_ms = s.dedup_horizon_seconds * 1000

    def on_raw(value: Any, key: Any, ts: int, headers: Any) -> None:
        res = clean_row(value)
        if res.clean is None:
            dl = res.dead
            assert dl is not None
            w.produce(t_dead, dl["cluster"], dl, ts)
            return
        rec = res.clean
        cluster = rec["cluster"]
        prov = [rec["file"], rec["row"]]
        ts_ms = rec["arrival_us"] // 1000
        st = w.cache.state("clean/" + cluster)
        old = seen_or_add(st, f"{rec['run_id']}/{rec['query_id']}", ts_ms, prov, horizon_ms)
        if old is None:
            nk = SEQ + rec["run_id"]
            seq = st.get(nk, 0)
            st.set(nk, seq + 1)
            rec["seq"] = seq
            w.produce(t_clean, cluster, rec, ts_ms)
            for h in w.fed:
                h(rec, cluster, ts_ms, None)
        elif list(old) != prov:
            dl = dead_letter(
                value,
                "query_id",
                "duplicate",
                f"duplicate of query_id {rec['query_id']} in cluster {cluster} "
                f"first seen at {old[0]} row {old[1]}",
                cluster,
            )
            w.produce(t_dead, cluster, dl, ts)

    w.handlers.append(on_raw)


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
        hk = HEALTH_HISTORY + e.run_id
        history = st.get(hk) or []
        z, kept = health.score(rec, history, anomaly)
        rec.update(z)
        if kept is not history:
            st.set(hk, kept)
        w.produce(t_out, key, rec, e.start)
        fleet_msg = [e.run_id, e.start, e.end, key, partial, w.rt.sent_internal()]
        w.produce(t_fleet, FLEET, fleet_msg, e.start)

    win = Windowed(w.cache, "query_metrics/", spec, emit_cluster)

    def on_clean(value: Any, key: Any, ts: int, headers: Any) -> None:
        if win.add(value, query_metrics.qm_row(value)) is False:
            ts_ms = value["arrival_us"] // 1000
            start, end = window_bounds(ts_ms, spec.size_ms)
            late = query_metrics.late_record(value, start, end)
            w.produce(t_out, value["cluster"], late, ts_ms)

    w.handlers.append(on_clean)

    def emit_fleet(run: str, start: int, end: int, partials: dict[str, Any]) -> None:
        rec = query_metrics.fleet_record(run, start, end, partials, limits)
        w.produce(t_out, FLEET, rec, start)

    w.merge(t_fleet, emit_fleet)
    w.rt.flushers.append(win.flush)


def wire_compile_metrics(w: Wiring) -> None:
    s = w.settings
    t_out = s.topic("compile_metrics")
    spec = w.spec(s.window_seconds)

    def emit_window(key: str, e: Emit, _: CachedState) -> None:
        rec = compile_metrics.window_record(e.run_id, key, e.start, e.end, e.rows, e.final)
        w.produce(t_out, key, rec, e.start)

    win = Windowed(w.cache, "compile_metrics/", spec, emit_window)

    def on_clean(value: Any, key: Any, ts: int, headers: Any) -> None:
        cluster = value["cluster"]
        st = win.state(cluster)
        run = value["run_id"]
        if not is_fresh(st, run, value["seq"]):
            return
        fp = value["feature_fingerprint"]
        first: bool | None = None
        if fp is not None:
            fk = f"{FINGERPRINT}{run}|{fp}"
            first = st.get(fk) is None
            if first:
                st.set(fk, 1)
        win.add(value, compile_metrics.cm_row(value, first))

    w.handlers.append(on_clean)
    w.rt.flushers.append(win.flush)


def wire_leaderboard(w: Wiring) -> None:
    s = w.settings
    t_out = s.topic("leaderboard")
    t_parts = board_partials_topic(s)
    k = s.leaderboard_k
    spec = w.spec(s.leaderboard_window_seconds)

    def emit_partial(key: str, e: Emit, _: CachedState) -> None:
        partial = leaderboard.cluster_partial(e.rows, k, e.final)
        msg = [e.run_id, e.start, e.end, key, partial, w.rt.sent_internal()]
        w.produce(t_parts, BOARDS_KEY, msg, e.start)

    win = Windowed(w.cache, "leaderboard/", spec, emit_partial)

    def on_clean(value: Any, key: Any, ts: int, headers: Any) -> None:
        win.add(value, leaderboard.lb_row(value))

    w.handlers.append(on_clean)

    def emit_boards(run: str, start: int, end: int, partials: dict[str, Any]) -> None:
        for msg in leaderboard.boards(run, start, end, partials, k):
            w.produce(t_out, msg["board"], msg, start)

    w.merge(t_parts, emit_boards)
    w.rt.running_flushers.append(win.flush)
    w.rt.current_every = CURRENT_EVERY_S


def wire_flatten(w: Wiring) -> None:
    t_out = w.settings.topic("flattened")

    def on_clean(value: Any, key: Any, ts: int, headers: Any) -> None:
        cluster = value["cluster"]
        st = w.cache.state("flatten/" + cluster)
        run = value["run_id"]
        hk = HIGH_WATER + run
        if value["seq"] <= st.get(hk, -1):
            return  # a re-emitted copy
        st.set(hk, value["seq"])
        lw = f"{LAST_WRITE}{run}|"
        last = {t: st.get(f"{lw}{t}") for t in value["read_table_ids"] or ()}
        rows, writes = flatten(value, last)
        for t, us in writes.items():
            prev = st.get(f"{lw}{t}")
            if prev is None or us > prev:
                st.set(f"{lw}{t}", us)
        ts_ms = value["arrival_us"] // 1000
        for r in rows:
            w.produce(t_out, cluster, r, ts_ms)

    w.handlers.append(on_clean)


WIRE: dict[str, Callable[[Wiring], None]] = {
    "clean": wire_clean,
    "query_metrics": wire_query_metrics,
    "compile_metrics": wire_compile_metrics,
    "leaderboard": wire_leaderboard,
    "flatten": wire_flatten,
}
