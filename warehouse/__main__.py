"""``python -m warehouse {materialize,export,migrate,views}``."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

import duckdb
from confluent_kafka import KafkaException
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from common.broker import BrokerError, broker_for
from common.settings import Settings
from warehouse.export import export, relations
from warehouse.materializer import ALL_TOPICS, Materializer
from warehouse.store import Warehouse


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m warehouse", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("materialize", help="consume topics into a DuckDB file (standalone)")
    m.add_argument("--db", required=True)
    m.add_argument("--topics", default=",".join(ALL_TOPICS), help="comma-separated logical topics")
    m.add_argument("--until-idle", type=float, help="stop after this many seconds without input")
    m.add_argument(
        "--threads",
        type=int,
        default=1,
        help="DuckDB threads (default 1: this process only writes, and one thread leaves the "
        "other core to consuming and parsing; 0 = one per core)",
    )
    Settings.add_arguments(m)
    e = sub.add_parser("export", help="write a view or table to .parquet or .csv")
    e.add_argument("name")
    e.add_argument("--db", required=True)
    e.add_argument("--out", required=True)
    g = sub.add_parser("migrate", help="create or upgrade the schema")
    g.add_argument("--db", required=True)
    v = sub.add_parser("views", help="list tables and views")
    v.add_argument("--db", required=True)
    args = p.parse_args(argv)
    try:
        if args.cmd == "export":
            n = export(args.db, args.name, args.out)
            print(f"wrote {n} rows of {args.name} to {args.out}")
        elif args.cmd == "migrate":
            wh = Warehouse.open(args.db)
            print("applied: " + (", ".join(wh.migrate()) or "nothing (up to date)"))
            wh.close()
        elif args.cmd == "views":
            wh = Warehouse.open(args.db, read_only=True)
            print("\n".join(relations(wh)))
            wh.close()
        else:
            settings = Settings.from_args(args)
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            with broker_for(settings) as s:
                wh = Warehouse.open(args.db, threads=args.threads or None)
                mat = Materializer(
                    s, wh, topics=[t.strip() for t in args.topics.split(",") if t.strip()]
                )
                with Progress(
                    SpinnerColumn(),
                    TextColumn("{task.description}"),
                    TimeElapsedColumn(),
                    console=Console(stderr=True),
                    transient=True,
                ) as bar:
                    task = bar.add_task("materializing")

                    def show() -> bool:
                        n = sum(mat.stats.rows.values())
                        bar.update(task, description=f"materializing: {n:,} messages")
                        return False

                    try:
                        stats = mat.run(until_idle=args.until_idle, stop_event=stop, until=show)
                    except KeyboardInterrupt:
                        stats = mat.stats
                wh.close()
            print(f"materialized {dict(stats.rows)}")
    except (ValueError, OSError, duckdb.Error, BrokerError, KafkaException) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
