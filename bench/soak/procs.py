"""The processes of one soak pipeline run, started and stopped through
:mod:`pipeline.supervisor`, and their memory samples."""

from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from rich.console import Console

from common.settings import Settings
from common.topics import ensure_topics
from pipeline.supervisor import Proc, Supervisor
from processors.streaming.topology import ALL_WORKERS, TANSU_WORKERS, worker_name

#: the processes ``python -m processors all`` may run (fused on Kafka, one per stage on Tansu)
WORKERS = list(dict.fromkeys(worker_name(w) for w in (*ALL_WORKERS, *TANSU_WORKERS)))

console = Console()
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Procs:
    """Processes of one pipeline run, by role; RSS sampled per role."""

    sup: Supervisor
    rss: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    @property
    def logs(self) -> Path:
        assert self.sup.log_dir is not None
        return self.sup.log_dir

    def start(self, role: str, args: list[str]) -> Proc:
        """``python -m <args>``, its output in ``<logs>/<role>.log``."""
        return self.sup.start(role, [sys.executable, "-m", *args]).proc

    def proc(self, role: str) -> Proc:
        return self.sup[role].proc

    def running(self, role: str) -> bool:
        return role in self.sup.children and self.sup[role].running()

    def stage_pids(self) -> dict[str, int]:
        """PIDs of the supervisor's worker children, by worker (from their command lines)."""
        out: dict[str, int] = {}
        if not self.running("processors"):
            return out
        with contextlib.suppress(psutil.Error):
            for c in psutil.Process(self.proc("processors").pid).children():
                cmd = c.cmdline()
                for st in WORKERS:
                    if st in cmd:
                        out[st] = c.pid
        return out

    def sample(self, t: float, extra: dict[str, int] | None = None) -> None:
        pids = {r: c.pid for r, c in self.sup.children.items() if c.running() and r != "processors"}
        pids.update(self.stage_pids())
        pids.update(extra or {})
        for role, pid in pids.items():
            with contextlib.suppress(psutil.Error):
                self.rss.setdefault(role, []).append(
                    (t, psutil.Process(pid).memory_info().rss / 2**20)
                )

    def stop(self, role: str, timeout_s: float = 60) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout_s``; the exit code (None: never started)."""
        if role not in self.sup.children:
            return None
        self.sup.stop([role], timeout_s)
        return self.proc(role).returncode

    def stop_all(self) -> None:
        """One by one in start order, each given its own 30 s."""
        for role in list(self.sup.children):
            self.stop(role, 30)


def replay_args(source: str, run_id: str, rate: float) -> list[str]:
    return [
        "producers.replay",
        source,
        "--run-id",
        run_id,
        "--rate",
        f"{rate:g}",
        "--no-progress",
        "--json",
    ]


def rows_read(procs: Procs) -> int:
    """rows_read from the replay's --json summary (the last line of its log)."""
    for line in reversed((procs.logs / "replay.log").read_text().splitlines()):
        if line.startswith("{"):
            return int(json.loads(line)["rows_read"])
    raise RuntimeError(f"replay wrote no summary; see {procs.logs / 'replay.log'}")


def pipeline_run(s: Settings, work: Path, name: str, prefix: str) -> tuple[Settings, Procs]:
    """Settings of one pipeline run (own topics, state, replay checkpoints, logs; the
    generous delivery timeout of experiments) and its process set."""
    ps = s.with_(
        topic_prefix=prefix,
        state_dir=str(work / f"{name}-state"),
        run_dir=str(work / f"{name}-run"),
        message_timeout_ms=max(s.message_timeout_ms, 90_000),
    )
    ensure_topics(ps)
    logs = work / f"{name}-logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = dict(ps.to_env(), PYTHONUNBUFFERED="1")
    return ps, Procs(Supervisor(env=env, log_dir=logs, cwd=ROOT))
