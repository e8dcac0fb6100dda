"""The Replay tab on a real broker: start a replay subprocess, see rows / total with the
rate and an ETA, pause it (it stops acknowledging rows), resume it, change its rate, reset
it (a new run id; the previous run's rows stay for comparison), stop it by PID."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from streamlit.testing.v1 import AppTest

from common.settings import Settings
from dashboards.replay_tab import (
    STALE_S,
    Progress,
    eta_s,
    other_runs,
    progress_text,
    read_progress,
    state_of,
)
from producers.synthetic import SyntheticSpec, generate
from tests.support.probes import wait_for


def _replay_page() -> None:
    from dashboards.data import backend
    from dashboards.replay_tab import replay_tab

    replay_tab(backend("expert"))


def _state(path: Path) -> dict:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def _acked(path: Path) -> int:
    return int(_state(path).get("acked", 0))


def _until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    wait_for(cond, timeout, what, every_s=0.3)


def _steady(path: Path, seconds: float = 3.0) -> int | None:
    """The acked count if it did not change for ``seconds``, else None."""
    a = _acked(path)
    time.sleep(seconds)
    return a if _acked(path) == a else None


def _line(at: AppTest, run_id: str) -> str:
    return next(m.value for m in at.markdown if m.value.startswith(f"`{run_id}` "))


def _run_ids(at: AppTest) -> list[tuple[str, int, str]]:
    """(run id, pid, state) of each replay row, newest first."""
    out = []
    for m in at.markdown:
        hit = re.match(r"`(\w+)` pid (\d+): (\w+)", m.value)
        if hit:
            out.append((hit.group(1), int(hit.group(2)), hit.group(3)))
    return out


def _gone(proc: psutil.Process) -> bool:
    return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE


def test_progress_text_and_eta() -> None:
    p = Progress(acked=2_500, total=10_000, rows_per_s=500.0)
    assert eta_s(p) == (10_000 - 2_500) / 500.0
    assert progress_text(p, state="running") == (
        "2,500 / 10,000 rows (25.0 %), 500 rows/s, about 15.0 s left"
    )
    assert progress_text(p, state="paused") == "2,500 / 10,000 rows (25.0 %)"
    assert eta_s(Progress(acked=5, total=None, rows_per_s=10)) is None
    assert "time left unknown" in progress_text(Progress(total=100), state="running")


def test_replays_started_elsewhere_are_read_from_their_checkpoints(tmp_path: Path) -> None:
    """The demo's replay (no process handle here): found by its checkpoint, its state
    from the file (done, the pause file, a checkpoint that stopped moving)."""
    state = {
        "meta": {"run_id": "demo1", "source": "synthetic:rows=9"},
        "acked": 4,
        "done": False,
        "total": 9,
        "rows_per_s": 2.0,
        "rate": 300,
    }
    (tmp_path / "replay-demo1.json").write_text(json.dumps(state))
    (tmp_path / "replay-demo1.pause").touch()
    (tmp_path / "replay-mine.json").write_text(json.dumps({**state, "done": True}))
    assert other_runs(str(tmp_path), {"mine"}) == ["demo1"]
    old = (tmp_path / "replay-demo1.json").stat().st_mtime - 100
    os.utime(tmp_path / "replay-mine.json", (old, old))
    assert other_runs(str(tmp_path), set()) == ["demo1", "mine"]  # newest first
    assert other_runs(str(tmp_path), set(), limit=1) == ["demo1"]
    p = read_progress(tmp_path / "replay-demo1.json")
    assert (p.acked, p.total, p.rate, p.source) == (4, 9, 300.0, "synthetic:rows=9")
    assert p.updated is not None
    now = p.updated + 1
    assert state_of(None, p, True, now) == "paused"
    assert state_of(None, p, False, now) == "running"
    assert state_of(None, p, False, p.updated + STALE_S + 1) == "gone"
    done = read_progress(tmp_path / "replay-mine.json")
    assert state_of(None, done, False, now) == "finished"
    assert read_progress(tmp_path / "replay-none.json") == Progress()
    (tmp_path / "replay-bad.json").write_text("[1, 2")
    assert read_progress(tmp_path / "replay-bad.json") == Progress()


@pytest.fixture
def replay_app(
    topics: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[AppTest, Settings]]:
    s = topics.with_(run_dir=str(tmp_path / "run"), duckdb_path=str(tmp_path / "expert.duckdb"))
    for k, v in s.to_env({}).items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("DASHBOARD_READ_ONLY", "0")
    at = AppTest.from_function(_replay_page, default_timeout=120)
    try:
        yield at, s
    finally:
        from dashboards.data import _backend
        from dashboards.replay_tab import _replays

        for launched in _replays().values():
            if launched.proc.poll() is None:
                launched.proc.kill()
        _replays().clear()
        be = _backend(s.duckdb_path, False, "expert")
        if be.materializer is not None:
            be.materializer.stop()
        be.warehouse.close()


@pytest.mark.integration
def test_start_pause_resume_rate_reset_stop(replay_app: tuple[AppTest, Settings]) -> None:
    at, s = replay_app
    run_dir = Path(s.run_dir)
    at.run()
    assert not at.exception, at.exception
    spec = SyntheticSpec(rows=30_000, seed=4, clusters=3)
    total = generate(spec).table.num_rows
    at.text_input(key="rp-source").set_value(spec.to_string())
    at.number_input(key="rp-rate").set_value(1000)
    at.button(key="rp-start").click().run()
    assert not at.exception, at.exception
    [(run_id, pid, state)] = _run_ids(at)
    assert state == "running"
    proc = psutil.Process(pid)
    ckpt = run_dir / f"replay-{run_id}.json"
    _until(lambda: _acked(ckpt) > 0, 90, "the replay's first acknowledged rows")
    time.sleep(2.0)  # a few checkpoints: a measured rate
    at.run()
    bar = at.get("progress")[0]
    assert f" / {total:,} rows (" in bar.proto.text and "rows/s" in bar.proto.text, bar.proto.text
    assert "left" in bar.proto.text
    assert "paced at 1,000 rows/s" in _line(at, run_id)

    at.button(key=f"pause-{run_id}").click().run()
    assert (run_dir / f"replay-{run_id}.pause").exists()
    assert _run_ids(at)[0][2] == "paused"
    paused_at: list[int] = []

    def steady() -> bool:
        v = _steady(ckpt)
        if v is not None:
            paused_at.append(v)
        return v is not None

    _until(steady, 60, "the paused replay to stop acknowledging rows")
    assert 0 < paused_at[0] < total and proc.is_running()
    at.button(key=f"pause-{run_id}").click().run()  # resume
    assert not (run_dir / f"replay-{run_id}.pause").exists()
    _until(lambda: _acked(ckpt) > paused_at[0], 60, "the resumed replay to go on")

    # a new rate: the replay takes it from its rate file and says so in its checkpoint
    at.number_input(key=f"rate-{run_id}").set_value(4000)
    at.button(key=f"setrate-{run_id}").click().run()
    _until(lambda: _state(ckpt).get("rate") == 4000, 30, "the replay to take the new rate")
    at.run()
    assert "paced at 4,000 rows/s" in _line(at, run_id)

    # reset: the run stops, its source starts again as a new run at the newest rate
    at.button(key=f"reset-{run_id}").click().run()
    assert not at.exception, at.exception
    rows = _run_ids(at)
    assert len(rows) == 2 and rows[1][0] == run_id, rows
    new_id, new_pid, _ = rows[0]
    assert new_id != run_id and f"reset of `{run_id}`" in _line(at, new_id)
    _until(lambda: _gone(proc), 60, "the reset run to stop")
    at.run()
    assert next(st for r, _, st in _run_ids(at) if r == run_id) == "stopped"
    old_rows = _acked(ckpt)
    assert 0 < old_rows < total
    new_proc = psutil.Process(new_pid)
    new_ckpt = run_dir / f"replay-{new_id}.json"
    _until(lambda: _acked(new_ckpt) > 0, 90, "the new run's first rows")
    assert _state(new_ckpt)["rate"] == 4000

    # both runs' rows are in the page's DuckDB: the previous one is kept for comparison
    from dashboards.data import _backend

    wh = _backend(s.duckdb_path, False, "expert").warehouse

    def both() -> bool:
        got = dict(
            wh.query("SELECT run_id, count(*) AS n FROM raw_rows GROUP BY 1").values.tolist()
        )
        return got.get(run_id, 0) >= old_rows and got.get(new_id, 0) > 0

    _until(both, 60, "both runs materialized")

    at.button(key=f"stop-{new_id}").click().run()
    _until(lambda: _gone(new_proc), 60, "the replay to stop")
    at.run()
    assert next(st for r, _, st in _run_ids(at) if r == new_id) == "stopped"
    assert _acked(new_ckpt) < total  # stopped early, not run to the end
