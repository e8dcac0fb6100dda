"""The ``quixstreams.Application`` of a worker: its group, state directory and clients."""

from __future__ import annotations

import hashlib

from quixstreams import Application

from common.kafka_config import quix_extra_consumer_config, quix_extra_producer_config
from common.settings import Settings, state_path


def transactional_id(settings: Settings, name: str) -> str:
    """Exactly-once: one id per worker replica (its state directory), stable across its
    restarts, so a restarted worker fences and aborts the transaction its killed
    predecessor left open at once, instead of every read_committed reader of its topics
    (its own changelogs and merge topics included) waiting for the transaction timeout."""
    where = str(state_path(settings, name).resolve())
    return f"{settings.group(name)}-{hashlib.sha1(where.encode()).hexdigest()[:12]}"


def worker_application(settings: Settings, name: str) -> Application:
    """The application of the worker ``name`` (its worker id), not started."""
    # local state is kept across restarts: its changelog producer is configured for that
    # (on Tansu, quix_extra_producer_config keeps the high watermark exact, which Quix checks)
    producer_config = quix_extra_producer_config(
        settings, stateful=True, transactional_id=transactional_id(settings, name)
    )
    return Application(
        broker_address=settings.bootstrap_servers,
        consumer_group=settings.group(name),
        state_dir=str(state_path(settings, name)),
        processing_guarantee=settings.processing_guarantee,  # type: ignore[arg-type]
        auto_offset_reset="earliest",
        consumer_extra_config=quix_extra_consumer_config(settings),
        producer_extra_config=producer_config,
        commit_interval=settings.commit_interval_seconds,
        loglevel="WARNING",
    )
