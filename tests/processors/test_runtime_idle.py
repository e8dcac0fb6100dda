"""processors.streaming.runtime.Runtime's idle rule without a broker: a worker that the group gives
no partitions never counts as idle, and says so in the log while it waits."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from processors.streaming import runtime
from processors.streaming.runtime import Runtime


class _App:
    def __init__(self) -> None:
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True


def test_an_unassigned_idle_worker_waits_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assigned = {"now": False}
    clock = {"t": 1000.0}
    monkeypatch.setattr(runtime, "has_assignment", lambda app: assigned["now"])
    monkeypatch.setattr(runtime.time, "monotonic", lambda: clock["t"])
    app: Any = _App()
    rt = Runtime(app, until_idle=5.0, name="clean")
    rt.touch()  # consumed something, then nothing more
    caplog.set_level(logging.WARNING, logger="processors")
    for _ in range(70):  # 70 s of ticks without partitions
        clock["t"] += 1.0
        rt.tick()
    assert not app.stopped
    waits = [r.getMessage() for r in caplog.records if "no partitions" in r.getMessage()]
    assert waits == [
        "clean: idle, but the consumer group has given it no partitions for 30 s",
        "clean: idle, but the consumer group has given it no partitions for 60 s",
    ]
    assigned["now"] = True
    for _ in range(6):
        clock["t"] += 1.0
        rt.tick()
    assert app.stopped  # idle for 5 s with partitions: done
