"""DEAD_LETTERS -> ``rejects``: one row per rejected source row, first delivery kept."""

from __future__ import annotations

import json
from typing import Any

from confluent_kafka import Message

from warehouse.writers.base import TableWriter


class DeadLetterWriter(TableWriter[list[list[Any]]]):
    tables = ("rejects",)

    def prepare(self, messages: list[Message]) -> list[list[Any]]:
        rows = {}
        for m in messages:
            v = json.loads(m.value())
            query_id = v.get("query_id")
            rows[(v.get("run_id"), v.get("file"), v.get("row"))] = [
                v.get("run_id"),
                v.get("file"),
                v.get("row"),
                v.get("dataset"),
                v.get("cluster"),
                query_id if isinstance(query_id, int) else None,
                v.get("stage"),
                v.get("reason"),
                v.get("field"),
                v.get("message"),
                json.dumps(v.get("raw")),
            ]
        return list(rows.values())

    def write(self, cur: Any, batch: list[list[Any]]) -> int:
        cur.executemany(
            "INSERT OR IGNORE INTO rejects VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now())", batch
        )
        return len(batch)
