"""pipeline.supervisor, and `python -m processors all` as its user: which stages feed which,
the restart budget (the restart itself is exercised by test_fault, which SIGKILLs a stage
under `all`), starting, stopping and waiting for real child processes."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

import pipeline.supervisor
from common.settings import Settings
from pipeline.supervisor import Child, RestartPolicy, Supervisor
from processors.__main__ import (
    MAX_RESTARTS,
    RESTART_WINDOW_S,
    RESTARTS,
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
    assert RESTARTS.allowed([now] * MAX_RESTARTS, now)
    assert not RESTARTS.allowed([now] * (MAX_RESTARTS + 1), now)
    old = [now - RESTART_WINDOW_S - 1] * 50  # failures long ago do not count
    assert RESTARTS.allowed([*old, now], now)


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
    monkeypatch.setattr(pipeline.supervisor.subprocess, "Popen", _FakeChild)
    _started.clear()
    s = Settings.from_env(bootstrap_servers="127.0.0.1:1")
    assert run_children(list(STAGES), s, until_idle=1.0) == 0
    assert sorted(_started) == sorted(list(STAGES) * 2)


# --- pipeline.supervisor on real child processes ------------------------------------------
def _py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


_IGNORES_SIGTERM = (
    "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('up', flush=True); time.sleep(60)"
)


def test_start_logs_output_and_passes_env(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    log.write_text("earlier\n")
    env = dict(os.environ, SUPERVISOR_TEST="42")
    code = (
        "import os, sys; print(os.environ['SUPERVISOR_TEST'], os.getsid(0) == os.getpid(), "
        "flush=True); sys.stderr.write('err')"
    )
    proc = pipeline.supervisor.start(_py(code), env=env, log=log)
    assert pipeline.supervisor.wait(proc, 30, poll_s=0.05) == 0
    # appended, stderr too; the child leads a session of its own
    assert log.read_text() == "earlier\n42 True\nerr"


def test_wait_times_out_and_ticks() -> None:
    proc = pipeline.supervisor.start(_py("import time; time.sleep(60)"))
    ticks: list[int] = []
    try:
        assert (
            pipeline.supervisor.wait(proc, 0.3, poll_s=0.05, tick=lambda: ticks.append(1)) is None
        )
        assert ticks
    finally:
        pipeline.supervisor.stop([proc], 5)
    assert proc.returncode == -signal.SIGTERM


def test_stop_sends_sigterm_then_sigkill_after_the_timeout(tmp_path: Path) -> None:
    log = tmp_path / "stubborn.log"
    stubborn = pipeline.supervisor.start(_py(_IGNORES_SIGTERM), log=log)
    polite = pipeline.supervisor.start(_py("import time; time.sleep(60)"))
    deadline = time.monotonic() + 30
    while "up" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    t0 = time.monotonic()
    pipeline.supervisor.stop([stubborn, polite], timeout_s=1.0)
    assert polite.returncode == -signal.SIGTERM
    assert stubborn.returncode == -signal.SIGKILL
    assert time.monotonic() - t0 < 10


class _Recorder:
    """A child that records the signals sent to it and exits on SIGTERM."""

    def __init__(self, name: str, log: list[str], running: bool = True) -> None:
        self.name, self.log, self.pid = name, log, 0
        self.returncode: int | None = None if running else 0

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        return self.returncode

    def send_signal(self, sig: int) -> None:
        self.log.append(f"{self.name}:{signal.Signals(sig).name}")
        self.returncode = -sig

    def kill(self) -> None:
        self.log.append(f"{self.name}:kill")


def _recorded(sup: Supervisor, log: list[str], *names: str, running: bool = True) -> None:
    for n in names:
        proc = _Recorder(n, log, running)
        sup.children[n] = Child(n, [n], proc)  # type: ignore[arg-type]


def test_supervisor_stops_only_running_children_in_order() -> None:
    log: list[str] = []
    sup = Supervisor()
    _recorded(sup, log, "broker-side", "chain", "replay")
    _recorded(sup, log, "done", running=False)
    assert sup.first_exited() is sup["done"]
    assert sup.first_exited(["chain", "replay"]) is None
    stopped = sup.stop(["replay", "done"])
    assert [c.name for c in stopped] == ["replay"] and log == ["replay:SIGTERM"]
    stopped = sup.stop(reverse=True)
    assert [c.name for c in stopped] == ["chain", "broker-side"]
    assert log == ["replay:SIGTERM", "chain:SIGTERM", "broker-side:SIGTERM"]
    assert sup.exit_codes() == {
        "broker-side": -signal.SIGTERM,
        "chain": -signal.SIGTERM,
        "replay": -signal.SIGTERM,
        "done": 0,
    }


def test_supervisor_restarts_a_failed_child_after_its_backoff(tmp_path: Path) -> None:
    sup = Supervisor(log_dir=tmp_path, policy=RestartPolicy(max_restarts=1, window_s=600.0))
    first = sup.start("stage", _py("import sys; sys.exit(3)"))
    with pytest.raises(ValueError, match="running"):
        sup.start("stage", _py("pass"))  # one child per name
    assert pipeline.supervisor.wait(first.proc, 30, poll_s=0.05) == 3
    assert first.log == tmp_path / "stage.log"
    assert sup.active() and not sup.pending("stage")
    [failed] = sup.check_failures(now=100.0)
    assert (failed.child, failed.failures, failed.backoff_s) == (first, 1, 2.0)
    assert sup.pending("stage") and sup.check_failures(now=100.5) == []  # counted once
    assert sup.restart_due(101.0, lambda name: _py("pass")) == []  # backoff not over
    [again] = sup.restart_due(102.0, lambda name: _py("import sys; sys.exit(3)"))
    assert again.name == "stage" and again.log == first.log and sup["stage"] is again
    assert pipeline.supervisor.wait(again.proc, 30, poll_s=0.05) == 3
    [spent] = sup.check_failures(now=103.0)  # a second failure: over the budget of 1
    assert spent.backoff_s is None and spent.failures == 2
    assert RestartPolicy().backoff_s(3) == 8.0 and RestartPolicy().backoff_s(9) == 30.0


def test_stop_requested_turns_signals_into_a_flag_and_restores_the_handler() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pipeline.supervisor.stop_requested(signal.SIGTERM) as asked:
        assert not asked()
        os.kill(os.getpid(), signal.SIGTERM)
        deadline = time.monotonic() + 5
        while not asked() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert asked()
    assert signal.getsignal(signal.SIGTERM) is before
