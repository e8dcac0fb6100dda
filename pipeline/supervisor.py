"""Child processes of one command: start them by argv, stop them by PID, wait for them,
and restart a failed one under a budget.

Every command that runs others (``python -m processors all``, the demo, an experiment, the
soak and the dashboard's replay tab) goes through this module. It only ever signals the
processes it started, through their ``Popen`` handles.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

Proc = subprocess.Popen[bytes]

#: how long a SIGKILLed child may take to be reaped
KILL_WAIT_S = 5.0


def start(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    log: Path | None = None,
    cwd: Path | str | None = None,
) -> Proc:
    """Start ``argv`` in a session of its own, its stdout and stderr appended to ``log``
    (inherited without one), no stdin. Its own session: a terminal's Ctrl-C reaches only
    this command, which then stops the child itself, after its own children if any."""
    if log is None:
        return subprocess.Popen(
            list(argv), env=env, cwd=cwd, stdin=subprocess.DEVNULL, start_new_session=True
        )
    with open(log, "ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            list(argv),
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(procs: Iterable[Proc], timeout_s: float = 15.0) -> None:
    """SIGTERM every one still running, in order, then wait for them all, up to
    ``timeout_s`` together; SIGKILL each one still running then."""
    procs = list(procs)
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(KILL_WAIT_S)


def wait(
    proc: Proc,
    timeout_s: float,
    *,
    poll_s: float = 0.5,
    tick: Callable[[], object] | None = None,
) -> int | None:
    """The exit code of ``proc`` once it ends, or None after ``timeout_s``; ``tick`` is
    called every ``poll_s`` meanwhile (a progress bar)."""
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(poll_s)
        if tick is not None:
            tick()
    return proc.poll()


@contextmanager
def stop_requested(*signums: signal.Signals) -> Iterator[Callable[[], bool]]:
    """Inside, these signals only set a flag (read it by calling the value yielded), so a
    supervising loop can stop its children in order; the previous handlers come back after."""
    asked: list[int] = []

    def _ask(signum: int, frame: object) -> None:
        asked.append(signum)

    before = {s: signal.signal(s, _ask) for s in signums}
    try:
        yield lambda: bool(asked)
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


@dataclass(frozen=True)
class RestartPolicy:
    """A failed child is restarted after ``min(max_backoff_s, 2 ** failures)`` s, as long
    as it failed at most ``max_restarts`` times within the last ``window_s``."""

    max_restarts: int = 5
    window_s: float = 600.0
    max_backoff_s: float = 30.0

    def allowed(self, failures: list[float], now: float) -> bool:
        """True while at most ``max_restarts`` of ``failures`` are within the window."""
        return sum(1 for t in failures if now - t < self.window_s) <= self.max_restarts

    def backoff_s(self, failures: int) -> float:
        return min(self.max_backoff_s, 2.0**failures)


@dataclass
class Child:
    """A process a Supervisor started, by name."""

    name: str
    argv: list[str]
    proc: Proc
    log: Path | None = None
    env: dict[str, str] | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None


@dataclass
class Failure:
    """A child that exited with an error: restarted in ``backoff_s`` seconds, or not at
    all (``backoff_s`` None) once its restart budget is spent."""

    child: Child
    failures: int
    backoff_s: float | None


@dataclass
class Supervisor:
    """The children of one command, by name, in start order.

    ``env``, ``log_dir`` (a ``<name>.log`` per child) and ``cwd`` apply to every child
    unless its start says otherwise. With a ``policy``, :meth:`check_failures` and
    :meth:`restart_due` restart the children that fail.
    """

    env: dict[str, str] | None = None
    log_dir: Path | None = None
    cwd: Path | str | None = None
    policy: RestartPolicy | None = None
    children: dict[str, Child] = field(default_factory=dict)
    #: failure times by child, for the restart budget
    failures: dict[str, list[float]] = field(default_factory=dict)
    #: failed children waiting for their restart: name -> monotonic time it is due
    due: dict[str, float] = field(default_factory=dict)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        log: Path | None = None,
    ) -> Child:
        """Start (or start again) the child ``name``; one of that name must not be running."""
        old = self.children.get(name)
        if old is not None and old.running():
            raise ValueError(f"{name} is running (pid {old.pid})")
        if log is None and self.log_dir is not None:
            log = self.log_dir / f"{name}.log"
        env = self.env if env is None else env
        proc = start(argv, env=env, log=log, cwd=self.cwd)
        child = Child(name, list(argv), proc, log, env)
        self.children[name] = child
        return child

    def __getitem__(self, name: str) -> Child:
        return self.children[name]

    def first_exited(self, names: Iterable[str] | None = None) -> Child | None:
        """The first child (in start order, of ``names`` if given) that has exited."""
        for c in self._select(names):
            if not c.running():
                return c
        return None

    def stop(
        self, names: Iterable[str] | None = None, timeout_s: float = 15.0, *, reverse: bool = False
    ) -> list[Child]:
        """Stop these children (all by default), in start order or its ``reverse``, as
        :func:`stop` does; returns the ones that were still running."""
        chosen = self._select(names)
        if reverse:
            chosen.reverse()
        running = [c for c in chosen if c.running()]
        stop([c.proc for c in chosen], timeout_s)
        return running

    def exit_codes(self) -> dict[str, int | None]:
        return {name: c.proc.returncode for name, c in self.children.items()}

    def active(self) -> bool:
        """Some child is running, failed, or waiting for its restart."""
        return bool(self.due) or any(c.proc.poll() != 0 for c in self.children.values())

    def pending(self, name: str) -> bool:
        """The child ``name`` is running or waiting for its restart."""
        return name in self.due or self.children[name].running()

    def check_failures(self, now: float) -> list[Failure]:
        """Children newly found failed, in start order: each is due for a restart after its
        backoff; the first past its budget ends the list, with no restart."""
        assert self.policy is not None, "restarts need a RestartPolicy"
        found: list[Failure] = []
        for name, c in self.children.items():
            if name in self.due or c.proc.poll() in (None, 0):
                continue
            times = self.failures.setdefault(name, [])
            times.append(now)
            if not self.policy.allowed(times, now):
                found.append(Failure(c, len(times), None))
                break
            backoff = self.policy.backoff_s(len(times))
            self.due[name] = now + backoff
            found.append(Failure(c, len(times), backoff))
        return found

    def restart_due(self, now: float, argv: Callable[[str], Sequence[str]]) -> list[Child]:
        """Start again, with ``argv(name)``, every failed child whose backoff has passed."""
        started = []
        for name, at in list(self.due.items()):
            if now >= at:
                del self.due[name]
                started.append(self.restart(name, argv(name)))
        return started

    def restart(self, name: str, argv: Sequence[str]) -> Child:
        """Start the exited child ``name`` again with ``argv``, its env and its log."""
        old = self.children[name]
        return self.start(name, argv, env=old.env, log=old.log)

    def _select(self, names: Iterable[str] | None) -> list[Child]:
        if names is None:
            return list(self.children.values())
        return [self.children[n] for n in names if n in self.children]
