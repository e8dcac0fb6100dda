"""CLEAN_DATA -> ``clean_queries`` and FLATTENED -> ``flattened``: the two big tables,
appended without an index (keeping a primary-key index current halved the append rate).

A record's identity ends with ``arrival_us``, which its source row fixes: a re-emitted
record repeats it, so each batch is appended with an anti-join against the table's rows
within the batch's arrival range (zone maps skip the rest of the table)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from confluent_kafka import Message

from warehouse.json_parser import json_table
from warehouse.schemas import CLEAN_IDENTITY, CLEAN_SCHEMA, FLAT_IDENTITY, FLAT_SCHEMA
from warehouse.writers.base import TableWriter


@dataclass
class NewRecords:
    """A batch of one of the big tables, one row per identity (the first occurrence kept),
    with its arrival range: prepared on the parse thread so that the writer's statement is
    a bare anti-join (a DISTINCT ON there costs the writer a hash aggregate of every
    column)."""

    table: pa.Table
    #: (min, max) arrival_us, or None when an arrival is NULL or the batch is empty
    arrival_range: tuple[int, int] | None


def unique_records(t: pa.Table, identity: Sequence[str]) -> NewRecords:
    """``t`` without its repeated identities (NULL equals NULL, as in the anti-join)."""
    ids = t.select(list(identity)).append_column("_i", pa.array(np.arange(t.num_rows)))
    first = ids.group_by(list(identity), use_threads=False).aggregate([("_i", "min")])
    if first.num_rows < t.num_rows:
        t = t.take(np.sort(first.column("_i_min").to_numpy()))
    arrival = t.column("arrival_us")
    span = None
    if arrival.null_count == 0 and len(arrival):
        lo, hi = pc.min_max(arrival).values()
        span = (int(lo.as_py()), int(hi.as_py()))
    return NewRecords(t, span)


def insert_new(
    cur: Any, table: str, batch: NewRecords, identity: Sequence[str], select: str
) -> None:
    """Append the batch's records that ``table`` does not hold yet; the anti-join only
    reads the table's rows within the batch's arrival range. ``identity`` ends with
    ``arrival_us``; ``select``: the SELECT list over the batch (as ``b``)."""
    name = f"b_{table}"
    cur.register(name, batch.table)
    near = "TRUE"
    if batch.arrival_range is not None:
        near = "arrival_us BETWEEN {} AND {}".format(*batch.arrival_range)
    on = " AND ".join(f"seen.{c} IS NOT DISTINCT FROM b.{c}" for c in identity)
    cols = ", ".join(identity)
    cur.execute(
        f"""INSERT INTO {table} BY NAME SELECT {select}
            FROM {name} AS b ANTI JOIN (SELECT {cols} FROM {table} WHERE {near}) AS seen ON {on}"""
    )
    cur.unregister(name)


class AppendWriter(TableWriter[NewRecords]):
    """Records of ``schema`` appended to ``table`` once per ``identity``."""

    def __init__(self, table: str, schema: pa.Schema, identity: Sequence[str], select: str) -> None:
        self.tables = (table,)
        self.table, self.schema, self.identity, self.select = table, schema, identity, select

    def prepare(self, messages: list[Message]) -> NewRecords:
        return unique_records(json_table([m.value() for m in messages], self.schema), self.identity)

    def write(self, cur: Any, batch: NewRecords) -> int:
        insert_new(cur, self.table, batch, self.identity, self.select)
        return int(batch.table.num_rows)


def clean_writer() -> AppendWriter:
    """CLEAN_DATA -> ``clean_queries`` (the arrival's timestamp rebuilt from ``arrival_us``)."""
    select = (
        ", ".join(f'b."{f.name}"' for f in CLEAN_SCHEMA)
        + ", make_timestamp(b.arrival_us) AS arrival_timestamp, now() AS loaded_at"
    )
    return AppendWriter("clean_queries", CLEAN_SCHEMA, CLEAN_IDENTITY, select)


def flattened_writer() -> AppendWriter:
    """FLATTENED -> ``flattened``."""
    return AppendWriter("flattened", FLAT_SCHEMA, FLAT_IDENTITY, "b.*, now() AS loaded_at")
