"""make bench's Markdown report (pure: no broker)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bench.brokers import with_broker
from bench.report import broker_line, compare_table, markdown_table, median, metric, rounds
from common.settings import Settings


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


def test_rounds_measure_every_variant_each_round_starting_one_later() -> None:
    order: list[str] = []

    def variant(name: str) -> Callable[[], dict[str, float]]:
        def run() -> dict[str, float]:
            order.append(name)
            return {name: float(len(order)), f"{name}_peak": 1.0}

        return run

    r = rounds(3, {v: variant(v) for v in "abc"})
    assert order == list("abcbcacab")
    assert r["a"] == [1.0, 6.0, 8.0] and r["c"] == [3.0, 5.0, 7.0]
    assert r["b_peak"] == [1.0, 1.0, 1.0]
    assert median([5.0, 1.0, 3.0]) == 3.0
    assert metric(3.0, "rows/s", 2.0, runs=[1.0, 3.0, 5.0])["runs"] == [1.0, 3.0, 5.0]


def test_the_broker_is_named_in_the_markdown_and_older_results_still_print() -> None:
    result = {
        "machine": {"cores": 2},
        "broker": {"kind": "kafka", "version": "4.1.1", "local": True, "bootstrap": None},
        "metrics": {"view_p95_ms": metric(67.5, "ms")},
    }
    assert "Broker: Apache Kafka 4.1.1 (local, started by the bench)." in markdown_table(result)
    assert broker_line({"broker": {"kind": "tansu", "version": None, "local": False}}) == (
        "Tansu (configured)"
    )
    del result["broker"]
    assert "Broker:" not in markdown_table(result)


def test_the_bench_measures_kafka_unless_told_tansu() -> None:
    auto = Settings().with_(embedded_broker="auto")
    assert with_broker(auto, None).embedded_broker == "kafka"
    assert with_broker(auto, "tansu").embedded_broker == "tansu"
    assert with_broker(auto.with_(embedded_broker="tansu"), None).embedded_broker == "tansu"
    with pytest.raises(ValueError, match="--broker 'auto'"):
        with_broker(auto, "auto")


def test_compare_puts_results_side_by_side_with_their_ratios() -> None:
    def result(kind: str, chain: float) -> dict[str, Any]:
        return {
            "machine": {},
            "broker": {"kind": kind, "version": "1", "local": True},
            "metrics": {"chain_sustained_rows_per_s": metric(chain, "rows/s", 1000.0)},
        }

    only_kafka = result("kafka", 500.0)
    only_kafka["metrics"]["view_p95_ms"] = metric(60.0, "ms")
    lines = compare_table({"k": only_kafka, "t": result("tansu", 100.0)}).splitlines()
    assert lines[0] == "| metric | k | ratio | t | ratio | unit |"
    assert lines[2] == (
        "| `chain_sustained_rows_per_s` | 500.0 | 0.5 (of 1,000.0) | 100.0 | 0.1 (of 1,000.0) "
        "| rows/s |"
    )
    assert lines[3] == "| `view_p95_ms` | 60.0 | - | - | - | ms |"
    assert lines[-1] == "t: Tansu 1 (local, started by the bench)."
