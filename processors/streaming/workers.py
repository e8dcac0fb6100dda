"""Build and run a worker: one ``quixstreams.Application`` running one stage, or several
stages that read the same input topic, in one process.

A worker has one consumer group (``settings.group(worker_id(stages))``), one read and
parse of each input message, one state store (RocksDB + changelog topic) under
``state_path(settings, worker id)``. A stage reading another's output in the same worker
(``clean+flatten``) is fed that stage's records in the process, never reading them back.
Outputs go through the application's producer, so they are flushed before the offsets are
committed (at-least-once, or exactly-once with transactions when selected). Which stages a
worker may run: :mod:`processors.streaming.topology`; what a stage does per message:
:mod:`processors.streaming.stages`.

Windows are closed by event time per key (see ``processors.logic.windows``). A periodic task of
the run loop emits the still-open windows (``final: false`` / variant ``current``) once
the input has been idle for ``IDLE_FLUSH_S`` (and the leaderboard's running boards every
``CURRENT_EVERY_S`` while data flows), so a finished replay's last windows are visible.
"""

from __future__ import annotations

from typing import Any

from quixstreams import Application
from quixstreams.context import message_context

from common.gc_tuning import tune_gc
from common.settings import Settings
from common.topics import ensure_topics
from processors.streaming.application import worker_application
from processors.streaming.broker_state import (
    broker_cluster_id,
    check_state_broker,
    with_broker_kind,
)
from processors.streaming.dispatch import message_dispatch
from processors.streaming.quix_internals import (
    StateCache,
    add_periodic_task,
    batch_input,
    before_commit,
    fast_produce,
)
from processors.streaming.runtime import Runtime
from processors.streaming.stages import WIRE
from processors.streaming.topology import (
    fed_in_process,
    parse_worker,
    worker_id,
    worker_name,
    worker_source,
    worker_topics,
)
from processors.streaming.wiring import Wiring


def _wire_stages(w: Wiring, stages: tuple[str, ...]) -> None:
    """Wire every stage; a stage fed in the process is called by the stage it reads."""
    for st in stages:
        wired = len(w.handlers)
        WIRE[st](w)
        if fed_in_process(st, stages):
            w.fed += w.handlers[wired:]
            del w.handlers[wired:]


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
    ensure_topics(settings, worker_topics(settings, stages))
    app = worker_application(settings, name)
    rt = Runtime(app, until_idle, worker_name(stages), idle_exit_empty=idle_exit_empty)
    # values parsed here, once per message for every stage of the worker
    sdf = app.dataframe(app.topic(source, key_deserializer="str", value_deserializer="bytes"))
    sdf.register_store()
    w = Wiring(app, rt, settings, sdf, StateCache(app, sdf), fast_produce(app))
    _wire_stages(w, stages)
    on_message = message_dispatch(rt, w.handlers, raw_input=reads == "raw")
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
