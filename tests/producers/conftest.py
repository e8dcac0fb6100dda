from __future__ import annotations

import json
import time
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from common.kafka_config import consumer_config
from common.settings import Settings


def read_all(settings: Settings, topic: str, expected: int, timeout_s: float = 60.0) -> list[Any]:
    """Read a topic from the beginning (assign, no group join) until ``expected`` messages."""
    c = Consumer(consumer_config(settings, "reader"))
    md = c.list_topics(topic, timeout=10).topics[topic]
    c.assign([TopicPartition(topic, p, 0) for p in md.partitions])
    out: list[Any] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(out) < expected and time.monotonic() < deadline:
            for m in c.consume(10000, 0.5):
                if not m.error():
                    out.append(m)
        # anything beyond the expected count is also collected (there must be none)
        for m in c.consume(10000, 1.0):
            if not m.error():
                out.append(m)
    finally:
        c.close()
    return out


def value(m: Any) -> dict[str, Any]:
    return json.loads(m.value())
