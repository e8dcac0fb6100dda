"""processors.streaming.quix_internals: the Quix Streams internals it relies on still exist with the
shapes it expects (this fails clearly when a Quix upgrade moves one), and the commit hook's
rules: the callback runs once before a commit, and a lost assignment never commits."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import TopicPartition
from quixstreams import Application
from quixstreams.checkpointing.checkpoint import Checkpoint
from quixstreams.internal_producer import InternalProducer
from quixstreams.kafka.producer import Producer
from quixstreams.models.rows import Row
from quixstreams.models.topics.topic import Topic
from quixstreams.processing.context import ProcessingContext
from quixstreams.state.base.store import Store
from quixstreams.state.base.transaction import PartitionTransaction
from quixstreams.state.manager import StateStoreManager

from processors.streaming.quix_internals import AssignmentLost, batch_input, before_commit


@pytest.fixture
def app(tmp_path: Path) -> Application:
    # no broker is contacted until the application runs
    return Application(
        broker_address="127.0.0.1:1",
        consumer_group="glue-test",
        state_dir=str(tmp_path / "state"),
        auto_create_topics=False,
    )


def test_the_quix_internals_used_exist(app: Application) -> None:
    pc = app._processing_context
    assert hasattr(pc.producer, "_on_delivery"), "fast_produce: InternalProducer._on_delivery"
    assert hasattr(pc.producer, "_producer"), "fast_produce: InternalProducer._producer"
    assert callable(app._dataframe_registry.register_periodic_task), "add_periodic_task"
    assert callable(app._consumer.assignment), "has_assignment"
    assert list(inspect.signature(pc.commit_checkpoint).parameters) == ["force", "revoking"]
    assert callable(Checkpoint.expired) and callable(Checkpoint.get_store_transaction)
    assert hasattr(pc.state_manager, "recovery_required") and callable(pc.state_manager.get_store)
    assert "prefix" in inspect.signature(PartitionTransaction.as_state).parameters
    # the lost-assignment hook only works if Quix subscribes with the attribute, late-bound
    assert "on_lost=self._on_lost" in inspect.getsource(Application._run_dataframe)
    assert list(inspect.signature(app._on_lost).parameters) == ["_", "topic_partitions"]
    # batch_input replaces the step the run loop binds at its start and calls per turn
    run_loop = inspect.getsource(Application._run_dataframe)
    assert "process_message = self._process_message" in run_loop
    assert "process_message(dataframes_composed)" in run_loop
    assert list(inspect.signature(app._process_message).parameters) == ["dataframe_composed"]
    assert callable(app._run_tracker.set_message_consumed)
    assert isinstance(app._config.consumer_poll_timeout, float)
    assert callable(app._consumer.consume) and isinstance(app._consumer._topics, dict)
    assert callable(app._producer._broker_available)
    assert callable(app._consumer._broker_available)


def test_the_quix_internals_behind_produce_offsets_and_state_exist(app: Application) -> None:
    # fast_produce: the confluent producer behind Quix's, created when first used
    assert isinstance(inspect.getattr_static(Producer, "_producer"), property)
    assert list(inspect.signature(InternalProducer._on_delivery).parameters) == [
        "self",
        "err",
        "msg",
    ]
    # batch_input: offsets stored per partition, other topics through Quix's own path
    pc = app._processing_context
    assert list(inspect.signature(pc.store_offset).parameters) == ["topic", "partition", "offset"]
    assert "message" in inspect.signature(Topic.row_deserialize).parameters
    assert "dataframe_composed[topic_name]" in inspect.getsource(Application._process_message)
    assert {"value", "key", "timestamp", "headers", "context"} <= set(Row.__slots__)
    assert isinstance(inspect.getattr_static(Row, "topic"), property)
    # on_assignment_change wraps the three rebalance callbacks
    for name in ("_on_assign", "_on_revoke", "_on_lost"):
        assert list(inspect.signature(getattr(app, name)).parameters) == [
            "_",
            "topic_partitions",
        ], name
    # StateCache and the partition helpers: the dataframe's checkpoint and store
    assert isinstance(inspect.getattr_static(ProcessingContext, "checkpoint"), property)
    assert "stream_id" in inspect.signature(StateStoreManager.get_store).parameters
    assert isinstance(inspect.getattr_static(StateStoreManager, "recovery_required"), property)
    assert isinstance(inspect.getattr_static(Store, "partitions"), property)
    params = list(inspect.signature(Checkpoint.get_store_transaction).parameters)
    assert params[:3] == ["self", "stream_id", "partition"]


class _Commits:
    def __init__(self) -> None:
        self.calls: list[tuple[bool, bool]] = []

    def __call__(self, force: bool = False, revoking: bool = False) -> None:
        self.calls.append((force, revoking))


def _hooked(app: Application) -> tuple[_Commits, list[str]]:
    commits = _Commits()
    order: list[str] = []
    app._processing_context.commit_checkpoint = commits  # type: ignore[method-assign]
    app._on_lost = lambda *_: order.append("quix on_lost")  # type: ignore[method-assign]
    before_commit(app, lambda: order.append("callback"))
    return commits, order


def test_a_forced_commit_runs_the_callback_first(app: Application) -> None:
    commits, order = _hooked(app)
    app._processing_context.commit_checkpoint(force=True, revoking=True)
    assert order == ["callback"] and commits.calls == [(True, True)]


def test_a_lost_assignment_never_commits(app: Application) -> None:
    commits, order = _hooked(app)
    lost: Any = app._on_lost
    lost(None, [TopicPartition("clean", 3)])
    assert order == ["quix on_lost"]  # Quix still drops the partitions' state
    with pytest.raises(AssignmentLost, match=r"clean\[3\]"):
        app._processing_context.commit_checkpoint(force=True)
    assert commits.calls == [] and order == ["quix on_lost"]


class _Msg:
    def __init__(self, topic: str, partition: int, offset: int, value: bytes = b"{}") -> None:
        self._t, self._p, self._o, self._v = topic, partition, offset, value

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return self._t

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def key(self) -> bytes:
        return b"k"

    def value(self) -> bytes:
        return self._v

    def timestamp(self) -> tuple[int, int]:
        return (1, 1000 + self._o)

    def headers(self) -> None:
        return None


def _batched(app: Application, batches: list[list[_Msg]], revoke_in: int = -1) -> Any:
    """``batch_input`` on fakes: the consumer returns ``batches`` in turn (and the group
    takes partition 1 away during call ``revoke_in``); returns (seen, stored offsets)."""
    seen: list[tuple[int, int, str | None]] = []
    stored: list[tuple[str, int, int]] = []
    assigned = {("src", 0), ("src", 1)}
    calls = [0]

    class Cache:
        partition: int | None = None

    cache = Cache()

    def consume(n: int, timeout: float) -> list[_Msg]:
        calls[0] += 1
        if calls[0] - 1 == revoke_in:
            assigned.discard(("src", 1))
            app._on_revoke(None, [TopicPartition("src", 1)])
        return batches.pop(0) if batches else []

    app._on_revoke = lambda *_: None  # type: ignore[method-assign]
    consumer: Any = app._consumer
    consumer.consume = consume
    consumer.assignment = lambda: [TopicPartition(t, p) for t, p in assigned]
    consumer._broker_available = lambda: None
    producer: Any = app._producer
    producer.poll = lambda timeout=0: None
    producer._broker_available = lambda: None
    app._processing_context.store_offset = lambda topic, partition, offset: stored.append(  # type: ignore[method-assign]
        (topic, partition, offset)
    )

    def on_message(value: Any, key: Any, ts: int, headers: Any) -> None:
        seen.append((ts - 1000, int(cache.partition or 0), key))

    batch_input(app, "src", on_message, cache)  # type: ignore[arg-type]
    for _ in range(3):
        app._process_message({})
    return seen, stored


def test_a_batch_stores_each_partitions_last_offset_once(app: Application) -> None:
    msgs = [_Msg("src", 0, 5), _Msg("src", 1, 7), _Msg("src", 0, 6)]
    seen, stored = _batched(app, [msgs])
    assert seen == [(5, 0, "k"), (7, 1, "k"), (6, 0, "k")]
    assert sorted(stored) == [("src", 0, 6), ("src", 1, 7)]


def test_a_partition_revoked_during_the_poll_is_neither_processed_nor_stored(
    app: Application,
) -> None:
    msgs = [_Msg("src", 0, 5), _Msg("src", 1, 7)]
    seen, stored = _batched(app, [msgs], revoke_in=0)
    assert seen == [(5, 0, "k")] and stored == [("src", 0, 5)]
