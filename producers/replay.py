"""Replay a Redset source into RAW_DATA.

``python -m producers.replay SOURCE [options]``; from Python, :func:`replay`.

Order is ``(arrival_timestamp, query_id)`` (a row whose arrival cannot be parsed keeps its
place after the previous row of its file); key = cluster (kind + instance id); Kafka
timestamp = arrival; headers carry run id, dataset, file and row. The producer is
idempotent with a bounded queue; progress (the highest row of the replay order below which
every row is acknowledged) is persisted under ``RUN_DIR`` so that a restart with the same
``--run-id`` continues after it, resending at most the rows that were in flight.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import math
import os
import queue
import signal
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from confluent_kafka import KafkaError, Message, Producer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from common.contract import PLAUSIBLE_ARRIVAL, REDSET_COLUMNS, row_location
from common.handoff import put_until_stopped
from common.kafka_config import producer_config
from common.settings import Settings
from common.topics import ensure_topics
from producers.sources import ResolvedSource, SourceError, resolve, stage_ordered


class ReplayError(RuntimeError):
    """The replay could not complete (delivery failed, resume mismatch)."""


@dataclass
class ReplaySummary:
    run_id: str
    source: str
    topic: str
    rows_read: int = 0
    rows_sent: int = 0
    rows_rejected: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    rows_per_s: float = 0.0
    resumed_from: int = 0
    stopped: bool = False
    sorted: bool = False  # True when the source was not already in replay order

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Pace:
    """How fast the replay goes, changeable while it runs (the rate file, see
    :func:`control_paths`): fixed rows/s, an event-time factor, or neither (as fast as
    possible). Each change bumps ``version``; the replay then paces from that row on."""

    rate: float | None = None
    speed: float | None = None
    version: int = 0

    def set_rate(self, rate: float | None) -> None:
        """``rate`` rows/s from now on; 0 or None: as fast as possible."""
        self.rate, self.speed = (rate or None), None
        self.version += 1


def control_paths(run_dir: str | Path, run_id: str) -> dict[str, Path]:
    """A replay's files: checkpoint (progress), pause (present = paused), rate (rows/s as
    text, 0 = as fast as possible; read while the replay runs)."""
    d = Path(run_dir)
    return {
        "checkpoint": d / f"replay-{run_id}.json",
        "pause": d / f"replay-{run_id}.pause",
        "rate": d / f"replay-{run_id}.rate",
    }


@dataclass(frozen=True)
class Filters:
    clusters: tuple[str, ...] = ()
    start: str | None = None
    end: str | None = None
    sample: float | None = None
    kind: str | None = None
    limit: int | None = None


def _q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _typed_cte(relation: str, kind: str | None) -> str:
    kind_expr = (
        _q(kind)
        if kind
        else "CASE WHEN _file ILIKE '%serverless%' THEN 'serverless' "
        "WHEN _file ILIKE '%provisioned%' THEN 'provisioned' "
        "WHEN cluster_size IS NULL OR trim(cluster_size::VARCHAR) = '' THEN 'serverless' "
        "ELSE 'provisioned' END"
    )
    return f"""
    WITH src AS ({relation}),
    typed AS (
        SELECT *, TRY_CAST(arrival_timestamp AS TIMESTAMP) AS _ts,
               TRY_CAST(TRY_CAST(instance_id AS DOUBLE) AS BIGINT) AS _iid,
               TRY_CAST(TRY_CAST(query_id AS DOUBLE) AS BIGINT) AS _qid,
               {kind_expr} AS _kind
        FROM src)"""


_FILL_TS = (
    "COALESCE(_ts, last_value(_ts IGNORE NULLS) OVER ("
    "PARTITION BY _file ORDER BY _row ROWS UNBOUNDED PRECEDING))"
)


def _kafka_ts(col: str) -> str:
    """The Kafka timestamp (epoch ms) of a row: its arrival when plausible, else NULL (sent
    as the previous row's, like an unparseable arrival; the clean stage rejects the row)."""
    lo, hi = PLAUSIBLE_ARRIVAL
    return (
        f"CASE WHEN {col} >= TIMESTAMP '{lo}' AND {col} < TIMESTAMP '{hi}' "
        f"THEN epoch_us({col}) // 1000 END"
    )


def order_check_sql(relation: str) -> str:
    """One narrow pass: (rows with an unparseable arrival, rows out of replay order when
    read in (file, row) order). Zero out-of-order rows means no sort is needed."""
    lo_ts, lo_q = "TIMESTAMP '0001-01-01'", "(-9223372036854775807 - 1)"
    return (
        _typed_cte(relation, None)
        + f""",
    k AS (SELECT _file, _row, _ts IS NULL AS _null,
                 COALESCE({_FILL_TS}, {lo_ts}) AS t, COALESCE(_qid, {lo_q}) AS q FROM typed),
    l AS (SELECT _null, t, q, lag(t) OVER w AS pt, lag(q) OVER w AS pq
          FROM k WINDOW w AS (ORDER BY _file, _row))
    SELECT count(*) FILTER (WHERE _null) AS null_ts,
           count(*) FILTER (WHERE t < pt OR (t = pt AND q < pq)) AS disorder
    FROM l"""
    )


def ordered_sql(
    relation: str,
    filters: Filters,
    final: bool = True,
    *,
    presorted: bool = False,
    fill_ts: bool = True,
    float_columns: Sequence[str] = (),
) -> str:
    """SQL producing (key, ts, file, row, value) in replay order (parameters ``$run_id``,
    ``$dataset``); with ``final=False``, the cheap (is_raw, raw_reason) rows for counting.

    ``presorted``: the relation, read in (file, row) order, is already in replay order
    (see :func:`order_check_sql`), so nothing is sorted and rows stream as read; a NULL
    ``ts`` then means "same as the previous row". Otherwise one sort on the typed columns
    (JSON is encoded after it); ``fill_ts=False`` skips the arrival fill-forward window
    when no arrival is unparseable. ``float_columns``: a sixth column, ``nonfinite``, is
    true where one of them holds NaN or an infinity (which DuckDB writes as bare, invalid
    JSON)."""
    cols = ", ".join(f'"{c}" := "{c}"' for c in REDSET_COLUMNS)
    prov = "_run_id := $run_id, _dataset := $dataset, _file := _file, _row := _row, _kind := _kind"
    where = ["TRUE"]
    if filters.clusters:
        where.append("_key IN (" + ", ".join(_q(c) for c in filters.clusters) + ")")
    if filters.start:
        where.append(f"_ts >= TIMESTAMP {_q(filters.start)}")
    if filters.end:
        where.append(f"_ts < TIMESTAMP {_q(filters.end)}")
    if filters.sample is not None:
        where.append(f"hash(_file, _row) % 1000000 < {int(filters.sample * 1_000_000)}")
    limit = f"LIMIT {int(filters.limit)}" if filters.limit else ""
    sort_ts = "_ts" if presorted or not fill_ts else _FILL_TS
    order = "" if presorted else "ORDER BY _sort_ts NULLS FIRST, _qid NULLS FIRST, _file, _row"
    cte = (
        _typed_cte(relation, filters.kind)
        + f""",
    keyed AS (
        SELECT *, CASE WHEN _iid IS NULL THEN NULL ELSE _kind || '-' || _iid::VARCHAR END AS _key,
               {sort_ts} AS _sort_ts
        FROM typed),
    picked AS (SELECT * FROM keyed WHERE {" AND ".join(where)} {order} {limit})
    """
    )
    if not final:
        return (
            cte
            + " SELECT _raw IS NOT NULL AS is_raw, json_extract_string(_error, '$.reason') AS raw_reason FROM picked"
        )
    flag = ""
    if float_columns:
        any_nonfinite = " OR ".join(f'NOT isfinite("{c}")' for c in float_columns)
        flag = f", coalesce({any_nonfinite}, false) AS nonfinite"
    # a projection over the ordered (or scan-ordered) subquery keeps its order
    return (
        cte
        + f"""
    SELECT _key AS key, {_kafka_ts("_sort_ts")} AS ts, _file AS file, _row AS row,
           CASE WHEN _raw IS NULL THEN to_json(struct_pack({cols}, {prov}))::VARCHAR
                ELSE to_json(struct_pack({cols}, {prov}, _raw := _raw, _error := json(_error)))::VARCHAR
           END AS value{flag}
    FROM picked
    """
    )


#: a row whose JSON (in UTF-8) is longer than this is sent as an unreadable row
#: (``field_too_large``): Kafka refuses messages over ~1 MB, and the clean stage's dead
#: letter carries the raw row
MAX_ROW_BYTES = 512 * 1024
_NONFINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def safe_value(value: str, file: str, row: int) -> tuple[str, str | None]:
    """A RAW_DATA value Kafka and every JSON reader accept, and the reason if the row
    became unreadable here. Non-finite numbers (DuckDB writes them as bare ``NaN`` /
    ``Infinity``, which is not JSON) become strings the clean stage rejects as
    ``invalid_number``; a row over :data:`MAX_ROW_BYTES` becomes an unreadable row
    (``field_too_large``) naming its largest field, with a shortened ``_raw``."""
    try:
        v = json.loads(value)  # Python's json reads NaN and Infinity
    except ValueError:
        return value, None
    if not isinstance(v, dict):
        return value, None
    changed = False
    for k, x in v.items():
        if isinstance(x, float) and not math.isfinite(x):
            v[k] = _NONFINITE[repr(x)]
            changed = True
    text = json.dumps(v) if changed else value
    if len(text.encode()) <= MAX_ROW_BYTES:
        return text, None
    given = v.get("_raw")
    if isinstance(given, str) and isinstance(v.get("_error"), dict):
        v["_raw"] = _shorten(given)  # unreadable already: keep its reason
        return json.dumps(v), None
    sizes = {k: len(json.dumps(x)) for k, x in v.items() if k in _REDSET}
    big = max(sizes, key=lambda k: sizes[k])
    out = {k: (None if sizes.get(k, 0) > 1024 else x) for k, x in v.items()}
    out["_raw"] = _shorten(text)
    out["_error"] = {
        "field": big,
        "reason": "field_too_large",
        "message": f"{row_location(file, row, big)}: {sizes[big]:,} bytes as JSON; "
        f"a row may hold at most {MAX_ROW_BYTES:,}",
    }
    return json.dumps(out), "field_too_large"


def _suspects(values: pa.Array, flagged: pa.Array | None, search_text: bool) -> list[int]:
    """Indices of the JSON values :func:`safe_value` must see (vectorized: the per-row
    loop pays nothing when a batch has none). ``flagged``: the SQL's ``nonfinite`` column
    (typed float columns); ``search_text``: look for NaN/Infinity in the JSON text too (a
    float nested in another type)."""
    flag = pc.greater(pc.binary_length(values), MAX_ROW_BYTES)
    if flagged is not None:
        flag = pc.or_(flag, flagged)
    if search_text and _may_hold_nonfinite(values):
        nan = pc.or_(pc.match_substring(values, "NaN"), pc.match_substring(values, "Infinity"))
        flag = pc.or_(flag, nan)
    if not pc.any(flag).as_py():
        return []
    return [int(i) for i in pc.indices_nonzero(flag).to_pylist()]


def _float_columns(con: duckdb.DuckDBPyConnection, relation: str) -> tuple[list[str], bool]:
    """(Redset columns typed FLOAT/DOUBLE, whether another Redset column nests one)."""
    plain, nested = [], False
    for name, typ, *_ in con.execute(f"DESCRIBE {relation}").fetchall():
        t = str(typ).upper()
        if name not in _REDSET or not ("DOUBLE" in t or "FLOAT" in t or "REAL" in t):
            continue
        if t in ("DOUBLE", "FLOAT", "REAL"):
            plain.append(str(name))
        else:
            nested = True
    return plain, nested


def _may_hold_nonfinite(values: pa.Array) -> bool:
    """One bytes search over a batch's character data (measured: two match_substring
    passes on every batch were a fifth of a Parquet replay's time; almost no batch has
    a non-finite number)."""
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return True  # another layout: let match_substring look
    data = values.buffers()[2]
    if data is None:
        return False
    raw = data.to_pybytes()
    return b"NaN" in raw or b"Infinity" in raw


def _shorten(text: str) -> str:
    return text[:1000] + f"... ({len(text):,} characters in all)"


_REDSET = frozenset(REDSET_COLUMNS)


class _Acks:
    """Which rows are acknowledged, without a Python delivery callback per message.

    The producer is idempotent, so each partition's messages are acknowledged in the order
    they were produced, and librdkafka's statistics report, per partition, the id of the
    last acknowledged message (``acked_msgid``: message ids count the messages produced
    to that partition, from 1). ``pending[p]`` holds the replay sequence number of every
    produced, not yet acknowledged message of partition ``p``; each statistics report
    (every :data:`STATS_MS`) drops the acknowledged ones from its front. Failures still
    come one by one: delivery reports are asked for errors only, and the first error
    freezes the progress (a later acknowledgement on the same partition may sit after
    a gap). Measured on a 1 M-row replay: a Python callback per message took a fifth of
    the replay's time."""

    STATS_MS = 50

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.pending: list[collections.deque[int]] = []
        self.produced = 0  # highest sequence handed to the producer
        self.acked = 0
        self._acked_ids: list[int] = []
        self.error: str | None = None

    def start(self, partitions: int, first: int) -> None:
        """Track ``partitions``; sequences after ``first`` (rows skipped on resume)."""
        self.pending = [collections.deque() for _ in range(partitions)]
        self.produced = first
        self._acked_ids = [0] * partitions

    def config(self) -> dict[str, Any]:
        """Producer settings that feed this tracker (on top of
        :func:`replay_producer_config`, whose delivery reports are for errors only)."""
        return {
            "statistics.interval.ms": self.STATS_MS,
            "stats_cb": self.on_stats,
            "on_delivery": self.on_delivery,
        }

    def on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None and self.error is None:
            self.error = f"delivery to {msg.topic()} [{msg.partition()}] failed: {err.str()}"

    def on_stats(self, stats_json: str) -> None:
        if self.error is not None or not self.pending:
            return
        topic = json.loads(stats_json).get("topics", {}).get(self.topic)
        if not topic:
            return
        for name, part in topic.get("partitions", {}).items():
            p = int(name)
            if not 0 <= p < len(self.pending):
                continue  # -1: librdkafka's "unassigned" pseudo-partition
            newly = int(part.get("acked_msgid", 0)) - self._acked_ids[p]
            if newly <= 0:
                continue
            self._acked_ids[p] += newly
            self.acked += newly
            d = self.pending[p]
            for _ in range(min(newly, len(d))):
                d.popleft()

    def all_acked(self) -> None:
        """After a flush that left nothing and reported no error: everything is."""
        for p, d in enumerate(self.pending):
            self._acked_ids[p] += len(d)
            self.acked += len(d)
            d.clear()

    def acked_upto(self) -> int:
        """Highest sequence s such that every sequence <= s is acknowledged."""
        fronts = [d[0] for d in self.pending if d]
        return min(fronts) - 1 if fronts else self.produced


class _ReadAhead:
    """Arrow batches pulled on a thread, at most ``depth`` ahead: DuckDB releases the GIL
    while it computes a batch (scan, JSON encoding), so the next batch is ready when the
    produce loop asks for it. Errors are raised in the iterating thread."""

    _END = object()

    def __init__(self, reader: pa.RecordBatchReader, depth: int = 2) -> None:
        self._q: queue.Queue[object] = queue.Queue(depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(reader,), name="replay-read", daemon=True
        )
        self._thread.start()

    def _put(self, item: object) -> bool:
        return put_until_stopped(self._q, item, self._stop, 0.1)

    def _run(self, reader: pa.RecordBatchReader) -> None:
        try:
            for batch in reader:
                if not self._put(batch):
                    return
        except BaseException as e:  # handed to the consuming thread
            self._put(e)
            return
        self._put(self._END)

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        while True:
            item = self._q.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


class _Checkpoint:
    def __init__(self, path: Path, meta: dict[str, Any]) -> None:
        self.path = path
        self.meta = meta
        self.saved = -1
        #: cluster id of the broker the acknowledged rows went to (None: not recorded)
        self.cluster_id: str | None = None
        #: for whoever watches progress (the expert's Replay tab): rows in all, the pace
        self.total: int | None = None
        self.pace: Pace | None = None
        self._samples: collections.deque[tuple[float, int]] = collections.deque()

    def _rows_per_s(self, acked: int) -> float:
        """Acknowledged rows per second over about the last 5 s."""
        now = time.monotonic()
        self._samples.append((now, acked))
        while len(self._samples) > 2 and now - self._samples[1][0] >= 5.0:
            self._samples.popleft()
        t0, a0 = self._samples[0]
        return (acked - a0) / (now - t0) if now > t0 else 0.0

    def load(self) -> int:
        if not self.path.exists():
            return 0
        state = json.loads(self.path.read_text())
        if state.get("meta") != self.meta:
            raise ReplayError(
                f"run {self.meta['run_id']} was started with other arguments "
                f"({state.get('meta')}); use a new --run-id"
            )
        self.cluster_id = state.get("cluster_id")
        return int(state["acked"])

    def rebase(self, acked: int, cluster_id: str | None, bootstrap: str) -> int:
        """Rows to skip on this broker: none if the acknowledged rows went to another
        broker (the embedded broker restarted and lost the topic), said once."""
        old, self.cluster_id = self.cluster_id, cluster_id or self.cluster_id
        if acked and old and cluster_id and old != cluster_id:
            logging.getLogger("producers.replay").warning(
                "broker restarted: the broker at %s is not the one run %s was replayed into "
                "(cluster id %s, now %s): the embedded broker loses its topics on restart. "
                "Replaying run %s from its first row (rows already materialized are "
                "absorbed); see README 'Broker restarted'.",
                bootstrap, self.meta["run_id"], old, cluster_id, self.meta["run_id"],
            )  # fmt: skip
            return 0
        return acked

    def save(self, acked: int, done: bool = False) -> None:
        if acked == self.saved and not done:
            return
        tmp = self.path.with_suffix(".tmp")
        state = {
            "meta": self.meta,
            "acked": acked,
            "done": done,
            "cluster_id": self.cluster_id,
            "total": self.total,
            "rows_per_s": self._rows_per_s(acked),
            "rate": self.pace.rate if self.pace else None,
            "speed": self.pace.speed if self.pace else None,
        }
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.path)
        self.saved = acked


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
    """Replay ``source`` into ``settings.topic("raw")``; see the module docstring.
    ``pace`` (instead of ``speed`` / ``rate``) may be changed while the replay runs."""
    if pace is not None:
        speed, rate = pace.speed, pace.rate
    if speed is not None and rate is not None:
        raise ValueError("give either speed (event-time factor) or rate (rows/s), not both")
    if kind not in (None, "provisioned", "serverless"):
        raise ValueError(f"kind must be provisioned or serverless, not {kind!r}")
    run_id = run_id or uuid.uuid4().hex[:12]
    filters = Filters(tuple(clusters or ()), start, end, sample, kind, limit)
    run_dir = Path(settings.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    src = resolve(source, str(run_dir / "cache"), progress=progress)
    topic = settings.topic("raw")
    summary = ReplaySummary(run_id=run_id, source=source, topic=topic)
    meta = json.loads(
        json.dumps({"run_id": run_id, "source": source, "filters": asdict(filters), "topic": topic})
    )
    checkpoint = _Checkpoint(run_dir / f"replay-{run_id}.json", meta)
    skip = checkpoint.load()
    summary.resumed_from = skip

    con = duckdb.connect()
    # memory: DuckDB 128 MB (a staged CSV spills beyond it), the producer queue 32 MB, three
    # batches of 10 k rows (being sent, read ahead): a 1 M-row replay peaks near 430 MB
    con.execute("SET memory_limit = '128MB'")
    con.execute(f"SET temp_directory = {_q(str(run_dir / 'duckdb-tmp'))}")
    con.execute("SET threads = 1")  # the other core is for librdkafka and the broker
    relation, in_file_order = _stage_with_progress(con, src, progress, encoding)
    # a relation that streams in (file, row) order, when that already is the replay order
    # (one narrow pass checks), is not sorted at all
    null_ts, disorder = con.execute(order_check_sql(relation)).fetchall()[0]
    presorted = in_file_order and disorder == 0
    summary.sorted = not presorted
    # typed floats (Parquet): DuckDB flags NaN/Infinity per row; a staged source is text
    floats, nested_floats = _float_columns(con, relation)
    sql = ordered_sql(
        relation, filters, presorted=presorted, fill_ts=bool(null_ts), float_columns=floats
    )
    named = {"run_id": run_id, "dataset": src.dataset}
    stats_sql = ordered_sql(
        relation, filters, final=False, presorted=presorted, fill_ts=bool(null_ts)
    )
    total = 0
    for is_raw, reason, n in con.execute(
        f"SELECT is_raw, raw_reason, count(*) FROM ({stats_sql}) GROUP BY ALL"
    ).fetchall():
        total += int(n)
        if is_raw:
            summary.rows_rejected[str(reason)] = int(n)
    summary.rows_read = total

    ensure_topics(settings, [topic])
    acks = _Acks(topic)
    producer = Producer(
        {**replay_producer_config(settings, max_in_flight, max_queue_kb), **acks.config()}
    )
    md = producer.list_topics(topic, timeout=settings.connect_timeout_s)
    partitions = len(md.topics[topic].partitions)
    skip = checkpoint.rebase(skip, md.cluster_id, settings.bootstrap_servers)
    summary.resumed_from = skip
    acks.start(partitions, skip)
    h_run, h_dataset = ("run_id", run_id.encode()), ("dataset", src.dataset.encode())
    key_cache: dict[str | None, tuple[bytes | None, int]] = {}
    pace = pace or Pace(rate, speed)
    checkpoint.total, checkpoint.pace = total, pace
    seen = pace.version
    paced = bool(speed or rate)
    t_start = t_pace = time.monotonic()
    # pacing counts from the first row sent after a start, a pace change or a pause (not
    # from before the first batch was read: no burst to catch up with the read)
    seq_pace = skip
    ts_first: int | None = None
    last_ts = 0
    last_save = t_start
    seq = 0
    stop = stop_event or threading.Event()
    bar = Progress(
        TextColumn(f"replay {run_id}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>9,.0f} rows/s"),
        TimeRemainingColumn(),
        disable=not progress,
    )
    task = bar.add_task("replay", total=total, completed=skip, rate=0.0)
    produce = producer.produce
    pending = acks.pending
    batches: _ReadAhead | None = None
    try:
        with bar:
            reader = con.sql(sql + f" OFFSET {int(skip)}", params=named).to_arrow_reader(batch_rows)
            batches = _ReadAhead(reader)
            seq = skip
            for batch in batches:
                keys = batch.column(0).to_pylist()
                tss = batch.column(1).to_pylist()
                files = batch.column(2).to_pylist()
                rows = batch.column(3).to_pylist()
                text = batch.column(4)
                # bytes, not str: no UTF-8 decode here and no encode again in produce()
                values: list[Any] = text.cast(pa.binary()).to_pylist()
                flagged = batch.column(5) if floats else None
                for i in _suspects(text, flagged, nested_floats):
                    values[i], became = safe_value(values[i].decode(), files[i], rows[i])
                    if became:
                        rej = summary.rows_rejected
                        rej[became] = rej.get(became, 0) + 1
                file_headers: dict[str, tuple[str, bytes]] = {}
                for key, ts_or_none, fname, row, value in zip(
                    keys, tss, files, rows, values, strict=True
                ):
                    seq += 1
                    ts = last_ts if ts_or_none is None else ts_or_none
                    last_ts = ts
                    kp = key_cache.get(key)
                    if kp is None:
                        kb_new = key.encode() if key is not None else None
                        part_new = zlib.crc32(kb_new) % partitions if kb_new is not None else -1
                        kp = key_cache[key] = (kb_new, part_new)
                    kb, part = kp
                    if part < 0:
                        part = row % partitions
                    fh = file_headers.get(fname)
                    if fh is None:
                        fh = file_headers[fname] = ("file", fname.encode())
                    headers = [h_run, h_dataset, fh, ("row", b"%d" % row)]
                    while True:
                        try:
                            produce(topic, value, kb, partition=part, timestamp=ts,
                                    headers=headers)  # fmt: skip
                            break
                        except BufferError:
                            producer.poll(0.05)
                    pending[part].append(seq)
                    check = not seq & 1023
                    if paced:
                        if ts_first is None:
                            ts_first, t_pace, seq_pace = ts, time.monotonic(), seq - 1
                        due = (seq - seq_pace) / rate if rate else (ts - ts_first) / 1000.0 / speed  # type: ignore[operator]
                        now = time.monotonic()
                        ahead = due - (now - t_pace)
                        if ahead > 0.005:
                            producer.poll(min(ahead, 0.5))
                        # a slow pace looks at pause, stop and rate by time, not every 1024 rows
                        check = check or now - last_save > 0.2
                    if check:
                        acks.produced = seq
                        producer.poll(0)
                        if acks.error:
                            raise ReplayError(acks.error)
                        now = time.monotonic()
                        if now - last_save > 0.2:
                            checkpoint.save(acks.acked_upto())
                            last_save = now
                            elapsed = now - t_start
                            bar.update(task, completed=seq, rate=(seq - skip) / max(elapsed, 1e-9))
                        paused = False
                        while (
                            pause_event is not None and pause_event.is_set() and not stop.is_set()
                        ):
                            paused = True
                            producer.poll(0.2)
                            checkpoint.save(acks.acked_upto())
                        if paused or pace.version != seen:
                            # a new pace, or resumed: pace from here (no burst to catch up)
                            seen, rate, speed = pace.version, pace.rate, pace.speed
                            paced = bool(rate or speed)
                            ts_first = None
                        if stop.is_set():
                            break
                acks.produced = seq
                if stop.is_set():
                    summary.stopped = True
                    break
            remaining = producer.flush(settings.message_timeout_ms / 1000 + 5)
            if acks.error or remaining:
                raise ReplayError(
                    acks.error
                    or f"{remaining} rows not acknowledged by {settings.bootstrap_servers}"
                )
            acks.all_acked()
            checkpoint.save(acks.acked_upto(), done=not summary.stopped)
            bar.update(task, completed=seq)
    finally:
        if batches is not None:
            batches.close()  # before the connection closes under it
        checkpoint.save(acks.acked_upto())
        con.close()
    summary.rows_sent = acks.acked
    summary.elapsed_s = time.monotonic() - t_start
    summary.rows_per_s = summary.rows_sent / summary.elapsed_s if summary.elapsed_s else 0.0
    return summary


def _stage_with_progress(
    con: duckdb.DuckDBPyConnection, src: ResolvedSource, progress: bool, encoding: str
) -> tuple[str, bool]:
    bar = Progress(
        TextColumn(f"read {src.text}"),
        MofNCompleteColumn(),
        disable=not progress or src.kind == "parquet",
    )
    with bar:
        task = bar.add_task("read", total=None)
        return stage_ordered(con, src, lambda n: bar.advance(task, n), encoding)


# --- CLI ------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m producers.replay",
        description=(
            "Replay a Redset source into RAW_DATA. SOURCE: a .parquet/.csv/.xlsx path or glob, "
            "an https:// URL, s3://redshift-downloads/redset/... (anonymous, cached), or "
            "synthetic:rows=N,seed=S,clusters=C,kind=provisioned|serverless|mixed,days=D,error_rate=E,duplicate_rate=R"
        ),
        epilog="Pause/resume: send SIGUSR1, or create RUN_DIR/replay-<run_id>.pause. "
        "Change the rate while it runs: write rows/s (0 = max) to RUN_DIR/replay-<run_id>.rate. "
        "Resume after a crash: run again with the same --run-id.",
    )
    p.add_argument("source")
    p.add_argument("--run-id", help="replay run id (default: new); reuse one to resume")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--speed", type=float, help="event time scaled: 1000 = 1000x real time")
    g.add_argument("--rate", type=float, help="fixed rows per second")
    p.add_argument("--limit", type=int, help="at most this many rows")
    p.add_argument(
        "--clusters", help="comma-separated cluster keys, e.g. provisioned-3,serverless-7"
    )
    p.add_argument("--start", help="only rows arriving at or after this time (UTC)")
    p.add_argument("--end", help="only rows arriving before this time (UTC)")
    p.add_argument("--sample", type=float, help="deterministic sample fraction in (0, 1]")
    p.add_argument(
        "--kind", choices=["provisioned", "serverless"], help="cluster kind of every row"
    )
    p.add_argument("--encoding", default="utf8", help="CSV text encoding (default utf8)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    Settings.add_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from common.broker import BrokerError, broker_for

    stop = threading.Event()
    pause = threading.Event()

    def _toggle(signum: int, frame: object) -> None:
        if pause.is_set():
            pause.clear()
        else:
            pause.set()

    def _stop(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGUSR1, _toggle)
    try:
        settings = Settings.from_args(args)
        if settings.embedded:
            print("note: no KAFKA_BOOTSTRAP_SERVERS: using an embedded broker that stops with this command",
                  file=sys.stderr)  # fmt: skip
        run_id = args.run_id or uuid.uuid4().hex[:12]
        paths = control_paths(settings.run_dir, run_id)
        pace = Pace(args.rate, args.speed)
        watcher = threading.Thread(
            target=_watch_controls, args=(paths, pause, stop, pace), daemon=True
        )
        watcher.start()
        with broker_for(settings) as s:
            summary = replay(
                args.source, s, run_id=run_id, pace=pace, limit=args.limit,
                clusters=[c.strip() for c in args.clusters.split(",")] if args.clusters else None,
                start=args.start, end=args.end, sample=args.sample, kind=args.kind,
                progress=not args.no_progress, stop_event=stop, pause_event=pause, encoding=args.encoding,
            )  # fmt: skip
    except KeyboardInterrupt:
        print("interrupted; rerun with the same --run-id to resume", file=sys.stderr)
        return 130
    except (SourceError, ReplayError, BrokerError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        stop.set()
    if args.json:
        print(json.dumps(summary.as_dict()))
    else:
        rejected = ", ".join(f"{k}: {v}" for k, v in summary.rows_rejected.items()) or "none"
        print(
            f"run {summary.run_id}: read {summary.rows_read}, sent {summary.rows_sent} to {summary.topic}"
            f" (resumed after row {summary.resumed_from}), unreadable rows sent raw: {rejected}, "
            f"{summary.elapsed_s:.1f} s, {summary.rows_per_s:,.0f} rows/s"
            + (" [stopped]" if summary.stopped else "")
        )
    return 0


def read_rate(path: Path) -> float | None:
    """The rows/s a rate file asks for (0 = as fast as possible); None when it is absent or
    does not hold a non-negative number."""
    try:
        value = float(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _watch_controls(
    paths: dict[str, Path], pause: threading.Event, stop: threading.Event, pace: Pace
) -> None:
    """Follow the pause file (present = paused) and the rate file (a new number = a new
    rate) until the replay stops."""
    present = False
    stamp: float | None = None
    while not stop.is_set():
        now = paths["pause"].exists()
        if now != present:
            present = now
            if now:
                pause.set()
            else:
                pause.clear()
        try:
            mtime: float | None = paths["rate"].stat().st_mtime_ns
        except OSError:
            mtime = None
        if mtime is not None and mtime != stamp:
            stamp = mtime
            wanted = read_rate(paths["rate"])
            if wanted is not None and (wanted or None) != pace.rate:
                pace.set_rate(wanted)
        time.sleep(0.3)


if __name__ == "__main__":
    sys.exit(main())
