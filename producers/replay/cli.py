"""``python -m producers.replay SOURCE [options]`` (also ``redset-replay``)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import uuid

from common.broker import BrokerError, broker_for
from common.settings import Settings
from producers.replay.checkpoint import control_paths
from producers.replay.loop import replay
from producers.replay.pace import Pace, watch_controls
from producers.replay.result import ReplayError, ReplaySummary
from producers.sources import SourceError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m producers.replay",
        description=(
            "Replay a Redset source into RAW_DATA. SOURCE: a .parquet/.csv/.xlsx path or glob, "
            "an https:// URL, s3://redshift-downloads/redset/... (anonymous, cached), or "
            "synthetic:rows=N,seed=S,clusters=C,kind=provisioned|serverless|mixed,days=D,error_rate=E,duplicate_rate=R"
        ),
        epilog="Pause/resume: send SIGUSR1, or create RUN_DIR/replay-<run_id>.pause. "
        "Change the rate while it runs: write rows/s (0 = max) to RUN_DIR/replay-<run_id>.rate. "
        "Resume after a crash: run again with the same --run-id.",
    )
    p.add_argument("source")
    p.add_argument("--run-id", help="replay run id (default: new); reuse one to resume")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--speed", type=float, help="event time scaled: 1000 = 1000x real time")
    g.add_argument("--rate", type=float, help="fixed rows per second")
    p.add_argument("--limit", type=int, help="at most this many rows")
    p.add_argument(
        "--clusters", help="comma-separated cluster keys, e.g. provisioned-3,serverless-7"
    )
    p.add_argument("--start", help="only rows arriving at or after this time (UTC)")
    p.add_argument("--end", help="only rows arriving before this time (UTC)")
    p.add_argument("--sample", type=float, help="deterministic sample fraction in (0, 1]")
    p.add_argument(
        "--kind", choices=["provisioned", "serverless"], help="cluster kind of every row"
    )
    p.add_argument("--encoding", default="utf8", help="CSV text encoding (default utf8)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    Settings.add_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    stop = threading.Event()
    pause = threading.Event()
    _handle_signals(stop, pause)
    try:
        summary = _run(args, stop, pause)
    except KeyboardInterrupt:
        print("interrupted; rerun with the same --run-id to resume", file=sys.stderr)
        return 130
    except (SourceError, ReplayError, BrokerError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        stop.set()
    print(json.dumps(summary.as_dict()) if args.json else _summary_line(summary))
    return 0


def _handle_signals(stop: threading.Event, pause: threading.Event) -> None:
    """SIGTERM stops the replay (after a checkpoint); SIGUSR1 pauses or resumes it."""

    def _toggle(signum: int, frame: object) -> None:
        if pause.is_set():
            pause.clear()
        else:
            pause.set()

    def _stop(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGUSR1, _toggle)


def _run(args: argparse.Namespace, stop: threading.Event, pause: threading.Event) -> ReplaySummary:
    settings = Settings.from_args(args)
    if settings.embedded:
        print(
            "note: no KAFKA_BOOTSTRAP_SERVERS: using an embedded broker that stops with this command",
            file=sys.stderr,
        )
    run_id = args.run_id or uuid.uuid4().hex[:12]
    pace = Pace(args.rate, args.speed)
    watcher = threading.Thread(
        target=watch_controls,
        args=(control_paths(settings.run_dir, run_id), pause, stop, pace),
        daemon=True,
    )
    watcher.start()
    with broker_for(settings) as s:
        return replay(
            args.source,
            s,
            run_id=run_id,
            pace=pace,
            limit=args.limit,
            clusters=[c.strip() for c in args.clusters.split(",")] if args.clusters else None,
            start=args.start,
            end=args.end,
            sample=args.sample,
            kind=args.kind,
            progress=not args.no_progress,
            stop_event=stop,
            pause_event=pause,
            encoding=args.encoding,
        )


def _summary_line(summary: ReplaySummary) -> str:
    rejected = ", ".join(f"{k}: {v}" for k, v in summary.rows_rejected.items()) or "none"
    return (
        f"run {summary.run_id}: read {summary.rows_read}, sent {summary.rows_sent} to {summary.topic}"
        f" (resumed after row {summary.resumed_from}), unreadable rows sent raw: {rejected}, "
        f"{summary.elapsed_s:.1f} s, {summary.rows_per_s:,.0f} rows/s"
        + (" [stopped]" if summary.stopped else "")
    )
