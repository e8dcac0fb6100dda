"""Test helpers: read whole topics without a consumer group, produce RAW_DATA rows."""

from __future__ import annotations

import json
import time
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from common.kafka_config import consumer_config, producer_config
from common.settings import Settings


def read_topic(
    settings: Settings,
    name: str,
    *,
    idle_s: float = 3.0,
    timeout_s: float = 120.0,
    **extra: Any,
) -> list[tuple[str | None, Any, int]]:
    """All messages of a full topic name as (key, json value, timestamp ms); stops after
    ``idle_s`` without a message. ``extra``: consumer properties (``isolation.level``)."""
    conf = consumer_config(settings, "unused-assign-only", **extra)
    c = Consumer(conf)
    md = c.list_topics(name, timeout=settings.connect_timeout_s)
    parts = list(md.topics[name].partitions) if name in md.topics else []
    c.assign([TopicPartition(name, p, 0) for p in parts])
    out: list[tuple[str | None, Any, int]] = []
    last = time.monotonic()
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() - last < idle_s and time.monotonic() < deadline:
            msgs = c.consume(10000, 0.5)
            for m in msgs:
                if m.error():
                    continue
                k = m.key()
                out.append(
                    (k.decode() if k is not None else None, json.loads(m.value()), m.timestamp()[1])
                )
            if msgs:
                last = time.monotonic()
    finally:
        c.close()
    return out


def produce_values(
    settings: Settings, name: str, items: list[tuple[str | None, dict[str, Any], int]]
) -> None:
    p = Producer(producer_config(settings))
    for key, value, ts in items:
        p.produce(name, key=key, value=json.dumps(value).encode(), timestamp=ts)
        p.poll(0)
    assert p.flush(30) == 0


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
