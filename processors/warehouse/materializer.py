"""Materializer: topics -> DuckDB, effectively once.

Consumes with confluent-kafka by manual assignment from the offsets stored in DuckDB (never
from consumer-group commits, never by time), turns each batch into Arrow, and inserts it
with ``INSERT OR IGNORE`` / guarded upserts on each output's identity, together with the
partitions' next offsets, in ONE transaction. A crash anywhere loses nothing and duplicates
nothing: the rows and the offsets that produced them commit or roll back together, and
redelivered or re-emitted messages hit the same keys.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.json as pj
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition

from common.kafka_config import consumer_config
from common.settings import TOPIC_NAMES, Settings
from processors.warehouse.store import Warehouse

ALL_TOPICS: tuple[str, ...] = TOPIC_NAMES

_CLEAN_SCHEMA = pa.schema(
    [
        ("query_key", pa.string()), ("run_id", pa.string()), ("dataset", pa.string()),
        ("file", pa.string()), ("row", pa.int64()), ("cluster", pa.string()),
        ("cluster_kind", pa.string()), ("instance_id", pa.int64()), ("cluster_size", pa.int64()),
        ("user_id", pa.int64()), ("database_id", pa.int64()), ("query_id", pa.int64()),
        ("arrival_timestamp", pa.string()), ("arrival_us", pa.int64()),
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

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": dict(self.rows),
            "batches": self.batches,
            "last_batch_at": self.last_batch_at,
            "last_batch_rows": self.last_batch_rows,
            "errors": self.errors[-5:],
        }


def _json_table(values: list[bytes], schema: pa.Schema) -> pa.Table:
    data = b"\n".join(values)
    return pj.read_json(
        pa.BufferReader(data),
        parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"),
        read_options=pj.ReadOptions(block_size=max(1 << 20, len(data) + 1)),
    )


class Materializer:
    def __init__(
        self,
        settings: Settings,
        warehouse: Warehouse,
        topics: Sequence[str] = ALL_TOPICS,
        group: str | None = None,
        batch_size: int = 20_000,
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
        self.stats = MaterializeStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._assigned: set[tuple[str, int]] = set()

    # -- offsets -----------------------------------------------------------------------
    def stored_offsets(self) -> dict[tuple[str, int], int]:
        cur = self.warehouse.cursor()
        try:
            rows = cur.execute(
                'SELECT topic, "partition", next_offset FROM kafka_offsets WHERE consumer = ?',
                [self.consumer_name],
            ).fetchall()
        finally:
            cur.close()
        return {(str(t), int(p)): int(o) for t, p, o in rows}

    def _assign_new(self, consumer: Consumer) -> None:
        md = consumer.list_topics(timeout=self.settings.connect_timeout_s)
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
    def write(self, msgs: list[Message]) -> int:
        """Write one batch and its offsets in one transaction; return rows written."""
        by_topic: dict[str, list[Message]] = defaultdict(list)
        offsets: dict[tuple[str, int], int] = {}
        for m in msgs:
            t = m.topic()
            by_topic[self.full[t]].append(m)
            offsets[(t, m.partition())] = max(offsets.get((t, m.partition()), 0), m.offset() + 1)
        cur = self.warehouse.cursor()
        n = 0
        try:
            cur.execute("BEGIN")
            for logical, ms in by_topic.items():
                n += _WRITERS[logical](cur, ms)
                self.stats.rows[logical] += len(ms)
            cur.executemany(
                "INSERT OR REPLACE INTO kafka_offsets VALUES (?, ?, ?, ?, now())",
                [[self.consumer_name, t, p, o] for (t, p), o in offsets.items()],
            )
            cur.execute("COMMIT")
        except Exception:
            cur.execute("ROLLBACK")
            raise
        finally:
            cur.close()
        return n

    # -- loop --------------------------------------------------------------------------
    def run(
        self,
        until_idle: float | None = None,
        stop_event: threading.Event | None = None,
        until: Callable[[], bool] | None = None,
    ) -> MaterializeStats:
        """Consume and write until stopped, idle for ``until_idle`` s, or ``until()`` is true."""
        stop = stop_event or self._stop
        conf = consumer_config(self.settings, self.consumer_name)
        conf.update(
            {
                "enable.partition.eof": False,
                "max.partition.fetch.bytes": 8 << 20,  # big fetches: DuckDB likes big batches
                "fetch.max.bytes": 64 << 20,
                "queued.min.messages": 200_000,
                "fetch.wait.max.ms": 50,
            }
        )
        consumer = Consumer(conf)
        last_msg = time.monotonic()
        last_meta = 0.0
        try:
            while not stop.is_set() and not self._stop.is_set():
                now = time.monotonic()
                if now - last_meta > 5.0 or not self._assigned:
                    self._assign_new(consumer)
                    last_meta = now
                msgs = self._poll_batch(consumer)
                if msgs:
                    self.write(msgs)
                    self.stats.batches += 1
                    self.stats.last_batch_at = time.time()
                    self.stats.last_batch_rows = len(msgs)
                    last_msg = time.monotonic()
                    if until is not None and until():
                        break
                    continue
                if until is not None and until():
                    break
                if until_idle is not None and time.monotonic() - last_msg > until_idle:
                    break
        except KafkaException as e:
            self.stats.errors.append(str(e))
            raise
        finally:
            consumer.close()
            self._assigned.clear()
        return self.stats

    def _poll_batch(self, consumer: Consumer, max_wait_s: float = 0.25) -> list[Message]:
        """Up to ``batch_size`` messages: whatever arrives within ``max_wait_s``."""
        out: list[Message] = []
        deadline = time.monotonic() + max_wait_s
        while len(out) < self.batch_size:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            got = consumer.consume(self.batch_size - len(out), min(left, 0.05))
            out.extend(m for m in got if m.error() is None)
            if not got and out:
                break  # the queue is drained: write what we have
        return out

    def start_background(self) -> threading.Thread:
        def _target() -> None:
            while not self._stop.is_set():
                try:
                    self.run()
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


# --- per-topic writers --------------------------------------------------------------------
def _write_raw(cur: Any, ms: list[Message]) -> int:
    t = _json_table([m.value() for m in ms], _RAW_SCHEMA)
    keys = pa.array([m.key().decode() if m.key() else None for m in ms], pa.string())
    ts = pa.array([m.timestamp()[1] for m in ms], pa.int64())
    t = t.append_column("_cluster", keys).append_column("_ts", ts)
    cur.register("b_raw", t)
    cur.execute(
        """INSERT OR IGNORE INTO raw_rows
           SELECT DISTINCT ON (_run_id, _file, _row) _run_id, _file, _row, _dataset, _cluster, _ts,
                  _raw IS NOT NULL, now() FROM b_raw"""
    )
    cur.unregister("b_raw")
    return t.num_rows


def _write_clean(cur: Any, ms: list[Message]) -> int:
    t = _json_table([m.value() for m in ms], _CLEAN_SCHEMA)
    cur.register("b_clean", t)
    cols = ", ".join(f'"{f.name}"' for f in _CLEAN_SCHEMA if f.name != "arrival_timestamp")
    cur.execute(
        f"""INSERT OR IGNORE INTO clean_queries BY NAME
            SELECT DISTINCT ON (query_key) {cols},
                   make_timestamp(arrival_us) AS arrival_timestamp, now() AS loaded_at
            FROM b_clean"""
    )
    cur.unregister("b_clean")
    return t.num_rows


def _write_flat(cur: Any, ms: list[Message]) -> int:
    t = _json_table([m.value() for m in ms], _FLAT_SCHEMA)
    cur.register("b_flat", t)
    cur.execute(
        """INSERT OR IGNORE INTO flattened BY NAME
           SELECT DISTINCT ON (query_key, table_id, access) *, now() AS loaded_at FROM b_flat"""
    )
    cur.unregister("b_flat")
    return t.num_rows


def _write_dead(cur: Any, ms: list[Message]) -> int:
    rows = {}
    for m in ms:
        v = json.loads(m.value())
        rows[(v.get("run_id"), v.get("file"), v.get("row"))] = [
            v.get("run_id"), v.get("file"), v.get("row"), v.get("dataset"), v.get("cluster"),
            v.get("query_id") if isinstance(v.get("query_id"), int) else None, v.get("stage"),
            v.get("reason"), v.get("field"), v.get("message"), json.dumps(v.get("raw")),
        ]  # fmt: skip
    cur.executemany(
        "INSERT OR IGNORE INTO rejects VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now())",
        list(rows.values()),
    )
    return len(rows)


def _window_writer(table: str) -> Callable[[Any, list[Message]], int]:
    def write(cur: Any, ms: list[Message]) -> int:
        windows: dict[tuple[Any, ...], list[Any]] = {}
        late: dict[str, list[Any]] = {}
        for m in ms:
            raw = m.value().decode()
            v = json.loads(raw)
            if v.get("record", "window") == "late":
                late[v["query_key"]] = [
                    v["query_key"],
                    v["run_id"],
                    v["cluster"],
                    v["window_start"],
                ]
                continue
            key = (v["run_id"], v["cluster"], v["window_start"])
            prev = windows.get(key)
            final = bool(v.get("final", True))
            if prev is None or final or not prev[4]:
                windows[key] = [
                    v["run_id"],
                    v["cluster"],
                    v["window_start"],
                    v["window_end"],
                    final,
                    raw,
                ]
        if windows:
            cur.executemany(
                f"""INSERT INTO {table} VALUES (?, ?, ?, ?, ?, ?, now())
                    ON CONFLICT DO UPDATE SET window_end = EXCLUDED.window_end, final = EXCLUDED.final,
                        payload = EXCLUDED.payload, loaded_at = EXCLUDED.loaded_at
                    WHERE NOT {table}.final OR EXCLUDED.final""",
                list(windows.values()),
            )
        if late:
            cur.executemany(
                "INSERT OR IGNORE INTO late_rows VALUES (?, ?, ?, ?, now())", list(late.values())
            )
        return len(windows) + len(late)

    return write


def _write_boards(cur: Any, ms: list[Message]) -> int:
    boards = {}
    for m in ms:
        v = json.loads(m.value())
        boards[(v["run_id"], v["board"], v["variant"], v["window_start"])] = [
            v["run_id"], v["board"], v["variant"], v["window_start"], v["window_end"], json.dumps(v["entries"]),
        ]  # fmt: skip
    cur.executemany(
        """INSERT INTO leaderboards VALUES (?, ?, ?, ?, ?, ?, now())
           ON CONFLICT DO UPDATE SET window_end = EXCLUDED.window_end, entries = EXCLUDED.entries,
               loaded_at = EXCLUDED.loaded_at""",
        list(boards.values()),
    )
    return len(boards)


_WRITERS: dict[str, Callable[[Any, list[Message]], int]] = {
    "raw": _write_raw,
    "clean": _write_clean,
    "flattened": _write_flat,
    "dead_letters": _write_dead,
    "query_metrics": _window_writer("query_metrics"),
    "compile_metrics": _window_writer("compile_metrics"),
    "leaderboard": _write_boards,
}
