"""Fault test: SIGKILL every stage mid-stream, a clean SIGTERM stop, then a restart; the
outputs, deduplicated on their keys, still equal the batch oracle (= a fault-free run,
which test_oracle checks against the same oracle)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from common.settings import Settings
from processors.__main__ import settings_env
from processors.streaming.topology import STAGES, all_workers, worker_name
from producers.replay import replay
from tests.support.oracle import check_chain
from tests.support.probes import high_watermarks, wait_for

FAULT_SPEC = "synthetic:rows=10000,seed=5,clusters=6,days=1.5,error_rate=0.01,duplicate_rate=0.005"


@pytest.mark.integration
@pytest.mark.tansu_smoke
def test_sigkill_midstream_then_clean_stop_then_restart(
    chain_settings: Settings, tmp_path: Path
) -> None:
    s = chain_settings
    run_id = "fault-" + uuid.uuid4().hex[:6]
    summary = replay(FAULT_SPEC, s, run_id=run_id, progress=False)
    env = settings_env(s)

    # 1. every stage in its own process; SIGKILL all of them mid-stream
    procs = []
    for stage in STAGES:
        log = open(tmp_path / f"{stage}.log", "wb")  # noqa: SIM115 - closed below
        procs.append(
            (
                subprocess.Popen(
                    [sys.executable, "-m", "processors", stage],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                ),
                log,
            )
        )
    try:
        wait_for(
            lambda: (
                high_watermarks(s, s.topic("clean")) >= summary.rows_sent * 0.3
                and high_watermarks(s, s.topic("flattened")) > 0
            ),
            180,
            "the chain to be mid-stream",
        )
    finally:
        for p, log in procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
            p.wait(30)
            log.close()
    assert all(p.returncode == -signal.SIGKILL for p, _ in procs), "a stage ended before the kill"
    mid = high_watermarks(s, s.topic("clean"))
    assert mid < summary.rows_sent, "the kill came too late to be mid-stream"

    # 2. a clean stop: SIGTERM to `python -m processors all` stops every child, exit 0
    parent = subprocess.Popen(
        [sys.executable, "-m", "processors", "all"], env=env, start_new_session=True
    )
    time.sleep(8)
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(90) == 0

    # 3. restart with `all`, which restarts a stage that dies (here: SIGKILL of clean
    # mid-stream); finish; outputs deduplicated on their keys equal the oracle
    err_path = tmp_path / "all.log"
    cleaner = next(worker_name(w) for w in all_workers(s) if "clean" in w)  # clean+flatten
    with open(err_path, "wb") as err:
        parent = subprocess.Popen(
            [sys.executable, "-m", "processors", "all", "--until-idle", "5"],
            env=env,
            stdout=err,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            started = f"{cleaner} (pid ".encode()
            wait_for(lambda: started in err_path.read_bytes(), 60, "the stages to start")
            clean_pid = int(err_path.read_text().split(f"{cleaner} (pid ")[1].split(")")[0])
            wait_for(
                lambda: high_watermarks(s, s.topic("clean")) > mid, 180, "clean to make progress"
            )
            os.kill(clean_pid, signal.SIGKILL)
            try:
                code = parent.wait(400)
            except subprocess.TimeoutExpired:
                pytest.fail("`processors all` did not stop:\n" + err_path.read_text()[-6000:])
            assert code == 0, err_path.read_text()[-3000:]
        finally:
            if parent.poll() is None:
                os.killpg(parent.pid, signal.SIGKILL)
                parent.wait(30)
    assert f"stage {cleaner} exited with code -9; restarting it" in err_path.read_text()
    counts = check_chain(s, FAULT_SPEC, run_id, allow_dups=True)
    assert counts["raw"] == summary.rows_sent and counts["clean"] > 0
