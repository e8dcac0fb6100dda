"""The replay's DuckDB side: the SQL that reads a staged source in replay order, the
plan (which SQL, how many rows) and the batches read ahead on a thread."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
from rich.progress import MofNCompleteColumn, Progress, TextColumn

from common.contract import PLAUSIBLE_ARRIVAL, REDSET_COLUMNS
from common.handoff import put_until_stopped
from producers.sources import ResolvedSource, stage_ordered

_REDSET = frozenset(REDSET_COLUMNS)


@dataclass(frozen=True)
class Filters:
    clusters: tuple[str, ...] = ()
    start: str | None = None
    end: str | None = None
    sample: float | None = None
    kind: str | None = None
    limit: int | None = None


def quote(s: str) -> str:
    """``s`` as an SQL string literal."""
    return "'" + s.replace("'", "''") + "'"


def _typed_cte(relation: str, kind: str | None) -> str:
    kind_expr = (
        quote(kind)
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


def _where(filters: Filters) -> str:
    where = ["TRUE"]
    if filters.clusters:
        where.append("_key IN (" + ", ".join(quote(c) for c in filters.clusters) + ")")
    if filters.start:
        where.append(f"_ts >= TIMESTAMP {quote(filters.start)}")
    if filters.end:
        where.append(f"_ts < TIMESTAMP {quote(filters.end)}")
    if filters.sample is not None:
        where.append(f"hash(_file, _row) % 1000000 < {int(filters.sample * 1_000_000)}")
    return " AND ".join(where)


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
    picked AS (SELECT * FROM keyed WHERE {_where(filters)} {order} {limit})
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


def float_columns(con: duckdb.DuckDBPyConnection, relation: str) -> tuple[list[str], bool]:
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


def connect(run_dir: Path) -> duckdb.DuckDBPyConnection:
    """A connection whose memory stays bounded whatever the source's size."""
    con = duckdb.connect()
    con.execute("SET memory_limit = '128MB'")  # a staged CSV or a sort spills beyond it
    con.execute(f"SET temp_directory = {quote(str(run_dir / 'duckdb-tmp'))}")
    con.execute("SET threads = 1")  # the other core is for librdkafka and the broker
    return con


@dataclass(frozen=True)
class ReadPlan:
    """How a staged source is read: ``sql`` yields (key, ts, file, row, value) and, when
    ``floats``, ``nonfinite``."""

    sql: str
    sorted: bool  # the source was not already in replay order
    floats: list[str]  # typed float columns (flagged by the SQL)
    nested_floats: bool  # a float nested in another type (found in the JSON text)
    total: int  # rows after the filters
    rejected: dict[str, int] = field(default_factory=dict)  # unreadable rows per reason


def read_plan(
    con: duckdb.DuckDBPyConnection,
    src: ResolvedSource,
    filters: Filters,
    progress: bool,
    encoding: str,
) -> ReadPlan:
    """Stage ``src`` and plan its reading: a relation that streams in (file, row) order,
    when that already is the replay order (one narrow pass checks), is not sorted at all."""
    relation, in_file_order = _stage_with_progress(con, src, progress, encoding)
    null_ts, disorder = con.execute(order_check_sql(relation)).fetchall()[0]
    presorted = in_file_order and disorder == 0
    # typed floats (Parquet): DuckDB flags NaN/Infinity per row; a staged source is text
    floats, nested_floats = float_columns(con, relation)
    sql = ordered_sql(
        relation, filters, presorted=presorted, fill_ts=bool(null_ts), float_columns=floats
    )
    stats_sql = ordered_sql(
        relation, filters, final=False, presorted=presorted, fill_ts=bool(null_ts)
    )
    total, rejected = 0, {}
    for is_raw, reason, n in con.execute(
        f"SELECT is_raw, raw_reason, count(*) FROM ({stats_sql}) GROUP BY ALL"
    ).fetchall():
        total += int(n)
        if is_raw:
            rejected[str(reason)] = int(n)
    return ReadPlan(sql, not presorted, floats, nested_floats, total, rejected)


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


class ReadAhead:
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
