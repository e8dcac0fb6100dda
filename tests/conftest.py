"""Shared fixtures.

Broker choice (session-scoped): ``KAFKA_BOOTSTRAP_SERVERS`` if set, else a testcontainers
Kafka if a Docker engine answers, else the embedded broker. Each test gets its own topic
prefix (``topic_settings``), so tests never see each other's data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.settings import Settings


def _docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def broker_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings whose ``bootstrap_servers`` points at a live broker for the whole session."""
    run_dir = tmp_path_factory.mktemp("run")
    base = Settings.from_env(run_dir=str(run_dir), state_dir=str(run_dir / "state"))
    if not base.embedded:
        yield base
        return
    if os.environ.get("TEST_BROKER", "") != "embedded" and _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer() as kafka:
            yield base.with_(bootstrap_servers=kafka.get_bootstrap_server())
        return
    from common.broker import EmbeddedBroker

    with EmbeddedBroker(base) as broker:
        yield base.with_(bootstrap_servers=broker.bootstrap)


@pytest.fixture
def topic_settings(broker_settings: Settings, tmp_path: Path) -> Settings:
    """Broker settings with a topic prefix (and state dir) of this test's own."""
    prefix = f"t{uuid.uuid4().hex[:10]}."
    return broker_settings.with_(topic_prefix=prefix, state_dir=str(tmp_path / "state"))


@pytest.fixture
def topics(topic_settings: Settings) -> Settings:
    """Like ``topic_settings``, with every declared topic created."""
    from common.topics import ensure_topics

    ensure_topics(topic_settings)
    return topic_settings
