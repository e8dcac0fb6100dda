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
