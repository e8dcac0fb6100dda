"""make bench's dashboards section: a full Streamlit script run (AppTest) of each dashboard
over the views section's warehouse, cold (the first, in a fresh process) and warm."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.harness import Metrics
from bench.report import metric

#: run in a process of its own, so the first run is a cold one: each dashboard's run times (ms)
APP_RUNS = """\
import json, sys, time
from streamlit.testing.v1 import AppTest
out = {}
for name in ('aggregate', 'expert'):
    at = AppTest.from_file(f'dashboards/{name}.py', default_timeout=120)
    runs = []
    for _ in range(6):
        t = time.perf_counter(); at.run(); runs.append((time.perf_counter() - t) * 1000)
    assert not at.exception, at.exception
    out[name] = runs
print(json.dumps(out))
"""


def bench_dashboards(db: str) -> Metrics:
    """``dashboard_<name>_cold_ms`` / ``_warm_ms`` (the median of the later runs) and the
    worst warm median, ``dashboard_run_ms``."""
    env = dict(os.environ, DUCKDB_PATH=db, DASHBOARD_READ_ONLY="1")
    r = subprocess.run(
        [sys.executable, "-c", APP_RUNS],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        cwd=str(Path(__file__).resolve().parents[1]),
    )
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-500:])
    runs = json.loads(r.stdout.strip().splitlines()[-1])
    out = {}
    for name, ms_list in runs.items():
        warm = sorted(ms_list[1:])
        out[f"dashboard_{name}_cold_ms"] = metric(ms_list[0], "ms")
        out[f"dashboard_{name}_warm_ms"] = metric(warm[len(warm) // 2], "ms")
    out["dashboard_run_ms"] = metric(
        max(out[f"dashboard_{n}_warm_ms"]["value"] for n in runs), "ms (worst warm median)"
    )
    return out
