"""The garbage-collector settings of the stage workers and the materializer (common.gc_tuning)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import gc
import duckdb
from common.gc_tuning import tune_gc
duckdb.connect().sql("SELECT 1").fetchall()
tune_gc()
tune_gc()  # once per process
assert gc.get_threshold()[0] == 50_000, gc.get_threshold()
assert gc.get_freeze_count() > 0
"""


def test_tuned_once_and_a_quiet_exit() -> None:
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    # frozen objects are handed back at exit: DuckDB's bindings would report them as leaked
    assert "leaked" not in r.stderr, r.stderr
