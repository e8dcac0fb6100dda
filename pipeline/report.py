"""The reconciliation report of a finished run: the counts that must agree between the
replay and every warehouse table (pure SQL), and the table ``pipeline.experiment`` prints."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from producers.replay import ReplaySummary
from warehouse.store import Warehouse


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
        # the first check reads "value = expected" the other way round: the replay's count
        # is the expectation, the warehouse's the value
        first = c.name.startswith("rows read")
        value, expected = (
            (c.right, f"{c.left:,}") if first else (c.left, f"{c.right:,} ({c.detail})")
        )
        t.add_row(c.name, f"{value:,}", expected, "[green]ok[/]" if c.ok else "[red]MISMATCH[/]")
    out.print(t)
