"""The protocol of a table writer, in the shape of Quix Streams' sinks: ``setup()`` once,
then ``write(batch)`` per batch.

The materializer splits each batch's work in two: :meth:`TableWriter.prepare` parses the
topic's messages on the parse thread (no database), :meth:`TableWriter.write` writes the
result on the writer's cursor inside the batch's transaction, beside the offsets."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Generic, TypeVar

import duckdb
from confluent_kafka import Message

#: what ``prepare`` hands to ``write``
Prepared = TypeVar("Prepared")


class TableWriter(ABC, Generic[Prepared]):
    #: the tables it writes (created by the warehouse's migrations)
    tables: tuple[str, ...]

    def setup(self, cur: Any) -> None:
        """Check on ``cur`` that the tables exist, before the first batch."""
        for table in self.tables:
            try:
                cur.execute(f"SELECT * FROM {table} LIMIT 0")
            except duckdb.CatalogException as e:
                raise RuntimeError(
                    f"the warehouse has no table {table}: open it read-write once to apply "
                    "its migrations"
                ) from e

    @abstractmethod
    def prepare(self, messages: list[Message]) -> Prepared:
        """One topic's messages of a batch, parsed (no database access)."""

    @abstractmethod
    def write(self, cur: Any, batch: Prepared) -> int:
        """Write ``batch`` on ``cur`` (inside the batch's transaction); return rows written."""
