"""make bench's figures and how they are printed: one metric, rounds of variants, the
console table and the Markdown table (pure: no broker)."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()


def metric(
    value: float | None,
    unit: str,
    baseline: float | None = None,
    higher_is_better: bool = True,
    runs: list[float] | None = None,
) -> dict[str, Any]:
    """One reported figure; with ``runs``, ``value`` is their median (and every run is kept)."""
    ratio = None
    if value is not None and baseline:
        ratio = value / baseline if higher_is_better else baseline / value if value else None
    out: dict[str, Any] = {"value": value, "unit": unit, "baseline": baseline, "ratio": ratio}
    if runs is not None:
        out["runs"] = runs
    return out


def rounds(n: int, variants: dict[str, Callable[[], dict[str, float]]]) -> dict[str, list[float]]:
    """Every variant measured once per round, ``n`` rounds, each round starting one variant
    later (so neither a slow spell of this shared machine nor going first favours one of
    them). A variant returns one or more named figures: name -> the n values, by round."""
    out: dict[str, list[float]] = {}
    names = list(variants)
    for i in range(n):
        if n > 1:
            console.print(f"  round {i + 1}/{n}")
        k = i % len(names)
        for variant in names[k:] + names[:k]:
            for name, value in variants[variant]().items():
                out.setdefault(name, []).append(value)
    return out


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def pctl(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def _cells(m: dict[str, Any]) -> tuple[str, str, str, str]:
    """A metric's value, unit, baseline and ratio as printed (console and Markdown)."""

    def num(x: float | None, fmt: str) -> str:
        return "-" if x is None else format(x, fmt)

    unit = m["unit"]
    if m.get("runs"):
        unit += "; runs " + " / ".join(num(r, ",.0f") for r in m["runs"])
    return (num(m["value"], ",.1f"), unit, num(m["baseline"], ",.1f"), num(m["ratio"], ".2g"))


def broker_line(result: dict[str, Any]) -> str:
    """The broker a result was measured on, in words ('' for results older than that)."""
    b = result.get("broker")
    if not b:
        return ""
    name = {"kafka": "Apache Kafka", "tansu": "Tansu"}.get(b.get("kind") or "", "unknown")
    where = "local, started by the bench" if b.get("local") else "configured"
    version = f" {b['version']}" if b.get("version") else ""
    return f"{name}{version} ({where})"


def markdown_table(result: dict[str, Any]) -> str:
    """A result JSON as the Markdown table shown in README.md and docs/bench.md."""
    lines = ["| metric | value | unit | baseline | ratio |", "|---|---:|---|---:|---:|"]
    for name, m in result["metrics"].items():
        lines.append(f"| `{name}` | " + " | ".join(_cells(m)) + " |")
    info = result["machine"]
    lines.append("")
    if broker_line(result):
        lines.append(f"Broker: {broker_line(result)}.")
    lines.append("Machine: " + ", ".join(f"{k} {v}" for k, v in info.items()) + ".")
    lines += [f"Note: {n}" for n in result.get("notes", [])]
    return "\n".join(lines)


def compare_table(results: dict[str, dict[str, Any]]) -> str:
    """Results side by side (name -> result JSON, e.g. one per broker): each metric's value
    and ratio to its baseline per result, the metrics of the first result first."""
    names: list[str] = []
    for r in results.values():
        names += [n for n in r["metrics"] if n not in names]

    def cell(r: dict[str, Any], name: str) -> str:
        m = r["metrics"].get(name)
        if m is None:
            return "- | -"
        value, _, base, ratio = _cells(m)
        return f"{value} | {ratio}" + (f" (of {base})" if base != "-" else "")

    head = " | ".join(f"{k} | ratio" for k in results)
    lines = [f"| metric | {head} | unit |", "|---|" + "---:|---:|" * len(results) + "---|"]
    for name in names:
        units = {k: r["metrics"][name]["unit"] for k, r in results.items() if name in r["metrics"]}
        first = next(iter(units.values()))
        # a unit naming a size (e.g. the chain's rows) said for each result where they differ
        unit = (
            first
            if len(set(units.values())) == 1
            else "; ".join(f"{k}: {u}" for k, u in units.items())
        )
        cells = " | ".join(cell(r, name) for r in results.values())
        lines.append(f"| `{name}` | {cells} | {unit} |")
    lines.append("")
    for k, r in results.items():
        lines.append(f"{k}: {broker_line(r) or 'broker not recorded'}.")
    return "\n".join(lines)


def print_table(result: dict[str, Any]) -> None:
    broker = broker_line(result)
    t = Table(title="make bench" + (f" on {broker}" if broker else ""))
    for col in ("metric", "value", "unit", "baseline", "ratio"):
        t.add_column(col, justify="left" if col in ("metric", "unit") else "right")
    for name, m in result["metrics"].items():
        if name.startswith("_"):
            continue
        t.add_row(name, *_cells(m))
    console.print(t)
    if broker:
        console.print(f"broker: {broker}")
    console.print("machine: " + ", ".join(f"{k}={v}" for k, v in result["machine"].items()))
    for n in result.get("notes", []):
        console.print(f"[yellow]note[/]: {n}")
