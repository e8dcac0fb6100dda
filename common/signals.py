"""Stopping commands that start child processes."""

from __future__ import annotations

import signal


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def interrupt_on(*signums: signal.Signals) -> None:
    """Make these signals (e.g. SIGTERM) stop the command like Ctrl-C: KeyboardInterrupt
    unwinds its ``finally`` blocks, which stop its children by PID, then the broker."""
    for s in signums:
        signal.signal(s, _interrupt)
