"""The materializer's consumed positions, kept in the warehouse's ``kafka_offsets`` table
(never in consumer-group commits): a batch's next offsets are written in the same DuckDB
transaction as its rows, so both commit or neither."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, TopicPartition

from common.broker_identity import StoredOffset
from warehouse.store import Warehouse

#: (full topic name, partition)
Partition = tuple[str, int]


class OffsetStore:
    """The next offsets of consumer ``consumer`` for ``topics`` (full topic names)."""

    def __init__(self, warehouse: Warehouse, consumer: str, topics: Collection[str]) -> None:
        self.warehouse = warehouse
        self.consumer = consumer
        self.topics = topics

    def stored(self) -> dict[Partition, StoredOffset]:
        """Each partition's stored next offset, with the cluster id it was consumed from."""
        cur = self.warehouse.cursor()
        try:
            rows = cur.execute(
                'SELECT topic, "partition", next_offset, cluster_id FROM kafka_offsets '
                "WHERE consumer = ?",
                [self.consumer],
            ).fetchall()
        finally:
            cur.close()
        return {
            (str(t), int(p)): StoredOffset(int(o), None if c is None else str(c))
            for t, p, o, c in rows
            if str(t) in self.topics
        }

    def next_offsets(self) -> dict[Partition, int]:
        """(topic, partition) -> stored next offset."""
        return {tp: so.next_offset for tp, so in self.stored().items()}

    def save(self, cur: Any, offsets: Mapping[Partition, int], cluster_id: str | None) -> None:
        """Store ``offsets`` on ``cur``, inside the transaction that writes their rows."""
        cur.executemany(
            "INSERT OR REPLACE INTO kafka_offsets "
            '(consumer, topic, "partition", next_offset, updated_at, cluster_id) '
            "VALUES (?, ?, ?, ?, now(), ?)",
            [[self.consumer, t, p, o, cluster_id] for (t, p), o in offsets.items()],
        )

    def forget(self, partitions: Iterable[Partition]) -> None:
        """Drop the stored offsets of ``partitions`` (they are read again from their start)."""
        with self.warehouse.transaction() as cur:
            cur.executemany(
                'DELETE FROM kafka_offsets WHERE consumer = ? AND topic = ? AND "partition" = ?',
                [[self.consumer, t, p] for t, p in sorted(partitions)],
            )

    def new_assignments(self, metadata: Any, assigned: set[Partition]) -> list[TopicPartition]:
        """The partitions of the store's topics in ``metadata`` not in ``assigned`` yet, each
        at its stored next offset (unknown partitions at their beginning); adds them to
        ``assigned``."""
        stored = self.next_offsets()
        new = []
        for topic in self.topics:
            if topic not in metadata.topics:
                continue
            for p in metadata.topics[topic].partitions:
                if (topic, p) not in assigned:
                    new.append(TopicPartition(topic, p, stored.get((topic, p), OFFSET_BEGINNING)))
                    assigned.add((topic, p))
        return new
