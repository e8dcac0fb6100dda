"""Integration tests of the broker foundation: every declared topic round-trips messages
with keys, headers and event timestamps; a consumer group commits and resumes."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from common.broker import (
    BrokerError,
    KafkaBroker,
    TansuBroker,
    broker_for,
    free_port,
    wait_for_metadata,
)
from common.kafka_config import consumer_config, producer_config
from common.settings import TOPIC_NAMES, Settings
from common.topics import ensure_topics, list_topics

pytestmark = pytest.mark.integration


def _consume(settings: Settings, topic: str, group: str, n: int, timeout_s: float = 30.0) -> list:
    c = Consumer(consumer_config(settings, group))
    c.subscribe([topic])
    out: list = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(out) < n and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            out.append(m)
        c.commit(asynchronous=False) if out else None
    finally:
        c.close()
    return out


def test_topics_created_idempotently_with_explicit_retention(topic_settings: Settings) -> None:
    first = ensure_topics(topic_settings)
    again = ensure_topics(topic_settings)
    assert [i.name for i in first] == list(topic_settings.topics.values())
    assert all(i.created for i in first) and not any(i.created for i in again)
    existing = list_topics(topic_settings)
    for name in topic_settings.topics.values():
        assert existing[name] == topic_settings.partitions

    from confluent_kafka.admin import AdminClient, ConfigResource

    admin = AdminClient({"bootstrap.servers": topic_settings.bootstrap_servers})
    res = ConfigResource("topic", topic_settings.topic("raw"))
    configs = next(iter(admin.describe_configs([res]).values())).result()
    assert configs["retention.ms"].value == str(topic_settings.retention_ms)
    assert configs["retention.bytes"].value == str(topic_settings.retention_bytes)


@pytest.mark.tansu_smoke
@pytest.mark.parametrize("logical", TOPIC_NAMES)
def test_round_trip_every_topic(topics: Settings, logical: str) -> None:
    topic = topics.topic(logical)
    p = Producer(producer_config(topics))
    sent = []
    for i in range(20):
        key = f"provisioned-{i % 3}"
        ts = 1709251200000 + i * 1000  # 2024-03-01, event time
        value = json.dumps({"i": i, "topic": logical}).encode()
        headers = [("run_id", b"r1"), ("row", str(i).encode())]
        p.produce(topic, key=key.encode(), value=value, timestamp=ts, headers=headers)
        sent.append((key, ts, i))
    assert p.flush(15) == 0
    got = _consume(topics, topic, f"g-{logical}", len(sent))
    assert len(got) == len(sent)
    received = {}
    for m in got:
        body = json.loads(m.value())
        received[body["i"]] = (m.key().decode(), m.timestamp()[1], dict(m.headers()))
    for key, ts, i in sent:
        assert received[i][0] == key
        assert received[i][1] == ts
        assert received[i][2] == {"run_id": b"r1", "row": str(i).encode()}
    # per-key order is preserved
    by_key: dict[str, list[int]] = {}
    for m in got:
        by_key.setdefault(m.key().decode(), []).append(json.loads(m.value())["i"])
    for seq in by_key.values():
        assert seq == sorted(seq)


def test_consumer_group_commit_and_resume(topics: Settings) -> None:
    topic = topics.topic("raw")
    p = Producer(producer_config(topics))
    for i in range(30):
        p.produce(topic, key=b"k", value=str(i).encode(), timestamp=1709251200000 + i)
    assert p.flush(15) == 0
    first = _consume(topics, topic, "resume-group", 10)
    assert [int(m.value()) for m in first] == list(range(10))
    rest = _consume(topics, topic, "resume-group", 20)
    assert [int(m.value()) for m in rest] == list(range(10, 30))
    c = Consumer(consumer_config(topics, "resume-group"))
    committed = c.committed(
        [TopicPartition(topic, p) for p in range(topics.partitions)], timeout=10
    )
    c.close()
    assert sum(max(tp.offset, 0) for tp in committed) == 30


def test_wrong_bootstrap_fails_fast_naming_the_address() -> None:
    port = free_port()
    s = Settings.from_env(bootstrap_servers=f"127.0.0.1:{port}", connect_timeout_s=2.0)
    t0 = time.monotonic()
    with pytest.raises(BrokerError, match=f"127.0.0.1:{port}"), broker_for(s):
        pass
    assert time.monotonic() - t0 < 6


def test_cli_wrong_bootstrap_prints_one_line_error(tmp_path) -> None:
    port = free_port()
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "common.topics",
            "--bootstrap-servers",
            f"127.0.0.1:{port}",
            "--connect-timeout-s",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 1
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0], r.stderr


@pytest.mark.parametrize("kind", ["tansu", "kafka"])
def test_local_broker_stops_by_pid(tmp_path, kind: str, needs_kafka) -> None:
    import psutil

    s = Settings.from_env(run_dir=str(tmp_path))
    if kind == "kafka":
        needs_kafka()
    b = (KafkaBroker if kind == "kafka" else TansuBroker)(s).start()
    pid = b.pid
    assert pid and b.alive() and b.kind == kind and b.version
    md = wait_for_metadata(b.bootstrap, s, 5)
    assert md.cluster_id == b.cluster_id
    data_dir = getattr(b, "data_dir", None)
    b.stop()
    assert not b.alive()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    if kind == "kafka":  # temporary storage goes with the broker
        assert data_dir is not None and not data_dir.exists()
    assert f"{kind}-{b.port}.log" == b.log_path.name and b.log_path.stat().st_size > 0


def test_kafka_persistent_storage_keeps_topics_and_cluster_id(tmp_path, needs_kafka) -> None:
    needs_kafka()
    s = Settings.from_env(run_dir=str(tmp_path / "run"))
    b = KafkaBroker(s, data_dir=tmp_path / "data").start()
    try:
        s1 = s.with_(bootstrap_servers=b.bootstrap)
        ensure_topics(s1, ["kept"])
        p = Producer(producer_config(s1))
        p.produce("kept", key=b"k", value=b"v", timestamp=1709251200000)
        assert p.flush(15) == 0
        first_id = b.cluster_id
    finally:
        b.stop()
    b2 = KafkaBroker(s, port=b.port, data_dir=tmp_path / "data").start()
    try:
        assert b2.cluster_id == first_id
        got = _consume(s.with_(bootstrap_servers=b2.bootstrap), "kept", "g-kept", 1)
        assert [m.value() for m in got] == [b"v"]
    finally:
        b2.stop()
    assert (tmp_path / "data" / "server.properties").exists()


def test_kafka_that_cannot_start_names_its_log(tmp_path, needs_kafka) -> None:
    needs_kafka()
    s = Settings.from_env(run_dir=str(tmp_path))
    # an unknown setting value the broker refuses at start
    b = KafkaBroker(s, extra_properties={"num.io.threads": "not-a-number"})
    t0 = time.monotonic()
    with pytest.raises(BrokerError) as e:
        b.start()
    msg = str(e.value)
    assert "\n" not in msg and str(b.log_path) in msg and "kafka" in msg, msg
    assert time.monotonic() - t0 < 60 and not b.alive()


def test_broker_cli_prints_bootstrap_and_stops_on_sigterm(tmp_path, broker_kind: str) -> None:
    import signal

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "common.broker",
            "--run-dir",
            str(tmp_path),
            "--broker",
            broker_kind,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("127.0.0.1:")
        wait_for_metadata(line, Settings.from_env(), 5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert proc.stderr is not None
        said = proc.stderr.read()
        assert said.count("broker: ") == 1 and f"KAFKA_BROKER_KIND={broker_kind}" in said, said
        with pytest.raises(BrokerError):
            wait_for_metadata(line, Settings.from_env(), 1)
    finally:
        if proc.poll() is None:
            proc.kill()
