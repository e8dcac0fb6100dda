"""The synthetic Redset frame: the column draws of :mod:`producers.synthetic.columns`,
sorted into replay order, then the injected faults."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from common.contract import REDSET_COLUMNS
from producers.synthetic import columns
from producers.synthetic.calibration import NULL_RATES
from producers.synthetic.faults import inject
from producers.synthetic.spec import SyntheticData, SyntheticSpec

#: the seed of the NULL measures' own stream is (spec.seed, this)
NULLS_STREAM = 16


def generate(spec: SyntheticSpec) -> SyntheticData:
    """The dataset ``spec`` describes; the same spec gives the same bytes."""
    rng = np.random.default_rng(spec.seed)
    c = columns.clusters(rng, spec)
    cached, qtype, aborted = columns.query_types(rng, c)
    arrival_us = columns.arrivals(rng, spec, c.of_row, qtype)
    user, database = columns.users_and_databases(rng, c.of_row, len(c.kinds))
    fingerprint, fp_key, has_fp = columns.fingerprints(rng, c, cached)
    queue, execution, compile_ms = columns.durations(
        rng, c, qtype, cached, arrival_us, fp_key, has_fp
    )
    shape = columns.plan_shape(rng, c, qtype, cached)
    query_id, cache_src = columns.query_ids(rng, c, cached)
    read_ids, write_ids = columns.table_lists(qtype, cached, shape)
    null_compile, null_fp, null_mb = _null_measures(spec, cached)
    fingerprint[null_fp] = None

    order = np.lexsort((query_id, arrival_us))
    size_by_cluster = np.array([float(2 ** (1 + i % 4)) for i in range(len(c.kinds))])

    def _plain(a: np.ndarray) -> pa.Array:
        return pa.array(a[order])

    def _nullable(a: np.ndarray, mask: np.ndarray) -> pa.Array:
        return pa.array(a[order], mask=mask[order])

    cols: dict[str, pa.Array] = {
        "instance_id": _plain(c.ids[c.of_row]),
        "cluster_size": _nullable(size_by_cluster[c.of_row], c.is_serverless),
        "user_id": _plain(user),
        "database_id": _plain(database),
        "query_id": _plain(query_id),
        "arrival_timestamp": pa.array(arrival_us[order], type=pa.timestamp("us")),
        "compile_duration_ms": _nullable(compile_ms.astype(float), null_compile),
        "queue_duration_ms": _plain(queue),
        "execution_duration_ms": _plain(execution),
        "feature_fingerprint": pa.array(fingerprint[order], type=pa.string()),
        "was_aborted": _plain(aborted.astype(np.int64)),
        "was_cached": _plain(cached.astype(np.int64)),
        "cache_source_query_id": _nullable(cache_src, ~cached),
        "query_type": pa.array(qtype[order], type=pa.string()),
        "num_permanent_tables_accessed": _nullable(shape.n_tables.astype(float), cached),
        "num_external_tables_accessed": _nullable(shape.external.astype(float), cached),
        "num_system_tables_accessed": _nullable(shape.system.astype(float), cached),
        "read_table_ids": read_ids.take(pa.array(order)),
        "write_table_ids": write_ids.take(pa.array(order)),
        "mbytes_scanned": _nullable(shape.mbytes_scanned, null_mb),
        "mbytes_spilled": _nullable(shape.mbytes_spilled, null_mb),
        "num_joins": _nullable(shape.joins, cached),
        "num_scans": _nullable(shape.scans, cached),
        "num_aggregations": _nullable(shape.aggs, cached),
    }
    table = pa.table({name: cols[name] for name in REDSET_COLUMNS})
    table, injected = inject(table, spec, rng)
    return SyntheticData(table=table, injected=injected, spec=spec)


def _null_measures(
    spec: SyntheticSpec, cached: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(NULL compile time, NULL fingerprint, NULL MB) per row: every cache hit, a few other
    rows. Their own stream: the other columns are the same whatever the NULL rates."""
    n = cached.size
    nrng = np.random.default_rng([spec.seed, NULLS_STREAM])
    rate = {k: v * spec.nulls for k, v in NULL_RATES.items()}
    null_compile = cached | (nrng.random(n) < rate["compile_duration_ms"])
    null_fp = cached | (nrng.random(n) < rate["feature_fingerprint"])
    null_mb = cached | (nrng.random(n) < rate["mbytes"])
    return null_compile, null_fp, null_mb
