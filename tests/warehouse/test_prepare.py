"""Materializer.prepare/apply on fake messages: tombstones and offsets (no broker)."""

from __future__ import annotations

import json

from common.settings import Settings
from warehouse.materializer import Materializer
from warehouse.store import Warehouse

from .conftest import FakeMessage


def _clean(i: int) -> bytes:
    return json.dumps({"query_key": f"r/c/{i}", "run_id": "r", "arrival_us": i}).encode()


def test_a_tombstone_is_passed_its_offset_stored_and_said() -> None:
    s = Settings()
    wh = Warehouse.open(":memory:")
    mat = Materializer(s, wh, ["clean"])
    t = s.topic("clean")
    msgs = [
        FakeMessage(t, _clean(1), 0),
        FakeMessage(t, None, 1),
        FakeMessage(t, _clean(2), 5, None, 1),
    ]
    mat.write(msgs)
    assert wh.scalar("SELECT count(*) FROM clean_queries") == 2
    assert mat.stored_offsets() == {(t, 0): 2, (t, 1): 6}
    assert any("without a value" in n for n in mat.stats.notices)
    mat.write([FakeMessage(t, None, 2)])  # a batch of tombstones only
    assert mat.stored_offsets()[(t, 0)] == 3
    assert wh.scalar("SELECT count(*) FROM clean_queries") == 2
