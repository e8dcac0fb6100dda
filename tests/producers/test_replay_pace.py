"""The replay's pace while it runs: a rate file changes the rows/s, a pause does not make
the replay burst to catch up afterwards, and the checkpoint says rows in all and the
measured rate (what the expert's Replay tab shows)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from common.settings import Settings
from producers.replay import Pace, ReplaySummary, control_paths, read_rate, replay
from producers.replay.pace import watch_controls
from producers.synthetic import SyntheticSpec, generate
from tests.support.probes import wait_for


def _until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    wait_for(cond, timeout, what, every_s=0.1)


def test_read_rate(tmp_path: Path) -> None:
    f = tmp_path / "r.rate"
    assert read_rate(f) is None
    for text, want in (
        ("250", 250.0),
        (" 0\n", 0.0),
        ("1e3", 1000.0),
        ("-5", None),
        ("fast", None),
        ("nan", None),
        ("inf", None),
    ):
        f.write_text(text)
        assert read_rate(f) == want, text


def test_the_watcher_follows_the_pause_and_rate_files(tmp_path: Path) -> None:
    paths = control_paths(tmp_path, "w1")
    pause, stop, pace = threading.Event(), threading.Event(), Pace(rate=100)
    t = threading.Thread(target=watch_controls, args=(paths, pause, stop, pace), daemon=True)
    t.start()
    try:
        paths["rate"].write_text("250")
        _until(lambda: pace.rate == 250, 5, "the new rate")
        assert pace.version == 1 and pace.speed is None
        paths["pause"].touch()
        _until(pause.is_set, 5, "the pause")
        paths["rate"].write_text("not a number")
        paths["pause"].unlink()
        _until(lambda: not pause.is_set(), 5, "the resume")
        assert pace.rate == 250 and pace.version == 1  # a bad rate file changes nothing
        paths["rate"].write_text("0")
        _until(lambda: pace.version == 2, 5, "as fast as possible")
        assert pace.rate is None
    finally:
        stop.set()
        t.join(5)
    assert not t.is_alive()


def _state(path: Path) -> dict[str, Any]:
    try:
        state: dict[str, Any] = json.loads(path.read_text())
        return state
    except (OSError, ValueError):
        return {}


def _acked(path: Path) -> int:
    return int(_state(path).get("acked", 0))


def _rows_in(path: Path, seconds: float) -> float:
    a = _acked(path)
    time.sleep(seconds)
    return (_acked(path) - a) / seconds


@pytest.mark.integration
def test_rate_change_pause_without_burst_and_progress(
    topic_settings: Settings, tmp_path: Path
) -> None:
    spec = SyntheticSpec(rows=40_000, seed=12, clusters=4)
    total = generate(spec).table.num_rows
    s = topic_settings.with_(run_dir=str(tmp_path / "run"))
    ckpt = control_paths(s.run_dir, "paced")["checkpoint"]
    pace, pause, stop = Pace(rate=300), threading.Event(), threading.Event()
    out: list[ReplaySummary] = []
    errors: list[BaseException] = []

    def go() -> None:
        try:
            out.append(
                replay(
                    spec.to_string(),
                    s,
                    run_id="paced",
                    pace=pace,
                    progress=False,
                    stop_event=stop,
                    pause_event=pause,
                )
            )
        except BaseException as e:
            errors.append(e)

    t = threading.Thread(target=go, daemon=True)
    t.start()
    try:
        _until(lambda: _acked(ckpt) > 0 or bool(errors), 90, "the first acknowledged rows")
        assert not errors, errors
        assert _state(ckpt)["total"] == total and _state(ckpt)["rate"] == 300
        slow = _rows_in(ckpt, 3.0)
        assert 100 < slow < 600, slow
        # paused for 4 s: a pace counted from the start would then send 1,200 rows at once
        pause.set()
        time.sleep(4.0)
        pause.clear()
        after = _rows_in(ckpt, 1.5)
        assert after < 300 * 1.5 + 400, after
        pace.set_rate(3000)
        _until(lambda: _state(ckpt).get("rate") == 3000, 10, "the checkpoint to say the new rate")
        fast = _rows_in(ckpt, 3.0)
        # a loaded machine may not reach 3,000 rows/s: the pace must have risen clearly
        assert fast > 2.5 * slow and fast > 600, (slow, fast)
        assert _state(ckpt)["rows_per_s"] > 2 * slow, _state(ckpt)
    finally:
        stop.set()
        t.join(60)
    assert not errors, errors
    assert out and out[0].stopped and 0 < out[0].rows_sent < total
