"""Tumbling windows kept as a row log in a key-scoped state store (pure logic).

Per key, meta ``w`` = ``{"max": {run_id: max_event_ms}, "win": {"run|start": [n, closed,
dirty]}}`` and one state entry ``r:run|start:i`` per accepted row (a compact list), so a
row costs O(1) state operations and a window is read once when it closes.

Two modes:

* ``reopen=False`` (per-cluster windows): a row whose window already closed for its key
  is *late*: it is not added, the caller records it. A closed window's rows are deleted.
* ``reopen=True`` (fleet and leaderboard windows, fed from several partitions whose
  interleaving is not deterministic): a closed window keeps its rows until
  ``end + grace + horizon``; a row for it reopens it (the window is emitted again, same
  identity, so downstream upserts converge). Only rows beyond the horizon are late.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from processors.dedup import KeyState
from processors.windows import is_closed, window_start


@dataclass(frozen=True)
class WindowSpec:
    size_ms: int
    grace_ms: int
    reopen: bool = False
    horizon_ms: int = 0


@dataclass(frozen=True)
class Emit:
    run_id: str
    start: int
    end: int
    rows: list[Any]
    final: bool


def _rows(state: KeyState, wid: str, n: int) -> list[Any]:
    return [state.get(f"r:{wid}:{i}") for i in range(n)]


def add_row(
    state: KeyState, spec: WindowSpec, run_id: str, ts_ms: int, row: Any
) -> tuple[bool, list[Emit]]:
    """Add a row; return (accepted, windows to emit now). accepted False = late."""
    meta = state.get("w")
    if meta is None:
        meta = {"max": {}, "win": {}}
    mx = meta["max"].get(run_id)
    start = window_start(ts_ms, spec.size_ms)
    wid = f"{run_id}|{start}"
    win = meta["win"]
    entry = win.get(wid)
    accepted = True
    if spec.reopen:
        if entry is None and is_closed(start, spec.size_ms, spec.grace_ms + spec.horizon_ms, mx):
            accepted = False
    elif is_closed(start, spec.size_ms, spec.grace_ms, mx):
        accepted = False
    if accepted:
        if entry is None:
            entry = [0, 0, 0]
            win[wid] = entry
        state.set(f"r:{wid}:{entry[0]}", row)
        entry[0] += 1
        entry[2] = 1
    if mx is None or ts_ms > mx:
        mx = ts_ms
        meta["max"][run_id] = mx
    out: list[Emit] = []
    prefix = run_id + "|"
    for w in [w for w in win if w.startswith(prefix)]:
        e = win[w]
        ws = int(w[len(prefix) :])
        if not is_closed(ws, spec.size_ms, spec.grace_ms, mx):
            continue
        if not e[1] or e[2]:
            out.append(Emit(run_id, ws, ws + spec.size_ms, _rows(state, w, e[0]), True))
            e[1], e[2] = 1, 0
        if not spec.reopen or is_closed(ws, spec.size_ms, spec.grace_ms + spec.horizon_ms, mx):
            for i in range(e[0]):
                state.delete(f"r:{w}:{i}")
            del win[w]
    state.set("w", meta)
    return accepted, out


def pending(state: KeyState, spec: WindowSpec) -> Iterator[Emit]:
    """Windows whose latest content was not emitted yet (read only): open windows as
    provisional (final False), reopened closed windows as final."""
    meta = state.get("w")
    if not meta:
        return
    for w, e in meta["win"].items():
        if not e[2]:
            continue
        run_id, _, ws_s = w.rpartition("|")
        ws = int(ws_s)
        yield Emit(run_id, ws, ws + spec.size_ms, _rows(state, w, e[0]), bool(e[1]))
