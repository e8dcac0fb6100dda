from __future__ import annotations

import argparse

import pytest

from common.kafka_config import consumer_config, producer_config, security_config
from common.settings import Settings, SettingsError
from common.settings_doc import env_names


def test_defaults_are_documented_topic_names() -> None:
    s = Settings.from_env({})
    assert s.embedded
    assert s.topics == {
        "raw": "RAW_DATA",
        "clean": "CLEAN_DATA",
        "query_metrics": "QUERY_METRICS",
        "compile_metrics": "COMPILE_METRICS",
        "leaderboard": "LEADERBOARD",
        "flattened": "FLATTENED",
        "dead_letters": "DEAD_LETTERS",
    }


def test_env_then_cli_precedence() -> None:
    env = {"TOPIC_PARTITIONS": "8", "TOPIC_PREFIX": "exp1.", "WINDOW_SECONDS": "60"}
    parser = argparse.ArgumentParser()
    Settings.add_arguments(parser)
    args = parser.parse_args(["--partitions", "2"])
    s = Settings.from_args(args, env)
    assert s.partitions == 2 and s.window_seconds == 60
    assert s.topic("raw") == "exp1.RAW_DATA"
    assert s.group("clean") == "redset.exp1.clean"


def test_bad_values_name_the_variable() -> None:
    with pytest.raises(SettingsError, match="TOPIC_PARTITIONS"):
        Settings.from_env({"TOPIC_PARTITIONS": "many"})
    with pytest.raises(SettingsError, match="TOPIC_PARTITIONS"):
        Settings.from_env({"TOPIC_PARTITIONS": "0"})
    with pytest.raises(SettingsError, match="exactly-once"):
        Settings.from_env({"PROCESSING_GUARANTEE": "exactly-once", "EMBEDDED_BROKER": "tansu"})


def test_security_config_and_redaction() -> None:
    s = Settings.from_env(
        {
            "KAFKA_BOOTSTRAP_SERVERS": "b1:9093",
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": "alice",
            "KAFKA_SASL_PASSWORD": "s3cret",
            "KAFKA_SSL_CA_LOCATION": "/ca.pem",
        }
    )
    conf = security_config(s)
    assert conf == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "alice",
        "sasl.password": "s3cret",
        "ssl.ca.location": "/ca.pem",
    }
    assert producer_config(s)["bootstrap.servers"] == "b1:9093"
    assert "session.timeout.ms" not in consumer_config(s, "g")  # Kafka: the client default
    assert "s3cret" not in repr(s.redacted()) and "s3cret" not in repr(s)


def test_tansu_workarounds_apply_on_tansu_only() -> None:
    from common.kafka_config import quix_extra_producer_config

    kafka = Settings.from_env({}, broker_kind="kafka")
    tansu = Settings.from_env({}, broker_kind="tansu")
    assert consumer_config(tansu, "g")["session.timeout.ms"] == 6000
    assert "session.timeout.ms" not in consumer_config(kafka, "g")
    assert consumer_config(kafka.with_(session_timeout_ms=9000), "g")["session.timeout.ms"] == 9000
    k, t = (quix_extra_producer_config(x, stateful=True) for x in (kafka, tansu))
    assert k["enable.idempotence"] is True and "batch.num.messages" not in k
    assert "max.in.flight.requests.per.connection" not in k
    assert "queue.buffering.max.messages" not in k
    assert t["batch.num.messages"] == 1 and t["enable.idempotence"] is False
    assert t["max.in.flight.requests.per.connection"] == 1
    # exactly-once: the transactional producer is idempotent by itself
    eos = quix_extra_producer_config(
        kafka.with_(processing_guarantee="exactly-once"), stateful=True
    )
    assert "enable.idempotence" not in eos
    # librdkafka refuses message.timeout.ms above transaction.timeout.ms (default 60 s):
    # the stages' producers must be creatable with the 90 s experiments use
    from confluent_kafka import Producer

    for ms in (20_000, 90_000):
        conf = quix_extra_producer_config(
            kafka.with_(processing_guarantee="exactly-once", message_timeout_ms=ms), stateful=True
        )
        assert conf["transaction.timeout.ms"] >= ms
        Producer({"bootstrap.servers": "127.0.0.1:9", "transactional.id": "t", **conf})
    with pytest.raises(SettingsError, match="Tansu"):
        Settings.from_env({}, broker_kind="tansu", processing_guarantee="exactly-once")
    with pytest.raises(SettingsError, match="EMBEDDED_BROKER"):
        Settings.from_env({"EMBEDDED_BROKER": "redpanda"})


def test_env_names_unique() -> None:
    names = env_names()
    assert len(names) == len(set(names))


def test_readme_documents_every_setting() -> None:
    from pathlib import Path

    from common.settings_doc import markdown_table

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert markdown_table() in readme, "run `python -m common.settings_doc --markdown` into README"
