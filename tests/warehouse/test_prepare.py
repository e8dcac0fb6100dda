"""Materializer.prepare/apply on fake messages: tombstones and offsets (no broker)."""

from __future__ import annotations

import json

from common.settings import Settings
from processors.warehouse.materializer import Materializer
from processors.warehouse.store import Warehouse


class _Msg:
    def __init__(self, topic: str, partition: int, offset: int, value: bytes | None) -> None:
        self._t, self._p, self._o, self._v = topic, partition, offset, value

    def topic(self) -> str:
        return self._t

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def value(self) -> bytes | None:
        return self._v


def _clean(i: int) -> bytes:
    return json.dumps({"query_key": f"r/c/{i}", "run_id": "r", "arrival_us": i}).encode()


def test_a_tombstone_is_passed_its_offset_stored_and_said() -> None:
    s = Settings()
    wh = Warehouse.open(":memory:")
    mat = Materializer(s, wh, ["clean"])
    t = s.topic("clean")
    msgs = [_Msg(t, 0, 0, _clean(1)), _Msg(t, 0, 1, None), _Msg(t, 1, 5, _clean(2))]
    mat.write(msgs)
    assert wh.scalar("SELECT count(*) FROM clean_queries") == 2
    assert mat.stored_offsets() == {(t, 0): 2, (t, 1): 6}
    assert any("without a value" in n for n in mat.stats.notices)
    mat.write([_Msg(t, 0, 2, None)])  # a batch of tombstones only
    assert mat.stored_offsets()[(t, 0)] == 3
    assert wh.scalar("SELECT count(*) FROM clean_queries") == 2
