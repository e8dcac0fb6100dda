"""The local Apache Kafka broker: the genuine single-node KRaft broker, its jars from Maven
Central (:mod:`common.kafka_jars`), run as a plain Java process on loopback.

Storage is a fresh temporary folder per start (removed at stop) unless ``data_dir`` (or
``EMBEDDED_BROKER_DIR``) names a persistent one, which keeps topics, offsets and the
cluster id across restarts. The settings follow shared/kafka-local.md.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from common.broker_process import BrokerError, BrokerProcess, free_port
from common.kafka_jars import MIN_JAVA, fetch_jars, find_java, kafka_version
from common.settings import Settings

#: the JVM's heap: a single-node broker for tests and demos needs little
HEAP = "-Xmx768m"

LOG4J2 = """\
Configuration:
  Appenders:
    Console:
      name: STDOUT
      target: SYSTEM_OUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka.request.logger
        level: WARN
      - name: state.change.logger
        level: WARN
      - name: org.apache.kafka.storage.internals.log
        level: WARN
      - name: kafka.log
        level: WARN
"""


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding, not starting
    with '-' (as Kafka's own ``Uuid.randomUuid`` does, so it is never read as a flag)."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


@dataclass(frozen=True)
class SaslSslListener:
    """An extra SASL_SSL listener (mechanism PLAIN) beside the PLAINTEXT one, for testing
    clients against TLS and authentication. The PLAINTEXT listener stays the inter-broker
    and readiness listener; the controller listener stays PLAINTEXT on loopback."""

    #: PKCS12 keystore holding the broker's key and its certificate chain
    keystore: Path
    keystore_password: str = field(repr=False)
    #: user name -> password, the accounts PLAIN accepts
    users: Mapping[str, str] = field(repr=False)
    #: 0 = a free port picked at start
    port: int = 0

    def properties(self) -> dict[str, str]:
        """The listener's settings (``listener.name.sasl_ssl.*``): JAAS for PLAIN with
        the accounts, and the keystore; clients are not asked for certificates."""
        for value in (*self.users, *self.users.values(), self.keystore_password):
            # a JAAS value is quoted and a properties value unescaped: keep both literal
            if any(c in value for c in '"\\\n;'):
                raise ValueError(
                    'SASL_SSL listener: names and passwords may not hold " \\ ; or newlines'
                )
        prefix = "listener.name.sasl_ssl."
        accounts = " ".join(f'user_{u}="{pw}"' for u, pw in self.users.items())
        return {
            "sasl.enabled.mechanisms": "PLAIN",
            prefix + "sasl.enabled.mechanisms": "PLAIN",
            prefix + "plain.sasl.jaas.config": (
                f"org.apache.kafka.common.security.plain.PlainLoginModule required {accounts};"
            ),
            prefix + "ssl.keystore.type": "PKCS12",
            prefix + "ssl.keystore.location": str(self.keystore),
            prefix + "ssl.keystore.password": self.keystore_password,
            prefix + "ssl.client.auth": "none",
        }


def server_properties(
    port: int,
    controller_port: int,
    data_dir: Path,
    extra: Mapping[str, str] | None = None,
    *,
    sasl_ssl: SaslSslListener | None = None,
    sasl_ssl_port: int = 0,
) -> dict[str, str]:
    """The broker's configuration: one node as broker and controller on 127.0.0.1, every
    internal topic at replication factor 1, small thread pools for a 2-core machine; with
    ``sasl_ssl``, a SASL_SSL listener on ``sasl_ssl_port`` too."""
    listeners = [f"PLAINTEXT://127.0.0.1:{port}"]
    protocols = ["PLAINTEXT:PLAINTEXT", "CONTROLLER:PLAINTEXT"]
    if sasl_ssl is not None:
        listeners.append(f"SASL_SSL://127.0.0.1:{sasl_ssl_port}")
        protocols.append("SASL_SSL:SASL_SSL")
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": ",".join([*listeners, f"CONTROLLER://127.0.0.1:{controller_port}"]),
        "advertised.listeners": ",".join(listeners),
        "listener.security.protocol.map": ",".join(protocols),
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(data_dir / "log"),
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "4",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "num.network.threads": "2",
        "num.io.threads": "2",
        "background.threads": "2",
        "log.cleaner.threads": "1",
        "log.cleaner.dedupe.buffer.size": str(2 * 1024 * 1024),
        "auto.create.topics.enable": "false",
        # timestamps are event times: a synthetic replay may be dated ahead of the clock,
        # which Kafka 4 refuses beyond an hour by default
        "log.message.timestamp.after.max.ms": str(2**63 - 1),
        "delete.topic.enable": "true",
    }
    if sasl_ssl is not None:
        props.update(sasl_ssl.properties())
    props.update(extra or {})
    return props


def render_properties(props: Mapping[str, str]) -> str:
    return "".join(f"{k}={v}\n" for k, v in props.items())


class KafkaBroker(BrokerProcess):
    """Apache Kafka (KRaft, one node) on 127.0.0.1:<free port>, optionally with a SASL_SSL
    listener as well (``sasl_ssl``; its address is :attr:`sasl_ssl_bootstrap`)."""

    kind = "kafka"
    start_timeout_s = 60.0
    stop_timeout_s = 20.0

    def __init__(
        self,
        settings: Settings | None = None,
        port: int | None = None,
        *,
        data_dir: str | Path | None = None,
        extra_properties: Mapping[str, str] | None = None,
        sasl_ssl: SaslSslListener | None = None,
    ) -> None:
        super().__init__(settings, port)
        self.version = kafka_version()
        persistent = data_dir if data_dir is not None else self.settings.embedded_broker_dir
        self.persistent = bool(persistent)
        self.data_dir: Path | None = Path(persistent).resolve() if persistent else None
        self.controller_port = 0
        self.extra_properties = dict(extra_properties or {})
        self.sasl_ssl = sasl_ssl
        self.sasl_ssl_port = sasl_ssl.port if sasl_ssl is not None else 0
        self.jars: Path | None = None
        self.java = ""

    @property
    def sasl_ssl_bootstrap(self) -> str:
        """The SASL_SSL listener's address (after :meth:`start`)."""
        if self.sasl_ssl is None:
            raise BrokerError("this broker has no SASL_SSL listener")
        return f"127.0.0.1:{self.sasl_ssl_port}"

    @property
    def config_path(self) -> Path:
        assert self.data_dir is not None
        return self.data_dir / "server.properties"

    def prepare(self) -> None:
        java = find_java()
        if java is None or java.major < MIN_JAVA:
            found = f"Java {java.version} at {java.path}" if java else "no java on PATH"
            raise BrokerError(f"Apache Kafka {self.version} needs Java {MIN_JAVA}+ ({found})")
        self.java = java.path
        self.jars = fetch_jars()
        if self.data_dir is None:
            self.data_dir = Path(tempfile.mkdtemp(prefix=f"kafka-{self.port}-"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.controller_port = free_port()
        if self.sasl_ssl is not None and not self.sasl_ssl_port:
            self.sasl_ssl_port = free_port()
        props = server_properties(
            self.port,
            self.controller_port,
            self.data_dir,
            self.extra_properties,
            sasl_ssl=self.sasl_ssl,
            sasl_ssl_port=self.sasl_ssl_port,
        )
        self.config_path.write_text(render_properties(props))
        self.config_path.chmod(0o600)  # it may hold the listener's passwords
        (self.data_dir / "log4j2.yaml").write_text(LOG4J2)
        meta = self.data_dir / "log" / "meta.properties"
        if meta.exists():
            self.cluster_id = _read_cluster_id(meta)
            return
        self.cluster_id = new_cluster_id()
        self._storage_tool("format", "-t", self.cluster_id, "-c", str(self.config_path))

    def _storage_tool(self, *args: str) -> None:
        # StorageTool calls System.exit, so it runs as its own JVM
        cmd = [self.java, "-Xmx256m", *self._classpath(), "kafka.tools.StorageTool", *args]
        with open(self.log_path, "ab") as log:
            code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=120).returncode
        if code != 0:
            raise BrokerError(f"formatting the storage in {self.data_dir} failed (exit {code})")

    def _classpath(self) -> list[str]:
        assert self.jars is not None
        return ["-cp", str(self.jars / "*")]

    def command(self) -> Sequence[str]:
        assert self.data_dir is not None
        return [
            self.java,
            HEAP,
            "-Xms256m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.yaml'}",
            f"-Dkafka.logs.dir={self.run_dir}",
            *self._classpath(),
            "kafka.Kafka",
            str(self.config_path),
        ]

    def cleanup(self) -> None:
        if not self.persistent and self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir = None


def _read_cluster_id(meta: Path) -> str:
    for line in meta.read_text().splitlines():
        if line.startswith("cluster.id="):
            return line.split("=", 1)[1].strip()
    return ""
