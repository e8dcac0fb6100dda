"""The table writers (warehouse.writers) on their own: setup, and the window upsert."""

from __future__ import annotations

import json

import duckdb
import pytest

from common.settings import TOPIC_NAMES
from warehouse.store import Warehouse
from warehouse.writers.registry import WRITERS
from warehouse.writers.windows import WindowWriter


def test_a_writer_for_every_topic_and_its_tables_exist() -> None:
    assert set(WRITERS) == set(TOPIC_NAMES)
    cur = Warehouse.open(":memory:").cursor()
    for make in WRITERS.values():
        make().setup(cur)


def test_setup_names_a_missing_table() -> None:
    cur = duckdb.connect()
    cur.execute("CREATE TABLE query_metrics (run_id VARCHAR)")
    with pytest.raises(RuntimeError, match="no table late_rows"):
        WindowWriter("query_metrics").setup(cur)


class _Msg:
    def __init__(self, value: dict) -> None:
        self._v = json.dumps(value).encode()

    def value(self) -> bytes:
        return self._v


def _window(cluster: str, queries: int, final: bool) -> _Msg:
    return _Msg(
        {
            "run_id": "r",
            "cluster": cluster,
            "window_start": 0,
            "window_end": 60_000,
            "final": final,
            "queries": queries,
        }
    )


@pytest.mark.parametrize("one_batch", [True, False])
def test_final_window_kept_but_fleet_roll_up_takes_its_newest_emission(one_batch: bool) -> None:
    """A cluster's final window is never replaced by a running record (a redelivered older
    emission). The fleet roll-up is: a sparse cluster's provisional partial can arrive after
    every other cluster closed the window, and the newest merge is the most complete (found
    by make soak: the fleet missed one query of such a window)."""
    wh = Warehouse.open(":memory:")
    seq = [
        _window("c1", 5, True),
        _window("fleet", 5, True),
        _window("c1", 4, False),
        _window("fleet", 6, False),
    ]
    writer = WindowWriter("query_metrics")
    cur = wh.cursor()
    for batch in [seq] if one_batch else [seq[:2], seq[2:]]:
        writer.write(cur, writer.prepare(batch))
    got = wh.query(
        "SELECT cluster, final, (payload->>'queries')::INT AS q FROM query_metrics ORDER BY 1"
    )
    assert got.values.tolist() == [["c1", True, 5], ["fleet", False, 6]]
