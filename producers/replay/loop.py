"""The run loop: :func:`replay` plans the reading, then produces every row in replay order,
paced, pausable and checkpointed, until it is acknowledged."""

from __future__ import annotations

import json
import threading
import time
import uuid
import zlib
from dataclasses import asdict
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from confluent_kafka import Producer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from common.contract import CLUSTER_KINDS, HEADER_DATASET, HEADER_FILE, HEADER_ROW, HEADER_RUN_ID
from common.kafka_config import producer_config
from common.settings import Settings
from common.topics import ensure_topics
from producers.replay.acks import Acks
from producers.replay.checkpoint import Checkpoint, control_paths
from producers.replay.pace import Pace, Pacer
from producers.replay.result import ReplayError, ReplaySummary
from producers.replay.sanitise import safe_value, suspects
from producers.replay.sql import Filters, ReadAhead, ReadPlan, connect, read_plan
from producers.sources import resolve

#: between checks of acknowledgements, pause, stop and pace: every this many rows (a
#: power of two, tested with a mask) ...
CHECK_EVERY_ROWS = 1024
#: ... and, at a slow pace, at most this many seconds; the checkpoint is saved as often
CHECK_EVERY_S = 0.2
#: how long the producer is polled while its queue is full or the replay is paused
FULL_QUEUE_POLL_S = 0.05
PAUSED_POLL_S = 0.2


def replay_producer_config(
    settings: Settings, max_in_flight: int = 50_000, max_queue_kb: int = 32 * 1024
) -> dict[str, Any]:
    """The replay's producer settings without its acknowledgement tracking (``make bench``
    produces its baseline with them): a bounded queue, 20 ms batches of up to 10 k
    messages, delivery reports for errors only."""
    return {
        **producer_config(settings),
        "queue.buffering.max.messages": max_in_flight,
        "queue.buffering.max.kbytes": max_queue_kb,
        "linger.ms": 20,
        "batch.num.messages": 10000,
        "delivery.report.only.error": True,
    }


def replay(
    source: str,
    settings: Settings,
    *,
    run_id: str | None = None,
    speed: float | None = None,
    rate: float | None = None,
    limit: int | None = None,
    clusters: list[str] | None = None,
    start: str | None = None,
    end: str | None = None,
    sample: float | None = None,
    kind: str | None = None,
    progress: bool = True,
    stop_event: threading.Event | None = None,
    pause_event: threading.Event | None = None,
    pace: Pace | None = None,
    encoding: str = "utf8",
    max_in_flight: int = 50_000,
    max_queue_kb: int = 32 * 1024,
    batch_rows: int = 10_000,
) -> ReplaySummary:
    """Replay ``source`` into ``settings.topic("raw")``; see :mod:`producers.replay`.
    ``pace`` (instead of ``speed`` / ``rate``) may be changed while the replay runs."""
    if pace is not None:
        speed, rate = pace.speed, pace.rate
    _check_arguments(speed, rate, kind)
    run_id = run_id or uuid.uuid4().hex[:12]
    filters = Filters(tuple(clusters or ()), start, end, sample, kind, limit)
    run_dir = Path(settings.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    src = resolve(source, str(run_dir / "cache"), progress=progress)
    topic = settings.topic("raw")
    summary = ReplaySummary(run_id=run_id, source=source, topic=topic)
    meta = {"run_id": run_id, "source": source, "filters": asdict(filters), "topic": topic}
    # as read back from JSON (tuples become lists), so that a resume compares equal
    checkpoint = Checkpoint(control_paths(run_dir, run_id)["checkpoint"], _as_json(meta))
    summary.resumed_from = checkpoint.load()

    con = connect(run_dir)
    plan = read_plan(con, src, filters, progress, encoding)
    summary.sorted, summary.rows_read = plan.sorted, plan.total
    summary.rows_rejected.update(plan.rejected)

    ensure_topics(settings, [topic])
    acks = Acks(topic)
    producer = Producer(
        {**replay_producer_config(settings, max_in_flight, max_queue_kb), **acks.config()}
    )
    md = producer.list_topics(topic, timeout=settings.connect_timeout_s)
    skip = checkpoint.rebase(summary.resumed_from, md.cluster_id, settings.bootstrap_servers)
    summary.resumed_from = skip
    acks.start(len(md.topics[topic].partitions), skip)
    pace = pace or Pace(rate, speed)
    checkpoint.total, checkpoint.pace = plan.total, pace
    run = _Run(
        settings,
        producer,
        acks,
        checkpoint,
        summary,
        plan,
        pace,
        dataset=src.dataset,
        progress=progress,
        stop=stop_event or threading.Event(),
        pause=pause_event,
    )
    try:
        sql = plan.sql + f" OFFSET {int(skip)}"
        run.send_all(con.sql(sql, params={"run_id": run_id, "dataset": src.dataset}), batch_rows)
    finally:
        checkpoint.save(acks.acked_upto())
        con.close()
    summary.rows_sent = acks.acked
    summary.elapsed_s = time.monotonic() - run.t_start
    summary.rows_per_s = summary.rows_sent / summary.elapsed_s if summary.elapsed_s else 0.0
    return summary


def _check_arguments(speed: float | None, rate: float | None, kind: str | None) -> None:
    if speed is not None and rate is not None:
        raise ValueError("give either speed (event-time factor) or rate (rows/s), not both")
    if kind is not None and kind not in CLUSTER_KINDS:
        raise ValueError(f"kind must be provisioned or serverless, not {kind!r}")


def _as_json(value: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(value))
    return out


def _key_and_partition(key: str | None, partitions: int) -> tuple[bytes | None, int]:
    """A cluster key as bytes and its partition (-1 for a row without a key: placed by row)."""
    if key is None:
        return None, -1
    kb = key.encode()
    return kb, zlib.crc32(kb) % partitions


class _Run:
    """One replay's produce loop, after the plan: state shared by the per-batch loop and
    the checks it makes every :data:`CHECK_EVERY_ROWS` rows."""

    def __init__(
        self,
        settings: Settings,
        producer: Producer,
        acks: Acks,
        checkpoint: Checkpoint,
        summary: ReplaySummary,
        plan: ReadPlan,
        pace: Pace,
        *,
        dataset: str,
        progress: bool,
        stop: threading.Event,
        pause: threading.Event | None,
    ) -> None:
        self.settings, self.producer, self.acks = settings, producer, acks
        self.checkpoint, self.summary, self.plan = checkpoint, summary, plan
        self.stop, self.pause = stop, pause
        self.topic = summary.topic
        self.partitions = len(acks.pending)
        self.skip = self.seq = summary.resumed_from
        self.headers = (
            (HEADER_RUN_ID, summary.run_id.encode()),
            (HEADER_DATASET, dataset.encode()),
        )
        self.key_cache: dict[str | None, tuple[bytes | None, int]] = {}
        self.pacer = Pacer(pace, self.skip)
        self.last_ts = 0
        self.t_start = self.last_save = time.monotonic()
        self.bar = Progress(
            TextColumn(f"replay {summary.run_id}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>9,.0f} rows/s"),
            TimeRemainingColumn(),
            disable=not progress,
        )
        self.task = self.bar.add_task("replay", total=plan.total, completed=self.skip, rate=0.0)

    def send_all(self, rows: duckdb.DuckDBPyRelation, batch_rows: int) -> None:
        """Produce ``rows`` (the plan's SQL after the rows skipped) until all are
        acknowledged, or until stopped."""
        with self.bar:
            batches = ReadAhead(rows.to_arrow_reader(batch_rows))
            try:
                for batch in batches:
                    if self.send(batch):
                        self.summary.stopped = True
                        break
                self.finish()
            finally:
                batches.close()  # before the connection closes under it

    def send(self, batch: pa.RecordBatch) -> bool:
        """Produce one batch's rows; True when the replay is to stop."""
        keys = batch.column(0).to_pylist()
        tss = batch.column(1).to_pylist()
        files = batch.column(2).to_pylist()
        rows = batch.column(3).to_pylist()
        values = self._values(batch, files, rows)
        # the per-row loop reads locals only: it runs a million times per million rows
        produce, topic, partitions = self.producer.produce, self.topic, self.partitions
        pending, key_cache, (h_run, h_dataset) = self.acks.pending, self.key_cache, self.headers
        file_headers: dict[str, tuple[str, bytes]] = {}
        seq, last_ts, paced = self.seq, self.last_ts, self.pacer.paced
        for key, ts_or_none, fname, row, value in zip(keys, tss, files, rows, values, strict=True):
            seq += 1
            ts = last_ts if ts_or_none is None else ts_or_none
            last_ts = ts
            kp = key_cache.get(key)
            if kp is None:
                kp = key_cache[key] = _key_and_partition(key, partitions)
            kb, part = kp
            if part < 0:
                part = row % partitions
            fh = file_headers.get(fname)
            if fh is None:
                fh = file_headers[fname] = (HEADER_FILE, fname.encode())
            headers = [h_run, h_dataset, fh, (HEADER_ROW, b"%d" % row)]
            try:
                produce(topic, value, kb, partition=part, timestamp=ts, headers=headers)
            except BufferError:
                self._produce_when_room(value, kb, part, ts, headers)
            pending[part].append(seq)
            if paced or not seq & (CHECK_EVERY_ROWS - 1):
                if self._between_rows(seq, ts):
                    break
                paced = self.pacer.paced
        self.seq, self.last_ts = seq, last_ts
        self.acks.produced = seq
        return self.stop.is_set()

    def _values(self, batch: pa.RecordBatch, files: list[str], rows: list[int]) -> list[Any]:
        """The batch's values as bytes (no UTF-8 decode here and no encode again in
        produce()), the few that need it made safe."""
        text = batch.column(4)
        values: list[Any] = text.cast(pa.binary()).to_pylist()
        flagged = batch.column(5) if self.plan.floats else None
        rejected = self.summary.rows_rejected
        for i in suspects(text, flagged, self.plan.nested_floats):
            values[i], became = safe_value(values[i].decode(), files[i], rows[i])
            if became:
                rejected[became] = rejected.get(became, 0) + 1
        return values

    def _produce_when_room(
        self, value: bytes, key: bytes | None, part: int, ts: int, headers: list[Any]
    ) -> None:
        while True:
            self.producer.poll(FULL_QUEUE_POLL_S)
            try:
                self.producer.produce(
                    self.topic, value, key, partition=part, timestamp=ts, headers=headers
                )
                return
            except BufferError:
                continue

    def _between_rows(self, seq: int, ts: int) -> bool:
        """Pace row ``seq``, and now and then check; True when the replay is to stop."""
        check = not seq & (CHECK_EVERY_ROWS - 1)
        if self.pacer.paced:
            now = self.pacer.wait(seq, ts, self.producer)
            # a slow pace looks at pause, stop and rate by time, not every 1024 rows
            check = check or now - self.last_save > CHECK_EVERY_S
        return check and self._check(seq)

    def _check(self, seq: int) -> bool:
        """Delivery errors, the checkpoint and progress, a pause, a new pace; True when the
        replay is to stop."""
        self.acks.produced = seq
        self.producer.poll(0)
        if self.acks.error:
            raise ReplayError(self.acks.error)
        now = time.monotonic()
        if now - self.last_save > CHECK_EVERY_S:
            self.checkpoint.save(self.acks.acked_upto())
            self.last_save = now
            rate = (seq - self.skip) / max(now - self.t_start, 1e-9)
            self.bar.update(self.task, completed=seq, rate=rate)
        self.pacer.follow(paused=self._wait_while_paused())
        return self.stop.is_set()

    def _wait_while_paused(self) -> bool:
        paused = False
        while self.pause is not None and self.pause.is_set() and not self.stop.is_set():
            paused = True
            self.producer.poll(PAUSED_POLL_S)
            self.checkpoint.save(self.acks.acked_upto())
        return paused

    def finish(self) -> None:
        """Wait for every row to be acknowledged; the checkpoint says done unless stopped."""
        remaining = self.producer.flush(self.settings.message_timeout_ms / 1000 + 5)
        if self.acks.error or remaining:
            raise ReplayError(
                self.acks.error
                or f"{remaining} rows not acknowledged by {self.settings.bootstrap_servers}"
            )
        self.acks.all_acked()
        self.checkpoint.save(self.acks.acked_upto(), done=not self.summary.stopped)
        self.bar.update(self.task, completed=self.seq)
