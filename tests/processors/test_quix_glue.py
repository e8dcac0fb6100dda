"""processors.quix_glue: the Quix Streams internals it relies on still exist with the
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
from quixstreams.state.base.transaction import PartitionTransaction

from processors.quix_glue import AssignmentLost, before_commit


@pytest.fixture
def app(tmp_path: Path) -> Application:
    # no broker is contacted until the application runs
    return Application(
        broker_address="127.0.0.1:1",
        consumer_group="glue-test",
        state_dir=str(tmp_path / "state"),
        auto_create_topics=False,
    )


def test_the_quix_internals_quix_glue_uses_exist(app: Application) -> None:
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
