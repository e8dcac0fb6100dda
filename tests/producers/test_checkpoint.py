"""The replay's checkpoint file (producers.replay.checkpoint): pure logic, no broker."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from producers.replay import Pace, ReplayError, control_paths
from producers.replay.checkpoint import Checkpoint

META = {"run_id": "r1", "source": "s", "filters": {}, "topic": "raw"}


def test_control_paths_name_the_run() -> None:
    paths = control_paths("/run", "r1")
    assert {k: str(p) for k, p in paths.items()} == {
        "checkpoint": "/run/replay-r1.json",
        "pause": "/run/replay-r1.pause",
        "rate": "/run/replay-r1.rate",
    }


def test_save_load_and_a_resume_with_other_arguments(tmp_path: Path) -> None:
    path = control_paths(tmp_path, "r1")["checkpoint"]
    ckpt = Checkpoint(path, META)
    assert ckpt.load() == 0
    ckpt.total, ckpt.pace = 500, Pace(rate=250)
    ckpt.save(120)
    state = json.loads(path.read_text())
    assert (state["acked"], state["done"], state["total"], state["rate"]) == (120, False, 500, 250)
    assert Checkpoint(path, META).load() == 120
    with pytest.raises(ReplayError, match="other arguments"):
        Checkpoint(path, {**META, "source": "other"}).load()


def test_rows_went_to_another_broker_start_again_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "c.json"
    first = Checkpoint(path, META)
    assert first.rebase(0, "cluster-a", "host:1") == 0
    first.save(40)
    again = Checkpoint(path, META)
    acked = again.load()
    assert again.rebase(acked, "cluster-a", "host:1") == 40  # same broker: resume
    with caplog.at_level(logging.WARNING, logger="producers.replay"):
        assert again.rebase(acked, "cluster-b", "host:1") == 0
    assert "is not the one run r1 was replayed into (cluster id cluster-a" in caplog.text
