"""The soak's printed tables: the load run's memory and lag verdicts, the fault run's
per-table comparison with the clean run."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from bench.soak.procs import console


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else "[green]pass[/]" if ok else "[red]FAIL[/]"


def print_tables(
    load: dict[str, Any] | None, faults: dict[str, Any] | None, info: dict[str, Any]
) -> None:
    if load:
        _print_load(load)
    if faults:
        _print_faults(faults)
    console.print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()))


def _print_load(load: dict[str, Any]) -> None:
    t = Table(
        title=f"make soak: load ({load['rows']:,} rows at {load['rate_rows_per_s']:g} rows/s)"
    )
    for c in (
        "process",
        "first MB",
        "last MB",
        "max MB",
        "2nd-half growth MB",
        "allowed MB",
        "flat",
    ):
        t.add_column(c, justify="left" if c == "process" else "right")
    for role, m in sorted(load["memory"].items()):
        t.add_row(
            role,
            *(
                str(m.get(k, "-"))
                for k in ("first_mb", "last_mb", "max_mb", "growth_mb", "allowed_mb")
            ),
            _verdict(m["flat"]),
        )
    console.print(t)
    if "broker" in load["memory"]:
        console.print(f"broker: not judged, {load['memory']['broker']['note']}")
    drain, bz = load["drain_s"], load["backlog_zero_s"]
    console.print(
        f"lag: max backlog {load['lag_max_rows']:,} rows, at replay end {load['lag_at_replay_end_rows']}, "
        f"back to zero {f'in {bz:.1f} s' if bz is not None else 'NOT reached'}, "
        f"every count reconciled {f'in {drain:.1f} s after the replay ended' if drain is not None else 'NOT reached'} "
        f"{_verdict(load['lag_zero'])}"
    )


def _print_faults(faults: dict[str, Any]) -> None:
    t = Table(
        title=f"make soak: faults ({faults['rows']:,} rows, {sum(k['killed'] for k in faults['kills'])} SIGKILLs)"
    )
    for c in ("table", "rows (clean run)", "only in clean run", "only in faulted run", "equal"):
        t.add_column(c, justify="left" if c == "table" else "right")
    for name, v in faults["tables"].items():
        equal = v["only_clean"] == 0 and v["only_faulted"] == 0
        t.add_row(
            name, f"{v['rows']:,}", str(v["only_clean"]), str(v["only_faulted"]), _verdict(equal)
        )
    console.print(t)
    console.print(
        "killed: "
        + ", ".join(
            f"{k['target']}@{k['at_s']}s" + ("" if k["killed"] else " (not running)")
            for k in faults["kills"]
        )
        + f"; stage restarts by the supervisor: {faults['stage_restarts_by_supervisor']}; "
        f"reconciles {_verdict(faults['reconciles'])}; provisional window/board records differing: {faults['provisional_diff']}"
    )
