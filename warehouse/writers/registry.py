"""Which writer writes which logical topic."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from warehouse.writers.append import clean_writer, flattened_writer
from warehouse.writers.base import TableWriter
from warehouse.writers.dead_letters import DeadLetterWriter
from warehouse.writers.leaderboard import LeaderboardWriter
from warehouse.writers.raw import RawWriter
from warehouse.writers.windows import compile_metrics_writer, query_metrics_writer

#: logical topic -> a new writer of its table(s)
WRITERS: dict[str, Callable[[], TableWriter[Any]]] = {
    "raw": RawWriter,
    "clean": clean_writer,
    "flattened": flattened_writer,
    "dead_letters": DeadLetterWriter,
    "query_metrics": query_metrics_writer,
    "compile_metrics": compile_metrics_writer,
    "leaderboard": LeaderboardWriter,
}
