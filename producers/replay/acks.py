"""Delivery tracking: which rows are acknowledged, from librdkafka's statistics."""

from __future__ import annotations

import collections
import json
from typing import Any

from confluent_kafka import KafkaError, Message


class Acks:
    """Which rows are acknowledged, without a Python delivery callback per message.

    The producer is idempotent, so each partition's messages are acknowledged in the order
    they were produced, and librdkafka's statistics report, per partition, the id of the
    last acknowledged message (``acked_msgid``: message ids count the messages produced
    to that partition, from 1). ``pending[p]`` holds the replay sequence number of every
    produced, not yet acknowledged message of partition ``p``; each statistics report
    (every :data:`STATS_MS`) drops the acknowledged ones from its front. Failures still
    come one by one: delivery reports are asked for errors only, and the first error
    freezes the progress (a later acknowledgement on the same partition may sit after
    a gap). A Python callback per message would be a large share of the replay's time."""

    STATS_MS = 50

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.pending: list[collections.deque[int]] = []
        self.produced = 0  # highest sequence handed to the producer
        self.acked = 0
        self._acked_ids: list[int] = []
        self.error: str | None = None

    def start(self, partitions: int, first: int) -> None:
        """Track ``partitions``; sequences after ``first`` (rows skipped on resume)."""
        self.pending = [collections.deque() for _ in range(partitions)]
        self.produced = first
        self._acked_ids = [0] * partitions

    def config(self) -> dict[str, Any]:
        """Producer settings that feed this tracker (on top of
        :func:`~producers.replay.loop.replay_producer_config`, whose delivery reports are
        for errors only)."""
        return {
            "statistics.interval.ms": self.STATS_MS,
            "stats_cb": self.on_stats,
            "on_delivery": self.on_delivery,
        }

    def on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None and self.error is None:
            self.error = f"delivery to {msg.topic()} [{msg.partition()}] failed: {err.str()}"

    def on_stats(self, stats_json: str) -> None:
        if self.error is not None or not self.pending:
            return
        topic = json.loads(stats_json).get("topics", {}).get(self.topic)
        if not topic:
            return
        for name, part in topic.get("partitions", {}).items():
            p = int(name)
            if not 0 <= p < len(self.pending):
                continue  # -1: librdkafka's "unassigned" pseudo-partition
            newly = int(part.get("acked_msgid", 0)) - self._acked_ids[p]
            if newly <= 0:
                continue
            self._acked_ids[p] += newly
            self.acked += newly
            d = self.pending[p]
            for _ in range(min(newly, len(d))):
                d.popleft()

    def all_acked(self) -> None:
        """After a flush that left nothing and reported no error: everything is."""
        for p, d in enumerate(self.pending):
            self._acked_ids[p] += len(d)
            self.acked += len(d)
            d.clear()

    def acked_upto(self) -> int:
        """Highest sequence s such that every sequence <= s is acknowledged."""
        fronts = [d[0] for d in self.pending if d]
        return min(fronts) - 1 if fronts else self.produced
