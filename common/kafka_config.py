"""Kafka client configuration in one place: security and the embedded broker's workarounds.

Why each tuned default exists (see README "Broker" and shared broker-notes):

* ``session.timeout.ms=6000``: the embedded broker answers JoinGroup after about
  session.timeout/2, so the default 45 s means a 23 s wait per join.
* ``message.timeout.ms=20000``: a lost broker fails a flush in 20 s with a clear error
  instead of hanging 300 s.
* ``batch.num.messages=1`` for *stateful* Quix apps on the embedded broker only: the broker
  reports high watermark = base offset of the last batch + 1, which breaks Quix changelog
  recovery with local state kept. Only changelog/output producers of stateful apps need it.
"""

from __future__ import annotations

from typing import Any

from common.settings import Settings


def security_config(s: Settings) -> dict[str, Any]:
    """librdkafka security properties (empty for PLAINTEXT)."""
    conf: dict[str, Any] = {}
    proto = s.security_protocol.upper()
    if proto != "PLAINTEXT":
        conf["security.protocol"] = proto
    if proto.startswith("SASL"):
        conf["sasl.mechanism"] = s.sasl_mechanism or "PLAIN"
        if s.sasl_username:
            conf["sasl.username"] = s.sasl_username
        if s.sasl_password:
            conf["sasl.password"] = s.sasl_password
    if proto.endswith("SSL"):
        for key, value in (
            ("ssl.ca.location", s.ssl_ca_location),
            ("ssl.certificate.location", s.ssl_certificate_location),
            ("ssl.key.location", s.ssl_key_location),
            ("ssl.key.password", s.ssl_key_password),
        ):
            if value:
                conf[key] = value
    return conf


def base_config(s: Settings, bootstrap: str | None = None) -> dict[str, Any]:
    return {"bootstrap.servers": bootstrap or s.bootstrap_servers, **security_config(s)}


def producer_config(
    s: Settings, bootstrap: str | None = None, *, idempotent: bool = True, **extra: Any
) -> dict[str, Any]:
    conf = {
        **base_config(s, bootstrap),
        "enable.idempotence": idempotent,
        "acks": "all",
        "message.timeout.ms": s.message_timeout_ms,
        "linger.ms": 5,
        "compression.type": "none",
    }
    conf.update(extra)
    return conf


def consumer_config(
    s: Settings, group: str, bootstrap: str | None = None, **extra: Any
) -> dict[str, Any]:
    conf = {
        **base_config(s, bootstrap),
        "group.id": group,
        "session.timeout.ms": s.session_timeout_ms,
        "heartbeat.interval.ms": max(500, s.session_timeout_ms // 6),
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    }
    conf.update(extra)
    return conf


def admin_config(s: Settings, bootstrap: str | None = None) -> dict[str, Any]:
    return base_config(s, bootstrap)


def quix_extra_consumer_config(s: Settings) -> dict[str, Any]:
    """Extra consumer properties passed to ``quixstreams.Application``."""
    return {
        **security_config(s),
        "session.timeout.ms": s.session_timeout_ms,
        "heartbeat.interval.ms": max(500, s.session_timeout_ms // 6),
    }


def quix_extra_producer_config(s: Settings, *, stateful: bool, embedded: bool) -> dict[str, Any]:
    """Extra producer properties passed to ``quixstreams.Application``."""
    conf: dict[str, Any] = {**security_config(s), "message.timeout.ms": s.message_timeout_ms}
    if stateful and embedded:
        conf["batch.num.messages"] = 1
    return conf


def redact(conf: dict[str, Any]) -> dict[str, Any]:
    """A copy of a client config safe to log."""
    return {k: ("***" if "password" in k or "secret" in k else v) for k, v in conf.items()}
