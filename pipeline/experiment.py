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
import signal
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import duckdb
from confluent_kafka import KafkaException
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from common.broker import BrokerError, broker_for
from common.settings import Settings
from common.signals import interrupt_on
from common.topics import ensure_topics
from pipeline import supervisor
from pipeline.report import Check, print_report, reconcile
from producers.replay import ReplayError, ReplaySummary, replay
from producers.sources import SourceError
from warehouse.materializer import Materializer
from warehouse.store import Warehouse

console = Console(stderr=True)


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
    chain_argv = [sys.executable, "-m", "processors", "all", "--until-idle", str(idle_s)]
    proc = supervisor.start(chain_argv, env=env, log=log_path)
    deadline = time.monotonic() + timeout_s
    try:
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            disable=not progress,
            transient=True,
        ) as bar:
            task = bar.add_task(f"chain running on {summary.rows_sent:,} replayed rows")
            code = supervisor.wait(proc, timeout_s, tick=lambda: bar.update(task))
            if code is None:
                raise ReplayError(
                    f"processors did not finish within {timeout_s:g} s; see {log_path}"
                )
            if code != 0:
                raise ReplayError(f"processors failed (exit {code}); see {log_path}")
            # the materializer runs after the chain (on 2 cores it would slow the chain) and
            # stops as soon as every count reconciles, or after `drain_idle_s` without input
            bar.update(task, description="materializing")

            def tick() -> None:
                messages = sum(mat.stats.rows.values())
                bar.update(task, description=f"materializing: {messages:,} messages")

            materialize_until_reconciled(
                mat, wh, run_id, summary.rows_read, deadline, until_idle_s=drain_idle_s, tick=tick
            )
    finally:
        supervisor.stop([proc], 30)
    checks = reconcile(wh, run_id, summary.rows_read)
    print_report(wh, run_id, summary, checks)
    wh.close()
    return run_id, summary, checks


def materialize_until_reconciled(
    mat: Materializer,
    wh: Warehouse,
    run_id: str,
    rows_read: int,
    deadline: float,
    *,
    until_idle_s: float | None = None,
    tick: Callable[[], None] | None = None,
) -> bool:
    """Materialize until every count of ``run_id`` reconciles, the ``deadline``
    (monotonic) passes, or no input came for ``until_idle_s``; True if it reconciles.
    The counts are checked every 2 s (each check is a few queries over the warehouse)."""
    last_check = [0.0]

    def done() -> bool:
        if tick is not None:
            tick()
        now = time.monotonic()
        if now > deadline:
            return True
        if now - last_check[0] < 2.0:
            return False
        last_check[0] = now
        return all(c.ok for c in reconcile(wh, run_id, rows_read))

    mat.run(until_idle=until_idle_s, until=done)
    return all(c.ok for c in reconcile(wh, run_id, rows_read))


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
                args.source,
                args.db,
                s,
                run_id=args.run_id,
                speed=args.speed,
                rate=args.rate,
                limit=args.limit,
                idle_s=args.idle,
                progress=not args.no_progress,
            )
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


def cli() -> None:
    """The command: SIGTERM stops it like Ctrl-C (the chain first, then the broker)."""
    interrupt_on(signal.SIGTERM)
    sys.exit(main())


if __name__ == "__main__":
    cli()
