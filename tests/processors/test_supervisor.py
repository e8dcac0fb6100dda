"""`python -m processors all` as a supervisor: which stages feed which, and the restart budget
(the restart itself is exercised by test_fault, which SIGKILLs a stage under `all`)."""

from __future__ import annotations

from processors.__main__ import MAX_RESTARTS, RESTART_WINDOW_S, restart_allowed, upstream_of
from processors.stages import STAGES


def test_every_stage_but_clean_is_fed_by_clean() -> None:
    assert upstream_of("clean", list(STAGES)) == []
    for stage in STAGES[1:]:
        assert upstream_of(stage, list(STAGES)) == ["clean"]
    assert upstream_of("flatten", ["flatten"]) == []  # clean runs elsewhere


def test_restart_budget_is_per_window() -> None:
    now = 10_000.0
    assert restart_allowed([now] * MAX_RESTARTS, now)
    assert not restart_allowed([now] * (MAX_RESTARTS + 1), now)
    old = [now - RESTART_WINDOW_S - 1] * 50  # failures long ago do not count
    assert restart_allowed([*old, now], now)
