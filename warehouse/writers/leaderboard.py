"""LEADERBOARD -> ``leaderboards``: upserted on (run, board, variant, window start)."""

from __future__ import annotations

import json
from typing import Any

from confluent_kafka import Message

from warehouse.writers.base import TableWriter


class LeaderboardWriter(TableWriter[list[list[Any]]]):
    tables = ("leaderboards",)

    def prepare(self, messages: list[Message]) -> list[list[Any]]:
        boards = {}
        for m in messages:
            v = json.loads(m.value())
            key = (v["run_id"], v["board"], v["variant"], v["window_start"])
            boards[key] = [*key, v["window_end"], json.dumps(v["entries"])]
        return list(boards.values())

    def write(self, cur: Any, batch: list[list[Any]]) -> int:
        cur.executemany(
            """INSERT INTO leaderboards VALUES (?, ?, ?, ?, ?, ?, now())
               ON CONFLICT DO UPDATE SET window_end = EXCLUDED.window_end, entries = EXCLUDED.entries,
                   loaded_at = EXCLUDED.loaded_at""",
            batch,
        )
        return len(batch)
