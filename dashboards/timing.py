"""Time full script runs of a dashboard (for ``make bench``).

``time_script_run("aggregate", "big.duckdb")`` runs the dashboard with Streamlit's AppTest
against the DuckDB file opened read-only (no materializer) and returns the wall time of
each full run in ms; the first run is cold (connection, caches), the rest are warm.

CLI: ``python -m dashboards.timing aggregate big.duckdb --runs 5``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

DASHBOARDS = Path(__file__).resolve().parent
NAMES = ("aggregate", "expert")


def script_path(script: str) -> str:
    """``aggregate`` / ``expert`` / a path to a dashboard script -> the script's path."""
    if script in NAMES:
        return str(DASHBOARDS / f"{script}.py")
    p = Path(script)
    if not p.is_file():
        raise FileNotFoundError(f"{script}: no such dashboard (use one of {', '.join(NAMES)})")
    return str(p)


def time_script_run(
    script: str, db_path: str, runs: int = 5, *, cached: bool = True
) -> list[float]:
    """Milliseconds per full AppTest run of ``script`` against ``db_path`` (read-only).

    ``cached=False`` clears the query cache (``st.cache_data``) before every run, so each
    run repeats every query (a page opened after the 3 s cache TTL)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    if not Path(db_path).is_file():
        raise FileNotFoundError(f"{db_path}: no such DuckDB file")
    path = script_path(script)
    saved = {k: os.environ.get(k) for k in ("DUCKDB_PATH", "DASHBOARD_READ_ONLY")}
    os.environ["DUCKDB_PATH"] = db_path
    os.environ["DASHBOARD_READ_ONLY"] = "1"
    try:
        at = AppTest.from_file(path, default_timeout=300)
        out: list[float] = []
        for _ in range(max(1, runs)):
            if not cached:
                st.cache_data.clear()
            t0 = time.perf_counter()
            at.run()
            out.append((time.perf_counter() - t0) * 1000)
            if at.exception:
                raise RuntimeError(f"{path}: {at.exception[0].message}")
        return out
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Time full script runs of a dashboard against a DuckDB file (read-only)."
    )
    parser.add_argument("script", help="aggregate, expert, or a path to a dashboard script")
    parser.add_argument("db", help="DuckDB file filled by the warehouse")
    parser.add_argument("--runs", type=int, default=5, help="number of runs (first is cold)")
    parser.add_argument(
        "--no-cache", action="store_true", help="clear the query cache before every run"
    )
    args = parser.parse_args(argv)
    try:
        from rich.progress import Progress

        with Progress(transient=True) as progress:
            progress.add_task(f"running {args.script} x{args.runs}", total=None)
            times = time_script_run(args.script, args.db, args.runs, cached=not args.no_cache)
    except (FileNotFoundError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    warm = sorted(times[1:]) or times
    print(
        f"{args.script}: cold {times[0]:,.0f} ms, warm median {warm[len(warm) // 2]:,.0f} ms, "
        f"runs {', '.join(f'{t:,.0f}' for t in times)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
