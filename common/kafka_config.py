"""Kafka client configuration in one place: security, and every broker-specific setting.

On Apache Kafka (and any real Kafka) the clients use normal settings: batching, idempotent
producers, librdkafka's session timeout. The Tansu fallback broker's defects
(shared/broker-notes.md) each have a workaround here, applied when ``Settings.on_tansu``:

* ``session.timeout.ms=6000``: Tansu answers JoinGroup after about session.timeout/2, so the
  default 45 s means a 23 s wait per join.
* stateful Quix apps' producers send one message per request (``batch.num.messages=1``):
  Tansu reports high watermark = base offset of the last batch + 1, which breaks Quix's
  changelog recovery with local state kept.
* no idempotence and one request in flight for those producers (Tansu fences a retried
  idempotent batch forever under CPU contention), and a small queue (one message per
  request delivers a few hundred messages/s; a large queue times its oldest messages out).

``message.timeout.ms`` is short on every broker: a lost broker fails a flush in 20 s with
a clear error instead of hanging 300 s.
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


#: Tansu's session timeout (it answers JoinGroup after about half of it)
TANSU_SESSION_TIMEOUT_MS = 6000
#: messages a stage's producer may hold undelivered on Tansu (a few s of work)
TANSU_STAGE_PRODUCER_QUEUE = 1000


def session_config(s: Settings) -> dict[str, Any]:
    """session.timeout.ms (and its heartbeat) when set or needed; else the client default."""
    timeout = s.session_timeout_ms or (TANSU_SESSION_TIMEOUT_MS if s.on_tansu else 0)
    if not timeout:
        return {}
    return {"session.timeout.ms": timeout, "heartbeat.interval.ms": max(500, timeout // 6)}


def consumer_config(
    s: Settings, group: str, bootstrap: str | None = None, **extra: Any
) -> dict[str, Any]:
    conf = {
        **base_config(s, bootstrap),
        "group.id": group,
        **session_config(s),
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    }
    conf.update(extra)
    return conf


def admin_config(s: Settings, bootstrap: str | None = None) -> dict[str, Any]:
    return base_config(s, bootstrap)


#: a caught-up stage's fetch waits for this much data or STAGE_FETCH_WAIT_MS: fewer,
#: fuller fetch requests for the broker to serve (docs/processors.md, "Performance")
STAGE_FETCH_MIN_BYTES = 1024 * 1024
STAGE_FETCH_WAIT_MS = 500
#: the stages' producers batch for this long (the broker serves fewer produce requests)
STAGE_LINGER_MS = 100


def quix_extra_consumer_config(s: Settings) -> dict[str, Any]:
    """Extra consumer properties passed to ``quixstreams.Application``."""
    conf = {**security_config(s), **session_config(s)}
    if not s.on_tansu:
        conf["fetch.min.bytes"] = STAGE_FETCH_MIN_BYTES
        conf["fetch.wait.max.ms"] = STAGE_FETCH_WAIT_MS
    return conf


#: a stage's transaction spans one checkpoint (COMMIT_INTERVAL_SECONDS of work) and its
#: flush (message.timeout.ms at most): the margin over the two
EOS_TRANSACTION_MARGIN_MS = 3000


def eos_transaction_timeout_ms(s: Settings) -> int:
    """transaction.timeout.ms of the stages' transactional producers. librdkafka refuses one
    below message.timeout.ms (its default, 60 s, is below the 90 s that experiments and
    benchmarks use); no longer than needed, as a killed stage's open transaction holds back
    every read_committed reader of its outputs until the broker aborts it at this timeout."""
    checkpoint_ms = round(s.commit_interval_seconds * 1000)
    return s.message_timeout_ms + checkpoint_ms + EOS_TRANSACTION_MARGIN_MS


def quix_extra_producer_config(
    s: Settings, *, stateful: bool, transactional_id: str | None = None
) -> dict[str, Any]:
    """Extra producer properties passed to ``quixstreams.Application``.

    On Kafka: idempotent (at-least-once without reordering or duplicates on retries) and
    batched. On Tansu, a stateful app's changelog needs one message per request, without
    idempotence and with one request in flight (module docstring). ``transactional_id``
    (exactly-once only) names the producer's transactions."""
    conf: dict[str, Any] = {**security_config(s), "message.timeout.ms": s.message_timeout_ms}
    if transactional_id is not None and s.processing_guarantee == "exactly-once":
        conf["transactional.id"] = transactional_id
    if not s.on_tansu:
        if s.processing_guarantee == "exactly-once":
            conf["transaction.timeout.ms"] = eos_transaction_timeout_ms(s)
        else:  # a transactional producer is idempotent by itself
            conf["enable.idempotence"] = True
        conf["linger.ms"] = STAGE_LINGER_MS
        return conf
    if stateful:
        conf["batch.num.messages"] = 1
        conf["enable.idempotence"] = False
        conf["max.in.flight.requests.per.connection"] = 1
        conf["linger.ms"] = 20
        # produce() then waits for deliveries instead of queueing past their timeout
        conf["queue.buffering.max.messages"] = TANSU_STAGE_PRODUCER_QUEUE
    return conf
