"""Event-time tumbling windows: assignment, closing and lateness (pure logic).

A window is ``[start, end)`` in epoch ms with ``start`` a multiple of its size since the
epoch. For one key, a window *closes* once the key has seen an event time
``>= end + grace``; a row is *late* when its window has already closed for its key,
i.e. ``end + grace <= max event time seen before it``. Everything is per key and
deterministic given the key's order in its partition.
"""

from __future__ import annotations


def window_start(ts_ms: int, size_ms: int) -> int:
    """Start of the tumbling window holding ``ts_ms`` (floor, also for negative ts)."""
    return ts_ms - (ts_ms % size_ms)


def window_bounds(ts_ms: int, size_ms: int) -> tuple[int, int]:
    start = window_start(ts_ms, size_ms)
    return start, start + size_ms


def is_closed(start_ms: int, size_ms: int, grace_ms: int, max_seen_ms: int | None) -> bool:
    """True once the key's max event time has reached ``end + grace``."""
    return max_seen_ms is not None and start_ms + size_ms + grace_ms <= max_seen_ms


def is_late(ts_ms: int, size_ms: int, grace_ms: int, max_seen_ms: int | None) -> bool:
    """True if the row's window was already closed before the row arrived."""
    return is_closed(window_start(ts_ms, size_ms), size_ms, grace_ms, max_seen_ms)
