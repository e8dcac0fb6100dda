"""``python -m producers.synthetic --rows N --out file.parquet|.csv|.xlsx``."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields

from producers.synthetic.files import write, write_table
from producers.synthetic.spec import SyntheticSpec


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m producers.synthetic",
        description="Write a synthetic, Redset-shaped dataset calibrated to the real data's figures.",
    )
    defaults = SyntheticSpec()
    for f in fields(SyntheticSpec):
        parser.add_argument(
            "--" + f.name.replace("_", "-"),
            type=type(f.default),
            default=getattr(defaults, f.name),
            help=f"(default {getattr(defaults, f.name)!r})",
        )
    parser.add_argument("--out", required=True, help="output file: .parquet, .csv or .xlsx")
    parser.add_argument(
        "--manifest", help="also write the injected-errors manifest (.csv/.parquet)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        spec = SyntheticSpec(**{f.name: getattr(args, f.name) for f in fields(SyntheticSpec)})
        data = write(spec, args.out)
        if args.manifest:
            write_table(data.injected, args.manifest)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(
        f"wrote {data.table.num_rows} rows ({data.injected.num_rows} injected problems) to {args.out}"
    )
    return 0
