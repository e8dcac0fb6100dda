"""Deterministic synthetic Redset generator, calibrated to the figures in redset.md.

Output has the real files' 24 columns and quirks: 0/1 flags, ints written as floats
(``compile_duration_ms``, ``num_*_tables_accessed``, ``cluster_size``), NULL
``cluster_size`` for serverless, comma-separated table-id strings, the real files' NULL
measures (:data:`NULL_RATES`: every result-cache hit has NULL compile time, fingerprint,
table counts and lists and MB; a few other rows a NULL compile time, fingerprint or MB
pair), query ids not monotone in arrival time, a few dominant
clusters, few users per cluster (one cluster minting many), bursty ETL writes followed by
reads of the same tables, heavy-tailed runtimes and bytes scanned.

With ``error_rate`` > 0 it injects broken rows (each broken row has exactly one problem)
and records them in ``SyntheticData.injected`` (the ground truth for oracle tests); with
``duplicate_rate`` > 0 it inserts exact copies of earlier rows right after them.

``python -m producers.synthetic --rows N --out file.parquet|.csv|.xlsx`` writes a file.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from common.contract import QUERY_TYPES, REDSET_COLUMNS

PREFIX = "synthetic:"

#: P(query_type) among non-cached queries, per kind (cache hits are type "other").
#: Chosen so that reads (select or cached) are 30.9 % of all queries (redset.md).
_TYPE_MIX = {
    "provisioned": {
        "select": 20.3, "insert": 24.0, "copy": 12.0, "delete": 8.0, "update": 4.0,
        "ctas": 3.0, "unload": 2.0, "vacuum": 2.0, "analyze": 6.0, "other": 8.1,
    },
    "serverless": {
        "select": 26.3, "insert": 20.0, "copy": 10.0, "delete": 7.0, "update": 3.0,
        "ctas": 3.0, "unload": 2.0, "vacuum": 1.0, "analyze": 6.0, "other": 17.1,
    },
}  # fmt: skip
_CACHE_HIT = {"provisioned": 0.106, "serverless": 0.046}
_ABORT = {"provisioned": 0.0051, "serverless": 0.0091}
_SYSTEM_TABLES = {"provisioned": 0.024, "serverless": 0.124}
#: share of queries that reuse a fingerprint of their cluster's top 10 (redset.md: ~34 % / ~53 %)
_TOP10 = {"provisioned": 0.34, "serverless": 0.53}
#: share of queries whose fingerprint was already seen in the cluster (90.2 % / 87.5 %)
_SEEN = {"provisioned": 0.902, "serverless": 0.875}
#: runtime buckets (ms bounds) and their shares (redset.md)
_RUNTIME_BUCKETS = [
    (1, 10),
    (10, 100),
    (100, 1_000),
    (1_000, 10_000),
    (10_000, 60_000),
    (60_000, 3_600_000),
]
#: over all queries; cache hits (all <= 10 ms) fill part of the first bucket
_RUNTIME_P = [0.14, 0.48, 0.25, 0.10, 0.02, 0.01]
#: bytes scanned buckets (MB) and shares among scanning queries
_SCAN_BUCKETS = [
    (0.01, 1_000),
    (1_000, 10_000),
    (10_000, 100_000),
    (100_000, 1_000_000),
    (1_000_000, 10_000_000),
]
_SCAN_P = [0.75, 0.19, 0.04, 0.01, 0.002]
_WRITES = ("insert", "copy", "delete")
#: NULL ("not measured") among the non-cached rows, measured on real samples (redset.md);
#: ``SyntheticSpec.nulls`` scales them (0 = none; cache hits are always NULL there)
NULL_RATES = {"compile_duration_ms": 0.003, "feature_fingerprint": 0.0045, "mbytes": 0.004}

ERROR_KINDS = (
    "unknown_query_type",
    "negative_duration",
    "invalid_number",
    "invalid_timestamp",
    "missing_field",
)
_TYPOS = ["selcet", "insrt", "drop_table", "merge", "sleect", "upsert", "grant", "?"]
_BAD_NUMBERS = ["12ms", "abc", "1,5", "NaNms", "--3", "1e"]
_BAD_TIMESTAMPS = [
    "2024-13-45 25:61:00",
    " ",  # blank, not empty: an empty CSV field is NULL (missing), whatever the manifest says
    "yesterday",
    "2024-02-30 10:00:00",
    "31/03/2024 10:00",
]


@dataclass(frozen=True)
class SyntheticSpec:
    rows: int = 100_000
    seed: int = 0
    clusters: int = 20
    kind: str = "provisioned"  # provisioned | serverless | mixed
    start: str = "2024-03-01"
    days: float = 7.0
    error_rate: float = 0.0
    duplicate_rate: float = 0.0
    nulls: float = 1.0  # multiplier of NULL_RATES

    def __post_init__(self) -> None:
        if self.kind not in ("provisioned", "serverless", "mixed"):
            raise ValueError(
                f"synthetic kind must be provisioned, serverless or mixed, not {self.kind!r}"
            )
        if self.rows < 0 or self.clusters < 1 or self.days <= 0:
            raise ValueError("synthetic rows >= 0, clusters >= 1 and days > 0 are required")
        if not (0 <= self.error_rate < 1 and 0 <= self.duplicate_rate < 1):
            raise ValueError("synthetic error_rate and duplicate_rate must be in [0, 1)")
        if not 0 <= self.nulls * max(NULL_RATES.values()) <= 1:
            raise ValueError(
                f"synthetic nulls must be in [0, {1 / max(NULL_RATES.values()):g}] "
                "(a multiplier of the real files' NULL rates)"
            )

    @classmethod
    def parse(cls, text: str) -> SyntheticSpec:
        """Parse ``synthetic:rows=200000,seed=7,error_rate=0.01`` (the prefix is optional)."""
        body = text[len(PREFIX) :] if text.startswith(PREFIX) else text
        types: dict[str, Any] = {f.name: type(f.default) for f in fields(cls)}
        values: dict[str, object] = {}
        for part in filter(None, (p.strip() for p in body.split(","))):
            key, sep, raw = part.partition("=")
            if not sep or key not in types:
                raise ValueError(
                    f"bad synthetic spec item {part!r}: expected key=value with key in {sorted(types)}"
                )
            try:
                values[key] = types[key](raw)
            except ValueError as e:
                raise ValueError(f"bad synthetic spec value {part!r}: {e}") from e
        return cls(**values)  # type: ignore[arg-type]

    def to_string(self) -> str:
        default = SyntheticSpec()
        items = [
            f"{k}={v}" for k, v in asdict(self).items() if v != getattr(default, k) or k == "rows"
        ]
        return PREFIX + ",".join(items)


@dataclass
class SyntheticData:
    table: pa.Table  # the 24 Redset columns, in replay order
    injected: pa.Table  # row (1-based), kind, field, duplicate_of (row or null)
    spec: SyntheticSpec


def _fingerprint(kind: str, cluster: int, idx: int) -> str:
    return hashlib.sha256(f"{kind}/{cluster}/{idx}".encode()).hexdigest()


def _log_uniform(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return np.exp(rng.uniform(np.log(lo), np.log(hi)))


def _cluster_layout(spec: SyntheticSpec) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Kind, instance id and row weight of each cluster (a few dominate)."""
    if spec.kind == "mixed":
        n_prov = (spec.clusters + 1) // 2
        kinds = ["provisioned"] * n_prov + ["serverless"] * (spec.clusters - n_prov)
        ids = np.array(list(range(n_prov)) + list(range(spec.clusters - n_prov)))
    else:
        kinds = [spec.kind] * spec.clusters
        ids = np.arange(spec.clusters)
    weights = 1.0 / np.arange(1, spec.clusters + 1) ** 1.3
    return kinds, ids, weights / weights.sum()


def generate(spec: SyntheticSpec) -> SyntheticData:
    rng = np.random.default_rng(spec.seed)
    kinds, ids, weights = _cluster_layout(spec)
    n = spec.rows
    cl = rng.choice(len(kinds), size=n, p=weights) if n else np.zeros(0, dtype=int)
    is_serverless = np.array([k == "serverless" for k in kinds])[cl]
    kind_name = np.where(is_serverless, "serverless", "provisioned")

    # --- query type, cache hits, aborts ------------------------------------------------
    u = rng.random(n)
    cached = u < np.where(is_serverless, _CACHE_HIT["serverless"], _CACHE_HIT["provisioned"])
    qtype = np.empty(n, dtype=object)
    for kind in ("provisioned", "serverless"):
        mask = (kind_name == kind) & ~cached
        mix = _TYPE_MIX[kind]
        p = np.array(list(mix.values()))
        qtype[mask] = rng.choice(list(mix.keys()), size=int(mask.sum()), p=p / p.sum())
    qtype[cached] = "other"
    p_abort = np.where(
        is_serverless,
        _ABORT["serverless"] / (1 - _CACHE_HIT["serverless"]),
        _ABORT["provisioned"] / (1 - _CACHE_HIT["provisioned"]),
    )
    aborted = (rng.random(n) < p_abort) & ~cached

    # --- time: uniform, with writes snapped into hourly ETL bursts per cluster ----------
    t0 = datetime.fromisoformat(spec.start).replace(tzinfo=UTC).timestamp()
    span_us = int(spec.days * 86400 * 1e6)
    arrival_us = rng.integers(0, max(span_us, 1), size=n, dtype=np.int64)
    is_write = np.isin(qtype, _WRITES)
    burst_period = 3600 * 1_000_000
    phase = (cl * 7919 % 60) * 60 * 1_000_000  # each cluster ingests at its own minute
    burst = (arrival_us - phase) // burst_period * burst_period + phase
    arrival_us = np.where(
        is_write, np.maximum(burst, 0) + rng.integers(0, 120_000_000, n), arrival_us
    )
    arrival_us = np.clip(arrival_us, 0, span_us - 1) + int(t0 * 1e6)

    # --- users, databases: few per cluster, cluster #2 mints many short-lived users ------
    users_per_cluster = 1 + (np.arange(len(kinds)) % 4)
    user = rng.integers(0, 1 << 30, n) % users_per_cluster[cl] + 100 * cl
    churny = cl == min(2, len(kinds) - 1)
    user = np.where(
        churny & (rng.random(n) < 0.6), 10_000 + rng.integers(0, max(n // 20, 1), n), user
    )
    database = cl * 10 + rng.integers(0, 1 << 30, n) % (1 + np.arange(len(kinds)) % 3)[cl]

    # --- fingerprints: top-10 share + already-seen share per cluster ---------------------
    fp_idx = np.full(n, -1, dtype=np.int64)
    for c in range(len(kinds)):
        rows = np.flatnonzero((cl == c) & ~cached)
        if rows.size == 0:
            continue
        k = kinds[c]
        distinct_target = max(1, round((1 - _SEEN[k]) * rows.size))
        top = rng.random(rows.size) < _TOP10[k]
        idx = np.where(
            top,
            rng.integers(0, 10, rows.size),
            10 + rng.integers(0, max(int(distinct_target * 0.95), 1), rows.size).astype(np.int64),
        )
        fp_idx[rows] = idx
    fp_key = cl.astype(np.int64) * (1 << 32) + fp_idx  # one integer per (cluster, fingerprint)
    has_fp = fp_idx >= 0
    fingerprint = np.full(n, None, dtype=object)
    if has_fp.any():
        uniq, inverse = np.unique(fp_key[has_fp], return_inverse=True)
        names = np.array(
            [
                _fingerprint(kinds[int(k >> 32)], int(ids[int(k >> 32)]), int(k & 0xFFFFFFFF))
                for k in uniq.tolist()
            ],
            dtype=object,
        )
        fingerprint[has_fp] = names[inverse]

    # --- runtime (heavy tail; copy/ctas heavier), queue, compile ------------------------
    bucket = np.zeros(n, dtype=np.int64)
    for kind, hit in _CACHE_HIT.items():
        p_rt = np.array(_RUNTIME_P) / (1 - hit)
        p_rt[0] = (_RUNTIME_P[0] - hit) / (1 - hit)
        mask = kind_name == kind
        bucket[mask] = rng.choice(len(p_rt), size=int(mask.sum()), p=p_rt / p_rt.sum())
    heavy = np.isin(qtype, ("copy", "ctas"))
    bucket = np.where(heavy & (rng.random(n) < 0.3), np.minimum(bucket + 1, len(p_rt) - 1), bucket)
    lo = np.array([b[0] for b in _RUNTIME_BUCKETS])[bucket]
    hi = np.array([b[1] for b in _RUNTIME_BUCKETS])[bucket]
    total = _log_uniform(rng, lo.astype(float), hi.astype(float))
    total = np.where(cached, rng.uniform(1, 10, n), total)
    queue = np.where(rng.random(n) < 0.2, total * rng.uniform(0, 0.5, n), 0).astype(np.int64)
    execution = np.maximum(total - queue, 1).astype(np.int64)
    first_seen = np.zeros(n, dtype=bool)
    order_in_time = np.argsort(arrival_us, kind="stable")
    in_time = order_in_time[has_fp[order_in_time]]
    _, first_pos = np.unique(fp_key[in_time], return_index=True)  # first occurrence in time
    first_seen[in_time[first_pos]] = True
    compiles = first_seen | (rng.random(n) < 0.05)
    compile_ms = np.where(compiles & ~cached, np.minimum(execution, rng.gamma(2.0, 60.0, n)), 0)
    compile_ms = np.floor(compile_ms)

    # --- bytes, tables, plan shape ------------------------------------------------------
    p_scan = np.array(_SCAN_P) / sum(_SCAN_P)
    sb = rng.choice(len(p_scan), size=n, p=p_scan)
    mb = _log_uniform(
        rng,
        np.array([b[0] for b in _SCAN_BUCKETS])[sb].astype(float),
        np.array([b[1] for b in _SCAN_BUCKETS])[sb].astype(float),
    )
    no_scan = cached | np.isin(qtype, ("vacuum", "analyze", "other")) & (rng.random(n) < 0.7)
    mbytes_scanned = np.where(no_scan, 0.0, np.round(mb, 1))
    spills = (rng.random(n) < 0.03) & ~cached
    mbytes_spilled = np.where(
        spills, np.round(_log_uniform(rng, np.full(n, 1.0), np.full(n, 50_000.0))), 0.0
    )
    n_tables = np.where(cached, 0, 1 + rng.poisson(1.2, n))
    joins = np.where(cached, 0, np.maximum(n_tables - 1, 0) + rng.poisson(0.3, n))
    scans = np.where(cached, 0, n_tables + rng.poisson(0.5, n))
    aggs = np.where(cached, 0, rng.poisson(0.8, n))
    system = (
        rng.random(n)
        < np.where(is_serverless, _SYSTEM_TABLES["serverless"], _SYSTEM_TABLES["provisioned"])
    ) & ~cached
    external = (rng.random(n) < 0.01) & ~cached
    etl_tables = 5  # table ids 0..4 of each cluster are its ETL targets
    write_tbl = rng.integers(0, etl_tables, n)
    read_base = np.minimum(rng.zipf(1.6, n) - 1, 200)

    # --- query ids: unique per cluster, not monotone in arrival --------------------------
    query_id = np.empty(n, dtype=np.int64)
    for c in range(len(kinds)):
        rows = np.flatnonzero(cl == c)
        query_id[rows] = rng.permutation(rows.size) * 3 + 1000 * (c + 1) + rng.integers(0, 3)

    cache_src = np.where(cached, np.maximum(query_id - rng.integers(1, 50, n) * 3, 0), -1)

    # read tables: n_tables consecutive ids from read_base (none for copy); about half of
    # the selects read their cluster's ETL table first
    n_read = np.where(cached | (qtype == "copy"), 0, n_tables).astype(np.int64)
    starts = np.concatenate(([0], np.cumsum(n_read)))
    within = np.arange(starts[-1]) - np.repeat(starts[:-1], n_read)
    read_vals = (np.repeat(read_base, n_read) + within) % 60
    etl_read = (
        (qtype == "select") & (np.arange(n, dtype=np.int64) * 2654435761 % 100 < 50) & (n_read > 0)
    )
    read_vals[starts[:-1][etl_read]] = write_tbl[etl_read]
    read_lists = pa.ListArray.from_arrays(
        pa.array(starts, pa.int32()), pa.array(read_vals).cast(pa.string())
    )
    read_ids = pc.if_else(
        pa.array(n_read > 0), pc.binary_join(read_lists, ","), pa.scalar(None, pa.string())
    )
    writes = np.isin(qtype, (*_WRITES, "ctas", "update")) & ~cached
    write_ids = pa.array(write_tbl.astype(str).astype(object), pa.string(), mask=~writes)

    # --- NULL measures: every cache hit, a few other rows (own stream: the other columns
    # are the same whatever the NULL rates)
    nrng = np.random.default_rng([spec.seed, 16])
    rate = {k: v * spec.nulls for k, v in NULL_RATES.items()}
    null_compile = cached | (nrng.random(n) < rate["compile_duration_ms"])
    null_fp = cached | (nrng.random(n) < rate["feature_fingerprint"])
    null_mb = cached | (nrng.random(n) < rate["mbytes"])
    fingerprint[null_fp] = None

    # --- assemble, sort into replay order ----------------------------------------------
    order = np.lexsort((query_id, arrival_us))
    ts = pa.array(arrival_us[order], type=pa.timestamp("us"))
    size_by_cluster = np.array([float(2 ** (1 + c % 4)) for c in range(len(kinds))])
    cluster_size = pa.array(size_by_cluster[cl][order], mask=is_serverless[order])

    def _nullable(a: np.ndarray, mask: np.ndarray) -> pa.Array:
        return pa.array(a[order], mask=mask[order])

    cols: dict[str, pa.Array] = {
        "instance_id": pa.array(ids[cl][order]),
        "cluster_size": cluster_size,
        "user_id": pa.array(user[order]),
        "database_id": pa.array(database[order]),
        "query_id": pa.array(query_id[order]),
        "arrival_timestamp": ts,
        "compile_duration_ms": _nullable(compile_ms.astype(float), null_compile),
        "queue_duration_ms": pa.array(queue[order]),
        "execution_duration_ms": pa.array(execution[order]),
        "feature_fingerprint": pa.array(fingerprint[order], type=pa.string()),
        "was_aborted": pa.array(aborted[order].astype(np.int64)),
        "was_cached": pa.array(cached[order].astype(np.int64)),
        "cache_source_query_id": _nullable(cache_src, ~cached),
        "query_type": pa.array(qtype[order], type=pa.string()),
        "num_permanent_tables_accessed": _nullable(n_tables.astype(float), cached),
        "num_external_tables_accessed": _nullable(external.astype(float), cached),
        "num_system_tables_accessed": _nullable(system.astype(float), cached),
        "read_table_ids": read_ids.take(pa.array(order)),
        "write_table_ids": write_ids.take(pa.array(order)),
        "mbytes_scanned": _nullable(mbytes_scanned, null_mb),
        "mbytes_spilled": _nullable(mbytes_spilled, null_mb),
        "num_joins": _nullable(joins, cached),
        "num_scans": _nullable(scans, cached),
        "num_aggregations": _nullable(aggs, cached),
    }
    table = pa.table({c: cols[c] for c in REDSET_COLUMNS})
    table, injected = _inject(table, spec, cl[order], rng)
    return SyntheticData(table=table, injected=injected, spec=spec)


def _inject(
    table: pa.Table, spec: SyntheticSpec, cluster_of_row: np.ndarray, rng: np.random.Generator
) -> tuple[pa.Table, pa.Table]:
    n = table.num_rows
    empty = pa.table(
        {"row": pa.array([], pa.int64()), "kind": pa.array([], pa.string()),
         "field": pa.array([], pa.string()), "duplicate_of": pa.array([], pa.int64())}
    )  # fmt: skip
    if n == 0 or (spec.error_rate == 0 and spec.duplicate_rate == 0):
        return table, empty
    bad = np.flatnonzero(rng.random(n) < spec.error_rate)
    kinds = rng.choice(len(ERROR_KINDS), size=bad.size)
    # columns that can hold broken text become strings, as in a CSV
    text_cols = (
        "arrival_timestamp",
        "compile_duration_ms",
        "queue_duration_ms",
        "execution_duration_ms",
    )
    cols: dict[str, pa.Array] = {}  # the columns that get edits
    for c in text_cols:
        col = table.column(c)
        if c == "arrival_timestamp":
            # "%S" of a microsecond timestamp carries the fraction: "05.123456"
            text = pc.strftime(col, format="%Y-%m-%d %H:%M:%S")
        elif pa.types.is_floating(col.type) and pc.all(
            pc.equal(pc.floor(col), col), skip_nulls=True
        ).as_py() in (True, None):
            text = col.cast(pa.int64()).cast(pa.string())
        elif pa.types.is_integer(col.type):
            text = col.cast(pa.string())
        else:
            text = pa.array(
                [None if v is None else (str(int(v)) if float(v).is_integer() else str(v))
                 for v in col.to_pylist()], pa.string()
            )  # fmt: skip
        cols[c] = text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text
    for c in ("query_type", "query_id", "instance_id"):
        cols[c] = table.column(c).combine_chunks()
    edits: dict[str, dict[int, Any]] = {c: {} for c in cols}  # column -> row -> new value
    records: list[tuple[int, str, str | None]] = []
    dur_cols = ("compile_duration_ms", "queue_duration_ms", "execution_duration_ms")
    for i, k in zip(bad.tolist(), kinds.tolist(), strict=True):
        kind = ERROR_KINDS[k]
        if kind == "unknown_query_type":
            edits["query_type"][i] = _TYPOS[i % len(_TYPOS)]
            field = "query_type"
        elif kind == "negative_duration":
            field = dur_cols[1 + i % 2]
            edits[field][i] = str(-1 - i % 500)
        elif kind == "invalid_number":
            field = dur_cols[i % 3]
            edits[field][i] = _BAD_NUMBERS[i % len(_BAD_NUMBERS)]
        elif kind == "invalid_timestamp":
            field = "arrival_timestamp"
            edits[field][i] = _BAD_TIMESTAMPS[i % len(_BAD_TIMESTAMPS)]
        else:
            # only what a query cannot be without (a NULL measure is valid: not measured)
            field = ("query_id", "instance_id", "arrival_timestamp")[i % 3]
            edits[field][i] = None
        records.append((i, kind, field))
    for c, changes in edits.items():
        if changes:
            at = sorted(changes)
            mask = np.zeros(n, dtype=bool)
            mask[at] = True
            values = pa.array([changes[i] for i in at], cols[c].type)
            cols[c] = pc.replace_with_mask(cols[c], pa.array(mask), values)
    # exact duplicates of (still valid) rows, inserted right after the original
    is_bad = np.zeros(n, dtype=bool)
    is_bad[bad] = True
    is_dup = (rng.random(n) < spec.duplicate_rate) & ~is_bad
    new_index = np.repeat(np.arange(n), 1 + is_dup.astype(np.int64))
    # original index -> new 1-based row of its first copy
    position = np.arange(n) + np.concatenate(([0], np.cumsum(is_dup)[:-1])) + 1
    arrays = []
    for c in table.column_names:
        typ = pa.string() if c in text_cols else table.schema.field(c).type
        col = cols[c] if c in cols else table.column(c)
        arrays.append(col.cast(typ).take(pa.array(new_index)))
    schema = pa.schema(
        [
            pa.field(c, pa.string() if c in text_cols else table.schema.field(c).type)
            for c in table.column_names
        ]
    )
    new_table = pa.Table.from_arrays(arrays, schema=schema)
    dups = np.flatnonzero(is_dup)
    rows = [int(position[i]) for i, _, _ in records] + (position[dups] + 1).tolist()
    kinds_out = [k for _, k, _ in records] + ["duplicate"] * dups.size
    fields_out = [f for _, _, f in records] + [None] * dups.size
    dup_col = [None] * len(records) + position[dups].tolist()
    injected = pa.table(
        {"row": pa.array(rows, pa.int64()), "kind": pa.array(kinds_out, pa.string()),
         "field": pa.array(fields_out, pa.string()), "duplicate_of": pa.array(dup_col, pa.int64())}
    ).sort_by("row")  # fmt: skip
    del cluster_of_row
    return new_table, injected


def write(spec: SyntheticSpec, path: str | Path) -> SyntheticData:
    """Write a synthetic dataset to .parquet, .csv (as DuckDB COPY writes it) or .xlsx."""
    data = generate(spec)
    write_table(data.table, path)
    return data


def write_table(table: pa.Table, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, path)
    elif suffix == ".csv":
        import duckdb

        con = duckdb.connect()
        con.register("t", table)
        con.execute(f"COPY t TO '{_sql_str(path)}' (HEADER, DELIMITER ',')")
        con.close()
    elif suffix == ".xlsx":
        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        ws = wb.create_sheet("redset")
        ws.append(table.column_names)
        for row in table.to_pylist():
            ws.append([_excel_value(v) for v in row.values()])
        wb.save(path)
    else:
        raise ValueError(f"{path}: unsupported extension {suffix!r} (use .parquet, .csv or .xlsx)")


def _sql_str(path: Path) -> str:
    return str(path).replace("'", "''")


def _excel_value(v: object) -> object:
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S.%f")
    return v


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m producers.synthetic",
        description="Write a synthetic, Redset-shaped dataset calibrated to the real data's figures.",
    )
    defaults = SyntheticSpec()
    for f in fields(SyntheticSpec):
        parser.add_argument(
            "--" + f.name.replace("_", "-"), type=type(f.default), default=getattr(defaults, f.name),
            help=f"(default {getattr(defaults, f.name)!r})",
        )  # fmt: skip
    parser.add_argument("--out", required=True, help="output file: .parquet, .csv or .xlsx")
    parser.add_argument(
        "--manifest", help="also write the injected-errors manifest (.csv/.parquet)"
    )
    args = parser.parse_args(argv)
    try:
        spec = SyntheticSpec(**{f.name: getattr(args, f.name) for f in fields(SyntheticSpec)})
        data = write(spec, args.out)
        if args.manifest:
            write_table(data.injected, args.manifest)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(
        f"wrote {data.table.num_rows} rows ({data.injected.num_rows} injected problems) to {args.out}"
    )
    return 0


assert set(_TYPE_MIX["provisioned"]) == set(QUERY_TYPES)

if __name__ == "__main__":
    sys.exit(main())
