"""Every use of Quix Streams internals, in one place (tests/processors/test_quix_glue.py
fails clearly when Quix changes one of them), and the stages' write-back state cache.

The cache keeps the Python values a stage reads and writes during one Quix checkpoint and
hands the changed ones to Quix's state transaction once, just before the checkpoint
commits: a key changed by every row is serialized (and sent to the changelog) once per
checkpoint instead of once per row. It lives exactly as long as Quix's checkpoint, so what
Quix commits or discards (a lost partition, a crash) the cache commits or discards too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from quixstreams import Application
from quixstreams.context import message_context
from quixstreams.dataframe import StreamingDataFrame

log = logging.getLogger("processors")

_MISSING = object()
_DELETED = object()


def fast_produce(app: Application) -> Callable[[str, bytes, str | None, int], None]:
    """``produce(topic, value, key, timestamp_ms)`` straight to the confluent-kafka producer
    behind the application's producer, with its delivery callback (Quix's error and offset
    tracking, raised at the checkpoint's flush). Quix's own ``produce`` adds a few
    microseconds of argument handling and a poll per message; the run loop polls anyway."""
    internal = app._processing_context.producer
    on_delivery = internal._on_delivery
    raw: Any = None

    def produce(topic: str, value: bytes, key: str | None, ts_ms: int) -> None:
        nonlocal raw
        if raw is None:  # created by Quix when the application starts
            raw = internal._producer._producer
        while True:
            try:
                raw.produce(topic, value, key, timestamp=ts_ms, on_delivery=on_delivery)
                return
            except BufferError:  # the local queue is full: serve deliveries, then retry
                raw.poll(0.1)

    return produce


def add_periodic_task(app: Application, task: Callable[[], None]) -> None:
    """Run ``task`` after every processed message (or empty poll) in the run loop."""
    app._dataframe_registry.register_periodic_task(task)


def has_assignment(app: Application) -> bool:
    """Whether the application's consumer holds partitions now (a restarted member gets
    none until the group has rebalanced, which waits for the killed member's session)."""
    return bool(app._consumer.assignment())


class AssignmentLost(RuntimeError):
    """The group took this member's partitions away without a revoke (its session expired,
    e.g. across a broker restart): the open checkpoint must not commit."""


def before_commit(app: Application, callback: Callable[[], None]) -> None:
    """Call ``callback`` right before every checkpoint commit (the periodic one, a forced
    one at shutdown and the one of a partition revoke), while its transactions are open.

    After a *lost* assignment the open checkpoint still holds the offsets of partitions
    whose state was dropped; committing them would put the offsets ahead of the state (the
    rows in between never counted). So the next commit raises :class:`AssignmentLost`
    instead: the worker stops uncommitted and its restart resumes from the last commit."""
    pc = app._processing_context
    commit = pc.commit_checkpoint
    lost: list[str] = []
    on_lost = app._on_lost

    def on_lost_partitions(consumer: Any, partitions: list[Any]) -> None:
        on_lost(consumer, partitions)
        names = [f"{tp.topic}[{tp.partition}]" for tp in partitions]
        log.warning("partitions lost (session expired): %s", ", ".join(names))
        lost.extend(names)

    def commit_checkpoint(force: bool = False, revoking: bool = False) -> None:
        if lost:
            raise AssignmentLost(
                f"the consumer group dropped this member's partitions {', '.join(lost[:6])}"
                " (session expired); stopping without committing: a restart resumes from "
                "the last committed checkpoint"
            )
        # decide once: a checkpoint expiring between two checks would commit unflushed
        if force or pc.checkpoint.expired():
            callback()
            commit(force=True, revoking=revoking)

    app._on_lost = on_lost_partitions  # type: ignore[method-assign,assignment]
    pc.commit_checkpoint = commit_checkpoint  # type: ignore[method-assign]


def assigned_partitions(sdf: StreamingDataFrame) -> set[int]:
    """Partitions of the dataframe's store assigned to this process now."""
    return set(sdf.processing_context.state_manager.get_store(sdf.stream_id).partitions)


def store_partitions(sdf: StreamingDataFrame) -> list[int]:
    """Partitions of the dataframe's store ready to be read (none while Quix recovers
    state from a changelog)."""
    if sdf.processing_context.state_manager.recovery_required:
        return []
    return sorted(assigned_partitions(sdf))


class CachedState:
    """One key prefix of a partition's state for one checkpoint: reads once, writes back
    at :meth:`flush`. Values are the caller's objects: mutate, then ``set`` to keep."""

    __slots__ = ("_dirty", "_state", "_values")

    def __init__(self, state: Any) -> None:
        self._state = state
        self._values: dict[Any, Any] = {}
        self._dirty: set[Any] = set()

    def get(self, key: Any, default: Any = None) -> Any:
        v = self._values.get(key, _MISSING)
        if v is _MISSING:
            v = self._state.get(key, _DELETED)
            self._values[key] = v
        return default if v is _DELETED else v

    def set(self, key: Any, value: Any) -> None:
        self._values[key] = value
        self._dirty.add(key)

    def delete(self, key: Any) -> None:
        self._values[key] = _DELETED
        self._dirty.add(key)

    def flush(self) -> None:
        for key in self._dirty:
            v = self._values[key]
            if v is _DELETED:
                self._state.delete(key)
            else:
                self._state.set(key, v)
        self._dirty.clear()


class StateCache:
    """The cached states of one dataframe's store, per (partition, prefix), for the
    current checkpoint; :meth:`flush` must run before it commits (:func:`before_commit`)."""

    def __init__(self, sdf: StreamingDataFrame) -> None:
        self.sdf = sdf
        self._checkpoint: Any = None
        self._states: dict[tuple[int, str], CachedState] = {}
        #: counts checkpoints seen: what others keep per checkpoint is stale once it moves
        self.generation = 0
        #: the partition of the message being processed, when the caller knows it
        self.partition: int | None = None

    def state(self, prefix: str, partition: int | None = None) -> CachedState:
        checkpoint = self.sdf.processing_context.checkpoint
        if checkpoint is not self._checkpoint:  # a new checkpoint: what was cached is gone
            self._checkpoint, self._states = checkpoint, {}
            self.generation += 1
        p = partition if partition is not None else self.partition
        if p is None:
            p = message_context().partition
        st = self._states.get((p, prefix))
        if st is None:
            tx = checkpoint.get_store_transaction(stream_id=self.sdf.stream_id, partition=p)
            st = self._states[(p, prefix)] = CachedState(tx.as_state(prefix=prefix))
        return st

    def flush(self) -> None:
        if self._checkpoint is not self.sdf.processing_context.checkpoint:
            self._states = {}
            return
        live = assigned_partitions(self.sdf)  # a lost partition's writes die with it
        for (p, _), st in self._states.items():
            if p in live:
                st.flush()
