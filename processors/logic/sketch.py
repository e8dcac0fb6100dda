"""A mergeable log-bucket quantile sketch (the DDSketch scheme) for fleet roll-ups.

Values > 0 go to bucket ``i = ceil(log(x) / log(gamma))`` with
``gamma = (1 + alpha) / (1 - alpha)``; a bucket is represented by ``2 gamma^i / (gamma + 1)``,
which is within relative error ``alpha`` of every value in it. Zeros are counted apart.
:func:`quantile` returns the representative of the bucket holding the value of 0-based
rank ``floor(q * (n - 1))`` in sorted order, so it is within ``alpha`` (relative) of that
exact value ("lower" quantile). Sketches merge by adding bucket counts: exact for any split.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

ALPHA = 0.01
_GAMMA = (1 + ALPHA) / (1 - ALPHA)
_LOG_GAMMA = math.log(_GAMMA)

Sketch = dict[str, int]  # bucket index (str, JSON friendly; "z" = zeros) -> count


def bucket(x: float) -> str:
    if x <= 0:
        return "z"
    return str(math.ceil(math.log(x) / _LOG_GAMMA))


#: bucket of each value seen (latencies are whole ms, most of them repeat), bounded
_BUCKETS: dict[float, str] = {}
_MAX_BUCKETS = 100_000


def build(values: Iterable[float]) -> Sketch:
    out: Sketch = {}
    memo = _BUCKETS
    for x in values:
        b = memo.get(x)
        if b is None:
            b = bucket(x)
            if len(memo) < _MAX_BUCKETS:
                memo[x] = b
        out[b] = out.get(b, 0) + 1
    return out


def merge(sketches: Iterable[Sketch]) -> Sketch:
    out: Sketch = {}
    for s in sketches:
        for b, n in s.items():
            out[b] = out.get(b, 0) + n
    return out


def quantile(s: Sketch, q: float) -> float | None:
    return quantiles(s, (q,))[0]


def quantiles(s: Sketch, qs: tuple[float, ...]) -> list[float | None]:
    """:func:`quantile` of each of ``qs`` (ascending), in one pass over the sorted buckets."""
    n = sum(s.values())
    if n == 0:
        return [None] * len(qs)
    ranks = [math.floor(q * (n - 1)) for q in qs]
    out: list[float | None] = []
    seen = s.get("z", 0)
    i = 0
    while i < len(ranks) and ranks[i] < seen:
        out.append(0.0)
        i += 1
    if i < len(ranks):
        for b in sorted(int(k) for k in s if k != "z"):
            seen += s[str(b)]
            while i < len(ranks) and ranks[i] < seen:
                out.append(2 * _GAMMA**b / (_GAMMA + 1))
                i += 1
            if i == len(ranks):
                break
    if i < len(ranks):
        raise AssertionError("unreachable")  # pragma: no cover
    return out
