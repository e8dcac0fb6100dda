"""make bench's Markdown report (pure: no broker)."""

from __future__ import annotations

from bench.__main__ import markdown_table, median, metric, rounds


def test_markdown_table_lists_every_metric_with_its_baseline() -> None:
    result = {
        "machine": {"cores": 2, "duckdb": "2.0.0"},
        "metrics": {
            "chain_rows_per_s": metric(174.1, "rows/s", 46_181.6),
            "view_p95_ms": metric(67.5, "ms"),
            "replay_rows_per_s": metric(2.0, "rows/s", 4.0, runs=[1.0, 2.0, 3.5]),
        },
        "notes": ["freshness: only 0.8 of rows seen"],
    }
    lines = markdown_table(result).splitlines()
    assert lines[2] == "| `chain_rows_per_s` | 174.1 | rows/s | 46,181.6 | 0.0038 |"
    assert lines[3] == "| `view_p95_ms` | 67.5 | ms | - | - |"
    assert lines[4] == "| `replay_rows_per_s` | 2.0 | rows/s; runs 1 / 2 / 4 | 4.0 | 0.5 |"
    assert "Machine: cores 2, duckdb 2.0.0." in lines
    assert lines[-1] == "Note: freshness: only 0.8 of rows seen"


def test_rounds_interleave_every_variant_and_median_is_middle() -> None:
    calls: list[str] = []

    def measure() -> dict[str, float]:
        calls.append("round")
        return {"a": float(len(calls)), "b": 10.0 * len(calls)}

    r = rounds(3, measure)
    assert r == {"a": [1.0, 2.0, 3.0], "b": [10.0, 20.0, 30.0]}
    assert median([5.0, 1.0, 3.0]) == 3.0
    assert metric(3.0, "rows/s", 2.0, runs=[1.0, 3.0, 5.0])["runs"] == [1.0, 3.0, 5.0]
