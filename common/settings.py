"""One settings object for every component, read from environment variables and CLI flags.

Precedence: CLI flag > environment variable > documented default. Every field below has an
environment variable (``env``) and a CLI flag derived from its name (``--bootstrap-servers``).
`compose.yaml` and the README use exactly these variable names (a test checks it).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

PROCESSING_GUARANTEES = ("at-least-once", "exactly-once")
EMBEDDED_BROKERS = ("auto", "kafka", "tansu")
BROKER_KINDS = ("", "kafka", "tansu")
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")

#: Fields that must never be printed or logged in clear.
SECRET_FIELDS = frozenset({"sasl_password", "ssl_key_password"})


def _f(default: Any, env: str, help: str, group: str = "kafka") -> Any:
    secret = "never logged" in help
    return field(
        default=default, repr=not secret, metadata={"env": env, "help": help, "group": group}
    )


@dataclass(frozen=True)
class Settings:
    # --- broker connection -------------------------------------------------------------
    bootstrap_servers: str = _f(
        "",
        "KAFKA_BOOTSTRAP_SERVERS",
        "Kafka bootstrap servers; empty = start a local broker (EMBEDDED_BROKER)",
    )
    security_protocol: str = _f(
        "PLAINTEXT", "KAFKA_SECURITY_PROTOCOL", "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
    )
    sasl_mechanism: str = _f("", "KAFKA_SASL_MECHANISM", "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512")
    sasl_username: str = _f("", "KAFKA_SASL_USERNAME", "SASL user name")
    sasl_password: str = _f("", "KAFKA_SASL_PASSWORD", "SASL password (never logged)")
    ssl_ca_location: str = _f("", "KAFKA_SSL_CA_LOCATION", "CA certificate file (PEM)")
    ssl_certificate_location: str = _f(
        "", "KAFKA_SSL_CERTIFICATE_LOCATION", "client certificate file (PEM)"
    )
    ssl_key_location: str = _f("", "KAFKA_SSL_KEY_LOCATION", "client key file (PEM)")
    ssl_key_password: str = _f("", "KAFKA_SSL_KEY_PASSWORD", "client key password (never logged)")
    connect_timeout_s: float = _f(
        10.0, "KAFKA_CONNECT_TIMEOUT_S", "seconds to wait for the broker to answer metadata"
    )
    session_timeout_ms: int = _f(
        0,
        "KAFKA_SESSION_TIMEOUT_MS",
        "consumer session timeout; 0 = the client's default (45 s), 6000 on Tansu (it joins in ~T/2)",
    )
    broker_kind: str = _f(
        "",
        "KAFKA_BROKER_KIND",
        "kafka or tansu; empty = told by the broker's cluster id (set for child processes)",
    )
    message_timeout_ms: int = _f(
        20000,
        "KAFKA_MESSAGE_TIMEOUT_MS",
        "producer delivery timeout (fail fast if the broker is gone)",
    )
    processing_guarantee: str = _f(
        "at-least-once",
        "PROCESSING_GUARANTEE",
        "at-least-once (default, any broker) or exactly-once (real Kafka only)",
        "processing",
    )
    # --- embedded broker ---------------------------------------------------------------
    embedded_broker: str = _f(
        "auto",
        "EMBEDDED_BROKER",
        "local broker when none is configured: auto (Apache Kafka if Java 17+ and its jars "
        "are cached or Maven can fetch them, else Tansu), kafka or tansu",
        "embedded",
    )
    embedded_broker_dir: str = _f(
        "",
        "EMBEDDED_BROKER_DIR",
        "persistent storage folder of the local Apache Kafka; empty = a fresh temporary one per start",
        "embedded",
    )
    run_dir: str = _f(
        ".run", "RUN_DIR", "folder for the local broker's log and pid files", "embedded"
    )
    # --- topics ------------------------------------------------------------------------
    topic_prefix: str = _f(
        "", "TOPIC_PREFIX", "prefix for every topic name (a namespace per experiment)", "topics"
    )
    topic_raw: str = _f("RAW_DATA", "TOPIC_RAW", "raw rows as replayed", "topics")
    topic_clean: str = _f(
        "CLEAN_DATA", "TOPIC_CLEAN", "typed, valid, de-duplicated queries", "topics"
    )
    topic_query_metrics: str = _f(
        "QUERY_METRICS", "TOPIC_QUERY_METRICS", "per-cluster window metrics", "topics"
    )
    topic_compile_metrics: str = _f(
        "COMPILE_METRICS", "TOPIC_COMPILE_METRICS", "per-cluster compile metrics", "topics"
    )
    topic_leaderboard: str = _f("LEADERBOARD", "TOPIC_LEADERBOARD", "top-k boards", "topics")
    topic_flattened: str = _f(
        "FLATTENED", "TOPIC_FLATTENED", "one row per query x table x access", "topics"
    )
    topic_dead_letters: str = _f(
        "DEAD_LETTERS", "TOPIC_DEAD_LETTERS", "rows that could not be cleaned", "topics"
    )
    partitions: int = _f(4, "TOPIC_PARTITIONS", "partitions per topic", "topics")
    replication_factor: int = _f(1, "TOPIC_REPLICATION_FACTOR", "replication factor", "topics")
    retention_ms: int = _f(
        -1,
        "TOPIC_RETENTION_MS",
        "retention.ms of every topic (-1 = unlimited: timestamps are event times, often years old)",
        "topics",
    )
    retention_bytes: int = _f(
        -1, "TOPIC_RETENTION_BYTES", "retention.bytes (-1 = unlimited)", "topics"
    )
    # --- processing --------------------------------------------------------------------
    window_seconds: int = _f(
        3600, "WINDOW_SECONDS", "tumbling event-time window for metrics", "processing"
    )
    grace_seconds: int = _f(
        60,
        "GRACE_SECONDS",
        "grace period before a window closes; later rows count as late",
        "processing",
    )
    leaderboard_window_seconds: int = _f(
        3600, "LEADERBOARD_WINDOW_SECONDS", "event-time window of the leaderboards", "processing"
    )
    leaderboard_k: int = _f(10, "LEADERBOARD_K", "entries per leaderboard", "processing")
    health_queue_pressure: float = _f(
        0.25,
        "HEALTH_QUEUE_PRESSURE",
        "a cluster window is queue-bound when at least this share of its queries queued",
        "processing",
    )
    health_spill_pressure: float = _f(
        0.05,
        "HEALTH_SPILL_PRESSURE",
        "a cluster window is spill-bound when at least this share of its queries spilled",
        "processing",
    )
    health_compile_share: float = _f(
        0.2,
        "HEALTH_COMPILE_SHARE",
        "a cluster window is compile-bound when compiling took this share of execution time",
        "processing",
    )
    health_scan_mb_per_s: float = _f(
        5000.0,
        "HEALTH_SCAN_MB_PER_S",
        "a cluster window is scan-bound when it scanned this many MB per execution second",
        "processing",
    )
    health_trailing_windows: int = _f(
        24,
        "HEALTH_TRAILING_WINDOWS",
        "anomaly z-scores are against this many of the cluster's trailing final windows",
        "processing",
    )
    health_min_trailing: int = _f(
        6,
        "HEALTH_MIN_TRAILING",
        "fewest trailing windows with the metric known for a z-score (else it is null)",
        "processing",
    )
    health_z_threshold: float = _f(
        3.5,
        "HEALTH_Z_THRESHOLD",
        "a metric is flagged anomalous when its robust z-score is at least this far from 0",
        "processing",
    )
    commit_interval_seconds: float = _f(
        5.0,
        "COMMIT_INTERVAL_SECONDS",
        "seconds between a processor's checkpoints (flush, state write-back, offset commit); "
        "longer costs less per row, at-least-once replays up to this much after a crash",
        "processing",
    )
    dedup_horizon_seconds: int = _f(
        86400, "DEDUP_HORIZON_SECONDS", "event-time horizon of duplicate detection", "processing"
    )
    state_dir: str = _f(
        ".state", "STATE_DIR", "local state of the stateful processors", "processing"
    )
    consumer_group_prefix: str = _f(
        "redset", "CONSUMER_GROUP_PREFIX", "prefix of every consumer group", "processing"
    )
    # --- storage and dashboards -------------------------------------------------------
    duckdb_path: str = _f("data/warehouse.duckdb", "DUCKDB_PATH", "DuckDB file", "storage")
    refresh_seconds: float = _f(
        3.0, "DASHBOARD_REFRESH_SECONDS", "dashboard refresh period", "storage"
    )
    dashboard_read_only: bool = _f(
        False,
        "DASHBOARD_READ_ONLY",
        "dashboards open DUCKDB_PATH read-only and materialize nothing (offline experiment files)",
        "storage",
    )

    # ---------------------------------------------------------------------------------
    @property
    def embedded(self) -> bool:
        """True when no broker is configured, so the project starts its own."""
        return not self.bootstrap_servers.strip()

    @property
    def on_tansu(self) -> bool:
        """True when the broker is Tansu, whose workarounds then apply (broker-notes)."""
        return self.broker_kind == "tansu"

    def topic(self, name: str) -> str:
        """Full topic name (with prefix) of a logical topic: raw, clean, ..., dead_letters."""
        return self.topic_prefix + str(getattr(self, f"topic_{name}"))

    @property
    def topics(self) -> dict[str, str]:
        """Logical name -> full topic name, for every declared topic."""
        return {n: self.topic(n) for n in TOPIC_NAMES}

    def group(self, stage: str) -> str:
        """Consumer group of a stage; unique per topic namespace."""
        ns = self.topic_prefix.rstrip(".-_")
        return f"{self.consumer_group_prefix}{'.' + ns if ns else ''}.{stage}"

    def redacted(self) -> dict[str, Any]:
        """All settings as a dict, secrets replaced by '***' (safe to log)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = "***" if f.name in SECRET_FIELDS and v else v
        return out

    def to_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment variables that hand these settings to a child process."""
        env = dict(os.environ if base is None else base)
        for f in fields(self):
            env[str(f.metadata["env"])] = str(getattr(self, f.name))
        return env

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    def validate(self) -> None:
        if self.processing_guarantee not in PROCESSING_GUARANTEES:
            raise SettingsError(
                f"PROCESSING_GUARANTEE={self.processing_guarantee!r}: expected one of {PROCESSING_GUARANTEES}"
            )
        if self.security_protocol.upper() not in SECURITY_PROTOCOLS:
            raise SettingsError(
                f"KAFKA_SECURITY_PROTOCOL={self.security_protocol!r}: expected one of {SECURITY_PROTOCOLS}"
            )
        for name in ("partitions", "replication_factor", "window_seconds", "leaderboard_k"):
            if getattr(self, name) < 1:
                raise SettingsError(f"{env_name(name)} must be >= 1, got {getattr(self, name)}")
        if not 1 <= self.health_min_trailing <= self.health_trailing_windows:
            raise SettingsError(
                "HEALTH_MIN_TRAILING must be between 1 and HEALTH_TRAILING_WINDOWS, got "
                f"{self.health_min_trailing} (of {self.health_trailing_windows})"
            )
        if self.commit_interval_seconds <= 0:
            raise SettingsError(
                f"COMMIT_INTERVAL_SECONDS must be > 0, got {self.commit_interval_seconds}"
            )
        if self.grace_seconds < 0:
            raise SettingsError(f"GRACE_SECONDS must be >= 0, got {self.grace_seconds}")
        if self.embedded_broker not in EMBEDDED_BROKERS:
            raise SettingsError(
                f"EMBEDDED_BROKER={self.embedded_broker!r}: expected one of {EMBEDDED_BROKERS}"
            )
        if self.broker_kind not in BROKER_KINDS:
            raise SettingsError(
                f"KAFKA_BROKER_KIND={self.broker_kind!r}: expected kafka, tansu or empty"
            )
        tansu = self.on_tansu or (self.embedded and self.embedded_broker == "tansu")
        if tansu and self.processing_guarantee == "exactly-once":
            raise SettingsError(
                "exactly-once is not supported on the Tansu broker (its transactions leak, "
                "see README 'Broker'); use at-least-once, Apache Kafka (EMBEDDED_BROKER=kafka) "
                "or configure KAFKA_BOOTSTRAP_SERVERS"
            )

    # ---------------------------------------------------------------------------------
    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f.metadata["env"])
            if raw is not None:
                values[f.name] = _coerce(f.name, raw, type(f.default))
        values.update({k: v for k, v in overrides.items() if v is not None})
        s = cls(**values)
        s.validate()
        return s

    @classmethod
    def add_arguments(
        cls, parser: argparse.ArgumentParser, only: Sequence[str] | None = None
    ) -> None:
        """Add one ``--flag`` per setting (all, or the groups in ``only``) to ``parser``."""
        groups: dict[str, argparse._ArgumentGroup] = {}
        for f in fields(cls):
            g = f.metadata["group"]
            if only is not None and g not in only:
                continue
            if g not in groups:
                groups[g] = parser.add_argument_group(f"{g} settings")
            groups[g].add_argument(
                "--" + f.name.replace("_", "-"),
                dest=f"setting_{f.name}",
                type=_parse_bool if isinstance(f.default, bool) else type(f.default),
                default=None,
                metavar=f.metadata["env"],
                help=f"{f.metadata['help']} (env {f.metadata['env']}, default {f.default!r})",
            )

    @classmethod
    def from_args(
        cls, args: argparse.Namespace, environ: Mapping[str, str] | None = None
    ) -> Settings:
        overrides = {f.name: getattr(args, f"setting_{f.name}", None) for f in fields(cls)}
        return cls.from_env(environ, **overrides)


TOPIC_NAMES = (
    "raw",
    "clean",
    "query_metrics",
    "compile_metrics",
    "leaderboard",
    "flattened",
    "dead_letters",
)


class SettingsError(ValueError):
    """A setting has an invalid value; the message names the variable."""


def env_name(field_name: str) -> str:
    for f in fields(Settings):
        if f.name == field_name:
            return str(f.metadata["env"])
    raise KeyError(field_name)


def _parse_bool(raw: str) -> bool:
    return raw.strip().lower() in ("1", "true", "yes", "on")


def _coerce(name: str, raw: str, typ: type) -> Any:
    try:
        if typ is bool:
            return _parse_bool(raw)
        return typ(raw)
    except ValueError as e:
        raise SettingsError(f"{env_name(name)}={raw!r}: expected {typ.__name__}") from e


def state_path(settings: Settings, stage: str) -> Path:
    return Path(settings.state_dir) / (settings.topic_prefix.rstrip(".-_") or "default") / stage
