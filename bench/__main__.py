"""``make bench [QUICK=1]``: throughput, latency and memory beside same-run baselines.

Prints a table and writes ``bench/results/<UTC timestamp>.json`` mapping each metric to
``{"value", "unit", "baseline", "ratio"}``. Figures are never asserted anywhere.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.brokers import broker_info, fresh_brokers, with_broker
from bench.chain import bench_chain, default_rows
from bench.dashboards import bench_dashboards
from bench.freshness import bench_freshness, bench_freshness_e2e
from bench.harness import Bench, Peak, Section, machine, run_sections, write_result
from bench.materialize import bench_materializer
from bench.replay import bench_replay
from bench.report import compare_table, console, markdown_table, metric, print_table
from bench.views import bench_views
from common.broker import broker_for
from common.settings import Settings
from common.signals import interrupt_on

#: what ``--skip`` can name, in the order the sections run
SECTIONS = ("replay", "chain", "materialize", "freshness", "views", "dashboards")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small sizes (a few minutes)")
    ap.add_argument(
        "--broker",
        choices=("kafka", "tansu"),
        default=None,
        help="local broker to measure on (default: EMBEDDED_BROKER if it names one, else "
        "kafka); KAFKA_BOOTSTRAP_SERVERS, when set, wins over either",
    )
    ap.add_argument("--rows", type=int, help="replay rows (default 1,000,000; quick 100,000)")
    ap.add_argument(
        "--chain-rows",
        type=int,
        help="rows through the chain (default on Kafka 200,000, quick 20,000; on Tansu "
        "30,000, quick 5,000)",
    )
    ap.add_argument("--view-rows", type=int, help="materialized queries for view/dashboard timing")
    ap.add_argument(
        "--repeat",
        type=int,
        help="rounds of the replay and materializer measurements, reported as medians "
        "(default 3; quick 1)",
    )
    ap.add_argument(
        "--skip", default="", help="comma-separated sections to skip: " + ",".join(SECTIONS)
    )
    ap.add_argument(
        "--fresh-rate",
        type=float,
        default=None,
        help="rows/s of the end-to-end freshness run (default: 2,000 on Apache Kafka, "
        "300 on Tansu, whose clean stage sustains less)",
    )
    ap.add_argument(
        "--markdown",
        metavar="RESULT_JSON",
        help="print an earlier result as a Markdown table and exit (runs nothing)",
    )
    ap.add_argument(
        "--compare",
        nargs="+",
        metavar="RESULT_JSON",
        help="print earlier results side by side as a Markdown table and exit (runs nothing)",
    )
    Settings.add_arguments(ap, only=["kafka"])
    return ap


@dataclass(frozen=True)
class Sizes:
    """How much each section measures (the options, or their defaults)."""

    quick: bool
    rows: int
    repeat: int
    view_rows: int
    #: None: the broker's default (:func:`bench.chain.default_rows`)
    chain_rows: int | None
    #: None: 2,000 rows/s on Kafka, 300 on Tansu
    fresh_rate: float | None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Sizes:
        quick = args.quick
        return cls(
            quick=quick,
            rows=args.rows or (100_000 if quick else 1_000_000),
            repeat=args.repeat or (1 if quick else 3),
            view_rows=args.view_rows or (100_000 if quick else 1_000_000),
            chain_rows=args.chain_rows,
            fresh_rate=args.fresh_rate,
        )


def sections(sizes: Sizes, bench: Bench, chain_rows: int) -> list[Section]:
    """The sections in the order they run, each with its title and sizes."""
    from producers.synthetic import SyntheticSpec, write

    s, quick = bench.s, sizes.quick
    chain_parquet = str(bench.work / "chain.parquet")
    chain_spec = SyntheticSpec(rows=chain_rows, seed=43, clusters=24, days=30, error_rate=0.005)
    fresh_rate = sizes.fresh_rate or (300.0 if s.on_tansu else 2000.0)
    db = str(bench.work / "views.duckdb")
    return [
        Section(
            "replay",
            "replay vs bare produce",
            lambda: bench_replay(bench.fresh, bench.parquet, sizes.repeat),
        ),
        Section(
            "chain",
            f"chain ({chain_rows:,} rows) vs passthrough with its topology",
            lambda: bench_chain(s, chain_parquet, bench.notes),
            prepare=lambda: write(chain_spec, chain_parquet),
        ),
        Section(
            "materialize",
            "materializer",
            lambda: bench_materializer(
                bench.fresh, min(sizes.rows, 500_000), bench.work, sizes.repeat
            ),
        ),
        Section(
            "freshness",
            f"freshness end to end (RAW -> clean -> DuckDB) at {fresh_rate:,.0f} rows/s",
            lambda: bench_freshness_e2e(s, bench.parquet, fresh_rate, 20 if quick else 60),
        ),
        Section(
            "freshness",
            "freshness of the materializer hop (CLEAN -> DuckDB) at 5k rows/s",
            lambda: bench_freshness(s, 5000.0, 10 if quick else 30),
        ),
        Section(
            "views",
            f"views at {sizes.view_rows:,} queries",
            lambda: bench_views(db, sizes.view_rows),
        ),
        Section(
            "dashboards", f"dashboards at {sizes.view_rows:,} queries", lambda: bench_dashboards(db)
        ),
    ]


def run(sizes: Sizes, settings: Settings, work: Path, skip: set[str]) -> dict[str, Any]:
    """Start the broker, run every section not in ``skip``: the result JSON but the machine."""
    from producers.synthetic import SyntheticSpec, write

    with Peak() as peak, broker_for(settings) as s:
        broker = broker_info(settings, s)
        bench = Bench(s, fresh_brokers(settings, s), work, str(work / "bench.parquet"))
        chain_rows = sizes.chain_rows or default_rows(s.broker_kind, sizes.quick)
        if s.on_tansu and not sizes.chain_rows:
            bench.notes.append(
                f"chain: {chain_rows:,} rows on Tansu (it runs a few hundred rows/s there; "
                "200,000 on Kafka)"
            )
        console.print(f"writing {sizes.rows:,} synthetic rows to {bench.parquet}")
        write(SyntheticSpec(rows=sizes.rows, seed=42, clusters=24, days=30), bench.parquet)
        run_sections(sections(sizes, bench, chain_rows), skip, bench)
    bench.results["rss_peak_mb"] = metric(peak.peak, "MB (bench process + children)")
    return {
        "broker": broker,
        "quick": sizes.quick,
        "rows": sizes.rows,
        "chain_rows": chain_rows,
        "view_rows": sizes.view_rows,
        "repeat": sizes.repeat,
        "metrics": bench.results,
        "notes": bench.notes,
    }


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.markdown:
        print(markdown_table(json.loads(Path(args.markdown).read_text())))
        return 0
    if args.compare:
        print(compare_table({Path(p).stem: json.loads(Path(p).read_text()) for p in args.compare}))
        return 0
    info = machine()
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    settings = with_broker(Settings.from_args(args), args.broker).with_(
        run_dir=str(work / "run"), state_dir=str(work / "state")
    )
    skip = set(filter(None, args.skip.split(",")))
    result = {"machine": info, **run(Sizes.from_args(args), settings, work, skip)}
    print_table(result)
    path = write_result(result)
    console.print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    interrupt_on(signal.SIGTERM)
    sys.exit(main())
