"""Materializer: topics -> DuckDB, effectively once.

Consumes with confluent-kafka by manual assignment from the offsets stored in DuckDB
(:mod:`warehouse.offsets`; never from consumer-group commits, never by time), has each
topic's :mod:`writer <warehouse.writers>` turn its messages into rows, and writes them
together with the partitions' next offsets in ONE transaction. A crash anywhere loses
nothing and duplicates nothing: the rows and the offsets that produced them commit or roll
back together, and redelivered or re-emitted messages hit the same keys. Before it
consumes, the stored offsets are checked against the broker
(:mod:`warehouse.broker_watch`); once caught up it checkpoints
(:mod:`warehouse.checkpoint`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from confluent_kafka import Consumer, KafkaException, Message

from common.broker import BrokerError, resolve_kind
from common.gc_tuning import tune_gc
from common.handoff import put_until_stopped
from common.settings import TOPIC_NAMES, Settings
from warehouse.broker_watch import BrokerChanged, BrokerWatch
from warehouse.checkpoint import CheckpointPolicy
from warehouse.offsets import OffsetStore, Partition
from warehouse.store import Warehouse
from warehouse.writers.base import TableWriter
from warehouse.writers.registry import WRITERS

ALL_TOPICS: tuple[str, ...] = TOPIC_NAMES

log = logging.getLogger("warehouse")

#: messages per consume() call (see Materializer._consume_batch)
_SLICE = 2000
#: how long one consume step waits for a batch to fill
_BATCH_WAIT_S = 0.2
#: new partitions and topics are looked for this often
_ASSIGN_EVERY_S = 5.0
#: start_background() retries a failed run this often
_RETRY_S = 5.0


@dataclass
class MaterializeStats:
    #: messages written per logical topic
    rows: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    batches: int = 0
    #: time.time() of the last batch written
    errors: list[str] = field(default_factory=list)
    #: clear messages about the broker (restarted, unreachable), newest last
    notices: list[str] = field(default_factory=list)


@dataclass
class Batch:
    """One consumed batch, prepared per logical topic, with the partitions' next offsets."""

    payloads: dict[str, Any]
    counts: dict[str, int]
    offsets: dict[Partition, int]
    #: cluster id of the broker the messages came from
    cluster_id: str | None = None


#: what the fetch thread hands the writer: a batch being parsed, nothing fetched, or its error
_Handoff: TypeAlias = Future[Batch] | BaseException | None


class Materializer:
    def __init__(
        self,
        settings: Settings,
        warehouse: Warehouse,
        topics: Sequence[str] = ALL_TOPICS,
        group: str | None = None,
        batch_size: int = 20_000,
        parsers: int = 1,
    ) -> None:
        unknown = set(topics) - set(ALL_TOPICS)
        if unknown:
            raise ValueError(f"unknown topics {sorted(unknown)}; choose from {ALL_TOPICS}")
        if parsers < 1:
            raise ValueError(f"parsers must be >= 1, not {parsers}")
        self.settings = settings
        self.warehouse = warehouse
        #: full topic name -> logical topic name
        self.logical_by_topic = {settings.topic(t): t for t in topics}
        #: logical topic name -> its table writer
        self.writers: dict[str, TableWriter[Any]] = {t: WRITERS[t]() for t in topics}
        self.consumer_name = group or settings.group("materialize")
        self.batch_size = batch_size
        #: batches parsed at once (see _run_once)
        self.parsers = parsers
        self.stats = MaterializeStats()
        self.offsets = OffsetStore(warehouse, self.consumer_name, self.logical_by_topic)
        self.broker = BrokerWatch(settings, self._notice)
        self.checkpoints = CheckpointPolicy(warehouse, batch_size, self._notice)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._assigned: set[Partition] = set()
        cur = warehouse.cursor()
        try:
            for writer in self.writers.values():
                writer.setup(cur)
        finally:
            cur.close()

    def stored_offsets(self) -> dict[Partition, int]:
        """(topic, partition) -> stored next offset, for this materializer's topics."""
        return self.offsets.next_offsets()

    def _notice(self, msg: str) -> None:
        self.stats.notices.append(msg)
        log.warning("materializer: %s", msg)

    # -- writing -----------------------------------------------------------------------
    def prepare(self, msgs: list[Message]) -> Batch:
        """Parse one batch (no database access; runs beside the previous batch's write)."""
        # a consumer hands each partition's messages over in offset order, so the last one of
        # a partition gives its next offset (were it not, a lower offset would be stored and
        # some messages read again, which the writers' keys absorb: never a loss)
        offsets = {(m.topic(), m.partition()): m.offset() + 1 for m in msgs}
        kept = [m for m in msgs if m.value() is not None]
        if len(kept) < len(msgs):
            # a tombstone (no value) carries no record: its offset is passed, nothing written
            self._notice(f"skipped {len(msgs) - len(kept)} message(s) without a value")
            msgs = kept
        topics = {t for t, _ in offsets}
        by_topic: dict[str, list[Message]] = defaultdict(list)
        if len(topics) == 1 and msgs:
            by_topic[self.logical_by_topic[topics.pop()]] = msgs
        else:
            for m in msgs:
                by_topic[self.logical_by_topic[m.topic()]].append(m)
        return Batch(
            payloads={t: self.writers[t].prepare(ms) for t, ms in by_topic.items()},
            counts={t: len(ms) for t, ms in by_topic.items()},
            offsets=offsets,
            cluster_id=self.broker.cluster_id,
        )

    def apply(self, batch: Batch) -> int:
        """Write one prepared batch and its offsets in one transaction; return rows written."""
        n = 0
        with self.warehouse.transaction() as cur:
            for topic, payload in batch.payloads.items():
                n += self.writers[topic].write(cur, payload)
            self.offsets.save(cur, batch.offsets, batch.cluster_id)
        for topic, c in batch.counts.items():
            self.stats.rows[topic] += c
        return n

    def write(self, msgs: list[Message]) -> int:
        """Write one batch and its offsets in one transaction; return rows written."""
        return self.apply(self.prepare(msgs))

    # -- loop --------------------------------------------------------------------------
    def run(
        self,
        until_idle: float | None = None,
        stop_event: threading.Event | None = None,
        until: Callable[[], bool] | None = None,
    ) -> MaterializeStats:
        """Consume and write until stopped, idle for ``until_idle`` s, or ``until()`` is true.

        Raises BrokerError when the broker does not answer metadata."""
        tune_gc()
        stop = stop_event or self._stop
        last_msg = time.monotonic()
        while True:
            try:
                last_msg = self._run_once(stop, until_idle, until, last_msg)
                return self.stats
            except BrokerChanged:
                continue  # reconnect: check the stored offsets against the new broker

    def _checked_consumer(self) -> Consumer:
        """A consumer of the broker, once the stored offsets were checked against it."""
        try:
            self.settings = resolve_kind(self.settings)
            consumer = Consumer(self.broker.consumer_config(self.settings, self.consumer_name))
        except KafkaException as e:
            raise BrokerError(
                f"cannot create a consumer for {self.settings.bootstrap_servers}: {e}"
            ) from e
        try:
            self.broker.check_offsets(consumer, self.offsets)
        except BaseException:
            consumer.close()
            raise
        return consumer

    def _run_once(
        self,
        stop: threading.Event,
        until_idle: float | None,
        until: Callable[[], bool] | None,
        last_msg: float,
    ) -> float:
        consumer = self._checked_consumer()
        # three stages: the fetch thread consumes (the consumer lives there) and hands each
        # batch to the parser pool, this thread writes the batches in the order they were
        # consumed (a Future per batch in a FIFO; pyarrow and DuckDB release the GIL). One
        # parser by default: on 2 cores beside the broker a second one did not pay.
        q: queue.Queue[_Handoff] = queue.Queue(maxsize=self.parsers + 1)
        halt = threading.Event()
        pool = ThreadPoolExecutor(self.parsers, thread_name_prefix="materializer-parse")
        fetcher = threading.Thread(
            target=self._fetch,
            args=(consumer, pool, q, halt),
            name="materializer-fetch",
            daemon=True,
        )
        fetcher.start()
        try:
            while not stop.is_set() and not self._stop.is_set():
                batch = self._next_batch(q)
                rows = None
                if batch is not None:
                    rows = self._write_counted(batch)
                    last_msg = time.monotonic()
                if until is not None and until():
                    break
                idle_s = time.monotonic() - last_msg
                if batch is None and until_idle is not None and idle_s > until_idle:
                    break
                self.checkpoints.after_fetch(rows)
        finally:
            halt.set()  # the fetcher only blocks for _BATCH_WAIT_S at a time
            fetcher.join(30)
            if fetcher.is_alive():
                log.warning("materializer: the fetch thread did not stop within 30 s")
            # nothing parsed from now on is written: do not wait for a parse in progress
            pool.shutdown(wait=False, cancel_futures=True)
        return last_msg

    def _next_batch(self, q: queue.Queue[_Handoff]) -> Batch | None:
        """The next batch to write (waiting for its parser), None when the fetcher found
        nothing; the fetcher's or the parser's exception raised (and counted as an error,
        unless the broker changed)."""
        try:
            item = q.get(timeout=0.5)
        except queue.Empty:
            return None
        try:
            if isinstance(item, BaseException):
                raise item
            return None if item is None else item.result()
        except BrokerChanged:
            raise
        except BaseException as e:
            self.stats.errors.append(f"{type(e).__name__}: {e}")
            raise

    def _write_counted(self, batch: Batch) -> int:
        """Write ``batch``, count it in the stats; return its messages."""
        self.apply(batch)
        rows = sum(batch.counts.values())
        self.stats.batches += 1
        return rows

    def _fetch(
        self,
        consumer: Consumer,
        pool: ThreadPoolExecutor,
        out: queue.Queue[_Handoff],
        halt: threading.Event,
    ) -> None:
        last_assign = 0.0
        try:
            while not halt.is_set():
                now = time.monotonic()
                if now - last_assign > _ASSIGN_EVERY_S or not self._assigned:
                    self._assign_new(consumer)
                    last_assign = now
                msgs = self._consume_batch(consumer)
                if msgs:
                    self.broker.reachable()
                put_until_stopped(out, pool.submit(self.prepare, msgs) if msgs else None, halt)
        except BaseException as e:
            put_until_stopped(out, e, halt)
        finally:
            consumer.close()
            self._assigned.clear()

    def _assign_new(self, consumer: Consumer) -> None:
        """Assign the partitions that appeared since the last look, at their stored offsets."""
        try:
            md = self.broker.metadata(consumer)
        except BrokerError as e:
            # a broker away mid-run (restarting): the consumer reconnects by itself and the
            # assigned partitions resume; only a first start fails
            if not self._assigned:
                raise
            self.broker.unreachable(f"{e}; retrying")
            return
        self.broker.same_cluster(md)
        new = self.offsets.new_assignments(md, self._assigned)
        if new:
            consumer.incremental_assign(new)

    def _consume_batch(self, consumer: Consumer) -> list[Message]:
        """Up to ``batch_size`` messages within _BATCH_WAIT_S, taken in slices: ``consume()``
        holds the GIL while it builds its messages, and one call for a whole batch kept the
        parse and write threads from returning to Python for tens of milliseconds."""
        out: list[Message] = []
        deadline = time.monotonic() + _BATCH_WAIT_S
        while len(out) < self.batch_size:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            got = consumer.consume(min(_SLICE, self.batch_size - len(out)), left)
            out.extend(m for m in got if m.error() is None)
        return out

    def start_background(self) -> threading.Thread:
        def _target() -> None:
            while not self._stop.is_set():
                try:
                    self.run()
                except BrokerError as e:  # keep serving; say it once per outage
                    self.broker.unreachable(f"{e}; retrying every {_RETRY_S:g} s")
                    self._stop.wait(_RETRY_S)
                except Exception as e:  # keep serving; say what happened
                    self.stats.errors.append(f"{type(e).__name__}: {e}")
                    self._stop.wait(_RETRY_S)

        self._thread = threading.Thread(target=_target, name="materializer", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
