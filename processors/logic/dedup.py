"""Bounded duplicate detection over a key-scoped state store (pure logic).

Per key, ids are kept in event-time buckets ``d:<n>`` (``{id: value}``, bucket ``n`` =
``event_ms // width``, ``width`` = horizon / ``BUCKETS``) listed with the key's max event
time in ``dd``. A bucket wholly older than ``horizon_ms`` behind that max is dropped, so an
id is remembered for at least the horizon and state is bounded by the ids within it. A
row changes one bucket and the list: a few state entries per checkpoint for a whole
batch of rows, not several per row.
"""

from __future__ import annotations

from typing import Any, Protocol

#: buckets per horizon: an id is forgotten at most horizon / BUCKETS after the horizon
BUCKETS = 8
#: state key of the key's bucket list and max event time
META = "dd"
#: state key prefix of a bucket: ``d:<n>``
BUCKET = "d:"


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
    width = max(1, horizon_ms // BUCKETS)
    meta = state.get(META)
    if meta is None:
        meta = {"max": event_ms, "b": []}
    for n in meta["b"]:
        old = state.get(f"{BUCKET}{n}").get(ident)
        if old is not None:
            return old
    n = event_ms // width
    key = f"{BUCKET}{n}"
    if n in meta["b"]:
        bucket = state.get(key)
    else:
        bucket = {}
        meta["b"].append(n)
        meta["b"].sort()
    bucket[ident] = value
    state.set(key, bucket)
    if event_ms > meta["max"]:
        meta["max"] = event_ms
        cutoff = event_ms - horizon_ms
        while meta["b"] and (meta["b"][0] + 1) * width <= cutoff:
            state.delete(f"{BUCKET}{meta['b'].pop(0)}")
    state.set(META, meta)
    return None


def remembered(state: KeyState) -> int:
    """Ids the key remembers now."""
    meta = state.get(META) or {"b": []}
    return sum(len(state.get(f"{BUCKET}{n}")) for n in meta["b"])
