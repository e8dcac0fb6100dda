"""Topic administration: create every declared topic idempotently, report what exists.

Every topic gets explicit ``retention.ms`` and ``retention.bytes``, on every broker: the
timestamps are event times (often years old), which a broker's default time retention would
delete at once, and Tansu's DescribeConfigs returns only explicitly set configs, while Quix
Streams reads retention.ms.

``python -m common.topics`` creates the topics and prints a table of what exists.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from common.kafka_config import admin_config
from common.settings import Settings


@dataclass(frozen=True)
class TopicInfo:
    name: str
    partitions: int
    created: bool


def topic_config(s: Settings) -> dict[str, str]:
    return {"retention.ms": str(s.retention_ms), "retention.bytes": str(s.retention_bytes)}


def ensure_topics(
    settings: Settings, names: list[str] | None = None, timeout_s: float | None = None
) -> list[TopicInfo]:
    """Create the given full topic names (default: every declared topic) if missing."""
    wanted = names if names is not None else list(settings.topics.values())
    timeout = timeout_s if timeout_s is not None else settings.connect_timeout_s
    admin = AdminClient(admin_config(settings))
    existing = admin.list_topics(timeout=timeout).topics
    missing = [n for n in wanted if n not in existing]
    created: set[str] = set()
    if missing:
        futures = admin.create_topics(
            [
                NewTopic(
                    n,
                    num_partitions=settings.partitions,
                    replication_factor=settings.replication_factor,
                    config=topic_config(settings),
                )
                for n in missing
            ],
            operation_timeout=timeout,
            request_timeout=timeout,
        )
        for name, fut in futures.items():
            try:
                fut.result()
                created.add(name)
            except KafkaException as e:
                err = e.args[0]
                if getattr(err, "name", lambda: "")() != "TOPIC_ALREADY_EXISTS":
                    raise
        _wait_for_leaders(admin, missing, timeout)
    md = admin.list_topics(timeout=timeout).topics
    return [TopicInfo(n, len(md[n].partitions) if n in md else 0, n in created) for n in wanted]


def _wait_for_leaders(admin: AdminClient, names: list[str], timeout_s: float) -> None:
    """Wait until every partition of ``names`` answers a ListOffsets request: Kafka answers
    requests to a just-created partition with NOT_LEADER_FOR_PARTITION for a moment, even
    after its metadata names a leader."""
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import OffsetSpec

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        md = admin.list_topics(timeout=timeout_s).topics
        if not all(n in md and md[n].partitions for n in names):
            time.sleep(0.05)
            continue
        request = {
            TopicPartition(n, p): OffsetSpec.latest() for n in names for p in md[n].partitions
        }
        try:
            for fut in admin.list_offsets(request, request_timeout=timeout_s).values():
                fut.result()
            return
        except KafkaException:
            time.sleep(0.05)


def list_topics(settings: Settings) -> dict[str, int]:
    admin = AdminClient(admin_config(settings))
    md = admin.list_topics(timeout=settings.connect_timeout_s).topics
    return {name: len(t.partitions) for name, t in sorted(md.items())}


def delete_topics(settings: Settings, names: list[str]) -> None:
    admin = AdminClient(admin_config(settings))
    existing = admin.list_topics(timeout=settings.connect_timeout_s).topics
    todo = [n for n in names if n in existing]
    if not todo:
        return
    for fut in admin.delete_topics(todo, operation_timeout=settings.connect_timeout_s).values():
        fut.result()


def main(argv: list[str] | None = None) -> int:
    from common.broker import BrokerError, wait_for_metadata

    parser = argparse.ArgumentParser(
        prog="python -m common.topics",
        description="Create every declared topic (idempotent) on the configured broker and list what exists.",
    )
    Settings.add_arguments(parser, only=["kafka", "topics"])
    args = parser.parse_args(argv)
    settings = Settings.from_args(args)
    if settings.embedded:
        print("error: set KAFKA_BOOTSTRAP_SERVERS (or --bootstrap-servers)", file=sys.stderr)
        return 2
    try:
        wait_for_metadata(settings.bootstrap_servers, settings, settings.connect_timeout_s)
        infos = ensure_topics(settings)
    except BrokerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for info in infos:
        print(
            f"{info.name:40s} {info.partitions:3d} partitions {'created' if info.created else 'exists'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
