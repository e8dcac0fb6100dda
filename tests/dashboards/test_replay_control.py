"""Expert's replay control on the embedded broker: start a replay subprocess, pause it
(it stops acknowledging rows), resume it, stop it by PID."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from streamlit.testing.v1 import AppTest

from common.settings import Settings

from .conftest import EXPERT

pytestmark = pytest.mark.integration


def _acked(path: Path) -> int:
    try:
        return int(json.loads(path.read_text())["acked"])
    except (OSError, ValueError, KeyError):
        return 0


def _until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _steady(path: Path, seconds: float = 3.0) -> int | None:
    """The acked count if it did not change for ``seconds``, else None."""
    a = _acked(path)
    time.sleep(seconds)
    return a if _acked(path) == a else None


def test_start_pause_resume_stop(
    topics: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = topics.with_(run_dir=str(tmp_path / "run"), duckdb_path=str(tmp_path / "expert.duckdb"))
    for k, v in s.to_env({}).items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("DASHBOARD_READ_ONLY", "0")
    at = AppTest.from_file(EXPERT, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    total = 30_000
    at.text_input(key="rp-source").set_value(f"synthetic:rows={total},seed=4,clusters=3")
    at.number_input(key="rp-rate").set_value(1000)
    at.button(key="rp-start").click().run()
    assert not at.exception, at.exception
    line = next(m.value for m in at.markdown if " pid " in m.value)
    m = re.search(r"`(\w+)` pid (\d+): running", line)
    assert m, line
    run_id, pid = m.group(1), int(m.group(2))
    proc = psutil.Process(pid)
    ckpt = tmp_path / "run" / f"replay-{run_id}.json"
    try:
        _until(lambda: _acked(ckpt) > 0, 90, "the replay's first acknowledged rows")

        at.button(key=f"pause-{run_id}").click().run()
        assert (tmp_path / "run" / f"replay-{run_id}.pause").exists()
        assert any("(paused)" in m.value for m in at.markdown)
        paused_at: list[int] = []

        def steady() -> bool:
            v = _steady(ckpt)
            if v is not None:
                paused_at.append(v)
            return v is not None

        _until(steady, 60, "the paused replay to stop acknowledging rows")
        assert 0 < paused_at[0] < total
        assert proc.is_running()

        at.button(key=f"pause-{run_id}").click().run()  # resume
        assert not (tmp_path / "run" / f"replay-{run_id}.pause").exists()
        _until(lambda: _acked(ckpt) > paused_at[0], 60, "the resumed replay to go on")

        at.button(key=f"stop-{run_id}").click().run()
        _until(lambda: not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE, 60,
               "the replay to stop")  # fmt: skip
        at.run()
        assert any(f"`{run_id}`" in m.value and "finished" in m.value for m in at.markdown)
        assert _acked(ckpt) < total  # stopped early, not run to the end
    finally:
        if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
            proc.kill()
        from dashboards.data import _backend

        be = _backend(s.duckdb_path, False, "expert")
        if be.materializer is not None:
            be.materializer.stop()
        be.warehouse.close()
