"""Bounded duplicate detection over a key-scoped state store (pure logic).

Per key: ``s:<id>`` holds the value recorded for an id (e.g. its provenance), and a FIFO
ring ``i:<n>`` of ``[id, event_ms]`` in insertion order with head/tail counters and the
key's max event time in ``ring``. Entries older than ``horizon_ms`` behind the max event
time are evicted (at most ``EVICT_PER_CALL`` per call, amortized O(1)), so state is
bounded by the number of ids within the horizon, not by the stream length.
"""

from __future__ import annotations

from typing import Any, Protocol

EVICT_PER_CALL = 4


class KeyState(Protocol):
    """The subset of ``quixstreams.State`` used here (a dict-backed fake works too)."""

    def get(self, key: Any, default: Any = None) -> Any: ...

    def set(self, key: Any, value: Any) -> None: ...

    def delete(self, key: Any) -> None: ...


class DictState:
    """In-memory KeyState, for tests and for pure use."""

    def __init__(self) -> None:
        self.data: dict[Any, Any] = {}

    def get(self, key: Any, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: Any, value: Any) -> None:
        self.data[key] = value

    def delete(self, key: Any) -> None:
        self.data.pop(key, None)


def seen_or_add(state: KeyState, ident: str, event_ms: int, value: Any, horizon_ms: int) -> Any:
    """Return the value stored for ``ident`` if seen within the horizon, else record it
    (with ``value``) and return None."""
    ring = state.get("ring")
    if ring is None:
        ring = [0, 0, event_ms]
    head, tail, mx = ring
    if event_ms > mx:
        mx = event_ms
    old = state.get("s:" + ident)
    if old is None:
        state.set("s:" + ident, value)
        state.set(f"i:{tail}", [ident, event_ms])
        tail += 1
    evicted = 0
    cutoff = mx - horizon_ms
    while head < tail and evicted < EVICT_PER_CALL:
        entry = state.get(f"i:{head}")
        if entry is None:
            head += 1
            continue
        if entry[1] >= cutoff:
            break
        state.delete("s:" + entry[0])
        state.delete(f"i:{head}")
        head += 1
        evicted += 1
    state.set("ring", [head, tail, mx])
    return old
