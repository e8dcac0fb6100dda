"""The settings as documentation: every environment variable, its default and meaning
(``python -m common.settings_doc [--markdown]``; the README's table is its output)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields

from common.settings import Settings, env_name


def env_names() -> list[str]:
    """Every environment variable the settings object reads."""
    return [str(f.metadata["env"]) for f in fields(Settings)]


def settings_table() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) rows, for the README and --help."""
    return [(f.metadata["env"], repr(f.default), f.metadata["help"]) for f in fields(Settings)]


def markdown_table() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    rows += [f"| `{env}` | `{default}` | {meaning} |" for env, default, meaning in settings_table()]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m common.settings_doc",
        description="Print every setting: its environment variable, default and meaning.",
    )
    p.add_argument("--markdown", action="store_true", help="as the README's markdown table")
    a = p.parse_args(argv)
    if a.markdown:
        print(markdown_table())
    else:
        for k, v in Settings.from_env().redacted().items():
            print(f"{env_name(k):32s} {v!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
