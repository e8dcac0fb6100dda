"""The oracle test: a synthetic dataset with injected errors through the whole chain on
the broker; every output equals the batch DuckDB answer (tests/support/oracle.py)."""

from __future__ import annotations

import time
import uuid

import pytest

from common.contract import BOTTLENECKS
from common.settings import Settings
from producers.replay import replay
from tests.support.chain import ORACLE_SPEC, run_chain
from tests.support.oracle import check_chain


@pytest.mark.integration
@pytest.mark.tansu_smoke
def test_chain_equals_batch_oracle(chain_settings: Settings) -> None:
    run_id = "oracle-" + uuid.uuid4().hex[:6]
    summary = replay(ORACLE_SPEC, chain_settings, run_id=run_id, progress=False)
    t0 = time.monotonic()
    run_chain(chain_settings)
    counts = check_chain(chain_settings, ORACLE_SPEC, run_id, allow_dups=False)
    print(f"chain+check {time.monotonic() - t0:.1f}s", counts)
    assert counts["raw"] == summary.rows_sent
    assert counts["dead"] > 0 and counts["duplicates"] > 0 and counts["boards"] > 0
    # the health check compared z-scores and flags, and saw more than one label
    assert counts["health_z_known"] > 0 and counts["health_flagged"] > 0
    assert sum(counts.get(f"health_{b}", 0) > 0 for b in BOTTLENECKS) > 1
    # the input has the real files' NULL measures: the equalities above covered them
    assert (
        counts["null_compile"] > 0 and counts["null_mbytes"] > 0 and counts["null_fingerprint"] > 0
    )
