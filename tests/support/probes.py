"""Probes of the broker while a chain runs: end offsets, consumer group members, waiting
for a condition."""

from __future__ import annotations

import time
from collections.abc import Callable

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from common.kafka_config import admin_config, consumer_config
from common.settings import Settings
from processors.streaming.topology import ALL_WORKERS, worker_id, worker_name


def high_watermarks(settings: Settings, name: str, isolation: str = "read_uncommitted") -> int:
    """End offsets of topic ``name`` summed over its partitions, as a reader with
    ``isolation.level=isolation`` sees them (read_committed: the last stable offsets)."""
    c = Consumer(consumer_config(settings, "unused-watermarks", **{"isolation.level": isolation}))
    try:
        md = c.list_topics(name, timeout=10)
        total = 0
        for p in md.topics[name].partitions:
            _, hi = c.get_watermark_offsets(TopicPartition(name, p), timeout=10)
            total += max(hi, 0)
        return total
    finally:
        c.close()


def wait_for(cond: Callable[[], object], timeout_s: float, what: str, every_s: float = 0.5) -> None:
    """Return once ``cond()`` holds; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def group_members(settings: Settings) -> dict[str, int]:
    """Worker -> members of its consumer group that hold partitions."""
    admin = AdminClient(admin_config(settings))
    groups = {settings.group(worker_id(w)): worker_name(w) for w in ALL_WORKERS}
    out = dict.fromkeys((worker_name(w) for w in ALL_WORKERS), 0)
    for gid, fut in admin.describe_consumer_groups(list(groups), request_timeout=10).items():
        try:
            desc = fut.result()
        except Exception:
            continue  # not created yet
        out[groups[gid]] = sum(1 for m in desc.members if m.assignment.topic_partitions)
    return out
