"""Which broker ``make bench`` measures, and a fresh one per measurement.

The bench runs on a local Apache Kafka unless told ``--broker tansu``; configured
bootstrap servers (``KAFKA_BOOTSTRAP_SERVERS``) still win over either.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from common.broker import broker_for
from common.settings import Settings

#: a broker for one measurement (see :func:`fresh_brokers`)
Fresh = Callable[[], contextlib.AbstractContextManager[Settings]]

#: the local brokers ``--broker`` can pick
LOCAL_BROKERS = ("kafka", "tansu")


def with_broker(settings: Settings, broker: str | None) -> Settings:
    """Settings whose local broker is ``broker``; without one, ``EMBEDDED_BROKER`` if it
    names one, else Apache Kafka (the bench measures the project's default broker, not
    whatever ``auto`` falls back to on this machine)."""
    if broker is None:
        broker = settings.embedded_broker if settings.embedded_broker in LOCAL_BROKERS else "kafka"
    if broker not in LOCAL_BROKERS:
        raise ValueError(f"--broker {broker!r}: expected one of {', '.join(LOCAL_BROKERS)}")
    return settings.with_(embedded_broker=broker)


def broker_version(kind: str) -> str | None:
    """The version of the local broker of this kind (the pinned Kafka, the Tansu binary)."""
    if kind == "kafka":
        from common.kafka_jars import kafka_version

        return kafka_version()
    if kind == "tansu":
        from common.tansu_broker import tansu_version

        return tansu_version() or None
    return None


def broker_info(requested: Settings, running: Settings) -> dict[str, Any]:
    """The broker of a run, for the result JSON: kind and version, and whether the bench
    started it (a configured broker's version is not known to the bench)."""
    local = requested.embedded
    kind = running.broker_kind or None
    return {
        "kind": kind,
        "version": broker_version(kind or "") if local else None,
        "local": local,
        "bootstrap": None if local else running.bootstrap_servers,
    }


def fresh_brokers(base: Settings, running: Settings) -> Fresh:
    """Brokers for measurements that must not inherit each other's load: a new local
    broker of the same kind each time when the bench runs its own (Tansu keeps every
    message in memory and slows as they accumulate, which favoured whatever was measured
    first), else the configured one."""

    @contextlib.contextmanager
    def fresh() -> Iterator[Settings]:
        if base.embedded:
            with broker_for(base) as s:
                yield s
        else:
            yield running

    return fresh
