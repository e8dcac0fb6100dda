"""Garbage-collector settings for the long-running processes that allocate per message."""

from __future__ import annotations

import atexit
import gc

_tuned = False


def tune_gc() -> None:
    """Once per process: freeze what exists (modules, libraries: never collected again) and
    collect the young generation every 50 k allocations instead of 700. A process handling
    thousands of messages a second allocates ~100 objects per message; with the defaults
    they reach the old generation and set off full collections that walk every live object
    (a stage's state cache, the materializer's batches) again and again. Only reference
    cycles are collected later; everything else is freed as before. At exit the frozen
    objects are handed back to the collector (or DuckDB's bindings report them as leaked)."""
    global _tuned
    if _tuned:
        return
    _tuned = True
    gc.collect()
    gc.freeze()
    atexit.register(gc.unfreeze)
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(50_000, gen1, gen2)
