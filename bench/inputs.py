"""What the bench's sections send: topics of their own, the replay's messages of a file and
clean-stage messages of synthetic rows."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from common.settings import Settings


def own_topics(s: Settings, label: str = "bench") -> Settings:
    """``s`` with a topic prefix of its own (a measurement never reads another's messages)."""
    return s.with_(topic_prefix=f"{label}-{uuid.uuid4().hex[:6]}.")


def replay_rows(parquet: str, run_id: str, limit: int | None = None) -> list[tuple[Any, ...]]:
    """The messages the replay sends for ``parquet``, in its order: (key, timestamp, file,
    row, value) each."""
    import duckdb

    from producers.replay import Filters, ordered_sql
    from producers.sources import resolve, stage

    con = duckdb.connect()
    rel = stage(con, resolve(parquet, str(Path(parquet).parent)))
    rows = con.execute(
        ordered_sql(rel, Filters(limit=limit)), {"run_id": run_id, "dataset": "bench"}
    ).fetchall()
    con.close()
    return rows


def clean_messages(rows: int) -> list[tuple[bytes, bytes]]:
    """``rows`` synthetic rows as the clean stage writes them to CLEAN_DATA: (key, value)."""
    from processors.logic.clean import clean_row
    from producers.synthetic import SyntheticSpec, generate

    out = []
    table = generate(SyntheticSpec(rows=rows, seed=5, clusters=20)).table
    for i, r in enumerate(table.to_pylist(), start=1):
        r["arrival_timestamp"] = r["arrival_timestamp"].strftime("%Y-%m-%d %H:%M:%S.%f")
        r.update(
            {
                "_run_id": "bench",
                "_dataset": "synthetic",
                "_file": "bench",
                "_row": i,
                "_kind": "provisioned",
            }
        )
        res = clean_row(r)
        if res.clean is not None:
            out.append((res.clean["cluster"].encode(), json.dumps(res.clean).encode()))
    return out
