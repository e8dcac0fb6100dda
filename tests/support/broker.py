"""Shared fixtures.

Broker choice (session-scoped), the ladder: ``KAFKA_BOOTSTRAP_SERVERS`` if set, else a
testcontainers Kafka if a Docker engine answers, else the local Apache Kafka (Java 17+ and
its jars), else Tansu. ``TEST_BROKER=kafka|tansu`` skips the ladder (``make test`` runs the
Tansu smoke subset, the tests marked ``tansu_smoke``, with ``TEST_BROKER=tansu``). Under
``CI=true`` the ladder does not fall back to Tansu: the integration suite must run on Kafka.
Each test gets its own topic prefix (``topic_settings``), so tests never see each other's
data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.settings import Settings

#: what the session's broker is, for the report header and summary
_BROKER_SAID: list[str] = []

#: tests kill processes mid-run: a short session timeout lets a group drop a dead member in
#: seconds rather than after the client's 45 s default (Kafka's minimum is 6 s)
TEST_SESSION_TIMEOUT_MS = 6000


def _docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


def _wanted() -> str:
    return os.environ.get("TEST_BROKER", "").strip().lower()


def pytest_report_header(config: pytest.Config) -> str:
    from common.broker import local_choice

    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return f"broker: configured {os.environ['KAFKA_BOOTSTRAP_SERVERS']}"
    wanted = _wanted()
    try:
        choice = local_choice(Settings.from_env(embedded_broker=wanted or "auto"))
    except Exception as e:
        return f"broker: none usable ({e})"
    return f"broker (planned, started on first use): {choice.kind} ({choice.reason})"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in _BROKER_SAID:
        terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def broker_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings whose ``bootstrap_servers`` points at a live broker for the whole session."""
    run_dir = tmp_path_factory.mktemp("run")
    base = Settings.from_env(
        run_dir=str(run_dir),
        state_dir=str(run_dir / "state"),
        session_timeout_ms=int(os.environ.get("KAFKA_SESSION_TIMEOUT_MS") or 0)
        or TEST_SESSION_TIMEOUT_MS,
    )
    wanted = _wanted()
    if not base.embedded:
        from common.broker import broker_for

        with broker_for(base) as s:
            _BROKER_SAID.append(f"broker: configured {s.bootstrap_servers} ({s.broker_kind})")
            yield s
        return
    if not wanted and _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer() as kafka:
            _BROKER_SAID.append("broker: testcontainers Kafka")
            yield base.with_(bootstrap_servers=kafka.get_bootstrap_server(), broker_kind="kafka")
        return
    from common.broker import start_local

    if wanted in ("kafka", "tansu"):
        setting = wanted
    else:
        setting = "kafka" if os.environ.get("CI", "").lower() == "true" else "auto"
    broker = start_local(base.with_(embedded_broker=setting), say=_BROKER_SAID.append)
    try:
        yield base.with_(bootstrap_servers=broker.bootstrap, broker_kind=broker.kind)
    finally:
        broker.stop()


def require_kafka() -> None:
    """Skip unless Java 17+ and the Kafka jars (or Maven) are there, except under CI=true,
    where every test must run. For module-scoped fixtures, which cannot use needs_kafka."""
    from common.broker import choose
    from common.kafka_jars import find_java, find_mvn, jars_cached

    choice = choose("auto", find_java(), jars_cached(), find_mvn())
    if choice.kind != "kafka" and os.environ.get("CI", "").lower() != "true":
        pytest.skip(f"Apache Kafka cannot run here: {choice.reason}")


@pytest.fixture
def needs_kafka() -> object:
    """Call to require Java 17+ and the Kafka jars (or Maven): skipped without them, except
    under CI=true, where every test must run."""
    return require_kafka


@pytest.fixture
def broker_kind(broker_settings: Settings) -> str:
    """``kafka`` or ``tansu``: the session's broker."""
    return broker_settings.broker_kind


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
