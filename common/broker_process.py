"""What every local broker process shares: free ports, a log file, readiness by metadata,
and stopping by PID (TERM, then KILL), also when the parent dies.

The brokers themselves are :mod:`common.kafka_broker` (Apache Kafka) and
:mod:`common.tansu_broker` (Tansu); :mod:`common.broker` chooses between them.
"""

from __future__ import annotations

import contextlib
import ctypes
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from common.kafka_config import admin_config
from common.settings import Settings


class BrokerError(RuntimeError):
    """The broker could not be started or reached; the message says why and where to look."""


@dataclass(frozen=True)
class Metadata:
    """What a broker said in answer to a metadata request."""

    brokers: int
    cluster_id: str | None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


class _NullLogger:
    """librdkafka logger that swallows connection chatter (errors surface as exceptions)."""

    def log(self, *args: object, **kwargs: object) -> None:
        pass

    def __getattr__(self, name: str) -> object:
        return self.log


#: librdkafka errors that waiting does not cure: credentials refused, a certificate not trusted
#: (or TLS spoken to a plaintext port)
HOPELESS_ERRORS = frozenset({"_AUTHENTICATION", "_SSL"})

_BROKER_PREFIX = re.compile(r"^\S+/\S+: ")  # "sasl_ssl://127.0.0.1:9093/bootstrap: "
_STATE_SUFFIX = re.compile(r"\s*\(after \d+ms in state .*\)$")
_OPENSSL_CODE = re.compile(r"error:[0-9A-Fa-f]+:[^:]*::?")
_SASL_FAILED = re.compile(r"^SASL authentication error: Authentication failed:? ?")


def connect_cause(text: str) -> str:
    """A librdkafka connection error as a short cause (no broker prefix, state or OpenSSL
    code): "SASL authentication failed: Invalid username or password", "SSL handshake
    failed: certificate verify failed: ..."."""
    text = _STATE_SUFFIX.sub("", _BROKER_PREFIX.sub("", text.strip()))
    text = _OPENSSL_CODE.sub("", text)
    return _SASL_FAILED.sub("SASL authentication failed: ", text).rstrip(": ")


class ConnectErrors:
    """A client's ``error_cb``: keeps the first hopeless error's cause and the last one."""

    def __init__(self) -> None:
        self.hopeless: str | None = None
        self.last: str | None = None

    def __call__(self, err: Any) -> None:
        if err.name() == "_ALL_BROKERS_DOWN":  # says no more than the error before it
            return
        self.last = connect_cause(err.str())
        if err.name() in HOPELESS_ERRORS and self.hopeless is None:
            self.hopeless = self.last


def wait_for_metadata(
    bootstrap: str,
    settings: Settings,
    timeout_s: float,
    *,
    alive: Callable[[], bool] | None = None,
) -> Metadata:
    """Block until the broker answers a metadata request naming at least one broker.

    ``alive``: when given and it returns False (the process died), waiting stops at once.
    Raises BrokerError naming the address and the cause if no answer comes within
    ``timeout_s``, and at once when the broker refuses the credentials or TLS fails.
    """
    from confluent_kafka.admin import AdminClient

    errors = ConnectErrors()
    conf = admin_config(settings, bootstrap)
    conf["log_level"] = 0  # librdkafka's own connection errors would flood stderr
    conf["logger"] = _NullLogger()
    conf["error_cb"] = errors
    admin = AdminClient(conf)
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    step = 0.25  # short first tries, so a refused login is told in well under a second
    while (remaining := deadline - time.monotonic()) > 0:
        if alive is not None and not alive():
            raise BrokerError(f"the broker process for {bootstrap} exited while starting")
        step = min(step * 2, 2.0)
        try:
            md = admin.list_topics(timeout=min(remaining, step))
            if md.brokers:
                return Metadata(len(md.brokers), str(md.cluster_id) if md.cluster_id else None)
        except Exception as e:  # KafkaException on timeout / transport failure
            last = e
        admin.poll(0)  # serves error_cb
        if errors.hopeless:
            raise BrokerError(f"Kafka broker at {bootstrap}: {errors.hopeless}")
        time.sleep(0.05)
    detail = f" ({errors.last or last})" if errors.last or last else ""
    raise BrokerError(
        f"Kafka broker at {bootstrap} did not answer a metadata request within {timeout_s:g} s{detail}"
    )


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    # Linux only: the broker gets SIGTERM when the process that started it dies (even by
    # SIGKILL), so a killed test run or demo leaves no broker behind.
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class BrokerProcess:
    """A broker child process on 127.0.0.1:``port`` whose output goes to ``log_path``.

    Subclasses set ``kind`` and ``version`` and implement :meth:`command` (and may prepare
    files in :meth:`prepare`). :meth:`start` waits until metadata answers.
    """

    kind = "broker"
    version = ""
    #: seconds a start may take before it is called failed (a JVM on 2 busy cores is slow)
    start_timeout_s = 30.0
    #: seconds between SIGTERM and SIGKILL
    stop_timeout_s = 10.0

    def __init__(self, settings: Settings | None = None, port: int | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.port = port or free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.run_dir = Path(self.settings.run_dir).resolve()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.run_dir / f"{self.kind}-{self.port}.log"
        self.pid_path = self.run_dir / f"{self.kind}-{self.port}.pid"
        self.proc: subprocess.Popen[bytes] | None = None
        self.cluster_id = ""

    # --- to implement ------------------------------------------------------------------
    def prepare(self) -> None:
        """Files the broker needs before it starts (config, formatted storage)."""

    def command(self) -> Sequence[str]:
        raise NotImplementedError

    def cleanup(self) -> None:
        """Remove what :meth:`prepare` made that must not outlive a stop."""

    # --- shared ------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return f"{self.kind} {self.version}".strip()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout_s: float | None = None) -> Self:
        if port_in_use(self.port):
            raise BrokerError(f"port {self.port} on 127.0.0.1 is already in use; pick another")
        try:
            self.prepare()
            self._spawn()
            md = wait_for_metadata(
                self.bootstrap,
                self.settings,
                timeout_s if timeout_s is not None else self.start_timeout_s,
                alive=self.alive,
            )
        except BrokerError as e:
            code = self.proc.poll() if self.proc else None
            self.stop()
            why = f"exited with code {code}" if code is not None else str(e)
            raise BrokerError(f"{self.name} did not start ({why}); see {self.log_path}") from e
        except BaseException:
            self.stop()
            raise
        self.cluster_id = md.cluster_id or self.cluster_id
        return self

    def _spawn(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        try:
            self.proc = subprocess.Popen(
                list(self.command()),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C in a terminal is handled by us, not the child
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        finally:
            log.close()
        self.pid_path.write_text(str(self.proc.pid))

    def stop(self, timeout_s: float | None = None) -> None:
        """Stop the broker we started, by its PID (TERM, then KILL); idempotent."""
        proc, self.proc = self.proc, None
        wait = timeout_s if timeout_s is not None else self.stop_timeout_s
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(wait)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(wait)
        with contextlib.suppress(FileNotFoundError):
            self.pid_path.unlink()
        self.cleanup()

    def __enter__(self) -> Self:
        return self.start() if self.proc is None else self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
