"""Fixtures of the processors' tests: settings for small windows, running the chain."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from common.settings import Settings
from processors.__main__ import settings_env

#: a small synthetic dataset with injected errors and duplicates (the oracle's input)
ORACLE_SPEC = "synthetic:rows=20000,seed=11,clusters=8,days=2,error_rate=0.01,duplicate_rate=0.005"


#: the chain's settings in its tests: small windows for a dataset of a day or two
CHAIN_OVERRIDES: dict[str, Any] = {
    "window_seconds": 3600,
    "grace_seconds": 60,
    "leaderboard_window_seconds": 6 * 3600,
    "leaderboard_k": 5,
    "dedup_horizon_seconds": 6 * 3600,
    "message_timeout_ms": 90_000,  # other tests load the 2 cores; do not fail on a slow broker
}


@pytest.fixture
def chain_settings(topics: Settings) -> Settings:
    return topics.with_(**CHAIN_OVERRIDES)


def run_chain(
    settings: Settings, *stages: str, until_idle: float = 5.0, timeout: float = 240
) -> None:
    """Run ``python -m processors STAGES --until-idle`` to completion (asserts exit 0)."""
    cmd = [
        sys.executable,
        "-m",
        "processors",
        *(stages or ("all",)),
        "--until-idle",
        str(until_idle),
    ]
    proc = subprocess.run(cmd, env=settings_env(settings), timeout=timeout, capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
