"""Which broker a worker talks to, and whether its local state was built from that one.

A worker's local state (RocksDB) mirrors changelog topics on one broker. The embedded
broker gets a new cluster id when it restarts without its data, and its changelogs are
gone with it: state built from another cluster must be discarded, not trusted.
"""

from __future__ import annotations

import json
import logging
import shutil

from confluent_kafka.admin import AdminClient

from common.broker_identity import kind_of_cluster, state_is_stale, state_message
from common.kafka_config import admin_config
from common.settings import Settings, state_path

log = logging.getLogger("processors")

#: file in a stage's state dir naming the broker its local state was built from
BROKER_MARKER = "broker.json"


def broker_cluster_id(settings: Settings) -> str | None:
    """The broker's cluster id from metadata (None if it does not answer or say)."""
    if settings.embedded:
        return None
    try:
        md = AdminClient(admin_config(settings)).list_topics(timeout=settings.connect_timeout_s)
    except Exception:
        return None
    return str(md.cluster_id) if md.cluster_id else None


def with_broker_kind(settings: Settings, cluster_id: str | None) -> Settings:
    """Settings that know the broker's kind (``cluster_id`` from :func:`broker_cluster_id`),
    so Tansu's workarounds apply there only."""
    return (
        settings
        if settings.broker_kind
        else settings.with_(broker_kind=kind_of_cluster(cluster_id))
    )


def check_state_broker(settings: Settings, stage: str, cluster_id: str | None) -> str | None:
    """Discard a stage's local state built from another broker (cluster id differs: the
    embedded broker restarted and its changelog topics are gone), then record the broker
    now used. Returns the message said (also logged), or None when the state is kept."""
    path = state_path(settings, stage)
    marker = path / BROKER_MARKER
    stored: str | None = None
    try:
        stored = json.loads(marker.read_text()).get("cluster_id")
    except (OSError, ValueError, AttributeError):
        stored = None
    said = None
    if state_is_stale(stored, cluster_id):
        said = state_message(
            stage, settings.bootstrap_servers, str(stored), str(cluster_id), str(path)
        )
        log.warning("%s", said)
        shutil.rmtree(path, ignore_errors=True)
    if cluster_id:
        path.mkdir(parents=True, exist_ok=True)
        marker.write_text(
            json.dumps({"cluster_id": cluster_id, "bootstrap": settings.bootstrap_servers})
        )
    return said
