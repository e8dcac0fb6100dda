"""Backend helpers: materializer lag against the broker, and the timing helper."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from common.kafka_config import producer_config
from common.settings import Settings
from dashboards.data import AGGREGATE_TOPICS, Backend
from dashboards.queries import Data
from dashboards.timing import time_script_run
from warehouse.materializer import Materializer
from warehouse.store import Warehouse


@pytest.mark.integration
def test_materializer_lag_counts_unmaterialized_messages(topics: Settings) -> None:
    wh = Warehouse.open(":memory:")
    mat = Materializer(topics, wh, topics=AGGREGATE_TOPICS, group=topics.group("lag-test"))
    be = Backend(wh, Data(wh), mat, topics)
    try:
        assert be.materializer_lag(max_age_s=0) == {t: 0 for t in AGGREGATE_TOPICS}
        # one message per batch: the embedded broker's high watermark is then exact
        one_per_batch: dict[str, Any] = {"batch.num.messages": 1, "linger.ms": 0}
        p = Producer(producer_config(topics, **one_per_batch))
        for i in range(7):
            p.produce(topics.topic("raw"), key=f"k{i}".encode(), value=b"{}")
            p.flush(30)
        lag = be.materializer_lag(max_age_s=0)
        assert lag is not None
        assert lag["raw"] == 7
        assert sum(lag.values()) == 7
        # memoized within max_age_s: the same answer without asking the broker
        assert be.materializer_lag(max_age_s=600) == lag
    finally:
        if be._consumer is not None:
            be._consumer.close()
        wh.close()


def test_no_materializer_means_no_lag() -> None:
    wh = Warehouse.open(":memory:")
    try:
        assert Backend(wh, Data(wh), None, Settings.from_env()).materializer_lag() is None
    finally:
        wh.close()


def test_time_script_run_times_every_run(filled_db: str) -> None:
    times = time_script_run("aggregate", filled_db, runs=2, cached=False)
    assert len(times) == 2
    assert all(t > 0 for t in times)


def test_time_script_run_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.duckdb"):
        time_script_run("expert", str(tmp_path / "nope.duckdb"))
