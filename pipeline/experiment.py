"""One experiment run as one command: replay -> chain -> DuckDB -> reconciliation.

``python -m pipeline.experiment SOURCE --db PATH`` (``make experiment SOURCE=... DB=...``):
starts the embedded broker if none is configured, gives the run its own topic namespace
(``exp-<run_id>.``) so runs never mix, replays SOURCE with a new run id while the processor
chain runs, materializes every topic into the DuckDB file (several runs can land in one
file: compare them with ``run_compare('<a>', '<b>')``), prints a reconciliation table and
exits 0 only if every count reconciles.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb
from confluent_kafka import KafkaException
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from common.broker import BrokerError, broker_for
from common.settings import Settings
from common.topics import ensure_topics
from producers.replay import ReplayError, ReplaySummary, replay
from producers.sources import SourceError
from warehouse.materializer import Materializer
from warehouse.store import Warehouse

console = Console(stderr=True)


@dataclass
class Check:
    name: str
    left: int
    right: int
    detail: str

    @property
    def ok(self) -> bool:
        return self.left == self.right


def reconcile(wh: Warehouse, run_id: str, rows_read: int) -> list[Check]:
    """The counts that must agree for a finished run (pure SQL over the warehouse)."""

    def one(sql: str) -> int:
        return int(wh.scalar(sql, [run_id]) or 0)

    raw = one("SELECT count(*) FROM raw_rows WHERE run_id = ?")
    clean = one("SELECT count(*) FROM clean_queries WHERE run_id = ?")
    dead = one("SELECT count(*) FROM rejects WHERE run_id = ? AND reason <> 'duplicate'")
    dup = one("SELECT count(*) FROM rejects WHERE run_id = ? AND reason = 'duplicate'")
    late = one("SELECT count(*) FROM late_rows WHERE run_id = ? AND cluster <> 'fleet'")
    in_windows = one(
        "SELECT coalesce(sum(queries), 0) FROM v_query_metrics WHERE run_id = ? AND cluster <> 'fleet'"
    )
    in_fleet = one(
        "SELECT coalesce(sum(queries), 0) FROM v_query_metrics WHERE run_id = ? AND cluster = 'fleet'"
    )
    late_fleet = one("SELECT count(*) FROM late_rows WHERE run_id = ? AND cluster = 'fleet'")
    in_compile = one("SELECT coalesce(sum(queries), 0) FROM v_compile_metrics WHERE run_id = ?")
    flat = one("SELECT count(*) FROM flattened WHERE run_id = ?")
    # a NULL list (not measured: every result-cache hit) gives no row, like an empty one
    flat_expected = one(
        "SELECT coalesce(sum(coalesce(len(list_distinct(read_table_ids)), 0) "
        "+ coalesce(len(list_distinct(write_table_ids)), 0)), 0) "
        "FROM clean_queries WHERE run_id = ?"
    )
    no_tables = one(
        "SELECT count(*) FROM clean_queries WHERE run_id = ? "
        "AND coalesce(len(read_table_ids), 0) + coalesce(len(write_table_ids), 0) = 0"
    )
    return [
        Check(
            "rows read = RAW_DATA rows",
            rows_read,
            raw,
            "replay summary vs distinct (run, file, row)",
        ),
        Check(
            "RAW = CLEAN + dead letters + duplicates",
            raw,
            clean + dead + dup,
            f"{clean} + {dead} + {dup}",
        ),
        Check(
            "CLEAN = QUERY_METRICS windows + late",
            clean,
            in_windows + late,
            f"{in_windows} + {late} late",
        ),
        Check(
            "CLEAN = fleet windows + late",
            clean,
            in_fleet + late_fleet,
            f"{in_fleet} + {late_fleet} late",
        ),
        Check(
            "CLEAN = COMPILE_METRICS windows + late",
            clean,
            in_compile + late,
            f"{in_compile} + {late} late",
        ),
        Check(
            "FLATTENED = explode(table ids)",
            flat_expected,
            flat,
            f"distinct read + write ids per query; {no_tables:,} queries without table ids "
            "(NULL or empty, e.g. cache hits) have no row",
        ),
    ]


def print_report(wh: Warehouse, run_id: str, summary: ReplaySummary, checks: list[Check]) -> None:
    out = Console()
    t = Table(title=f"experiment {run_id}: {summary.source}")
    t.add_column("figure")
    t.add_column("value", justify="right")
    t.add_column("expected", justify="right")
    t.add_column("", justify="center")
    t.add_row("rows read by the replay", f"{summary.rows_read:,}", "", "")
    for reason, n in sorted(summary.rows_rejected.items()):
        t.add_row(f"  unreadable rows sent raw ({reason})", f"{n:,}", "", "")
    for reason, n in wh.query(
        "SELECT reason, count(*) AS n FROM rejects WHERE run_id = ? GROUP BY reason ORDER BY n DESC",
        [run_id],
    ).itertuples(index=False):
        t.add_row(
            f"  {'duplicates' if reason == 'duplicate' else 'dead letters: ' + str(reason)}",
            f"{n:,}",
            "",
            "",
        )
    for table in (
        "raw_rows",
        "clean_queries",
        "query_metrics",
        "compile_metrics",
        "leaderboards",
        "flattened",
        "late_rows",
    ):
        n = int(wh.scalar(f"SELECT count(*) FROM {table} WHERE run_id = ?", [run_id]) or 0)
        t.add_row(f"rows in {table}", f"{n:,}", "", "")
    for c in checks:
        t.add_row(c.name, f"{c.right:,}" if c.name.startswith("rows read") else f"{c.left:,}",
                  f"{c.left:,}" if c.name.startswith("rows read") else f"{c.right:,} ({c.detail})",
                  "[green]ok[/]" if c.ok else "[red]MISMATCH[/]")  # fmt: skip
    out.print(t)


def run_experiment(
    source: str,
    db: str,
    settings: Settings,
    *,
    run_id: str | None = None,
    speed: float | None = None,
    rate: float | None = None,
    limit: int | None = None,
    idle_s: float = 12.0,
    timeout_s: float = 3600.0,
    drain_idle_s: float = 5.0,
    progress: bool = True,
) -> tuple[str, ReplaySummary, list[Check]]:
    run_id = run_id or uuid.uuid4().hex[:12]
    if not settings.topic_prefix:
        settings = settings.with_(topic_prefix=f"exp-{run_id}.")
    ensure_topics(settings)
    # this process only writes (and reads the reconciliation at the end): one DuckDB thread
    # leaves the cores to consuming, parsing, the chain and the broker
    wh = Warehouse.open(db, threads=1)
    # the chain's producers get a generous delivery timeout: on a loaded 2-core machine the
    # embedded broker can take longer than the fail-fast default to acknowledge
    chain = settings.with_(message_timeout_ms=max(settings.message_timeout_ms, 90_000))
    env = dict(chain.to_env(), PYTHONUNBUFFERED="1")
    log_path = Path(settings.run_dir) / f"experiment-{run_id}-processors.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    mat = Materializer(settings, wh)
    # Replay first, then the chain: on the embedded broker a max-speed replay beside the
    # chain's producers starves them (delivery timeouts). With a rate or speed set (or on
    # real Kafka) the overlap is harmless, but the order keeps runs repeatable.
    summary = replay(
        source, settings, run_id=run_id, speed=speed, rate=rate, limit=limit, progress=progress
    )
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "processors", "all", "--until-idle", str(idle_s)],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + timeout_s
    try:
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
            console=console, disable=not progress, transient=True,
        ) as bar:  # fmt: skip
            task = bar.add_task(f"chain running on {summary.rows_sent:,} replayed rows")
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.5)
                bar.update(task)
            if proc.poll() is None:
                raise ReplayError(
                    f"processors did not finish within {timeout_s:g} s; see {log_path}"
                )
            if proc.returncode != 0:
                raise ReplayError(f"processors failed (exit {proc.returncode}); see {log_path}")
            # the materializer runs after the chain (on 2 cores it would slow the chain) and
            # stops as soon as every count reconciles, or after `drain_idle_s` without input
            bar.update(task, description="materializing")
            last_check = [0.0]

            def done() -> bool:
                bar.update(
                    task, description=f"materializing: {sum(mat.stats.rows.values()):,} messages"
                )
                if time.monotonic() - last_check[0] < 2.0 or time.monotonic() > deadline:
                    return time.monotonic() > deadline
                last_check[0] = time.monotonic()
                return all(c.ok for c in reconcile(wh, run_id, summary.rows_read))

            mat.run(until_idle=drain_idle_s, until=done)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)
    checks = reconcile(wh, run_id, summary.rows_read)
    print_report(wh, run_id, summary, checks)
    wh.close()
    return run_id, summary, checks


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m pipeline.experiment",
        description="Replay SOURCE through the whole chain into a DuckDB file and reconcile every count.",
    )
    p.add_argument(
        "source", help="file, glob, URL or synthetic:... spec (see producers.replay --help)"
    )
    p.add_argument("--db", required=True, help="DuckDB file to write (runs accumulate in it)")
    p.add_argument("--run-id", help="run id (default: new)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--speed", type=float, help="event-time speed-up factor")
    g.add_argument("--rate", type=float, help="rows per second")
    p.add_argument("--limit", type=int, help="at most this many rows")
    p.add_argument(
        "--idle", type=float, default=12.0, help="seconds without input before the chain stops"
    )
    p.add_argument("--no-progress", action="store_true")
    Settings.add_arguments(p)
    args = p.parse_args(argv)
    try:
        settings = Settings.from_args(args)
        with broker_for(settings) as s:
            run_id, _, checks = run_experiment(
                args.source, args.db, s, run_id=args.run_id, speed=args.speed, rate=args.rate,
                limit=args.limit, idle_s=args.idle, progress=not args.no_progress,
            )  # fmt: skip
    except (
        BrokerError,
        SourceError,
        ReplayError,
        ValueError,
        OSError,
        duckdb.Error,
        KafkaException,
    ) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    bad = [c for c in checks if not c.ok]
    if bad:
        print(
            f"error: run {run_id} does not reconcile: " + "; ".join(c.name for c in bad),
            file=sys.stderr,
        )
        return 1
    print(f"run {run_id} reconciles; results in {args.db}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
