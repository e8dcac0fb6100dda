"""Handing items between threads without ever blocking a stopped pipeline."""

from __future__ import annotations

import queue
import threading
from typing import Any


def put_until_stopped(
    q: queue.Queue[Any], item: Any, stop: threading.Event, wait_s: float = 0.2
) -> bool:
    """Put ``item``, waiting ``wait_s`` at a time while ``q`` is full; give up (False) once
    ``stop`` is set, so a consumer that stopped reading never leaves the producer blocked."""
    while not stop.is_set():
        try:
            q.put(item, timeout=wait_s)
            return True
        except queue.Full:
            continue
    return False
