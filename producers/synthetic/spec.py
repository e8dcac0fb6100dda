"""What to generate (:class:`SyntheticSpec`, also the ``synthetic:...`` SOURCE text) and
what comes out (:class:`SyntheticData`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import pyarrow as pa

from producers.synthetic.calibration import NULL_RATES

PREFIX = "synthetic:"


@dataclass(frozen=True)
class SyntheticSpec:
    rows: int = 100_000
    seed: int = 0
    clusters: int = 20
    kind: str = "provisioned"  # provisioned | serverless | mixed
    start: str = "2024-03-01"
    days: float = 7.0
    error_rate: float = 0.0
    duplicate_rate: float = 0.0
    nulls: float = 1.0  # multiplier of NULL_RATES

    def __post_init__(self) -> None:
        if self.kind not in ("provisioned", "serverless", "mixed"):
            raise ValueError(
                f"synthetic kind must be provisioned, serverless or mixed, not {self.kind!r}"
            )
        if self.rows < 0 or self.clusters < 1 or self.days <= 0:
            raise ValueError("synthetic rows >= 0, clusters >= 1 and days > 0 are required")
        if not (0 <= self.error_rate < 1 and 0 <= self.duplicate_rate < 1):
            raise ValueError("synthetic error_rate and duplicate_rate must be in [0, 1)")
        if not 0 <= self.nulls * max(NULL_RATES.values()) <= 1:
            raise ValueError(
                f"synthetic nulls must be in [0, {1 / max(NULL_RATES.values()):g}] "
                "(a multiplier of the real files' NULL rates)"
            )

    @classmethod
    def parse(cls, text: str) -> SyntheticSpec:
        """Parse ``synthetic:rows=200000,seed=7,error_rate=0.01`` (the prefix is optional)."""
        body = text[len(PREFIX) :] if text.startswith(PREFIX) else text
        types: dict[str, Any] = {f.name: type(f.default) for f in fields(cls)}
        values: dict[str, object] = {}
        for part in filter(None, (p.strip() for p in body.split(","))):
            key, sep, raw = part.partition("=")
            if not sep or key not in types:
                raise ValueError(
                    f"bad synthetic spec item {part!r}: expected key=value with key in {sorted(types)}"
                )
            try:
                values[key] = types[key](raw)
            except ValueError as e:
                raise ValueError(f"bad synthetic spec value {part!r}: {e}") from e
        return cls(**values)  # type: ignore[arg-type]

    def to_string(self) -> str:
        default = SyntheticSpec()
        items = [
            f"{k}={v}" for k, v in asdict(self).items() if v != getattr(default, k) or k == "rows"
        ]
        return PREFIX + ",".join(items)


@dataclass
class SyntheticData:
    table: pa.Table  # the 24 Redset columns, in replay order
    injected: pa.Table  # row (1-based), kind, field, duplicate_of (row or null)
    spec: SyntheticSpec
