"""`python -m processors all` as a supervisor: which stages feed which, and the restart budget
(the restart itself is exercised by test_fault, which SIGKILLs a stage under `all`)."""

from __future__ import annotations

import pytest

import processors.__main__
from common.settings import Settings
from processors.__main__ import (
    MAX_RESTARTS,
    RESTART_WINDOW_S,
    restart_allowed,
    run_children,
    upstream_of,
)
from processors.streaming.topology import (
    ALL_WORKERS,
    STAGES,
    fed_in_process,
    parse_worker,
    worker_name,
    worker_source,
)


def test_every_stage_but_clean_is_fed_by_clean() -> None:
    assert upstream_of("clean", list(STAGES)) == []
    for stage in STAGES[1:]:
        assert upstream_of(stage, list(STAGES)) == ["clean"]
    assert upstream_of("flatten", ["flatten"]) == []  # clean runs elsewhere
    # all's workers: flatten is fed clean's records in the process, the rest read them back
    cleaner, readers = (worker_name(w) for w in ALL_WORKERS)
    assert upstream_of(cleaner, [cleaner, readers]) == []
    assert upstream_of(readers, [cleaner, readers]) == [cleaner]


def test_a_worker_reads_one_topic_and_feeds_its_own_readers() -> None:
    assert worker_source(("clean", "flatten")) == "raw"
    assert fed_in_process("flatten", ("clean", "flatten"))
    assert not fed_in_process("clean", ("clean", "flatten"))
    assert not fed_in_process("flatten", ("query_metrics", "flatten"))
    assert worker_source(("query_metrics", "flatten")) == "clean"
    assert parse_worker("clean+flatten+clean") == ("clean", "flatten")
    with pytest.raises(ValueError, match="unknown stage"):
        parse_worker("clean+nope")
    # every stage of all's workers runs exactly once
    assert sorted(st for w in ALL_WORKERS for st in w) == sorted(STAGES)


def test_restart_budget_is_per_window() -> None:
    now = 10_000.0
    assert restart_allowed([now] * MAX_RESTARTS, now)
    assert not restart_allowed([now] * (MAX_RESTARTS + 1), now)
    old = [now - RESTART_WINDOW_S - 1] * 50  # failures long ago do not count
    assert restart_allowed([*old, now], now)


class _FakeChild:
    """A stage process that has already ended: SIGKILLed (-9) unless it is a restart."""

    def __init__(self, cmd: list[str], **kwargs: object) -> None:
        self.pid = 1
        self.returncode = 0 if "--restarted" in cmd else -9
        _started.append(cmd[3])

    def poll(self) -> int:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        return self.returncode

    def send_signal(self, sig: int) -> None:
        pass

    def kill(self) -> None:
        pass


_started: list[str] = []


def test_children_all_killed_at_once_are_all_restarted(monkeypatch: pytest.MonkeyPatch) -> None:
    # every child dead by the first poll (a replica's stages SIGKILLed together): the
    # supervisor used to see no live child and exit 1 instead of restarting them
    monkeypatch.setattr(processors.__main__.subprocess, "Popen", _FakeChild)
    _started.clear()
    s = Settings.from_env(bootstrap_servers="127.0.0.1:1")
    assert run_children(list(STAGES), s, until_idle=1.0) == 0
    assert sorted(_started) == sorted(list(STAGES) * 2)
