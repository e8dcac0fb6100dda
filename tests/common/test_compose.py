"""compose.yaml cannot run here (no Docker engine); check its structure instead."""

from __future__ import annotations

from pathlib import Path

import yaml

from common.settings_doc import env_names

ROOT = Path(__file__).resolve().parents[2]
PROJECT_SERVICES = {"processors", "replay", "dashboard-expert", "dashboard-aggregate", "topics"}
#: inputs of one command, not settings
COMMAND_INPUTS = {"SOURCE", "SPEED"}


def _compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_services_present_and_kafka_is_kraft() -> None:
    services = _compose()["services"]
    assert PROJECT_SERVICES | {"kafka"} <= set(services)
    kafka = services["kafka"]
    from common.kafka_jars import kafka_version

    assert kafka["image"] == f"apache/kafka:{kafka_version()}"  # the local broker's version
    env = kafka["environment"]
    assert "controller" in env["KAFKA_PROCESS_ROLES"] and "broker" in env["KAFKA_PROCESS_ROLES"]
    assert "healthcheck" in kafka


def test_project_services_use_only_settings_variables() -> None:
    services = _compose()["services"]
    known = set(env_names())
    for name in PROJECT_SERVICES:
        svc = services[name]
        assert svc["build"] == "." and svc["depends_on"]["kafka"]["condition"] == "service_healthy"
        env = svc["environment"]
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        unknown = set(env) - known - COMMAND_INPUTS
        assert not unknown, f"{name}: variables not read by Settings: {sorted(unknown)}"


def test_one_dockerfile_builds_every_service() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for pkg in ("common", "producers", "processors", "warehouse", "pipeline", "dashboards"):
        assert f"COPY {pkg}/" in dockerfile
    assert "requirements.txt" in dockerfile


def test_commands_are_project_modules() -> None:
    services = _compose()["services"]
    cmds = {n: " ".join(services[n]["command"]) for n in PROJECT_SERVICES}
    assert "processors all" in cmds["processors"]
    assert "producers.replay" in cmds["replay"]
    assert "dashboards/expert.py" in cmds["dashboard-expert"]
    assert "dashboards/aggregate.py" in cmds["dashboard-aggregate"]
    for n in ("dashboard-expert", "dashboard-aggregate"):
        assert (ROOT / services[n]["command"][2]).name.endswith(".py")
