"""RAW_DATA -> ``raw_rows``: one row per replayed row, first delivery kept."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from confluent_kafka import Message

from warehouse.json_parser import json_table
from warehouse.schemas import RAW_SCHEMA
from warehouse.writers.base import TableWriter


class RawWriter(TableWriter[pa.Table]):
    tables = ("raw_rows",)

    def prepare(self, messages: list[Message]) -> pa.Table:
        t = json_table([m.value() for m in messages], RAW_SCHEMA)
        keys = pa.array([m.key().decode() if m.key() else None for m in messages], pa.string())
        ts = pa.array([m.timestamp()[1] for m in messages], pa.int64())
        return t.append_column("_cluster", keys).append_column("_ts", ts)

    def write(self, cur: Any, batch: pa.Table) -> int:
        cur.register("b_raw", batch)
        cur.execute(
            """INSERT OR IGNORE INTO raw_rows
               SELECT DISTINCT ON (_run_id, _file, _row) _run_id, _file, _row, _dataset, _cluster, _ts,
                      _raw IS NOT NULL, now() FROM b_raw"""
        )
        cur.unregister("b_raw")
        return int(batch.num_rows)
