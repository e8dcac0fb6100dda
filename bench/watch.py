"""Watch running processes: their consumer groups' committed offsets and their RSS.

Offsets are read from the outside with a consumer per group that never joins it
(``Consumer.committed``: an OffsetFetch), so the chain and its baseline are measured the
same way, without either reporting on itself (not ``AdminClient.list_consumer_group_offsets``,
which segfaults librdkafka 2.12 on Kafka 4.1: docs/bench.md).
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import psutil
from confluent_kafka import Consumer, KafkaException, TopicPartition

from bench.progress import Sample
from common.kafka_config import consumer_config
from common.settings import Settings


@dataclass
class Watched:
    """The samples of one run: committed offsets per group, and RSS (MB) of the processes."""

    offsets: list[Sample] = field(default_factory=list)
    rss: list[tuple[float, float]] = field(default_factory=list)
    codes: list[int | None] = field(default_factory=list)
    #: CPU seconds used during the run, by process label (a stage, a worker, the broker)
    cpu_s: dict[str, float] = field(default_factory=dict)


class Committed:
    """Committed offsets of consumer groups, read by a non-member consumer per group."""

    def __init__(self, s: Settings) -> None:
        self.s = s
        self._consumers: dict[str, Consumer] = {}

    def __call__(self, group: str, topic: str, partitions: int) -> int:
        """Offsets ``group`` has committed on ``topic``, summed over its partitions (a
        partition without a commit counts 0)."""
        c = self._consumers.get(group)
        if c is None:
            # auto commit off (consumer_config): this consumer never commits for the group
            c = self._consumers[group] = Consumer(consumer_config(self.s, group))
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        try:
            res = c.committed(tps, timeout=10)
        except KafkaException:  # the broker is busy: no progress seen this time
            return 0
        return sum(max(0, tp.offset) for tp in res if tp.error is None)

    def close(self) -> None:
        for c in self._consumers.values():
            c.close()
        self._consumers.clear()


def _tree(procs: Sequence[subprocess.Popen[bytes]]) -> list[psutil.Process]:
    out = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            p = psutil.Process(proc.pid)
            out += [p, *p.children(recursive=True)]
    return out


def tree_rss_mb(procs: Sequence[subprocess.Popen[bytes]]) -> float:
    """RSS of the processes and all their descendants, MB."""
    total = 0
    for p in _tree(procs):
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total / 2**20


def label(p: psutil.Process) -> str:
    """A process's name in reports: the stage or worker it runs, else its program name."""
    cmd = p.cmdline()
    if "kafka.Kafka" in cmd or "tansu" in p.name():
        return "broker"
    for flag in ("--group",):
        if flag in cmd:
            return cmd[cmd.index(flag) + 1].rsplit(".", 2)[-2]  # <prefix>.<stage>.passthrough
    if len(cmd) > 3 and cmd[1:3] == ["-m", "processors"]:
        return cmd[3]
    return p.name()


def local_broker() -> psutil.Process | None:
    """The local broker this process started (to count its CPU beside the stages')."""
    with contextlib.suppress(psutil.Error):
        for c in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if label(c) == "broker":
                    return c
    return None


class CpuMeter:
    """CPU seconds of processes since they were first seen (or since the meter started)."""

    def __init__(self) -> None:
        self._first: dict[int, float] = {}
        self._last: dict[int, tuple[str, float]] = {}

    def sample(self, procs: Sequence[psutil.Process]) -> None:
        for p in procs:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                used = t.user + t.system
                self._first.setdefault(p.pid, 0.0)  # started by us: all its CPU counts
                # the label seen first: an exited, unreaped process has no command line
                name = self._last[p.pid][0] if p.pid in self._last else label(p)
                self._last[p.pid] = (name, used)

    def start(self, procs: Sequence[psutil.Process]) -> None:
        """Count only from now for these (already running) processes."""
        for p in procs:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                self._first[p.pid] = t.user + t.system
                self._last[p.pid] = (label(p), t.user + t.system)

    def by_label(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for pid, (name, used) in self._last.items():
            out[name] = out.get(name, 0.0) + used - self._first.get(pid, 0.0)
        return out


def watch(
    s: Settings,
    procs: Sequence[subprocess.Popen[bytes]],
    inputs: Mapping[str, str],
    started: float,
    timeout_s: float,
    every_s: float = 0.5,
) -> Watched:
    """Sample ``inputs`` (group -> the topic it reads) and the processes' RSS every
    ``every_s`` until every process has exited (and once more after), or ``timeout_s``
    after ``started`` (then the processes are terminated, and a note is up to the caller:
    the exit codes say it). Times are seconds since ``started``."""
    committed = Committed(s)
    out = Watched()
    cpu = CpuMeter()
    broker = local_broker()
    if broker is not None:
        cpu.start([broker])

    def sample() -> None:
        t = time.monotonic() - started
        out.offsets.append(
            (t, {g: committed(g, topic, s.partitions) for g, topic in inputs.items()})
        )

    try:
        while any(p.poll() is None for p in procs):
            if time.monotonic() - started > timeout_s:
                break
            sample()
            out.rss.append((time.monotonic() - started, tree_rss_mb(procs)))
            cpu.sample(_tree(procs) + ([broker] if broker is not None else []))
            time.sleep(every_s)
    finally:
        for p in procs:
            if p.poll() is None:  # interrupted or timed out: each stops after its commit
                p.terminate()
        for p in procs:
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
    sample()
    committed.close()
    out.codes = [p.returncode for p in procs]
    out.cpu_s = cpu.by_label()
    return out
