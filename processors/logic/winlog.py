"""Tumbling windows kept as a row log in a key-scoped state store (pure logic).

Per key, meta ``w`` (:data:`META`) = ``{"max": {run_id: max_event_ms}, "win": {"run|start":
[n, closed, dirty]}}`` and the accepted rows in state entries ``r:run|start:i``
(:data:`ROWS`) of :data:`CHUNK` rows each (compact lists), so a row costs O(1) state
operations and a window's rows are read once when it closes.

A row whose window already closed for its key (``processors.logic.windows.is_late``) is *late*:
it is not added and the caller records it. A window is emitted once, final, when it closes
(its rows are then deleted); :func:`pending` / :func:`mark_flushed` let the caller emit the
still-open windows as provisional results (e.g. when the input is idle).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from processors.logic.dedup import KeyState
from processors.logic.windows import is_closed, window_start


@dataclass(frozen=True)
class WindowSpec:
    size_ms: int
    grace_ms: int


@dataclass(frozen=True)
class Emit:
    run_id: str
    start: int
    end: int
    rows: list[Any]
    final: bool


#: rows per state entry of the row log (fewer changelog messages than one entry per row)
CHUNK = 64
#: state key of the windows' meta (max event time per run, open windows, earliest closes)
META = "w"
#: state key prefix of the row log's chunks: ``r:<run>|<window start>:<chunk>``
ROWS = "r:"


def _chunks(n: int) -> range:
    return range((n + CHUNK - 1) // CHUNK)


def _rows(state: KeyState, wid: str, n: int) -> list[Any]:
    out: list[Any] = []
    for c in _chunks(n):
        out += state.get(f"{ROWS}{wid}:{c}")
    return out


def fresh(state_meta: dict[str, Any], run_id: str, seq: int) -> bool:
    """High-water mark on the clean stage's per (run, cluster) sequence number: False for
    a re-emitted copy (seq not above the mark), else advance the mark."""
    marks = state_meta.setdefault("seq", {})
    if seq <= marks.get(run_id, -1):
        return False
    marks[run_id] = seq
    return True


def add_row(
    state: KeyState, spec: WindowSpec, run_id: str, ts_ms: int, row: Any, seq: int | None = None
) -> tuple[bool | None, list[Emit]]:
    """Add a row; return (accepted, windows closed now). accepted False = late row,
    None = a re-emitted copy (``seq`` at or below the key's high-water mark), ignored."""
    meta = state.get(META)
    if meta is None:
        meta = {"max": {}, "win": {}}
    if seq is not None and not fresh(meta, run_id, seq):
        return None, []
    mx = meta["max"].get(run_id)
    start = window_start(ts_ms, spec.size_ms)
    win = meta["win"]
    due = meta.setdefault("due", {})  # run -> the earliest close of its open windows
    accepted = not is_closed(start, spec.size_ms, spec.grace_ms, mx)
    if accepted:
        wid = f"{run_id}|{start}"
        entry = win.get(wid)
        if entry is None:
            entry = [0, 0, 0]
            win[wid] = entry
            closes = start + spec.size_ms + spec.grace_ms
            due[run_id] = min(due.get(run_id, closes), closes)
        n = entry[0]
        chunk_key = f"{ROWS}{wid}:{n // CHUNK}"
        chunk = state.get(chunk_key) if n % CHUNK else []
        chunk.append(row)
        state.set(chunk_key, chunk)
        entry[0] += 1
        entry[2] = 1
    if mx is None or ts_ms > mx:
        mx = ts_ms
        meta["max"][run_id] = mx
    out: list[Emit] = []
    if run_id in due and due[run_id] <= mx:  # a window closes: find which
        out = _close(state, spec, meta, run_id, mx)
    state.set(META, meta)
    return accepted, out


def _close(
    state: KeyState, spec: WindowSpec, meta: dict[str, Any], run_id: str, mx: int
) -> list[Emit]:
    """Emit and forget the run's windows closed by ``mx``; update its earliest close."""
    win, out, left = meta["win"], [], []
    prefix = run_id + "|"
    for w in [w for w in win if w.startswith(prefix)]:
        ws = int(w[len(prefix) :])
        if not is_closed(ws, spec.size_ms, spec.grace_ms, mx):
            left.append(ws + spec.size_ms + spec.grace_ms)
            continue
        n = win.pop(w)[0]
        out.append(Emit(run_id, ws, ws + spec.size_ms, _rows(state, w, n), True))
        for c in _chunks(n):
            state.delete(f"{ROWS}{w}:{c}")
    out.sort(key=lambda e: e.start)  # in event-time order, whatever order they opened in
    if left:
        meta["due"][run_id] = min(left)
    else:
        del meta["due"][run_id]
    return out


def pending(state: KeyState, spec: WindowSpec) -> Iterator[Emit]:
    """Open windows with rows added since the last :func:`mark_flushed` (provisional)."""
    meta = state.get(META)
    if not meta:
        return
    for w, e in meta["win"].items():
        if not e[2]:
            continue
        run_id, _, ws_s = w.rpartition("|")
        ws = int(ws_s)
        yield Emit(run_id, ws, ws + spec.size_ms, _rows(state, w, e[0]), False)


def mark_flushed(state: KeyState) -> None:
    meta = state.get(META)
    if not meta:
        return
    changed = False
    for e in meta["win"].values():
        if e[2]:
            e[2] = 0
            changed = True
    if changed:
        state.set(META, meta)


def is_fresh(state: KeyState, run_id: str, seq: int) -> bool:
    """Read-only: would :func:`add_row` accept this ``seq`` (not a re-emitted copy)?"""
    meta = state.get(META)
    return meta is None or seq > meta.get("seq", {}).get(run_id, -1)
