"""The column draws of :func:`producers.synthetic.generate`, one group of related columns
per function.

Every function draws from the one generator it is given, in the order
:func:`~producers.synthetic.generator.generate` calls them: reordering a call (or a draw
inside one) changes every later column of every seed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from producers.synthetic.calibration import (
    ABORT,
    CACHE_HIT,
    ETL_TABLES,
    RUNTIME_BUCKETS,
    RUNTIME_P,
    SCAN_BUCKETS,
    SCAN_P,
    SEEN,
    SYSTEM_TABLES,
    TOP10,
    TYPE_MIX,
    WRITES,
)
from producers.synthetic.spec import SyntheticSpec


@dataclass(frozen=True)
class Clusters:
    """Each cluster's kind and instance id, and each row's cluster."""

    kinds: list[str]
    ids: np.ndarray
    of_row: np.ndarray  # cluster index of each row
    is_serverless: np.ndarray  # per row
    kind_name: np.ndarray  # per row: "provisioned" | "serverless"


def _fingerprint(kind: str, cluster: int, idx: int) -> str:
    return hashlib.sha256(f"{kind}/{cluster}/{idx}".encode()).hexdigest()


def _log_uniform(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return np.exp(rng.uniform(np.log(lo), np.log(hi)))


def clusters(rng: np.random.Generator, spec: SyntheticSpec) -> Clusters:
    """The clusters (a few dominate: Zipf weights) and the cluster of each row."""
    if spec.kind == "mixed":
        n_prov = (spec.clusters + 1) // 2
        kinds = ["provisioned"] * n_prov + ["serverless"] * (spec.clusters - n_prov)
        ids = np.array(list(range(n_prov)) + list(range(spec.clusters - n_prov)))
    else:
        kinds = [spec.kind] * spec.clusters
        ids = np.arange(spec.clusters)
    weights = 1.0 / np.arange(1, spec.clusters + 1) ** 1.3
    weights = weights / weights.sum()
    n = spec.rows
    cl = rng.choice(len(kinds), size=n, p=weights) if n else np.zeros(0, dtype=int)
    is_serverless = np.array([k == "serverless" for k in kinds])[cl]
    kind_name = np.where(is_serverless, "serverless", "provisioned")
    return Clusters(kinds, ids, cl, is_serverless, kind_name)


def query_types(rng: np.random.Generator, c: Clusters) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cached, query_type, aborted) per row."""
    n = c.of_row.size
    u = rng.random(n)
    cached = u < np.where(c.is_serverless, CACHE_HIT["serverless"], CACHE_HIT["provisioned"])
    qtype = np.empty(n, dtype=object)
    for kind in ("provisioned", "serverless"):
        mask = (c.kind_name == kind) & ~cached
        mix = TYPE_MIX[kind]
        p = np.array(list(mix.values()))
        qtype[mask] = rng.choice(list(mix.keys()), size=int(mask.sum()), p=p / p.sum())
    qtype[cached] = "other"
    p_abort = np.where(
        c.is_serverless,
        ABORT["serverless"] / (1 - CACHE_HIT["serverless"]),
        ABORT["provisioned"] / (1 - CACHE_HIT["provisioned"]),
    )
    aborted = (rng.random(n) < p_abort) & ~cached
    return cached, qtype, aborted


def arrivals(
    rng: np.random.Generator, spec: SyntheticSpec, cl: np.ndarray, qtype: np.ndarray
) -> np.ndarray:
    """Arrival (epoch us): uniform, with writes snapped into hourly ETL bursts per cluster."""
    n = cl.size
    t0 = datetime.fromisoformat(spec.start).replace(tzinfo=UTC).timestamp()
    span_us = int(spec.days * 86400 * 1e6)
    arrival_us = rng.integers(0, max(span_us, 1), size=n, dtype=np.int64)
    is_write = np.isin(qtype, WRITES)
    burst_period = 3600 * 1_000_000
    phase = (cl * 7919 % 60) * 60 * 1_000_000  # each cluster ingests at its own minute
    burst = (arrival_us - phase) // burst_period * burst_period + phase
    arrival_us = np.where(
        is_write, np.maximum(burst, 0) + rng.integers(0, 120_000_000, n), arrival_us
    )
    return np.clip(arrival_us, 0, span_us - 1) + int(t0 * 1e6)


def users_and_databases(
    rng: np.random.Generator, cl: np.ndarray, n_clusters: int
) -> tuple[np.ndarray, np.ndarray]:
    """Few users and databases per cluster; cluster #2 mints many short-lived users."""
    n = cl.size
    users_per_cluster = 1 + (np.arange(n_clusters) % 4)
    user = rng.integers(0, 1 << 30, n) % users_per_cluster[cl] + 100 * cl
    churny = cl == min(2, n_clusters - 1)
    user = np.where(
        churny & (rng.random(n) < 0.6), 10_000 + rng.integers(0, max(n // 20, 1), n), user
    )
    database = cl * 10 + rng.integers(0, 1 << 30, n) % (1 + np.arange(n_clusters) % 3)[cl]
    return user, database


def fingerprints(
    rng: np.random.Generator, c: Clusters, cached: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fingerprint text or None, one integer per (cluster, fingerprint), whether the row
    has one): a top-10 share and an already-seen share per cluster."""
    cl = c.of_row
    n = cl.size
    fp_idx = np.full(n, -1, dtype=np.int64)
    for cluster, k in enumerate(c.kinds):
        rows = np.flatnonzero((cl == cluster) & ~cached)
        if rows.size == 0:
            continue
        distinct_target = max(1, round((1 - SEEN[k]) * rows.size))
        top = rng.random(rows.size) < TOP10[k]
        idx = np.where(
            top,
            rng.integers(0, 10, rows.size),
            10 + rng.integers(0, max(int(distinct_target * 0.95), 1), rows.size).astype(np.int64),
        )
        fp_idx[rows] = idx
    fp_key = cl.astype(np.int64) * (1 << 32) + fp_idx
    has_fp = fp_idx >= 0
    fingerprint = np.full(n, None, dtype=object)
    if has_fp.any():
        uniq, inverse = np.unique(fp_key[has_fp], return_inverse=True)
        names = np.array(
            [
                _fingerprint(c.kinds[int(k >> 32)], int(c.ids[int(k >> 32)]), int(k & 0xFFFFFFFF))
                for k in uniq.tolist()
            ],
            dtype=object,
        )
        fingerprint[has_fp] = names[inverse]
    return fingerprint, fp_key, has_fp


def durations(
    rng: np.random.Generator,
    c: Clusters,
    qtype: np.ndarray,
    cached: np.ndarray,
    arrival_us: np.ndarray,
    fp_key: np.ndarray,
    has_fp: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(queue, execution, compile) ms: a heavy tail (copy/ctas heavier); a fingerprint
    compiles when first seen in time, and now and then again."""
    n = qtype.size
    bucket = np.zeros(n, dtype=np.int64)
    for kind, hit in CACHE_HIT.items():
        p_rt = np.array(RUNTIME_P) / (1 - hit)
        p_rt[0] = (RUNTIME_P[0] - hit) / (1 - hit)
        mask = c.kind_name == kind
        bucket[mask] = rng.choice(len(p_rt), size=int(mask.sum()), p=p_rt / p_rt.sum())
    heavy = np.isin(qtype, ("copy", "ctas"))
    bucket = np.where(heavy & (rng.random(n) < 0.3), np.minimum(bucket + 1, len(p_rt) - 1), bucket)
    lo = np.array([b[0] for b in RUNTIME_BUCKETS])[bucket]
    hi = np.array([b[1] for b in RUNTIME_BUCKETS])[bucket]
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
    return queue, execution, np.floor(compile_ms)


@dataclass(frozen=True)
class PlanShape:
    """Bytes, tables and plan shape per row, and the table ids the lists are made of."""

    mbytes_scanned: np.ndarray
    mbytes_spilled: np.ndarray
    n_tables: np.ndarray
    joins: np.ndarray
    scans: np.ndarray
    aggs: np.ndarray
    system: np.ndarray
    external: np.ndarray
    write_table: np.ndarray  # the ETL table a write goes to
    read_base: np.ndarray  # the first table a read reads


def plan_shape(
    rng: np.random.Generator, c: Clusters, qtype: np.ndarray, cached: np.ndarray
) -> PlanShape:
    n = qtype.size
    p_scan = np.array(SCAN_P) / sum(SCAN_P)
    sb = rng.choice(len(p_scan), size=n, p=p_scan)
    mb = _log_uniform(
        rng,
        np.array([b[0] for b in SCAN_BUCKETS])[sb].astype(float),
        np.array([b[1] for b in SCAN_BUCKETS])[sb].astype(float),
    )
    no_scan = cached | np.isin(qtype, ("vacuum", "analyze", "other")) & (rng.random(n) < 0.7)
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
        < np.where(c.is_serverless, SYSTEM_TABLES["serverless"], SYSTEM_TABLES["provisioned"])
    ) & ~cached
    external = (rng.random(n) < 0.01) & ~cached
    write_table = rng.integers(0, ETL_TABLES, n)
    read_base = np.minimum(rng.zipf(1.6, n) - 1, 200)
    return PlanShape(
        mbytes_scanned=np.where(no_scan, 0.0, np.round(mb, 1)),
        mbytes_spilled=mbytes_spilled,
        n_tables=n_tables,
        joins=joins,
        scans=scans,
        aggs=aggs,
        system=system,
        external=external,
        write_table=write_table,
        read_base=read_base,
    )


def query_ids(
    rng: np.random.Generator, c: Clusters, cached: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(query id, cache source query id or -1): unique per cluster, not monotone in arrival."""
    cl = c.of_row
    query_id = np.empty(cl.size, dtype=np.int64)
    for cluster in range(len(c.kinds)):
        rows = np.flatnonzero(cl == cluster)
        query_id[rows] = rng.permutation(rows.size) * 3 + 1000 * (cluster + 1) + rng.integers(0, 3)
    cache_src = np.where(cached, np.maximum(query_id - rng.integers(1, 50, cl.size) * 3, 0), -1)
    return query_id, cache_src


def table_lists(
    qtype: np.ndarray, cached: np.ndarray, shape: PlanShape
) -> tuple[pa.Array, pa.Array]:
    """(read_table_ids, write_table_ids) as the real files' comma-separated strings: reads
    ``n_tables`` consecutive ids from ``read_base`` (none for copy), about half of the
    selects their cluster's ETL table first; no random draw."""
    n = qtype.size
    n_read = np.where(cached | (qtype == "copy"), 0, shape.n_tables).astype(np.int64)
    starts = np.concatenate(([0], np.cumsum(n_read)))
    within = np.arange(starts[-1]) - np.repeat(starts[:-1], n_read)
    read_vals = (np.repeat(shape.read_base, n_read) + within) % 60
    etl_read = (
        (qtype == "select") & (np.arange(n, dtype=np.int64) * 2654435761 % 100 < 50) & (n_read > 0)
    )
    read_vals[starts[:-1][etl_read]] = shape.write_table[etl_read]
    read_lists = pa.ListArray.from_arrays(
        pa.array(starts, pa.int32()), pa.array(read_vals).cast(pa.string())
    )
    read_ids = pc.if_else(
        pa.array(n_read > 0), pc.binary_join(read_lists, ","), pa.scalar(None, pa.string())
    )
    writes = np.isin(qtype, (*WRITES, "ctas", "update")) & ~cached
    write_ids = pa.array(shape.write_table.astype(str).astype(object), pa.string(), mask=~writes)
    return read_ids, write_ids
