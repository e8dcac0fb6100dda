"""Delivery tracking (producers.replay.acks): pure logic, no broker."""

from __future__ import annotations

import json
import random

from confluent_kafka import KafkaError
from hypothesis import given, settings
from hypothesis import strategies as st

from producers.replay.acks import Acks


class _Msg:
    def __init__(self, partition: int) -> None:
        self._p = partition

    def partition(self) -> int:
        return self._p

    def topic(self) -> str:
        return "raw"


def _stats(acked_ids: list[int]) -> str:
    """A librdkafka statistics report as far as Acks reads it (with the "-1"
    pseudo-partition librdkafka adds)."""
    parts = {str(p): {"acked_msgid": n} for p, n in enumerate(acked_ids)}
    parts["-1"] = {"acked_msgid": 0}
    return json.dumps({"topics": {"raw": {"partitions": parts}, "other": {"partitions": {}}}})


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 4), st.lists(st.integers(0, 3), min_size=1, max_size=60), st.randoms())
def test_acked_upto_is_the_contiguous_prefix(
    partitions: int, parts: list[int], rnd: random.Random
) -> None:
    """Per partition acknowledgements come in order, across partitions in any interleaving
    and any grouping into statistics reports; acked_upto is always the highest s with
    every sequence <= s acknowledged."""
    first = 10  # resumed run: sequences start after 10
    acks = Acks("raw")
    acks.start(partitions, first)
    queues: list[list[int]] = [[] for _ in range(partitions)]
    for i, p in enumerate(parts, start=first + 1):
        acks.pending[p % partitions].append(i)
        queues[p % partitions].append(i)
    acks.produced = first + len(parts)
    delivered: set[int] = set()
    acked_ids = [0] * partitions
    assert acks.acked_upto() == first
    while any(queues):
        # one report acknowledges one or more further messages of one or more partitions
        for p in {rnd.choice([k for k, q in enumerate(queues) if q]), rnd.randrange(partitions)}:
            take = rnd.randint(1, len(queues[p])) if queues[p] else 0
            delivered.update(queues[p][:take])
            del queues[p][:take]
            acked_ids[p] += take
        acks.on_stats(_stats(acked_ids))
        acks.on_stats(_stats(acked_ids))  # a repeated report changes nothing
        s = first
        while s + 1 in delivered:
            s += 1
        assert acks.acked_upto() == s
        assert acks.acked == len(delivered)
    assert acks.acked == len(parts) and acks.acked_upto() == first + len(parts)


def test_a_delivery_error_freezes_progress() -> None:
    """After a failed message, later acknowledgements on its partition may sit behind a
    gap: the checkpoint must not move past the failure."""
    acks = Acks("raw")
    acks.start(2, 0)
    for seq, p in enumerate([0, 1, 0, 1, 0], start=1):
        acks.pending[p].append(seq)
    acks.produced = 5
    acks.on_stats(_stats([1, 0]))
    assert acks.acked_upto() == 1
    acks.on_delivery(KafkaError(KafkaError._MSG_TIMED_OUT), _Msg(1))  # message 2 failed
    acks.on_stats(_stats([3, 2]))  # the broker took later ones
    assert acks.acked_upto() == 1
    assert acks.error is not None and "raw [1]" in acks.error
