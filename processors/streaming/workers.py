"""The stages and the workers that run them: one ``quixstreams.Application`` per worker.

A worker runs one stage, or several stages that read the same input topic, in one process:
one consumer group (``settings.group(worker_name(stages))``), one read and parse of each
input message, one state store (RocksDB + changelog topic) under
``state_path(settings, worker name)``. A stage reading another's output in the same worker
(``clean+flatten``) is fed that stage's records in the process, never reading them back.
Outputs go through the application's producer, so they are flushed before the offsets are
committed (at-least-once, or exactly-once with transactions when selected). ``all`` runs
:data:`ALL_WORKERS`: ``clean+flatten`` and ``query_metrics+compile_metrics+leaderboard``.
What a stage does per message is in :mod:`processors.streaming.wiring`.

Windows are closed by event time per key (see ``processors.logic.windows``). A periodic task of
the run loop emits the still-open windows (``final: false`` / variant ``current``) once
the input has been idle for ``IDLE_FLUSH_S`` (and the leaderboard's running boards every
``CURRENT_EVERY_S`` while data flows), so a finished replay's last windows are visible.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from typing import Any

import orjson
from confluent_kafka.admin import AdminClient
from quixstreams import Application
from quixstreams.context import message_context

from common.broker_identity import kind_of_cluster, state_is_stale, state_message
from common.gc_tuning import tune_gc
from common.kafka_config import (
    admin_config,
    quix_extra_consumer_config,
    quix_extra_producer_config,
)
from common.settings import Settings, state_path
from common.topics import ensure_topics
from processors.streaming.quix_internals import (
    StateCache,
    add_periodic_task,
    batch_input,
    before_commit,
    fast_produce,
)
from processors.streaming.runtime import Runtime
from processors.streaming.wiring import (
    WIRE,
    Handler,
    Wiring,
    board_partials_topic,
    fleet_partials_topic,
)

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

#: what ``all`` runs: two workers of about equal CPU per row, so that two cores both work
#: (docs/processors.md, "Topology"); flatten is fed clean's records in the process
ALL_WORKERS: tuple[tuple[str, ...], ...] = (
    ("clean", "flatten"),
    ("query_metrics", "compile_metrics", "leaderboard"),
)
#: what ``all`` runs on Tansu: a process per stage, the topology its tests prove (a fused
#: worker's new group never got partitions there in the fault test; the broker, not the
#: stages, is the limit on Tansu anyway)
TANSU_WORKERS: tuple[tuple[str, ...], ...] = tuple((st,) for st in STAGES)


def all_workers(settings: Settings) -> tuple[tuple[str, ...], ...]:
    """What ``all`` runs on this settings' broker (its kind must be known)."""
    return TANSU_WORKERS if settings.on_tansu else ALL_WORKERS


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
        return [fleet_partials_topic(settings)]
    if stage == "leaderboard":
        return [board_partials_topic(settings)]
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


def worker_name(stages: tuple[str, ...] | list[str]) -> str:
    """A worker's name on the command line and in logs: its stages joined by +."""
    return "+".join(stages)


def worker_id(stages: tuple[str, ...] | list[str]) -> str:
    """A worker's consumer group suffix and state directory: its stages joined by - (a
    Kafka topic name, which Quix derives from the group, cannot hold +)."""
    return "-".join(stages)


def fed_in_process(stage: str, stages: tuple[str, ...] | list[str]) -> bool:
    """Whether ``stage`` reads the output of another stage of its worker: it is then fed
    that stage's records in the process instead of reading them back from the topic."""
    return any(_INPUTS[stage] in _OUTPUTS[o] for o in stages if o != stage)


def worker_source(stages: tuple[str, ...] | list[str]) -> str:
    """Logical name of the one topic a worker reads."""
    return next(_INPUTS[st] for st in stages if not fed_in_process(st, stages))


def parse_worker(name: str) -> tuple[str, ...]:
    """``stage`` or ``stage+stage+...`` -> the stages. The stages of a worker read the same
    topic, or the output of another of them (``clean+flatten``: flatten is fed clean's
    records in the process)."""
    stages = tuple(dict.fromkeys(name.split("+")))
    for st in stages:
        if st not in STAGES:
            raise ValueError(f"unknown stage {st!r}: expected one of {', '.join(STAGES)}")
    if len({_INPUTS[st] for st in stages if not fed_in_process(st, stages)}) != 1:
        raise ValueError(
            f"{name}: stages of one worker must read the same topic (or the output of "
            "another stage of the worker)"
        )
    return stages


def transactional_id(settings: Settings, name: str) -> str:
    """Exactly-once: one id per worker replica (its state directory), stable across its
    restarts, so a restarted worker fences and aborts the transaction its killed
    predecessor left open at once, instead of every read_committed reader of its topics
    (its own changelogs and merge topics included) waiting for the transaction timeout."""
    where = str(state_path(settings, name).resolve())
    return f"{settings.group(name)}-{hashlib.sha1(where.encode()).hexdigest()[:12]}"


def _app(settings: Settings, name: str) -> Application:
    # local state is kept across restarts: on Tansu one message per changelog request
    # (quix_extra_producer_config) keeps the high watermark exact, which Quix checks
    producer_config = quix_extra_producer_config(settings, stateful=True)
    if settings.processing_guarantee == "exactly-once":
        producer_config["transactional.id"] = transactional_id(settings, name)
    return Application(
        broker_address=settings.bootstrap_servers,
        consumer_group=settings.group(name),
        state_dir=str(state_path(settings, name)),
        processing_guarantee=settings.processing_guarantee,  # type: ignore[arg-type]
        auto_offset_reset="earliest",
        consumer_extra_config=quix_extra_consumer_config(settings),
        producer_extra_config=producer_config,
        commit_interval=settings.commit_interval_seconds,
        loglevel="WARNING",
    )


def _dispatch(rt: Runtime, handlers: list[Handler], *, raw_input: bool) -> Handler:
    """What a worker does with each input message: parse the JSON value, then call every
    stage's handler (the state cache's partition is the message's)."""

    def on_message(value: Any, key: Any, ts: int, headers: Any) -> None:
        rt.touch()
        try:
            parsed = orjson.loads(value)
        except (orjson.JSONDecodeError, TypeError):  # not JSON, or no value at all
            text = bytes(value or b"").decode("utf-8", errors="replace")
            if not raw_input:  # our own topics hold JSON: say so, do not stop the stage
                log.warning("%s: a value that is not JSON skipped: %.200s", rt.name, text)
                return
            parsed = text  # the clean stage makes it a dead letter (not an object)
        for h in handlers:
            h(parsed, key, ts, headers)

    return on_message


def build_worker(
    stages: tuple[str, ...] | list[str],
    settings: Settings,
    *,
    until_idle: float | None = None,
    idle_exit_empty: bool = False,
) -> Application:
    """Create the topics and the Quix application of a worker (not started)."""
    stages = parse_worker(worker_name(stages))
    name = worker_id(stages)
    cluster_id = broker_cluster_id(settings)
    settings = with_broker_kind(settings, cluster_id)
    check_state_broker(settings, name, cluster_id)
    reads = worker_source(stages)
    source = settings.topic(reads)
    names = [source]
    for st in stages:
        names += [settings.topic(n) for n in output_topics(st)] + internal_topics(settings, st)
    ensure_topics(settings, names)
    app = _app(settings, name)
    rt = Runtime(app, until_idle, worker_name(stages), idle_exit_empty=idle_exit_empty)
    # values parsed here, once per message for every stage of the worker
    sdf = app.dataframe(app.topic(source, key_deserializer="str", value_deserializer="bytes"))
    sdf.register_store()
    w = Wiring(app, rt, settings, sdf, StateCache(app, sdf), fast_produce(app))
    for st in stages:
        wired = len(w.handlers)
        WIRE[st](w)
        if fed_in_process(st, stages):  # called by the stage it reads, not per message
            w.fed += w.handlers[wired:]
            del w.handlers[wired:]
    on_message = _dispatch(rt, w.handlers, raw_input=reads == "raw")
    batch_input(app, source, on_message, w.cache)

    def via_quix(value: Any, key: Any, ts: int, headers: Any) -> None:
        w.cache.partition = message_context().partition
        on_message(value, key, ts, headers)

    sdf.update(via_quix, metadata=True)  # subscribes the source (batch_input takes its messages)

    def flush_state() -> None:
        for m in w.merges:  # first: emitting may update their state
            m.emit_changed()
        for cache in [w.cache, *(m.cache for m in w.merges)]:
            cache.flush()

    before_commit(app, flush_state)
    add_periodic_task(app, rt.tick)
    return app


def build_stage(
    stage: str,
    settings: Settings,
    *,
    until_idle: float | None = None,
    idle_exit_empty: bool = False,
) -> Application:
    """Create the topics and the Quix application of one stage alone (not started)."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}: expected one of {', '.join(STAGES)}")
    return build_worker([stage], settings, until_idle=until_idle, idle_exit_empty=idle_exit_empty)


def run_worker(
    stages: tuple[str, ...] | list[str],
    settings: Settings,
    *,
    until_idle: float | None = None,
    idle_exit_empty: bool = False,
) -> None:
    """Run a worker until stopped (Ctrl-C / SIGTERM, after a checkpoint) or, with
    ``until_idle``, until it has seen no new input for that many seconds after having
    consumed something (or at all, with ``idle_exit_empty``)."""
    app = build_worker(stages, settings, until_idle=until_idle, idle_exit_empty=idle_exit_empty)
    tune_gc()
    app.run()


def run_stage(
    stage: str,
    settings: Settings,
    *,
    until_idle: float | None = None,
    idle_exit_empty: bool = False,
) -> None:
    """Run one stage alone (see :func:`run_worker`)."""
    run_worker([stage], settings, until_idle=until_idle, idle_exit_empty=idle_exit_empty)
