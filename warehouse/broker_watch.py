"""What the materializer knows of the broker: whether it answers (said once per outage),
which cluster the stored offsets were checked against, and the check itself.

Each stored offset carries the cluster id of the broker it was consumed from. At start
(and when the broker's cluster id changes under a running materializer) the stored offsets
are checked against the broker (``common.broker_identity.decide_offsets``): offsets from
another cluster (the embedded broker restarted and lost its topics) or beyond what a
partition now holds are forgotten with ONE clear warning, the rows are kept, and those
partitions are read again from their start, so a replay into the new broker is
materialized instead of silently skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from common.broker import BrokerError
from common.broker_identity import decide_offsets, is_embedded_cluster
from common.kafka_config import consumer_config
from common.settings import Settings
from warehouse.offsets import OffsetStore, Partition

log = logging.getLogger("warehouse")


class BrokerChanged(Exception):
    """The broker's cluster id changed under a running materializer (internal: run()
    reconnects and checks the stored offsets again)."""


class KafkaLog:
    """librdkafka log sink: debug-level Python logging (connection chatter would flood
    stderr while a broker is down; errors reach error_cb and exceptions)."""

    _log = logging.getLogger("warehouse.librdkafka")

    def log(self, level: int, msg: str, *args: object, **kwargs: object) -> None:
        self._log.debug(msg, *args)


class BrokerWatch:
    """The broker at ``settings.bootstrap_servers``, as one materializer sees it; every
    change worth saying goes to ``notice``."""

    def __init__(self, settings: Settings, notice: Callable[[str], None]) -> None:
        self.settings = settings
        self.notice = notice
        #: cluster id of the broker the current consumer was checked against
        self.cluster_id: str | None = None
        self._unreachable = False

    def unreachable(self, message: str) -> None:
        """The broker does not answer: say ``message``, once per outage."""
        if not self._unreachable:
            self._unreachable = True
            self.notice(message)

    def reachable(self) -> None:
        if self._unreachable:
            self._unreachable = False
            self.notice(f"broker at {self.settings.bootstrap_servers} reachable again")

    def consumer_config(self, settings: Settings, group: str) -> dict[str, Any]:
        """The materializer's consumer settings; a lost broker is reported once, by name,
        through :meth:`metadata` and the error callback (librdkafka would log every failed
        reconnect to stderr)."""
        conf = consumer_config(settings, group)
        conf["enable.partition.eof"] = False
        conf["logger"] = KafkaLog()
        conf["error_cb"] = self.on_error
        return conf

    def on_error(self, err: KafkaError) -> None:
        if err.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT):
            self.unreachable(
                f"broker at {self.settings.bootstrap_servers} unreachable ({err.str()}); retrying"
            )
        elif err.fatal():
            log.error("materializer: Kafka error: %s", err.str())

    def metadata(self, consumer: Consumer) -> Any:
        """Cluster metadata, or BrokerError naming the broker if it does not answer."""
        try:
            md = consumer.list_topics(timeout=self.settings.connect_timeout_s)
        except KafkaException as e:
            raise BrokerError(
                f"broker at {self.settings.bootstrap_servers} unreachable: no metadata answer "
                f"within {self.settings.connect_timeout_s:g} s ({e})"
            ) from e
        self.reachable()
        return md

    def check_offsets(self, consumer: Consumer, offsets: OffsetStore) -> None:
        """Compare the stored offsets with the broker now answering; forget those consumed
        from another broker or beyond what a partition now holds (rows are kept), saying
        so once. Runs in the writer thread before the fetcher starts."""
        md = self.metadata(consumer)
        cluster_id = str(md.cluster_id) if md.cluster_id else None
        stored = offsets.stored()
        marks: dict[Partition, int | None] = {}
        for topic, p in stored:
            meta = md.topics.get(topic)
            if meta is None or meta.error is not None or p not in meta.partitions:
                marks[(topic, p)] = None
                continue
            _, high = consumer.get_watermark_offsets(
                TopicPartition(topic, p), timeout=self.settings.connect_timeout_s, cached=False
            )
            marks[(topic, p)] = int(high)
        verdict = decide_offsets(
            stored, cluster_id, marks, exact_watermarks=not is_embedded_cluster(cluster_id)
        )
        if verdict.action == "forget":
            offsets.forget(verdict.forget)
            self.notice(verdict.message(self.settings.bootstrap_servers, cluster_id))
        self.cluster_id = cluster_id

    def same_cluster(self, metadata: Any) -> None:
        """Raise BrokerChanged if ``metadata`` comes from another cluster than the one
        checked."""
        if metadata.cluster_id and self.cluster_id and str(metadata.cluster_id) != self.cluster_id:
            raise BrokerChanged(str(metadata.cluster_id))
