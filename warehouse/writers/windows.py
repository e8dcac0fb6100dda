"""QUERY_METRICS -> ``query_metrics`` and COMPILE_METRICS -> ``compile_metrics`` (window
records, upserted on (run, cluster, window start)), and both topics' late records ->
``late_rows``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Message

from common.contract import FLEET
from warehouse.schemas import QM_HEALTH_COLUMNS
from warehouse.writers.base import TableWriter

#: the columns every window table has, before its own ``columns``
_WINDOW_COLUMNS = ("run_id", "cluster", "window_start", "window_end", "final", "payload")


@dataclass
class WindowRows:
    #: identity, bounds, final, payload, then the table's own columns of the record
    windows: list[list[Any]]
    #: query key, run, cluster, window start
    late: list[list[Any]]


class WindowWriter(TableWriter[WindowRows]):
    """Window records into ``table``, with ``columns`` of each record also stored as typed
    columns; a final window is never replaced by a running one, except the fleet roll-up's."""

    def __init__(self, table: str, columns: Sequence[str] = ()) -> None:
        self.tables = (table, "late_rows")
        self.columns = tuple(columns)
        names = ", ".join((*_WINDOW_COLUMNS, *columns, "loaded_at"))
        marks = ", ".join("?" for _ in range(len(_WINDOW_COLUMNS) + len(columns)))
        extra = "".join(f", {c} = EXCLUDED.{c}" for c in columns)
        self._upsert = f"""INSERT INTO {table} ({names}) VALUES ({marks}, now())
            ON CONFLICT DO UPDATE SET window_end = EXCLUDED.window_end, final = EXCLUDED.final,
                payload = EXCLUDED.payload, loaded_at = EXCLUDED.loaded_at{extra}
            WHERE NOT {table}.final OR EXCLUDED.final OR EXCLUDED.cluster = '{FLEET}'"""

    def prepare(self, messages: list[Message]) -> WindowRows:
        windows: dict[tuple[Any, ...], list[Any]] = {}
        late: dict[str, list[Any]] = {}
        for m in messages:
            raw = m.value().decode()
            v = json.loads(raw)
            if v.get("record", "window") == "late":
                late[v["query_key"]] = [
                    v["query_key"],
                    v["run_id"],
                    v["cluster"],
                    v["window_start"],
                ]
                continue
            key = (v["run_id"], v["cluster"], v["window_start"])
            prev = windows.get(key)
            final = bool(v.get("final", True))
            # a final record wins within the batch, except the fleet roll-up: each of its
            # emissions merges the latest partial of every cluster, so the newest is the most
            # complete (a sparse cluster's partial can arrive after the others closed the window)
            if prev is None or final or not prev[4] or v["cluster"] == FLEET:
                windows[key] = [
                    *key,
                    v["window_end"],
                    final,
                    raw,
                    *(v.get(c) for c in self.columns),
                ]
        return WindowRows(list(windows.values()), list(late.values()))

    def write(self, cur: Any, batch: WindowRows) -> int:
        if batch.windows:
            cur.executemany(self._upsert, batch.windows)
        if batch.late:
            cur.executemany(
                "INSERT OR IGNORE INTO late_rows VALUES (?, ?, ?, ?, now())", batch.late
            )
        return len(batch.windows) + len(batch.late)


def query_metrics_writer() -> WindowWriter:
    """QUERY_METRICS, its health metrics also as typed columns (migration 006)."""
    return WindowWriter("query_metrics", QM_HEALTH_COLUMNS)


def compile_metrics_writer() -> WindowWriter:
    return WindowWriter("compile_metrics")
