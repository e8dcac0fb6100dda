"""Materializer: topics -> DuckDB, effectively once.

Consumes with confluent-kafka by manual assignment from the offsets stored in DuckDB (never
from consumer-group commits, never by time), turns each batch into Arrow, and inserts it
(``INSERT OR IGNORE``, guarded upserts, or for the two big tables an anti-join on the
record's identity within the batch's arrival range) together with the
partitions' next offsets, in ONE transaction. A crash anywhere loses nothing and duplicates
nothing: the rows and the offsets that produced them commit or roll back together, and
redelivered or re-emitted messages hit the same keys.

Each stored offset carries the cluster id of the broker it was consumed from. At start
(and when the broker's cluster id changes under a running materializer) the stored offsets
are checked against the broker (``common.broker_identity.decide_offsets``): offsets from
another cluster (the embedded broker restarted and lost its topics) or beyond what a
partition now holds are forgotten with ONE clear warning, the rows are kept, and those
partitions are read again from their start, so a replay into the new broker is
materialized instead of silently skipped.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from common.broker import BrokerError
from common.broker_identity import StoredOffset, decide_offsets, is_embedded_cluster
from common.contract import FLEET, HEALTH_METRICS
from common.gc_tuning import tune_gc
from common.handoff import put_until_stopped
from common.kafka_config import consumer_config
from common.settings import TOPIC_NAMES, Settings
from warehouse.store import Warehouse

ALL_TOPICS: tuple[str, ...] = TOPIC_NAMES

log = logging.getLogger("warehouse")


class BrokerChanged(Exception):
    """The broker's cluster id changed under a running materializer (internal: run()
    reconnects and checks the stored offsets again)."""


#: the fields read from a clean record (its ``arrival_timestamp`` text is rebuilt from
#: ``arrival_us``, so it is not parsed)
_CLEAN_SCHEMA = pa.schema(
    [
        ("query_key", pa.string()), ("run_id", pa.string()), ("dataset", pa.string()),
        ("file", pa.string()), ("row", pa.int64()), ("cluster", pa.string()),
        ("cluster_kind", pa.string()), ("instance_id", pa.int64()), ("cluster_size", pa.int64()),
        ("user_id", pa.int64()), ("database_id", pa.int64()), ("query_id", pa.int64()),
        ("arrival_us", pa.int64()),
        ("compile_duration_ms", pa.int64()), ("queue_duration_ms", pa.int64()),
        ("execution_duration_ms", pa.int64()), ("total_duration_ms", pa.int64()),
        ("feature_fingerprint", pa.string()), ("was_aborted", pa.bool_()), ("was_cached", pa.bool_()),
        ("cache_source_query_id", pa.int64()), ("query_type", pa.string()),
        ("num_permanent_tables_accessed", pa.int64()), ("num_external_tables_accessed", pa.int64()),
        ("num_system_tables_accessed", pa.int64()),
        ("read_table_ids", pa.list_(pa.int64())), ("write_table_ids", pa.list_(pa.int64())),
        ("mbytes_scanned", pa.float64()), ("mbytes_spilled", pa.float64()),
        ("num_joins", pa.int64()), ("num_scans", pa.int64()), ("num_aggregations", pa.int64()),
    ]
)  # fmt: skip
_FLAT_SCHEMA = pa.schema(
    [
        ("query_key", pa.string()), ("table_id", pa.int64()), ("access", pa.string()),
        ("run_id", pa.string()), ("cluster", pa.string()), ("cluster_kind", pa.string()),
        ("instance_id", pa.int64()), ("query_id", pa.int64()), ("user_id", pa.int64()),
        ("database_id", pa.int64()), ("arrival_us", pa.int64()), ("query_type", pa.string()),
        ("was_aborted", pa.bool_()), ("was_cached", pa.bool_()),
        ("execution_duration_ms", pa.int64()), ("total_duration_ms", pa.int64()),
        ("mbytes_scanned", pa.float64()), ("freshness_ms", pa.float64()),
    ]
)  # fmt: skip
_RAW_SCHEMA = pa.schema(
    [("_run_id", pa.string()), ("_dataset", pa.string()), ("_file", pa.string()),
     ("_row", pa.int64()), ("_raw", pa.string())]
)  # fmt: skip


@dataclass
class MaterializeStats:
    rows: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    batches: int = 0
    last_batch_at: float | None = None
    last_batch_rows: int = 0
    started_at: float = field(default_factory=time.time)
    errors: list[str] = field(default_factory=list)
    #: clear messages about the broker (restarted, unreachable), newest last
    notices: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": dict(self.rows),
            "batches": self.batches,
            "last_batch_at": self.last_batch_at,
            "last_batch_rows": self.last_batch_rows,
            "errors": self.errors[-5:],
            "notices": self.notices[-5:],
        }


@dataclass
class Batch:
    """One consumed batch, parsed per topic, with the partitions' next offsets."""

    payloads: dict[str, Any]
    counts: dict[str, int]
    offsets: dict[tuple[str, int], int]
    #: cluster id of the broker the messages came from
    cluster_id: str | None = None


_DUCK_TYPES = {
    pa.string(): "VARCHAR", pa.int64(): "BIGINT", pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN", pa.list_(pa.int64()): "BIGINT[]",
}  # fmt: skip
_parse_db: duckdb.DuckDBPyConnection | None = None
_parse_db_lock = threading.Lock()


def _parse_connection() -> duckdb.DuckDBPyConnection:
    """A cursor of a private single-threaded in-memory DuckDB for parsing, apart from the
    warehouse (its threads serve the writes and the readers; one thread parses with the
    least CPU)."""
    global _parse_db
    with _parse_db_lock:
        if _parse_db is None:
            _parse_db = duckdb.connect(config={"threads": 1})
        return _parse_db.cursor()


def _forget_parse_connection() -> None:
    """After a fatal DuckDB error the database is unusable: the next batch opens another."""
    global _parse_db
    with _parse_db_lock:
        _parse_db = None


def _utf8_array(values: list[bytes]) -> pa.Array:
    """``values`` as one Arrow string array, built from one joined buffer and its offsets
    (``pa.array`` converts item by item holding the GIL: 29 ms per 20 k clean records
    against 6 ms); invalid UTF-8 raises ``pyarrow.ArrowInvalid``, as ``pa.array`` did."""
    offsets = np.zeros(len(values) + 1, np.int64)
    np.cumsum(np.fromiter(map(len, values), np.int64, len(values)), out=offsets[1:])
    data = pa.py_buffer(b"".join(values))
    array = pa.Array.from_buffers(
        pa.large_string(), len(values), [None, pa.py_buffer(offsets), data]
    )
    array.validate(full=True)
    return array


def _json_table(values: list[bytes], schema: pa.Schema) -> pa.Table:
    """JSON messages -> an Arrow table of ``schema``, one row per message (unknown fields
    ignored, missing ones NULL, a ``null`` message a row of NULLs), parsed by DuckDB's
    ``json_transform``: measured here, 1.6-2.3 s of CPU per 600 k clean records against
    3.3-3.8 s for pyarrow's reader. Malformed JSON fails the batch (as before). A value of
    another JSON type is converted as DuckDB casts it (``"5"`` -> 5, ``1.5`` -> 2, an
    object -> its text) where pyarrow refused the batch: the stages emit typed records,
    and the materializer trusts them."""
    if not values:
        return schema.empty_table()
    structure = "{" + ", ".join(f'"{f.name}": "{_DUCK_TYPES[f.type]}"' for f in schema) + "}"
    cur = _parse_connection()
    try:
        cur.register("messages", pa.table({"v": _utf8_array(values)}))
        table = cur.sql(
            f"SELECT j.* FROM (SELECT json_transform(v, '{structure}') AS j FROM messages)"
        ).to_arrow_table()
    except duckdb.FatalException:
        _forget_parse_connection()
        raise
    finally:
        cur.close()
    return table.cast(schema)


#: messages per consume() call (see Materializer._consume_batch)
_SLICE = 2000


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
        self.settings = settings
        self.warehouse = warehouse
        self.logical = list(topics)
        self.full = {settings.topic(t): t for t in topics}
        self.consumer_name = group or settings.group("materialize")
        self.batch_size = batch_size
        if parsers < 1:
            raise ValueError(f"parsers must be >= 1, not {parsers}")
        #: batches parsed at once (see _run_once)
        self.parsers = parsers
        #: checkpoint once this many messages were written since the last checkpoint and
        #: the batches shrink, or once idle this long after any write (see caught_up)
        self.checkpoint_rows = ROW_GROUP_ROWS
        self.checkpoint_every_s = CHECKPOINT_EVERY_S
        #: messages written (to any table) since the last checkpoint
        self._unchecked_rows = 0
        self._checkpointed_at = time.monotonic()
        self._checkpoint_retry_at = 0.0
        self.stats = MaterializeStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._assigned: set[tuple[str, int]] = set()
        #: cluster id of the broker the current consumer was checked against
        self.cluster_id: str | None = None
        self._unreachable = False

    # -- offsets -----------------------------------------------------------------------
    def stored_offsets(self) -> dict[tuple[str, int], int]:
        """(topic, partition) -> stored next offset, for this materializer's topics."""
        return {tp: so.next_offset for tp, so in self._stored_with_cluster().items()}

    def _stored_with_cluster(self) -> dict[tuple[str, int], StoredOffset]:
        cur = self.warehouse.cursor()
        try:
            rows = cur.execute(
                'SELECT topic, "partition", next_offset, cluster_id FROM kafka_offsets '
                "WHERE consumer = ?",
                [self.consumer_name],
            ).fetchall()
        finally:
            cur.close()
        return {
            (str(t), int(p)): StoredOffset(int(o), None if c is None else str(c))
            for t, p, o, c in rows
            if str(t) in self.full
        }

    def _metadata(self, consumer: Consumer) -> Any:
        """Cluster metadata, or BrokerError naming the broker if it does not answer."""
        try:
            md = consumer.list_topics(timeout=self.settings.connect_timeout_s)
        except KafkaException as e:
            raise BrokerError(self._unreachable_message(e)) from e
        self._mark_reachable()
        return md

    def _mark_reachable(self) -> None:
        if self._unreachable:
            self._unreachable = False
            self._notice(f"broker at {self.settings.bootstrap_servers} reachable again")

    def _unreachable_message(self, e: BaseException) -> str:
        return (
            f"broker at {self.settings.bootstrap_servers} unreachable: no metadata answer "
            f"within {self.settings.connect_timeout_s:g} s ({e})"
        )

    def _notice(self, msg: str, level: int = logging.WARNING) -> None:
        self.stats.notices.append(msg)
        log.log(level, "materializer: %s", msg)

    def check_broker(self, consumer: Consumer) -> None:
        """Compare the stored offsets with the broker now answering; forget those consumed
        from another broker or beyond what a partition now holds (rows are kept), saying
        so once. Runs in the writer thread before the fetcher starts."""
        md = self._metadata(consumer)
        cluster_id = str(md.cluster_id) if md.cluster_id else None
        stored = self._stored_with_cluster()
        marks: dict[tuple[str, int], int | None] = {}
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
            with self.warehouse.transaction() as cur:
                cur.executemany(
                    'DELETE FROM kafka_offsets WHERE consumer = ? AND topic = ? AND "partition" = ?',
                    [[self.consumer_name, t, p] for t, p in sorted(verdict.forget)],
                )
            self._notice(verdict.message(self.settings.bootstrap_servers, cluster_id))
        self.cluster_id = cluster_id

    def _assign_new(self, consumer: Consumer) -> None:
        md = self._metadata(consumer)
        if md.cluster_id and self.cluster_id and str(md.cluster_id) != self.cluster_id:
            raise BrokerChanged(str(md.cluster_id))
        stored = self.stored_offsets()
        new = []
        for topic in self.full:
            if topic not in md.topics:
                continue
            for p in md.topics[topic].partitions:
                if (topic, p) not in self._assigned:
                    off = stored.get((topic, p), OFFSET_BEGINNING)
                    new.append(TopicPartition(topic, p, off))
                    self._assigned.add((topic, p))
        if new:
            consumer.incremental_assign(new)

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
            by_topic[self.full[topics.pop()]] = msgs
        else:
            for m in msgs:
                by_topic[self.full[m.topic()]].append(m)
        return Batch(
            payloads={lg: _WRITERS[lg][0](ms) for lg, ms in by_topic.items()},
            counts={lg: len(ms) for lg, ms in by_topic.items()},
            offsets=offsets,
            cluster_id=self.cluster_id,
        )

    def apply(self, batch: Batch) -> int:
        """Write one prepared batch and its offsets in one transaction; return rows written."""
        n = 0
        with self.warehouse.transaction() as cur:
            for logical, payload in batch.payloads.items():
                n += _WRITERS[logical][1](cur, payload)
            cur.executemany(
                "INSERT OR REPLACE INTO kafka_offsets "
                '(consumer, topic, "partition", next_offset, updated_at, cluster_id) '
                "VALUES (?, ?, ?, ?, now(), ?)",
                [
                    [self.consumer_name, t, p, o, batch.cluster_id]
                    for (t, p), o in batch.offsets.items()
                ],
            )
        for logical, c in batch.counts.items():
            self.stats.rows[logical] += c
        return n

    def _checkpoint_if_caught_up(self, rows: int | None) -> None:
        """After a write of ``rows`` messages, or an idle fetch (None)."""
        self._unchecked_rows += rows or 0
        now = time.monotonic()
        if now < self._checkpoint_retry_at or not caught_up(
            self._unchecked_rows,
            rows,
            self.batch_size,
            now - self._checkpointed_at,
            self.checkpoint_rows,
            self.checkpoint_every_s,
        ):
            return
        try:
            self.warehouse.checkpoint()
        except duckdb.Error as e:  # DuckDB still checkpoints at its threshold
            self._checkpoint_retry_at = now + CHECKPOINT_RETRY_S
            self._notice(f"checkpoint failed, retrying in {CHECKPOINT_RETRY_S:g} s: {e}")
            return
        self._unchecked_rows = 0
        self._checkpointed_at = now

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

    def _run_once(
        self,
        stop: threading.Event,
        until_idle: float | None,
        until: Callable[[], bool] | None,
        last_msg: float,
    ) -> float:
        try:
            consumer = Consumer(self._consumer_conf())
        except KafkaException as e:
            raise BrokerError(
                f"cannot create a consumer for {self.settings.bootstrap_servers}: {e}"
            ) from e
        try:
            self.check_broker(consumer)
        except BaseException:
            consumer.close()
            raise
        # three stages: the fetch thread consumes (the consumer lives there) and hands each
        # batch to the parser pool, this thread writes the batches in the order they were
        # consumed (a Future per batch in a FIFO; pyarrow and DuckDB release the GIL). One
        # parser by default: with two, parsing overlaps writing more, but on 2 cores beside
        # the broker the rates could not be told apart (85-104 k rows/s either way).
        q: queue.Queue[Future[Batch] | BaseException | None] = queue.Queue(maxsize=self.parsers + 1)
        halt = threading.Event()
        pool = ThreadPoolExecutor(self.parsers, thread_name_prefix="materializer-parse")
        fetcher = threading.Thread(
            target=self._fetch, args=(consumer, pool, q, halt), name="materializer-fetch",
            daemon=True,
        )  # fmt: skip
        fetcher.start()
        try:
            while not stop.is_set() and not self._stop.is_set():
                try:
                    batch = _next_batch(q.get(timeout=0.5))
                except queue.Empty:
                    batch = None
                except BrokerChanged:
                    raise
                except BaseException as e:
                    self.stats.errors.append(f"{type(e).__name__}: {e}")
                    raise
                rows = None
                if batch is not None:
                    self.apply(batch)
                    rows = sum(batch.counts.values())
                    self.stats.batches += 1
                    self.stats.last_batch_at = time.time()
                    self.stats.last_batch_rows = rows
                    last_msg = time.monotonic()
                if until is not None and until():
                    break
                if (
                    batch is None
                    and until_idle is not None
                    and time.monotonic() - last_msg > until_idle
                ):
                    break
                self._checkpoint_if_caught_up(rows)
        finally:
            halt.set()  # the fetcher only blocks for 0.2 s at a time
            fetcher.join(30)
            if fetcher.is_alive():
                log.warning("materializer: the fetch thread did not stop within 30 s")
            # nothing parsed from now on is written: do not wait for a parse in progress
            pool.shutdown(wait=False, cancel_futures=True)
        return last_msg

    def _consumer_conf(self) -> dict[str, Any]:
        from common.broker import resolve_kind

        self.settings = resolve_kind(self.settings)
        conf = consumer_config(self.settings, self.consumer_name)
        conf["enable.partition.eof"] = False
        # librdkafka would log every failed reconnect to stderr; a lost broker is reported
        # once, by name, through _metadata / error_cb instead
        conf["logger"] = _KafkaLog()
        conf["error_cb"] = self._on_error
        return conf

    def _on_error(self, err: KafkaError) -> None:
        if err.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT):
            if not self._unreachable:
                self._unreachable = True
                self._notice(
                    f"broker at {self.settings.bootstrap_servers} unreachable ({err.str()}); "
                    "retrying"
                )
        elif err.fatal():
            log.error("materializer: Kafka error: %s", err.str())

    def _fetch(
        self,
        consumer: Consumer,
        pool: ThreadPoolExecutor,
        out: queue.Queue[Future[Batch] | BaseException | None],
        halt: threading.Event,
    ) -> None:
        last_meta = 0.0
        try:
            while not halt.is_set():
                now = time.monotonic()
                if now - last_meta > 5.0 or not self._assigned:
                    try:
                        self._assign_new(consumer)
                    except BrokerError as e:
                        # a broker away mid-run (restarting): the consumer reconnects by
                        # itself and the assigned partitions resume; only a first start fails
                        if not self._assigned:
                            raise
                        if not self._unreachable:
                            self._unreachable = True
                            self._notice(f"{e}; retrying")
                    last_meta = now
                msgs = self._consume_batch(consumer)
                if msgs:
                    self._mark_reachable()
                put_until_stopped(out, pool.submit(self.prepare, msgs) if msgs else None, halt)
        except BaseException as e:
            put_until_stopped(out, e, halt)
        finally:
            consumer.close()
            self._assigned.clear()

    def _consume_batch(self, consumer: Consumer) -> list[Message]:
        """Up to ``batch_size`` messages within 0.2 s, taken in slices: ``consume()`` holds
        the GIL while it builds its messages, and one call for a whole batch kept the parse
        and write threads from returning to Python for tens of milliseconds."""
        out: list[Message] = []
        deadline = time.monotonic() + 0.2
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
                    if not self._unreachable:
                        self._unreachable = True
                        self._notice(f"{e}; retrying every 5 s")
                    self._stop.wait(5.0)
                except Exception as e:  # keep serving; say what happened
                    self.stats.errors.append(f"{type(e).__name__}: {e}")
                    self._stop.wait(5.0)

        self._thread = threading.Thread(target=_target, name="materializer", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)


#: DuckDB's row group: a checkpoint compresses a table's unfinished row group again
ROW_GROUP_ROWS = 122_880
#: an idle materializer with fewer unchecked rows checkpoints at most this often
CHECKPOINT_EVERY_S = 60.0
CHECKPOINT_RETRY_S = 30.0


def caught_up(
    unchecked: int,
    rows: int | None,
    batch_size: int,
    since_s: float,
    min_rows: int = ROW_GROUP_ROWS,
    every_s: float = CHECKPOINT_EVERY_S,
) -> bool:
    """Whether to checkpoint now: ``unchecked`` messages were written since the last
    checkpoint, ``since_s`` ago, and the fetcher just came back empty (``rows`` None) or
    with ``rows`` messages. Once ``min_rows`` are unchecked: when the batches shrink to a
    quarter (the backlog is in; while it streams in full batches a checkpoint would slow the
    writer, whose commit runs it). Fewer: when idle ``every_s`` after the last checkpoint
    (a trickle checkpoints once a minute, not after every write). DuckDB also checkpoints
    at :data:`~warehouse.store.CHECKPOINT_THRESHOLD`."""
    if unchecked == 0:
        return False
    if unchecked >= min_rows:
        return rows is None or rows <= batch_size // 4
    return rows is None and since_s >= every_s


def _next_batch(item: Future[Batch] | BaseException | None) -> Batch | None:
    """The next batch to write (waiting for its parser), None when the fetcher found
    nothing, or the fetcher's or the parser's exception raised."""
    if isinstance(item, BaseException):
        raise item
    return None if item is None else item.result()


class _KafkaLog:
    """librdkafka log sink: debug-level Python logging (connection chatter would flood
    stderr while a broker is down; errors reach error_cb and exceptions)."""

    _log = logging.getLogger("warehouse.librdkafka")

    def log(self, level: int, msg: str, *args: object, **kwargs: object) -> None:
        self._log.debug(msg, *args)


# --- per-topic writers: prepare (parse, no database) and apply (one cursor) ------------------
def _prep_raw(ms: list[Message]) -> pa.Table:
    t = _json_table([m.value() for m in ms], _RAW_SCHEMA)
    keys = pa.array([m.key().decode() if m.key() else None for m in ms], pa.string())
    ts = pa.array([m.timestamp()[1] for m in ms], pa.int64())
    return t.append_column("_cluster", keys).append_column("_ts", ts)


def _apply_raw(cur: Any, t: pa.Table) -> int:
    cur.register("b_raw", t)
    cur.execute(
        """INSERT OR IGNORE INTO raw_rows
           SELECT DISTINCT ON (_run_id, _file, _row) _run_id, _file, _row, _dataset, _cluster, _ts,
                  _raw IS NOT NULL, now() FROM b_raw"""
    )
    cur.unregister("b_raw")
    return int(t.num_rows)


@dataclass
class NewRecords:
    """A batch of one of the big tables, one row per identity (the first occurrence kept),
    with its arrival range: prepared on the parse thread so that the writer's statement is
    a bare anti-join (a DISTINCT ON there was half of the writer's time)."""

    table: pa.Table
    #: (min, max) arrival_us, or None when an arrival is NULL or the batch is empty
    arrival_range: tuple[int, int] | None


def unique_records(t: pa.Table, identity: Sequence[str]) -> NewRecords:
    """``t`` without its repeated identities (NULL equals NULL, as in the anti-join)."""
    ids = t.select(list(identity)).append_column("_i", pa.array(np.arange(t.num_rows)))
    first = ids.group_by(list(identity), use_threads=False).aggregate([("_i", "min")])
    if first.num_rows < t.num_rows:
        t = t.take(np.sort(first.column("_i_min").to_numpy()))
    arrival = t.column("arrival_us")
    span = None
    if arrival.null_count == 0 and len(arrival):
        lo, hi = pc.min_max(arrival).values()
        span = (int(lo.as_py()), int(hi.as_py()))
    return NewRecords(t, span)


def _insert_new(
    cur: Any, table: str, batch: NewRecords, identity: Sequence[str], select: str
) -> None:
    """Append the batch's records that ``table`` does not hold yet.

    ``identity`` ends with ``arrival_us``, which a record's source row fixes: a re-emitted
    record has the same one, so the anti-join only reads the table's rows within the
    batch's arrival range (zone maps skip the rest) instead of keeping an index current.
    ``select``: the SELECT list over the batch (as ``b``)."""
    name = f"b_{table}"
    cur.register(name, batch.table)
    near = "TRUE"
    if batch.arrival_range is not None:
        near = "arrival_us BETWEEN {} AND {}".format(*batch.arrival_range)
    on = " AND ".join(f"seen.{c} IS NOT DISTINCT FROM b.{c}" for c in identity)
    cols = ", ".join(identity)
    cur.execute(
        f"""INSERT INTO {table} BY NAME SELECT {select}
            FROM {name} AS b ANTI JOIN (SELECT {cols} FROM {table} WHERE {near}) AS seen ON {on}"""
    )
    cur.unregister(name)


_CLEAN_ID = ("query_key", "arrival_us")
_FLAT_ID = ("query_key", "table_id", "access", "arrival_us")
_CLEAN_SELECT = (
    ", ".join(f'b."{f.name}"' for f in _CLEAN_SCHEMA)
    + ", make_timestamp(b.arrival_us) AS arrival_timestamp, now() AS loaded_at"
)


def _prep_clean(ms: list[Message]) -> NewRecords:
    return unique_records(_json_table([m.value() for m in ms], _CLEAN_SCHEMA), _CLEAN_ID)


def _apply_clean(cur: Any, t: NewRecords) -> int:
    _insert_new(cur, "clean_queries", t, _CLEAN_ID, _CLEAN_SELECT)
    return int(t.table.num_rows)


def _prep_flat(ms: list[Message]) -> NewRecords:
    return unique_records(_json_table([m.value() for m in ms], _FLAT_SCHEMA), _FLAT_ID)


def _apply_flat(cur: Any, t: NewRecords) -> int:
    _insert_new(cur, "flattened", t, _FLAT_ID, "b.*, now() AS loaded_at")
    return int(t.table.num_rows)


def _prep_dead(ms: list[Message]) -> list[list[Any]]:
    rows = {}
    for m in ms:
        v = json.loads(m.value())
        rows[(v.get("run_id"), v.get("file"), v.get("row"))] = [
            v.get("run_id"), v.get("file"), v.get("row"), v.get("dataset"), v.get("cluster"),
            v.get("query_id") if isinstance(v.get("query_id"), int) else None, v.get("stage"),
            v.get("reason"), v.get("field"), v.get("message"), json.dumps(v.get("raw")),
        ]  # fmt: skip
    return list(rows.values())


def _apply_dead(cur: Any, rows: list[list[Any]]) -> int:
    cur.executemany(
        "INSERT OR IGNORE INTO rejects VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now())", rows
    )
    return len(rows)


#: QUERY_METRICS record fields also stored as typed columns of query_metrics (migration 006)
QM_HEALTH_COLUMNS: tuple[str, ...] = (
    *(m for m in HEALTH_METRICS if m != "cache_hit_rate"),  # that one stays in the payload
    "compile_share",
    "bottleneck",
    *(f"{m}_z" for m in HEALTH_METRICS),
    "anomalies",
    "health_trailing",
)


def _prep_windows(
    ms: list[Message], columns: Sequence[str] = ()
) -> tuple[list[list[Any]], list[list[Any]]]:
    """(window rows: identity, bounds, final, payload, then ``columns`` of the record;
    late rows)."""
    windows: dict[tuple[Any, ...], list[Any]] = {}
    late: dict[str, list[Any]] = {}
    for m in ms:
        raw = m.value().decode()
        v = json.loads(raw)
        if v.get("record", "window") == "late":
            late[v["query_key"]] = [v["query_key"], v["run_id"], v["cluster"], v["window_start"]]
            continue
        key = (v["run_id"], v["cluster"], v["window_start"])
        prev = windows.get(key)
        final = bool(v.get("final", True))
        # a final record wins within the batch, except the fleet roll-up: each of its
        # emissions merges the latest partial of every cluster, so the newest is the most
        # complete (a sparse cluster's partial can arrive after the others closed the window)
        if prev is None or final or not prev[4] or v["cluster"] == FLEET:
            windows[key] = [
                v["run_id"],
                v["cluster"],
                v["window_start"],
                v["window_end"],
                final,
                raw,
                *(v.get(c) for c in columns),
            ]
    return list(windows.values()), list(late.values())


_WINDOW_COLUMNS = ("run_id", "cluster", "window_start", "window_end", "final", "payload")


def _window_applier(
    table: str, columns: Sequence[str] = ()
) -> Callable[[Any, tuple[list[list[Any]], list[list[Any]]]], int]:
    names = ", ".join((*_WINDOW_COLUMNS, *columns, "loaded_at"))
    marks = ", ".join("?" for _ in range(len(_WINDOW_COLUMNS) + len(columns)))
    extra = "".join(f", {c} = EXCLUDED.{c}" for c in columns)

    def apply(cur: Any, prepared: tuple[list[list[Any]], list[list[Any]]]) -> int:
        windows, late = prepared
        if windows:
            cur.executemany(
                f"""INSERT INTO {table} ({names}) VALUES ({marks}, now())
                    ON CONFLICT DO UPDATE SET window_end = EXCLUDED.window_end, final = EXCLUDED.final,
                        payload = EXCLUDED.payload, loaded_at = EXCLUDED.loaded_at{extra}
                    WHERE NOT {table}.final OR EXCLUDED.final OR EXCLUDED.cluster = '{FLEET}'""",
                windows,
            )
        if late:
            cur.executemany("INSERT OR IGNORE INTO late_rows VALUES (?, ?, ?, ?, now())", late)
        return len(windows) + len(late)

    return apply


def _prep_boards(ms: list[Message]) -> list[list[Any]]:
    boards = {}
    for m in ms:
        v = json.loads(m.value())
        boards[(v["run_id"], v["board"], v["variant"], v["window_start"])] = [
            v["run_id"], v["board"], v["variant"], v["window_start"], v["window_end"], json.dumps(v["entries"]),
        ]  # fmt: skip
    return list(boards.values())


def _apply_boards(cur: Any, rows: list[list[Any]]) -> int:
    cur.executemany(
        """INSERT INTO leaderboards VALUES (?, ?, ?, ?, ?, ?, now())
           ON CONFLICT DO UPDATE SET window_end = EXCLUDED.window_end, entries = EXCLUDED.entries,
               loaded_at = EXCLUDED.loaded_at""",
        rows,
    )
    return len(rows)


#: logical topic -> (prepare: messages -> payload, apply: (cursor, payload) -> rows)
_WRITERS: dict[str, tuple[Callable[[list[Message]], Any], Callable[[Any, Any], int]]] = {
    "raw": (_prep_raw, _apply_raw),
    "clean": (_prep_clean, _apply_clean),
    "flattened": (_prep_flat, _apply_flat),
    "dead_letters": (_prep_dead, _apply_dead),
    "query_metrics": (
        lambda ms: _prep_windows(ms, QM_HEALTH_COLUMNS),
        _window_applier("query_metrics", QM_HEALTH_COLUMNS),
    ),
    "compile_metrics": (_prep_windows, _window_applier("compile_metrics")),
    "leaderboard": (_prep_boards, _apply_boards),
}
