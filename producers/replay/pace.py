"""How fast a replay goes (:class:`Pace`), the run loop's side of it (:class:`Pacer`), and
the watcher that follows the pause and rate files while the replay runs."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

#: a row due sooner than this is sent without waiting
MIN_WAIT_S = 0.005
#: the longest the loop waits for one row (the producer is polled meanwhile)
MAX_WAIT_S = 0.5
#: how often the watcher looks at the pause and rate files
WATCH_INTERVAL_S = 0.3


@dataclass
class Pace:
    """How fast the replay goes, changeable while it runs (the rate file, see
    :func:`~producers.replay.checkpoint.control_paths`): fixed rows/s, an event-time
    factor, or neither (as fast as possible). Each change bumps ``version``; the replay
    then paces from that row on."""

    rate: float | None = None
    speed: float | None = None
    version: int = 0

    def set_rate(self, rate: float | None) -> None:
        """``rate`` rows/s from now on; 0 or None: as fast as possible."""
        self.rate, self.speed = (rate or None), None
        self.version += 1


class _Polls(Protocol):
    def poll(self, timeout: float) -> int: ...


class Pacer:
    """Holds the run loop to a :class:`Pace`. Pacing counts from the first row sent after
    a start, a pace change or a pause (not from before the first batch was read), so the
    replay never bursts to catch up."""

    def __init__(self, pace: Pace, seq: int) -> None:
        self.pace = pace
        self.seen = pace.version
        self.rate, self.speed = pace.rate, pace.speed
        self.paced = bool(self.speed or self.rate)
        self._t_first = time.monotonic()
        self._seq_first = seq
        self._ts_first: int | None = None

    def wait(self, seq: int, ts: int, producer: _Polls) -> float:
        """Wait (polling ``producer``) until row ``seq`` with timestamp ``ts`` is due;
        return the time it was looked at."""
        if self._ts_first is None:
            self._ts_first, self._t_first, self._seq_first = ts, time.monotonic(), seq - 1
        if self.rate:
            due = (seq - self._seq_first) / self.rate
        else:
            due = (ts - self._ts_first) / 1000.0 / self.speed  # type: ignore[operator]
        now = time.monotonic()
        ahead = due - (now - self._t_first)
        if ahead > MIN_WAIT_S:
            producer.poll(min(ahead, MAX_WAIT_S))
        return now

    def follow(self, paused: bool) -> None:
        """After a pause or a change of the pace: pace from the next row (no burst)."""
        if paused or self.pace.version != self.seen:
            self.seen, self.rate, self.speed = self.pace.version, self.pace.rate, self.pace.speed
            self.paced = bool(self.rate or self.speed)
            self._ts_first = None


def read_rate(path: Path) -> float | None:
    """The rows/s a rate file asks for (0 = as fast as possible); None when it is absent or
    does not hold a non-negative number."""
    try:
        value = float(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return value if math.isfinite(value) and value >= 0 else None


def watch_controls(
    paths: dict[str, Path], pause: threading.Event, stop: threading.Event, pace: Pace
) -> None:
    """Follow the pause file (present = paused) and the rate file (a new number = a new
    rate) of :func:`~producers.replay.checkpoint.control_paths` until the replay stops."""
    present = False
    stamp: float | None = None
    while not stop.is_set():
        now = paths["pause"].exists()
        if now != present:
            present = now
            if now:
                pause.set()
            else:
                pause.clear()
        try:
            mtime: float | None = paths["rate"].stat().st_mtime_ns
        except OSError:
            mtime = None
        if mtime is not None and mtime != stamp:
            stamp = mtime
            wanted = read_rate(paths["rate"])
            if wanted is not None and (wanted or None) != pace.rate:
                pace.set_rate(wanted)
        time.sleep(WATCH_INTERVAL_S)
