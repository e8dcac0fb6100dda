"""Every use of Quix Streams internals, in one place (tests/processors/test_quix_internals.py
fails clearly when Quix changes one of them), and the stages' write-back state cache.

The cache keeps the Python values a stage reads and writes and hands the changed ones to
Quix's state transaction once, just before each checkpoint commits: a key changed by every
row is serialized (and sent to the changelog) once per checkpoint instead of once per row.
After a commit the cached values equal the store, so they are kept for the next checkpoint
(no re-read and re-parse of every key per checkpoint); they are dropped whenever the
assignment changes (what another member or a changelog recovery wrote is read afresh) and
when the cache grows past :data:`MAX_CACHED_VALUES`. A checkpoint that never commits ends
the worker (a crash, or :class:`AssignmentLost`), so nothing uncommitted outlives it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import copy_context
from typing import Any

from quixstreams import Application
from quixstreams.context import message_context, set_message_context
from quixstreams.dataframe import StreamingDataFrame
from quixstreams.kafka.consumer import raise_for_msg_error
from quixstreams.models.serializers.exceptions import IgnoreMessage

log = logging.getLogger("processors")

_MISSING = object()
_DELETED = object()


def fast_produce(app: Application) -> Callable[[str, bytes, str | None, int], None]:
    """``produce(topic, value, key, timestamp_ms)`` straight to the confluent-kafka producer
    behind the application's producer, with its delivery callback (Quix's error and offset
    tracking, raised at the checkpoint's flush). Quix's own ``produce`` handles its arguments
    and polls once per message, a cost on the hot path; the run loop polls anyway."""
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


#: messages taken from the consumer's local queue per step of the run loop at most
BATCH_MESSAGES = 256


def batch_input(
    app: Application,
    topic: str,
    on_message: Callable[[Any, str | None, int, Any], None],
    cache: StateCache,
    batch: int = BATCH_MESSAGES,
) -> None:
    """Replace the run loop's one-message step by one that takes every message already
    fetched (up to ``batch``) and hands ``topic``'s straight to ``on_message(value, key,
    timestamp_ms, headers)`` (``cache.partition`` set), without Quix's per-message row,
    context, producer poll and offset store; the offsets are stored once per partition and
    step, before the loop's checkpoint commit. Other topics' messages (the merge steps')
    take Quix's own path. Blocks only when nothing is fetched, for one message."""
    consumer, pc, producer = app._consumer, app._processing_context, app._producer
    run_tracker, timeout = app._run_tracker, app._config.consumer_poll_timeout
    moved = [0]
    on_assignment_change(app, lambda: moved.__setitem__(0, moved[0] + 1))

    def step(composed: dict[str, Any]) -> None:
        producer.poll(0)  # serve delivery reports
        before = moved[0]
        msgs = consumer.consume(batch, timeout=0) or consumer.consume(1, timeout=timeout)
        if not msgs:
            run_tracker.set_message_consumed(False)
            return
        if moved[0] != before:  # a rebalance ran in the call: drop what is no longer ours
            live = {(tp.topic, tp.partition) for tp in consumer.assignment()}
            msgs = [m for m in msgs if (m.topic(), m.partition()) in live]
        last: dict[tuple[str, int], int] = {}
        for raw in msgs:
            msg = raise_for_msg_error(raw)
            name, partition = msg.topic(), msg.partition()
            if name == topic:
                cache.partition = partition
                k = msg.key()
                key = k.decode("utf-8", errors="replace") if isinstance(k, bytes) else k
                on_message(msg.value(), key, msg.timestamp()[1], msg.headers())
            else:
                _quix_path(consumer, composed, msg)
            last[(name, partition)] = msg.offset()
        for (name, partition), offset in last.items():
            pc.store_offset(topic=name, partition=partition, offset=offset)
        run_tracker.set_message_consumed(True)
        producer._broker_available()
        consumer._broker_available()

    app._process_message = step  # type: ignore[method-assign]


def _quix_path(consumer: Any, composed: dict[str, Any], msg: Any) -> None:
    """One message through Quix's deserializer and dataframe, in its message context."""
    try:
        rows = consumer._topics[msg.topic()].row_deserialize(message=msg)
    except IgnoreMessage:
        return
    for row in rows if isinstance(rows, list) else [rows]:
        context = copy_context()
        context.run(set_message_context, row.context)
        context.run(composed[row.topic], row.value, row.key, row.timestamp, row.headers)


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


#: cached values kept across checkpoints at most (all of them clean after a commit)
MAX_CACHED_VALUES = 200_000


class CachedState:
    """One key prefix of a partition's state: reads a key once, writes back at
    :meth:`flush`. Values are the caller's objects: mutate, then ``set`` to keep."""

    __slots__ = ("_bind", "_dirty", "_state", "_values")

    def __init__(self, bind: Callable[[], Any]) -> None:
        #: the prefix's state in the current checkpoint's transaction (bound when needed)
        self._bind = bind
        self._state: Any = None
        self._values: dict[Any, Any] = {}
        self._dirty: set[Any] = set()

    def get(self, key: Any, default: Any = None) -> Any:
        v = self._values.get(key, _MISSING)
        if v is _MISSING:
            if self._state is None:
                self._state = self._bind()
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
        if self._dirty and self._state is None:
            self._state = self._bind()
        for key in self._dirty:
            v = self._values[key]
            if v is _DELETED:
                self._state.delete(key)
                del self._values[key]
            else:
                self._state.set(key, v)
        self._dirty.clear()

    def unbind(self) -> None:
        """The checkpoint ended: the next read or write binds the next one's transaction."""
        self._state = None

    @property
    def dirty(self) -> bool:
        return bool(self._dirty)

    def __len__(self) -> int:
        return len(self._values)


class StateCache:
    """The cached states of one dataframe's store, per (partition, prefix); :meth:`flush`
    must run before every checkpoint commits (:func:`before_commit`)."""

    def __init__(self, app: Application, sdf: StreamingDataFrame) -> None:
        self.sdf = sdf
        self._checkpoint: Any = None
        self._states: dict[tuple[int, str], CachedState] = {}
        #: counts checkpoints seen: what others keep per checkpoint is stale once it moves
        self.generation = 0
        #: counts the times the cached values were dropped: what others derived from them
        #: (e.g. a key registry's contents) must be read again once it moves
        self.epoch = 0
        #: the partition of the message being processed, when the caller knows it
        self.partition: int | None = None
        on_assignment_change(app, self.drop)

    def drop(self) -> None:
        """Forget the cached values, except an assigned partition's writes not flushed yet
        (an assignment that added partitions keeps the others' open checkpoint going)."""
        live = assigned_partitions(self.sdf)
        self._states = {k: st for k, st in self._states.items() if st.dirty and k[0] in live}
        self.epoch += 1

    def _next_checkpoint(self, checkpoint: Any) -> None:
        self._checkpoint = checkpoint
        self.generation += 1
        for st in self._states.values():
            st.unbind()

    def state(self, prefix: str, partition: int | None = None) -> CachedState:
        checkpoint = self.sdf.processing_context.checkpoint
        if checkpoint is not self._checkpoint:
            self._next_checkpoint(checkpoint)
        p = partition if partition is not None else self.partition
        if p is None:
            p = message_context().partition
        st = self._states.get((p, prefix))
        if st is None:
            st = self._states[(p, prefix)] = CachedState(self._binder(p, prefix))
        return st

    def _binder(self, p: int, prefix: str) -> Callable[[], Any]:
        def bind() -> Any:
            cp = self.sdf.processing_context.checkpoint
            tx = cp.get_store_transaction(stream_id=self.sdf.stream_id, partition=p)
            return tx.as_state(prefix=prefix)

        return bind

    def flush(self) -> None:
        checkpoint = self.sdf.processing_context.checkpoint
        if checkpoint is not self._checkpoint:  # nothing was read or written in this one
            self._next_checkpoint(checkpoint)
            return
        live = assigned_partitions(self.sdf)  # a lost partition's writes die with it
        self._states = {k: st for k, st in self._states.items() if k[0] in live}
        for st in self._states.values():
            st.flush()
        if sum(len(st) for st in self._states.values()) > MAX_CACHED_VALUES:
            self.drop()


def on_assignment_change(app: Application, callback: Callable[[], None]) -> None:
    """Call ``callback`` after every partition assignment, revoke (after its commit) and
    loss of this application's consumer."""
    for name in ("_on_assign", "_on_revoke", "_on_lost"):
        original = getattr(app, name)

        def wrapped(consumer: Any, partitions: list[Any], _original: Any = original) -> None:
            try:
                _original(consumer, partitions)
            finally:
                if partitions:
                    callback()

        setattr(app, name, wrapped)
