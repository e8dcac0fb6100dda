"""A replay's files under ``RUN_DIR`` (checkpoint, pause, rate) and the checkpoint: the
progress a restart with the same run id continues after, and what watchers read."""

from __future__ import annotations

import collections
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from producers.replay.pace import Pace
from producers.replay.result import ReplayError

log = logging.getLogger(__name__)

#: the acknowledged rate a watcher sees is measured over about this many seconds
RATE_WINDOW_S = 5.0


def control_paths(run_dir: str | Path, run_id: str) -> dict[str, Path]:
    """A replay's files: checkpoint (progress), pause (present = paused), rate (rows/s as
    text, 0 = as fast as possible; read while the replay runs)."""
    d = Path(run_dir)
    return {
        "checkpoint": d / f"replay-{run_id}.json",
        "pause": d / f"replay-{run_id}.pause",
        "rate": d / f"replay-{run_id}.rate",
    }


class Checkpoint:
    """The checkpoint file of one run: ``meta`` (run id, source, filters, topic: a resume
    must match it), the acknowledged position, and for watchers the total and the pace."""

    def __init__(self, path: Path, meta: dict[str, Any]) -> None:
        self.path = path
        self.meta = meta
        self.saved = -1
        #: cluster id of the broker the acknowledged rows went to (None: not recorded)
        self.cluster_id: str | None = None
        #: for whoever watches progress (the expert's Replay tab): rows in all, the pace
        self.total: int | None = None
        self.pace: Pace | None = None
        self._samples: collections.deque[tuple[float, int]] = collections.deque()

    def _rows_per_s(self, acked: int) -> float:
        """Acknowledged rows per second over about the last :data:`RATE_WINDOW_S`."""
        now = time.monotonic()
        self._samples.append((now, acked))
        while len(self._samples) > 2 and now - self._samples[1][0] >= RATE_WINDOW_S:
            self._samples.popleft()
        t0, a0 = self._samples[0]
        return (acked - a0) / (now - t0) if now > t0 else 0.0

    def load(self) -> int:
        """Rows acknowledged by an earlier start of this run (0: none)."""
        if not self.path.exists():
            return 0
        state = json.loads(self.path.read_text())
        if state.get("meta") != self.meta:
            raise ReplayError(
                f"run {self.meta['run_id']} was started with other arguments "
                f"({state.get('meta')}); use a new --run-id"
            )
        self.cluster_id = state.get("cluster_id")
        return int(state["acked"])

    def rebase(self, acked: int, cluster_id: str | None, bootstrap: str) -> int:
        """Rows to skip on this broker: none if the acknowledged rows went to another
        broker (the embedded broker restarted and lost the topic), said once."""
        old, self.cluster_id = self.cluster_id, cluster_id or self.cluster_id
        if acked and old and cluster_id and old != cluster_id:
            run_id = self.meta["run_id"]
            log.warning(
                "broker restarted: the broker at %s is not the one run %s was replayed into "
                "(cluster id %s, now %s): the embedded broker loses its topics on restart. "
                "Replaying run %s from its first row (rows already materialized are "
                "absorbed); see README 'Broker restarted'.",
                *(bootstrap, run_id, old, cluster_id, run_id),
            )
            return 0
        return acked

    def save(self, acked: int, done: bool = False) -> None:
        if acked == self.saved and not done:
            return
        tmp = self.path.with_suffix(".tmp")
        state = {
            "meta": self.meta,
            "acked": acked,
            "done": done,
            "cluster_id": self.cluster_id,
            "total": self.total,
            "rows_per_s": self._rows_per_s(acked),
            "rate": self.pace.rate if self.pace else None,
            "speed": self.pace.speed if self.pace else None,
        }
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.path)
        self.saved = acked
