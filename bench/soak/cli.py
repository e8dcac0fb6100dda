"""``make soak [QUICK=1]``: the long reliability runs (never part of ``make test``).

1. **Load**: the whole pipeline (``processors all``, the materializer, a replay at a fixed
   rate the chain sustains) for several minutes. Every few seconds it samples each
   process's RSS and the backlog (rows materialized from RAW_DATA that the clean stage has
   not yet accounted for, read from DuckDB: not from the embedded broker's high watermark,
   which is wrong). Verdicts: memory flat (RSS growth over the second half of the run
   within ``max(15 %, 40 MB)`` per process) and lag back to zero (every replayed row
   accounted for within ``--drain-s`` after the replay ends).
2. **Faults**: the same source through a clean run (``pipeline.experiment``) and a run
   in which each stage, the materializer and the replay are SIGKILLed at random points
   (seeded) and restarted (stages by the ``processors all`` supervisor, the others by this
   harness: the replay with the same run id resumes from its checkpoint). Verdict: every
   materialized table equals the clean run's, row for row (windows and boards compared on
   their final records; provisional ones reported).

Prints one table and writes ``bench/results/soak-<UTC timestamp>.json``. Exit 0 if every
verdict passes.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.brokers import broker_info
from bench.harness import RESULTS, machine
from bench.report import broker_line
from bench.soak.faults import soak_faults
from bench.soak.load import soak_load
from bench.soak.procs import console
from bench.soak.report import print_tables
from common.broker import broker_for
from common.settings import Settings
from common.signals import interrupt_on


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m bench.soak",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--quick", action="store_true", help="2-minute load, 4k-row fault run")
    ap.add_argument("--minutes", type=float, help="load duration (default 10; quick 2)")
    ap.add_argument(
        "--rate",
        type=float,
        default=50.0,
        help="replay rows/s of the load run (a rate the chain sustains on 2 cores beside the "
        "materializer: its clean stage fell from ~150 to ~40 rows/s over 10 min at 150)",
    )
    ap.add_argument(
        "--fault-rows", type=int, help="rows of the fault runs (default 20,000; quick 4,000)"
    )
    ap.add_argument(
        "--fault-rate", type=float, default=300.0, help="replay rows/s of the faulted run"
    )
    ap.add_argument(
        "--seed", type=int, default=1, help="seed of the kill schedule and the fault data"
    )
    ap.add_argument(
        "--sample-s", type=float, default=5.0, help="sampling interval of RSS and backlog"
    )
    ap.add_argument(
        "--drain-s",
        type=float,
        default=300.0,
        help="time allowed for the backlog to reach zero after the replay",
    )
    ap.add_argument("--skip", default="", help="comma-separated: load,faults")
    ap.add_argument(
        "--broker",
        choices=("auto", "kafka", "tansu"),
        default=None,
        help="local broker (default: EMBEDDED_BROKER, else auto: Apache Kafka when Java 17+ "
        "is there); KAFKA_BOOTSTRAP_SERVERS, when set, wins",
    )
    Settings.add_arguments(ap, only=["kafka"])
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    minutes = args.minutes or (2.0 if args.quick else 10.0)
    fault_rows = args.fault_rows or (4_000 if args.quick else 20_000)
    skip = set(filter(None, args.skip.split(",")))
    info = machine()
    work = Path(tempfile.mkdtemp(prefix="soak-"))
    settings = Settings.from_args(args).with_(
        run_dir=str(work / "run"), state_dir=str(work / "state")
    )
    if args.broker:
        settings = settings.with_(embedded_broker=args.broker)
    load = faults = None
    notes: list[str] = []
    with broker_for(settings) as s:
        broker = broker_info(settings, s)
        broker_pid = _broker_pid()
        if "load" not in skip:
            console.print(f"[bold]load[/]: {minutes:g} min at {args.rate:g} rows/s")
            try:
                load = soak_load(
                    s,
                    work,
                    args.rate,
                    minutes * 60,
                    args.sample_s,
                    args.drain_s,
                    broker_pid,
                    broker_memory_note(s.broker_kind),
                )
            except Exception as e:
                notes.append(f"load: failed: {type(e).__name__}: {e}")
        if "faults" not in skip:
            console.print("[bold]faults[/]: SIGKILL each stage, the materializer and the replay")
            try:
                faults = soak_faults(s, work, fault_rows, args.fault_rate, args.seed, args.drain_s)
            except Exception as e:
                notes.append(f"faults: failed: {type(e).__name__}: {e}")
    print_tables(load, faults, info)
    console.print(f"broker: {broker_line({'broker': broker})}")
    for n in notes:
        console.print(f"[red]{n}[/]")
    _write_results(
        {
            "machine": info,
            "broker": broker,
            "quick": args.quick,
            "load": load,
            "faults": faults,
            "notes": notes,
            "work_dir": str(work),
        },
        work,
    )
    ok = (
        not notes
        and (load is None or (load["memory_flat"] and load["lag_zero"]))
        and (faults is None or (faults["equal_to_clean_run"] and faults["reconciles"]))
    )
    return 0 if ok else 1


def _write_results(results: dict[str, Any], work: Path) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"soak-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    console.print(f"wrote {path} (logs and databases in {work})")


def _broker_pid() -> int | None:
    """PID of the local broker (a Tansu or Apache Kafka child of this process), if one
    was started."""
    from bench.watch import local_broker

    broker = local_broker()
    return None if broker is None else int(broker.pid)


def broker_memory_note(kind: str) -> str:
    """Why the local broker's RSS is reported but not judged."""
    if kind == "tansu":
        return "memory storage holds every message (retention ignored)"
    # G1 grows the heap towards -Xmx before it collects much: growth is not a leak
    return "a JVM's heap grows towards its -Xmx before it collects much"


def cli() -> None:
    """The command: SIGTERM stops it like Ctrl-C (its children first, then the broker)."""
    interrupt_on(signal.SIGTERM)
    sys.exit(main())
