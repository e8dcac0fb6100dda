"""Quix Streams wiring: one ``quixstreams.Application`` per stage.

Every stage consumes its input topic(s) with its own consumer group
(``settings.group(stage)``), keeps state in a Quix state store (RocksDB + changelog topic)
under ``state_path(settings, stage)``, and produces its outputs directly through the
application's producer (so they are flushed before the offsets are committed:
at-least-once, or exactly-once with transactions when selected). The per-row logic lives in
the pure modules (clean, dedup, winlog, query_metrics, compile_metrics, leaderboard,
flatten); this module only moves bytes and state.

Windows are closed by event time per key (see ``processors.windows``). A periodic task of
the run loop emits the still-open windows (``final: false`` / variant ``current``) once
the input has been idle for ``IDLE_FLUSH_S`` (and the leaderboard's running boards every
``CURRENT_EVERY_S`` while data flows), so a finished replay's last windows are visible.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka.admin import AdminClient
from quixstreams import Application
from quixstreams.context import message_context
from quixstreams.dataframe import StreamingDataFrame

from common.broker_identity import kind_of_cluster, state_is_stale, state_message
from common.contract import FLEET
from common.kafka_config import (
    admin_config,
    quix_extra_consumer_config,
    quix_extra_producer_config,
)
from common.settings import Settings, state_path
from common.topics import ensure_topics
from processors import compile_metrics, leaderboard, query_metrics
from processors.clean import clean_row
from processors.dedup import seen_or_add
from processors.flatten import flatten
from processors.windows import window_bounds
from processors.winlog import Emit, WindowSpec, add_row, is_fresh, mark_flushed, pending

log = logging.getLogger("processors")

STAGES: tuple[str, ...] = ("clean", "query_metrics", "compile_metrics", "leaderboard", "flatten")

_OUTPUTS: dict[str, list[str]] = {
    "clean": ["clean", "dead_letters"],
    "query_metrics": ["query_metrics"],
    "compile_metrics": ["compile_metrics"],
    "leaderboard": ["leaderboard"],
    "flatten": ["flattened"],
}
_INPUTS: dict[str, str] = {
    "clean": "raw",
    "query_metrics": "clean",
    "compile_metrics": "clean",
    "leaderboard": "clean",
    "flatten": "clean",
}

#: seconds without input after which open windows are emitted as provisional results
IDLE_FLUSH_S = 2.0
#: seconds between progress lines in the log
REPORT_EVERY_S = 10.0
#: seconds between running ("current") leaderboards while data flows
CURRENT_EVERY_S = 10.0
#: state prefix holding the keys of a partition that have windows
_REGISTRY = "__keys__"
#: wall seconds a fleet / board window's merge state is kept after its last update
MERGE_KEEP_S = 1800.0


def output_topics(stage: str) -> list[str]:
    """Logical names (``Settings.topic(name)``) of the topics a stage writes."""
    if stage not in _OUTPUTS:
        raise ValueError(f"unknown stage {stage!r}: expected one of {', '.join(STAGES)}")
    return list(_OUTPUTS[stage])


def input_topic(stage: str) -> str:
    """Logical name of the topic a stage reads."""
    if stage not in _INPUTS:
        raise ValueError(f"unknown stage {stage!r}: expected one of {', '.join(STAGES)}")
    return _INPUTS[stage]


def internal_topics(settings: Settings, stage: str) -> list[str]:
    """Full names of a stage's private topics (re-keying for the fleet / board windows)."""
    if stage == "query_metrics":
        return [settings.topic("query_metrics") + ".fleet-partials"]
    if stage == "leaderboard":
        return [settings.topic("leaderboard") + ".cluster-partials"]
    return []


def broker_cluster_id(settings: Settings) -> str | None:
    """The broker's cluster id from metadata (None if it does not answer or say)."""
    if settings.embedded:
        return None
    try:
        md = AdminClient(admin_config(settings)).list_topics(timeout=settings.connect_timeout_s)
    except Exception:
        return None
    return str(md.cluster_id) if md.cluster_id else None


def with_broker_kind(settings: Settings, cluster_id: str | None) -> Settings:
    """Settings that know the broker's kind (``cluster_id`` from :func:`broker_cluster_id`),
    so Tansu's workarounds apply there only."""
    return (
        settings
        if settings.broker_kind
        else settings.with_(broker_kind=kind_of_cluster(cluster_id))
    )


#: file in a stage's state dir naming the broker its local state was built from
BROKER_MARKER = "broker.json"


def check_state_broker(settings: Settings, stage: str, cluster_id: str | None) -> str | None:
    """Discard a stage's local state built from another broker (cluster id differs: the
    embedded broker restarted and its changelog topics are gone), then record the broker
    now used. Returns the message said (also logged), or None when the state is kept."""
    path = state_path(settings, stage)
    marker = path / BROKER_MARKER
    stored: str | None = None
    try:
        stored = json.loads(marker.read_text()).get("cluster_id")
    except (OSError, ValueError, AttributeError):
        stored = None
    said = None
    if state_is_stale(stored, cluster_id):
        said = state_message(
            stage, settings.bootstrap_servers, str(stored), str(cluster_id), str(path)
        )
        log.warning("%s", said)
        shutil.rmtree(path, ignore_errors=True)
    if cluster_id:
        path.mkdir(parents=True, exist_ok=True)
        marker.write_text(
            json.dumps({"cluster_id": cluster_id, "bootstrap": settings.bootstrap_servers})
        )
    return said


def _dumps(v: Any) -> bytes:
    return orjson.dumps(v)


@dataclass
class _Runtime:
    """Shared mutable run-loop bookkeeping of one stage process."""

    app: Application
    until_idle: float | None
    stage: str = ""
    #: with until_idle: stop on idle even if nothing was consumed (a restarted stage whose
    #: input was all committed before it failed has nothing left to read)
    idle_exit_empty: bool = False
    last_row: float = field(default_factory=time.monotonic)
    first_row: float | None = None
    last_report: float = field(default_factory=time.monotonic)
    reported: int = 0
    consumed: int = 0
    dirty: bool = False
    #: partials this process sent to its own private topic / the last of them read back
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    internal_out: int = 0
    internal_back: int = 0
    last_flush: float = field(default_factory=time.monotonic)
    flushers: list[Callable[[], None]] = field(default_factory=list)
    current_every: float | None = None

    def sent_internal(self) -> str:
        self.internal_out += 1
        return f"{self.token}:{self.internal_out}"

    def read_internal(self, mark: str) -> None:
        token, _, n = mark.partition(":")
        if token == self.token:
            self.internal_back = max(self.internal_back, int(n))

    def touch(self) -> None:
        self.last_row = time.monotonic()
        if self.first_row is None:
            self.first_row = self.last_row
        self.consumed += 1
        self.dirty = True

    def rate(self) -> float:
        if self.first_row is None or self.last_row <= self.first_row:
            return 0.0
        return self.consumed / (self.last_row - self.first_row)

    def tick(self) -> None:
        now = time.monotonic()
        idle = now - self.last_row
        if now - self.last_report >= REPORT_EVERY_S and self.consumed != self.reported:
            log.info(
                "%s: %d messages (%.0f/s over %.1f s)",
                self.stage,
                self.consumed,
                (self.consumed - self.reported) / (now - self.last_report),
                now - self.last_report,
            )
            self.last_report, self.reported = now, self.consumed
        flush_after = IDLE_FLUSH_S
        if self.until_idle is not None:
            flush_after = min(flush_after, self.until_idle / 2)
        if self.dirty and (
            idle >= flush_after
            or (self.current_every is not None and now - self.last_flush >= self.current_every)
        ):
            for f in self.flushers:
                f()
            self.dirty = False
            self.last_flush = now
        if (
            self.until_idle is not None
            and (self.consumed or (self.idle_exit_empty and idle >= 3 * self.until_idle))
            and not self.dirty
            and idle >= self.until_idle
            # our own partials must have come back through the merge step (one partition,
            # in order); if another replica owns it, give up waiting after 3x the idle time
            and (self.internal_back >= self.internal_out or idle >= 3 * self.until_idle)
        ):
            log.info(
                "%s: %d messages, %.0f/s from first to last; no input for %.1f s: stopping",
                self.stage,
                self.consumed,
                self.rate(),
                idle,
            )
            self.app.stop()


class _Windowed:
    """A window row log on one dataframe's store, with idle flushing of open windows."""

    def __init__(
        self,
        sdf: StreamingDataFrame,
        spec: WindowSpec,
        emit: Callable[[str, Emit], None],
    ) -> None:
        self.sdf = sdf
        self.spec = spec
        self.emit = emit
        self.known: dict[int, set[str]] = {}

    def state(self, key: str) -> Any:
        ctx = message_context()
        tx = self.sdf.processing_context.checkpoint.get_store_transaction(
            stream_id=self.sdf.stream_id, partition=ctx.partition
        )
        keys = self.known.get(ctx.partition)
        if keys is None or key not in keys:
            reg = tx.as_state(prefix=_REGISTRY)
            stored = set(reg.get("keys") or [])
            if key not in stored:
                stored.add(key)
                reg.set("keys", sorted(stored))
            self.known[ctx.partition] = stored
        return tx.as_state(prefix=key)

    def flush(self) -> None:
        pc = self.sdf.processing_context
        if pc.state_manager.recovery_required:
            return
        store = pc.state_manager.get_store(self.sdf.stream_id)
        for partition in sorted(store.partitions):
            tx = pc.checkpoint.get_store_transaction(
                stream_id=self.sdf.stream_id, partition=partition
            )
            keys = tx.as_state(prefix=_REGISTRY).get("keys") or []
            for key in keys:
                st = tx.as_state(prefix=key)
                for e in pending(st, self.spec):
                    self.emit(key, e)
                mark_flushed(st)


def _merge_stage(
    app: Application,
    rt: _Runtime,
    topic: Any,
    emit: Callable[[str, int, int, dict[str, Any]], None],
    keep_s: float,
) -> None:
    """Merge per-cluster window partials ``[run, start, end, cluster, partial]`` (one key,
    so one partition): keep the latest partial of every cluster per window and emit the
    merged result on every change. A window not updated for ``keep_s`` seconds of wall
    time is forgotten (event time cannot be used: partitions are consumed at different
    paces, a backlog partition may be a whole replay behind another)."""
    msdf = app.dataframe(topic)
    msdf.register_store()

    def on_partial(value: Any, key: Any, ts: int, headers: Any) -> None:
        run, start, end, cluster, partial = value[:5]
        if len(value) > 5:
            rt.read_internal(value[5])
        st = msdf.processing_context.checkpoint.get_store_transaction(
            stream_id=msdf.stream_id, partition=message_context().partition
        ).as_state(prefix=key)
        wid = f"{run}|{start}"
        now = time.time()
        touched = st.get("mw") or {}
        for old in [w for w, t in touched.items() if t < now - keep_s and w != wid]:
            st.delete(f"p:{old}")
            del touched[old]
        touched[wid] = now
        st.set("mw", touched)
        partials = st.get(f"p:{wid}") or {}
        partials[cluster] = partial
        st.set(f"p:{wid}", partials)
        emit(run, start, end, partials)

    msdf.update(on_partial, metadata=True)


def _app(settings: Settings, stage: str) -> Application:
    # local state is kept across restarts: on Tansu one message per changelog request
    # (quix_extra_producer_config) keeps the high watermark exact, which Quix checks
    return Application(
        broker_address=settings.bootstrap_servers,
        consumer_group=settings.group(stage),
        state_dir=str(state_path(settings, stage)),
        processing_guarantee=settings.processing_guarantee,  # type: ignore[arg-type]
        auto_offset_reset="earliest",
        consumer_extra_config=quix_extra_consumer_config(settings),
        producer_extra_config=quix_extra_producer_config(settings, stateful=True),
        commit_interval=2.0,
        loglevel="WARNING",
    )


def build_stage(
    stage: str,
    settings: Settings,
    *,
    until_idle: float | None = None,
    idle_exit_empty: bool = False,
) -> Application:
    """Create the topics and the Quix application of a stage (not started)."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}: expected one of {', '.join(STAGES)}")
    cluster_id = broker_cluster_id(settings)
    settings = with_broker_kind(settings, cluster_id)
    check_state_broker(settings, stage, cluster_id)
    names = [settings.topic(_INPUTS[stage])] + [settings.topic(n) for n in output_topics(stage)]
    ensure_topics(settings, names + internal_topics(settings, stage))
    app = _app(settings, stage)
    rt = _Runtime(app, until_idle, stage, idle_exit_empty=idle_exit_empty)
    producer = app._processing_context.producer  # the app's producer: flushed before commits
    horizon_ms = settings.dedup_horizon_seconds * 1000

    def produce(topic: str, key: str | None, value: Any, ts_ms: int) -> None:
        producer.produce(topic=topic, key=key, value=_dumps(value), timestamp=ts_ms)

    def topic_in(name: str) -> Any:
        return app.topic(name, key_deserializer="str", value_deserializer="json")

    sdf = app.dataframe(topic_in(settings.topic(_INPUTS[stage])))
    sdf.register_store()

    def key_state(key: str) -> Any:
        return sdf.processing_context.checkpoint.get_store_transaction(
            stream_id=sdf.stream_id, partition=message_context().partition
        ).as_state(prefix=key)

    if stage == "clean":
        t_clean, t_dead = settings.topic("clean"), settings.topic("dead_letters")

        def on_raw(value: Any, key: Any, ts: int, headers: Any) -> None:
            rt.touch()
            res = clean_row(value)
            if res.clean is None:
                dl = res.dead
                assert dl is not None
                produce(t_dead, dl["cluster"], dl, ts)
                return
            rec = res.clean
            prov = [rec["file"], rec["row"]]
            ts_ms = rec["arrival_us"] // 1000
            old = seen_or_add(
                key_state(rec["cluster"]),
                f"{rec['run_id']}/{rec['query_id']}",
                ts_ms,
                prov,
                horizon_ms,
            )
            if old is None:
                st = key_state(rec["cluster"])
                nk = f"n:{rec['run_id']}"
                seq = st.get(nk, 0)
                st.set(nk, seq + 1)
                rec["seq"] = seq
                produce(t_clean, rec["cluster"], rec, ts_ms)
            elif list(old) != prov:
                from processors.clean import dead_letter

                dl = dead_letter(
                    value,
                    "query_id",
                    "duplicate",
                    f"duplicate of query_id {rec['query_id']} in cluster {rec['cluster']} "
                    f"first seen at {old[0]} row {old[1]}",
                    rec["cluster"],
                )
                produce(t_dead, rec["cluster"], dl, ts)

        sdf.update(on_raw, metadata=True)

    elif stage == "query_metrics":
        t_out = settings.topic("query_metrics")
        t_fleet = internal_topics(settings, stage)[0]
        size = settings.window_seconds * 1000
        spec = WindowSpec(size, settings.grace_seconds * 1000)

        def emit_cluster(key: str, e: Emit) -> None:
            rec, partial = query_metrics.window_record(
                e.run_id, key, e.start, e.end, e.rows, e.final
            )
            produce(t_out, key, rec, e.start)
            produce(
                t_fleet,
                FLEET,
                [e.run_id, e.start, e.end, key, partial, rt.sent_internal()],
                e.start,
            )

        win = _Windowed(sdf, spec, emit_cluster)

        def on_clean(value: Any, key: Any, ts: int, headers: Any) -> None:
            rt.touch()
            cluster = value["cluster"]
            ts_ms = value["arrival_us"] // 1000
            st = win.state(cluster)
            run = value["run_id"]
            accepted, emits = add_row(
                st, spec, run, ts_ms, query_metrics.qm_row(value), value["seq"]
            )
            if accepted is False:
                start, end = window_bounds(ts_ms, size)
                produce(t_out, cluster, query_metrics.late_record(value, start, end), ts_ms)
            for e in emits:
                emit_cluster(cluster, e)

        sdf.update(on_clean, metadata=True)

        def emit_fleet(run: str, start: int, end: int, partials: dict[str, Any]) -> None:
            rec = query_metrics.fleet_record(run, start, end, partials)
            produce(t_out, FLEET, rec, start)

        _merge_stage(app, rt, topic_in(t_fleet), emit_fleet, MERGE_KEEP_S)
        rt.flushers.append(win.flush)

    elif stage == "compile_metrics":
        t_out = settings.topic("compile_metrics")
        size = settings.window_seconds * 1000
        spec = WindowSpec(size, settings.grace_seconds * 1000)

        def emit_c(key: str, e: Emit) -> None:
            rec = compile_metrics.window_record(e.run_id, key, e.start, e.end, e.rows, e.final)
            produce(t_out, key, rec, e.start)

        cwin = _Windowed(sdf, spec, emit_c)

        def on_clean_c(value: Any, key: Any, ts: int, headers: Any) -> None:
            rt.touch()
            cluster = value["cluster"]
            ts_ms = value["arrival_us"] // 1000
            st = cwin.state(cluster)
            run = value["run_id"]
            if not is_fresh(st, run, value["seq"]):
                return
            fp = value["feature_fingerprint"]
            first: bool | None = None
            if fp is not None:
                fk = f"f:{run}|{fp}"
                first = st.get(fk) is None
                if first:
                    st.set(fk, 1)
            _, emits = add_row(
                st, spec, run, ts_ms, compile_metrics.cm_row(value, first), value["seq"]
            )
            for e in emits:
                emit_c(cluster, e)

        sdf.update(on_clean_c, metadata=True)
        rt.flushers.append(cwin.flush)

    elif stage == "leaderboard":
        t_out = settings.topic("leaderboard")
        t_parts = internal_topics(settings, stage)[0]
        k = settings.leaderboard_k
        lspec = WindowSpec(
            settings.leaderboard_window_seconds * 1000, settings.grace_seconds * 1000
        )
        lkey = "boards"

        def emit_l(key: str, e: Emit) -> None:
            partial = leaderboard.cluster_partial(e.rows, k, e.final)
            produce(
                t_parts,
                lkey,
                [e.run_id, e.start, e.end, key, partial, rt.sent_internal()],
                e.start,
            )

        lwin = _Windowed(sdf, lspec, emit_l)

        def on_clean_l(value: Any, key: Any, ts: int, headers: Any) -> None:
            rt.touch()
            cluster = value["cluster"]
            ts_ms = value["arrival_us"] // 1000
            st = lwin.state(cluster)
            _, emits = add_row(
                st, lspec, value["run_id"], ts_ms, leaderboard.lb_row(value), value["seq"]
            )
            for e in emits:
                emit_l(cluster, e)

        sdf.update(on_clean_l, metadata=True)

        def emit_b(run: str, start: int, end: int, partials: dict[str, Any]) -> None:
            for msg in leaderboard.boards(run, start, end, partials, k):
                produce(t_out, msg["board"], msg, start)

        _merge_stage(app, rt, topic_in(t_parts), emit_b, MERGE_KEEP_S)
        rt.flushers.append(lwin.flush)
        rt.current_every = CURRENT_EVERY_S

    elif stage == "flatten":
        t_out = settings.topic("flattened")

        def on_clean_f(value: Any, key: Any, ts: int, headers: Any) -> None:
            rt.touch()
            cluster = value["cluster"]
            ts_ms = value["arrival_us"] // 1000
            st = key_state(cluster)
            run = value["run_id"]
            hk = f"hwm:{run}"
            if value["seq"] <= st.get(hk, -1):
                return  # a re-emitted copy
            st.set(hk, value["seq"])
            last = {t: st.get(f"lw:{run}|{t}") for t in value["read_table_ids"] or ()}
            rows, writes = flatten(value, last)
            for t, us in writes.items():
                lk = f"lw:{run}|{t}"
                prev = st.get(lk)
                if prev is None or us > prev:
                    st.set(lk, us)
            for r in rows:
                produce(t_out, cluster, r, ts_ms)

        sdf.update(on_clean_f, metadata=True)

    app._dataframe_registry.register_periodic_task(rt.tick)
    return app


def run_stage(
    stage: str,
    settings: Settings,
    *,
    until_idle: float | None = None,
    idle_exit_empty: bool = False,
) -> None:
    """Run one stage until stopped (Ctrl-C / SIGTERM, after a checkpoint) or, with
    ``until_idle``, until it has seen no new input for that many seconds after having
    consumed something (or at all, with ``idle_exit_empty``)."""
    app = build_stage(stage, settings, until_idle=until_idle, idle_exit_empty=idle_exit_empty)
    app.run()
