"""The broker: configured bootstrap servers, else a local one the project starts itself.

The local broker is Apache Kafka (:class:`common.kafka_broker.KafkaBroker`) or Tansu
(:class:`common.tansu_broker.TansuBroker`), chosen by ``EMBEDDED_BROKER`` (auto, kafka or
tansu; see :func:`choose`). ``python -m common.broker`` runs one alone and prints the
bootstrap address; Ctrl-C stops it. From Python, :func:`broker_for` yields settings with a
reachable broker (and its kind, so Tansu's workarounds apply there only).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from common.broker_identity import kind_of_cluster
from common.broker_process import (
    BrokerError,
    BrokerProcess,
    Metadata,
    free_port,
    port_in_use,
    wait_for_metadata,
)
from common.kafka_broker import KafkaBroker
from common.kafka_jars import MIN_JAVA, Java, find_java, find_mvn, jars_cached, kafka_version
from common.settings import Settings
from common.tansu_broker import TansuBroker

__all__ = [
    "BrokerError",
    "BrokerProcess",
    "Choice",
    "KafkaBroker",
    "Metadata",
    "TansuBroker",
    "broker_for",
    "choose",
    "free_port",
    "port_in_use",
    "resolve_kind",
    "start_local",
    "wait_for_metadata",
]


@dataclass(frozen=True)
class Choice:
    """Which local broker to start, and why (said in one line)."""

    kind: str  # "kafka" or "tansu"
    reason: str


def choose(setting: str, java: Java | None, jars_are_cached: bool, mvn: str | None) -> Choice:
    """The local broker for ``EMBEDDED_BROKER=setting`` on a machine with this Java, jar
    cache and Maven. ``kafka`` without Java 17+ is an error (BrokerError)."""
    version = kafka_version()
    has_java = java is not None and java.major >= MIN_JAVA
    java_said = f"Java {java.version}" if java else "no Java on PATH"
    if setting == "tansu":
        return Choice("tansu", "EMBEDDED_BROKER=tansu")
    if setting == "kafka":
        if not has_java:
            raise BrokerError(
                f"EMBEDDED_BROKER=kafka: Apache Kafka {version} needs Java {MIN_JAVA}+ ({java_said}); "
                "install a JDK 17+ or use EMBEDDED_BROKER=tansu"
            )
        return Choice("kafka", f"EMBEDDED_BROKER=kafka, {java_said}")
    if not has_java:
        return Choice("tansu", f"{java_said} (Apache Kafka needs Java {MIN_JAVA}+)")
    if jars_are_cached:
        return Choice("kafka", f"{java_said}, Kafka {version} jars cached")
    if mvn:
        return Choice("kafka", f"{java_said}, Kafka {version} jars to fetch with Maven")
    return Choice("tansu", f"{java_said} but no Kafka jars cached and no Maven to fetch them")


def local_choice(settings: Settings) -> Choice:
    setting = settings.embedded_broker
    if setting == "tansu":  # no need to look for Java
        return choose(setting, None, False, None)
    return choose(setting, find_java(), jars_cached(), find_mvn())


def start_local(
    settings: Settings, say: Callable[[str], None] | None = None, port: int | None = None
) -> BrokerProcess:
    """Start the local broker :func:`local_choice` picks and say which in one line. With
    ``auto``, a Kafka that cannot be fetched or started falls back to Tansu (said too)."""
    tell = say or _say
    choice = local_choice(settings)
    broker: BrokerProcess
    if choice.kind == "kafka":
        broker = KafkaBroker(settings, port)
        try:
            broker.start()
        except BrokerError as e:
            if settings.embedded_broker != "auto":
                raise
            tell(f"broker: Apache Kafka did not start ({e}); falling back to Tansu")
            choice = Choice("tansu", "Apache Kafka did not start")
        else:
            where = f"storage {broker.data_dir}" if broker.persistent else "temporary storage"
            tell(
                f"broker: Apache Kafka {broker.version} on {broker.bootstrap} ({choice.reason}; "
                f"{where}; log {broker.log_path})"
            )
            return broker
    if settings.processing_guarantee == "exactly-once":
        raise BrokerError(
            f"exactly-once needs Apache Kafka, but the local broker would be Tansu ({choice.reason})"
        )
    broker = TansuBroker(settings, port).start()
    tell(
        f"broker: Tansu {broker.version} on {broker.bootstrap} ({choice.reason}; memory "
        f"storage, lost when it stops; log {broker.log_path})"
    )
    return broker


def resolve_kind(settings: Settings, timeout_s: float | None = None) -> Settings:
    """Settings that know their broker's kind, asked of the broker when not set (so a
    component started alone on a configured Tansu still applies its workarounds). A broker
    that does not answer is taken for Kafka; the caller reports it when it connects."""
    if settings.broker_kind or settings.embedded:
        return settings
    try:
        md = wait_for_metadata(
            settings.bootstrap_servers, settings, timeout_s or settings.connect_timeout_s
        )
    except BrokerError:
        return settings
    return settings.with_(broker_kind=kind_of_cluster(md.cluster_id))


@contextlib.contextmanager
def broker_for(settings: Settings, say: Callable[[str], None] | None = None) -> Iterator[Settings]:
    """Yield settings with a reachable ``bootstrap_servers`` and its ``broker_kind``.

    With bootstrap servers configured, check that they answer (bounded by
    ``connect_timeout_s``) and start nothing. Otherwise start the local broker and stop it
    on exit (also on Ctrl-C and on errors).
    """
    if not settings.embedded:
        md = wait_for_metadata(settings.bootstrap_servers, settings, settings.connect_timeout_s)
        yield settings.with_(broker_kind=settings.broker_kind or kind_of_cluster(md.cluster_id))
        return
    broker = start_local(settings, say)
    try:
        yield settings.with_(bootstrap_servers=broker.bootstrap, broker_kind=broker.kind)
    finally:
        broker.stop()


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m common.broker",
        description="Run a local Kafka-protocol broker on 127.0.0.1 (Apache Kafka, or Tansu "
        "for users without Java) and print its bootstrap address. Stops on Ctrl-C or SIGTERM.",
    )
    parser.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    parser.add_argument(
        "--broker",
        choices=("auto", "kafka", "tansu"),
        default=None,
        help="which broker (default: EMBEDDED_BROKER, else auto)",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="persistent storage folder for Apache Kafka (default: a temporary one per start)",
    )
    Settings.add_arguments(parser, only=["embedded"])
    args = parser.parse_args(argv)
    settings = Settings.from_args(args).with_(bootstrap_servers="")
    if args.broker:
        settings = settings.with_(embedded_broker=args.broker)
    if args.data_dir:
        settings = settings.with_(embedded_broker_dir=str(Path(args.data_dir).resolve()))
    try:
        broker = start_local(settings, port=args.port)
    except BrokerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(broker.bootstrap, flush=True)
    _say(
        f"# pid {broker.pid}, cluster id {broker.cluster_id}; export "
        f"KAFKA_BOOTSTRAP_SERVERS={broker.bootstrap} KAFKA_BROKER_KIND={broker.kind}"
    )
    stop = False

    def _stop(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    try:
        while not stop and broker.alive():
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        code = 0 if broker.alive() else 1
        broker.stop()
    if code:
        print(f"error: the broker died; see {broker.log_path}", file=sys.stderr)
    return code


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
