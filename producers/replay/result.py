"""What a replay returns, and the error it raises when it cannot complete."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


class ReplayError(RuntimeError):
    """The replay could not complete (delivery failed, resume mismatch)."""


@dataclass
class ReplaySummary:
    run_id: str
    source: str
    topic: str
    rows_read: int = 0
    rows_sent: int = 0
    rows_rejected: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    rows_per_s: float = 0.0
    resumed_from: int = 0
    stopped: bool = False
    sorted: bool = False  # True when the source was not already in replay order

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
