"""make bench's Markdown report (pure: no broker)."""

from __future__ import annotations

from bench.__main__ import markdown_table, metric


def test_markdown_table_lists_every_metric_with_its_baseline() -> None:
    result = {
        "machine": {"cores": 2, "duckdb": "2.0.0"},
        "metrics": {
            "chain_rows_per_s": metric(174.1, "rows/s", 46_181.6),
            "view_p95_ms": metric(67.5, "ms"),
        },
        "notes": ["freshness: only 0.8 of rows seen"],
    }
    lines = markdown_table(result).splitlines()
    assert lines[2] == "| `chain_rows_per_s` | 174.1 | rows/s | 46,181.6 | 0.0038 |"
    assert lines[3] == "| `view_p95_ms` | 67.5 | ms | - | - |"
    assert "Machine: cores 2, duckdb 2.0.0." in lines
    assert lines[-1] == "Note: freshness: only 0.8 of rows seen"
