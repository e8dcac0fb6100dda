"""The DuckDB warehouse: one read-write connection per process, a cursor per reader.

DuckDB allows one process to hold a file read-write, or many read-only, never both. So the
process that writes (a dashboard server's materializer thread, or an experiment run) also
serves the queries: every :meth:`Warehouse.query` runs on its own cursor of the single
connection, safely from any thread, while the materializer appends.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

Params = list[Any] | dict[str, Any] | None

#: a read-write warehouse checkpoints (compresses what was appended since the last one and,
#: for a file, writes it and empties the WAL) when this much was written, or when its
#: materializer has caught up (:meth:`Warehouse.checkpoint`); with DuckDB's 16 MB default
#: a backlog was checkpointed again and again on the writer's commit
CHECKPOINT_THRESHOLD = "256MB"


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration, in order."""
    out = []
    for entry in resources.files("warehouse").joinpath("sql").iterdir():
        m = re.match(r"(\d+)_(.+)\.sql$", entry.name)
        if m:
            out.append((int(m.group(1)), entry.name, entry.read_text()))
    return sorted(out)


class Warehouse:
    def __init__(self, con: duckdb.DuckDBPyConnection, path: str, read_only: bool) -> None:
        self.con = con
        self.path = path
        self.read_only = read_only
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: str, read_only: bool = False, threads: int | None = None) -> Warehouse:
        """``threads``: DuckDB's worker threads (default: one per core). A process that only
        writes is faster with 1 on this 2-core machine: the consumer, the parser and the
        broker need the other core, and one thread appends with less CPU per row."""
        if path != ":memory:" and not read_only:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        config: dict[str, str | bool | int | float | list[str]] = (
            {} if threads is None else {"threads": threads}
        )
        con = duckdb.connect(path, read_only=read_only, config=config)
        wh = cls(con, path, read_only)
        if not read_only:
            con.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
            wh.migrate()
        return wh

    def checkpoint(self) -> None:
        """Compress what was appended since the last checkpoint (and for a file, write it
        and empty the WAL). Readers on other cursors go on meanwhile. Read-only: nothing."""
        if not self.read_only:
            self.execute("CHECKPOINT")

    def migrate(self) -> list[str]:
        """Apply the migrations not applied yet (idempotent); return their names."""
        cur = self.con.cursor()
        cur.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)"
        )
        done = {v for (v,) in cur.execute("SELECT version FROM schema_version").fetchall()}
        applied = []
        for version, name, sql in migrations():
            if version in done:
                continue
            cur.execute("BEGIN")
            cur.execute(sql)
            cur.execute("INSERT INTO schema_version VALUES (?, ?, now())", [version, name])
            cur.execute("COMMIT")
            applied.append(name)
        return applied

    def cursor(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            return self.con.cursor()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor inside BEGIN ... COMMIT (ROLLBACK if the block raises), then closed."""
        cur = self.cursor()
        try:
            cur.execute("BEGIN")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")
        finally:
            cur.close()

    def query(self, sql: str, params: Params = None) -> pd.DataFrame:
        """Run a read query on a fresh cursor (thread-safe) and return a DataFrame."""
        cur = self.cursor()
        try:
            return cur.execute(sql, params).df() if params is not None else cur.execute(sql).df()
        finally:
            cur.close()

    def scalar(self, sql: str, params: Params = None) -> Any:
        cur = self.cursor()
        try:
            row = (
                cur.execute(sql, params).fetchone()
                if params is not None
                else cur.execute(sql).fetchone()
            )
            return row[0] if row else None
        finally:
            cur.close()

    def execute(self, sql: str, params: Params = None) -> None:
        cur = self.cursor()
        try:
            cur.execute(sql, params) if params is not None else cur.execute(sql)
        finally:
            cur.close()

    def close(self) -> None:
        self.con.close()
