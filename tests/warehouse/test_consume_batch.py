"""The materializer's batch fetch (Materializer._consume_batch) against a fake consumer."""

from __future__ import annotations

import time
from typing import Any

from common.settings import Settings
from warehouse import materializer
from warehouse.materializer import Materializer
from warehouse.store import Warehouse


class _Msg:
    def __init__(self, i: int, error: object = None) -> None:
        self.i, self._error = i, error

    def error(self) -> object:
        return self._error


class _Consumer:
    """Holds ``available`` messages (every 7th an error event); records each call."""

    def __init__(self, available: int) -> None:
        self.left = [_Msg(i, "partition EOF" if i % 7 == 6 else None) for i in range(available)]
        self.calls: list[tuple[int, float]] = []

    def consume(self, n: int, timeout: float) -> list[Any]:
        self.calls.append((n, timeout))
        got, self.left = self.left[:n], self.left[n:]
        if not got:
            time.sleep(timeout)
        return got


def _materializer(batch_size: int) -> Materializer:
    return Materializer(Settings(), Warehouse.open(":memory:"), ["clean"], batch_size=batch_size)


def test_a_full_batch_in_slices_without_error_events() -> None:
    c = _Consumer(50_000)
    got = _materializer(20_000)._consume_batch(c)
    assert all(n <= materializer._SLICE for n, _ in c.calls)
    # error events are dropped and the batch filled with the next messages, never overfilled
    assert [m.i for m in got] == [i for i in range(50_000) if i % 7 != 6][:20_000]


def test_a_short_supply_returns_what_there_is_within_the_deadline() -> None:
    c = _Consumer(4_500)
    mat = _materializer(20_000)
    t0 = time.monotonic()
    got = mat._consume_batch(c)
    assert time.monotonic() - t0 < 0.5
    assert len(got) == sum(1 for i in range(4_500) if i % 7 != 6)
    assert all(0 < timeout <= 0.2 for _, timeout in c.calls)
