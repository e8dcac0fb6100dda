"""The DuckDB tables of a finished chain run, for comparing runs: a faulty or scaled-out
run against a fault-free single-replica run of the same input and run id (whose topics
tests/processors/test_oracle.py checks against the batch oracle)."""

from __future__ import annotations

from pathlib import Path

from common.settings import Settings
from common.topics import ensure_topics
from producers.replay import replay
from tests.support.chain import run_chain
from warehouse.materializer import Materializer
from warehouse.store import Warehouse

#: every table the materializer writes, compared whole (``loaded_at`` is wall time)
TABLES = (
    "raw_rows",
    "clean_queries",
    "rejects",
    "query_metrics",
    "late_rows",
    "compile_metrics",
    "flattened",
)

Snapshot = dict[str, list[tuple[str, ...]]]


def snapshot(wh: Warehouse) -> Snapshot:
    """Every table's rows as sorted text tuples. Leaderboards: one row per window, its final
    variant where there is one (a closed window's last running board depends on when the
    clusters' partials arrived, by design; the views prefer the final board)."""
    out: Snapshot = {}
    for t in TABLES:
        df = wh.query(f"SELECT * EXCLUDE (loaded_at) FROM {t}")
        out[t] = sorted(map(tuple, df.astype(str).itertuples(index=False)))
    df = wh.query(
        """SELECT * EXCLUDE (loaded_at) FROM leaderboards QUALIFY row_number() OVER (
             PARTITION BY run_id, board, window_start ORDER BY variant = 'final' DESC) = 1"""
    )
    out["leaderboards"] = sorted(map(tuple, df.astype(str).itertuples(index=False)))
    return out


def materialize(settings: Settings, db: Path, until_idle: float = 3.0) -> Snapshot:
    """Materialize every topic into the DuckDB file ``db`` (until idle); its snapshot."""
    wh = Warehouse.open(str(db), threads=1)
    try:
        Materializer(settings, wh).run(until_idle=until_idle)
        return snapshot(wh)
    finally:
        wh.close()


def single_replica_tables(settings: Settings, spec: str, run_id: str, db: Path) -> Snapshot:
    """A fault-free reference: replay ``spec`` as ``run_id`` into ``settings``' topics (a
    prefix of their own), one ``python -m processors all --until-idle``, materialize."""
    ensure_topics(settings)
    replay(spec, settings, run_id=run_id, progress=False)
    run_chain(settings)
    return materialize(settings, db)


def diff(got: Snapshot, want: Snapshot) -> str:
    """A short account of how two snapshots differ (empty if they do not)."""
    lines = []
    for t in sorted(set(got) | set(want)):
        g, w = set(got.get(t, [])), set(want.get(t, []))
        if g != w:
            lines.append(
                f"{t}: {len(got.get(t, []))} rows vs {len(want.get(t, []))}; missing "
                f"{sorted(w - g)[:2]}, extra {sorted(g - w)[:2]}"
            )
    return "\n".join(lines)
