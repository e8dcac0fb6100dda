"""Which local broker starts, and why: pure logic (no broker), plus one run of the CLI with
no Java on PATH."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from common.broker import BrokerError, choose
from common.broker_process import connect_cause
from common.kafka_broker import (
    SaslSslListener,
    new_cluster_id,
    render_properties,
    server_properties,
)
from common.kafka_jars import Java, jars_dir, kafka_version, parse_java_version

ROOT = Path(__file__).resolve().parents[2]
J17 = Java("/usr/bin/java", 17, "17.0.15")
J11 = Java("/usr/bin/java", 11, "11.0.2")


def test_auto_picks_kafka_with_java_17_and_jars_or_maven() -> None:
    assert choose("auto", J17, True, None).kind == "kafka"
    c = choose("auto", J17, False, "/usr/bin/mvn")
    assert c.kind == "kafka" and "fetch" in c.reason


@pytest.mark.parametrize(
    ("java", "cached", "mvn", "why"),
    [
        (None, True, "/usr/bin/mvn", "no Java on PATH"),
        (J11, True, "/usr/bin/mvn", "Java 11.0.2"),
        (J17, False, None, "no Maven"),
    ],
)
def test_auto_falls_back_to_tansu_saying_why(
    java: Java | None, cached: bool, mvn: str | None, why: str
) -> None:
    c = choose("auto", java, cached, mvn)
    assert c.kind == "tansu" and why in c.reason


def test_forced_choices() -> None:
    assert choose("tansu", J17, True, "/usr/bin/mvn").kind == "tansu"
    assert choose("kafka", J17, False, None).kind == "kafka"
    with pytest.raises(BrokerError, match="needs Java 17"):
        choose("kafka", J11, True, "/usr/bin/mvn")


@pytest.mark.parametrize(
    ("text", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('java version "1.8.0_402"', 8),
        ('openjdk version "21" 2023-09-19', 21),
        ('openjdk version "25-ea" 2025-09-16', 25),
    ],
)
def test_java_versions(text: str, major: int) -> None:
    parsed = parse_java_version(text)
    assert parsed is not None and parsed[0] == major
    assert parse_java_version("no java here") is None


def test_kafka_version_is_pinned_once_in_the_pom(tmp_path: Path) -> None:
    version = kafka_version()
    pom = (ROOT / "common" / "kafka" / "pom.xml").read_text()
    assert pom.count(f"<kafka.version>{version}</kafka.version>") == 1
    assert "${kafka.version}" in pom
    # the cache folder names the version and changes with the pom
    d = jars_dir(environ={"XDG_CACHE_HOME": str(tmp_path)})
    assert d.parent == tmp_path / "redset-stream" and d.name.startswith(f"kafka-{version}-")
    assert jars_dir(environ={"KAFKA_JARS_DIR": "/x/y"}) == Path("/x/y")


def test_server_properties_single_node_kraft(tmp_path: Path) -> None:
    props = server_properties(9092, 9093, tmp_path, {"num.io.threads": "4"})
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9092"
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "share.coordinator.state.topic.replication.factor",
    ):
        assert props[key] == "1", key
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["num.io.threads"] == "4"  # extra properties win
    assert render_properties(props).splitlines()[0] == "process.roles=broker,controller"


def test_server_properties_with_a_sasl_ssl_listener(tmp_path: Path) -> None:
    listener = SaslSslListener(tmp_path / "b.p12", "storepw", {"alice": "alicepw"})
    props = server_properties(9092, 9093, tmp_path, sasl_ssl=listener, sasl_ssl_port=9094)
    assert props["listeners"] == (
        "PLAINTEXT://127.0.0.1:9092,SASL_SSL://127.0.0.1:9094,CONTROLLER://127.0.0.1:9093"
    )
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9092,SASL_SSL://127.0.0.1:9094"
    assert "CONTROLLER:PLAINTEXT" in props["listener.security.protocol.map"].split(",")
    assert props["inter.broker.listener.name"] == "PLAINTEXT"
    jaas = props["listener.name.sasl_ssl.plain.sasl.jaas.config"]
    assert 'user_alice="alicepw"' in jaas and jaas.endswith(";")
    assert props["listener.name.sasl_ssl.ssl.keystore.location"] == str(tmp_path / "b.p12")
    assert "alicepw" not in repr(listener) and "storepw" not in repr(listener)
    with pytest.raises(ValueError):
        SaslSslListener(tmp_path / "b.p12", "pw", {"bob": 'a"b'}).properties()


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        (
            "sasl_ssl://127.0.0.1:9094/bootstrap: SASL authentication error: Authentication "
            "failed: Invalid username or password (after 304ms in state AUTH_REQ)",
            "SASL authentication failed: Invalid username or password",
        ),
        (
            "sasl_ssl://127.0.0.1:9094/bootstrap: SSL handshake failed: error:0A000086:SSL "
            "routines::certificate verify failed: broker certificate could not be verified "
            "(after 6ms in state SSL_HANDSHAKE, 1 identical error(s) suppressed)",
            "SSL handshake failed: certificate verify failed: broker certificate could not be "
            "verified",
        ),
        (
            "127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused "
            "(after 0ms in state CONNECT)",
            "Connect to ipv4#127.0.0.1:1 failed: Connection refused",
        ),
    ],
)
def test_connect_cause_is_short(text: str, cause: str) -> None:
    assert connect_cause(text) == cause


def test_cluster_ids_are_kraft_shaped() -> None:
    ids = {new_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)


@pytest.mark.integration
def test_without_java_the_cli_starts_tansu_and_says_why(tmp_path: Path) -> None:
    # a PATH with python's folder but no java (and no JAVA_HOME)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("mvn",):
        if found := shutil.which(tool):
            (bindir / tool).symlink_to(found)
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = f"{bindir}:{Path(sys.executable).parent}"
    assert shutil.which("java", path=env["PATH"]) is None
    proc = subprocess.Popen(
        [sys.executable, "-m", "common.broker", "--run-dir", str(tmp_path / "run")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().startswith("127.0.0.1:")
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    said = [ln for ln in err.splitlines() if ln.startswith("broker: ")]
    assert len(said) == 1 and said[0].startswith("broker: Tansu"), err
    assert "no Java on PATH" in said[0]
