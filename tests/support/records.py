"""Test records of every topic, as the chain would produce them, and a producer of them."""

from __future__ import annotations

import json
from typing import Any

from confluent_kafka import Producer

from common.kafka_config import producer_config
from common.settings import Settings
from processors.logic.clean import clean_row
from producers.synthetic import SyntheticSpec, generate


def raw_values(spec: SyntheticSpec, run_id: str = "r1") -> list[dict[str, Any]]:
    """RAW_DATA values as the replay would send them (Parquet typed values)."""
    table = generate(spec).table
    out = []
    for i, row in enumerate(table.to_pylist(), start=1):
        ts = row["arrival_timestamp"]
        if hasattr(ts, "strftime"):
            row["arrival_timestamp"] = ts.strftime("%Y-%m-%d %H:%M:%S.%f")
        row.update(
            {
                "_run_id": run_id,
                "_dataset": "synthetic",
                "_file": spec.to_string(),
                "_row": i,
                "_kind": "serverless" if row["cluster_size"] is None else "provisioned",
            }
        )
        out.append(row)
    return out


#: the clean record's fields a FLATTENED record repeats
FLAT_FIELDS = (
    "query_key",
    "run_id",
    "cluster",
    "cluster_kind",
    "instance_id",
    "query_id",
    "user_id",
    "database_id",
    "arrival_us",
    "query_type",
    "was_aborted",
    "was_cached",
    "execution_duration_ms",
    "total_duration_ms",
    "mbytes_scanned",
)


def _flattened(clean: dict[str, Any], table_id: int) -> dict[str, Any]:
    """The FLATTENED record of a query's read of ``table_id``."""
    fields = {k: clean[k] for k in FLAT_FIELDS}
    return {**fields, "table_id": table_id, "access": "read", "freshness_ms": 1000.5}


def _board(run_id: str, w: int) -> dict[str, Any]:
    """The final busiest-clusters board of hour ``w``."""
    start, end = w * 3600_000, (w + 1) * 3600_000
    entries = [
        {
            "board": "busiest_clusters",
            "rank": r,
            "entity": f"provisioned-{(r + w) % 4}",
            "value": 100.0 - r,
            "window_start": start,
            "window_end": end,
        }
        for r in (1, 2, 3)
    ]
    return {
        "record": "board",
        "run_id": run_id,
        "board": "busiest_clusters",
        "variant": "final",
        "window_start": start,
        "window_end": end,
        "entries": entries,
    }


def messages(
    spec: SyntheticSpec, run_id: str = "r1"
) -> dict[str, list[tuple[str | None, dict[str, Any], int]]]:
    """(key, value, ts) per logical topic: raw, clean and dead letters via the real cleaner,
    plus window, board and flattened records in the processors' shapes."""
    topics = ("raw", "clean", "dead_letters", "query_metrics", "leaderboard", "flattened")
    out: dict[str, list[tuple[str | None, dict[str, Any], int]]] = {t: [] for t in topics}
    for raw in raw_values(spec, run_id):
        ts = 0
        key = f"{raw['_kind']}-{raw['instance_id']}" if raw["instance_id"] is not None else None
        out["raw"].append((key, raw, ts))
        res = clean_row(raw)
        if res.clean is not None:
            c = res.clean
            out["clean"].append((c["cluster"], c, c["arrival_us"] // 1000))
            for t in c["read_table_ids"] or ():  # NULL: not measured (cache hits)
                out["flattened"].append((c["cluster"], _flattened(c, t), 0))
        else:
            assert res.dead is not None
            out["dead_letters"].append((key, res.dead, 0))
    for w in range(5):
        # a cluster's windows (the fleet roll-up's newest emission wins, see test_writers)
        base = {
            "record": "window",
            "run_id": run_id,
            "cluster": "provisioned-0",
            "window_start": w * 3600_000,
            "window_end": (w + 1) * 3600_000,
            "queries": 10 + w,
            "aborted": 1,
            "cached": 2,
        }
        out["query_metrics"].append(("provisioned-0", {**base, "final": False, "queries": 1}, 0))
        out["query_metrics"].append(("provisioned-0", {**base, "final": True}, 0))
        out["query_metrics"].append(
            ("provisioned-0", {**base, "final": False, "queries": 2}, 0)
        )  # stale running record
        out["leaderboard"].append(("busiest_clusters", _board(run_id, w), 0))
    return out


def produce_all(
    settings: Settings,
    msgs: dict[str, list[tuple[str | None, dict[str, Any], int]]],
    times: int = 1,
) -> None:
    p = Producer(producer_config(settings))
    for _ in range(times):
        for logical, items in msgs.items():
            topic = settings.topic(logical)
            for key, value, ts in items:
                p.produce(
                    topic,
                    json.dumps(value).encode(),
                    key.encode() if key else None,
                    timestamp=ts or 0,
                )
                p.poll(0)
    assert p.flush(30) == 0
