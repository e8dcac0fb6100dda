"""The flatten stage: one FLATTENED row per (query, table, access), reads with their
freshness against the latest earlier write of the table in the run and cluster."""

from __future__ import annotations

from typing import Any

from processors.logic.flatten import flatten
from processors.streaming.wiring import Wiring

#: the stage's state namespace (one per cluster)
NAMESPACE = "flatten/"
#: state key prefix: highest sequence number done of a run
HIGH_WATER = "hwm:"
#: state key prefix: latest write (us) of a table in a run (``lw:<run>|<table>``)
LAST_WRITE = "lw:"


def wire_flatten(w: Wiring) -> None:
    t_out = w.settings.topic("flattened")

    def on_clean(value: Any, key: Any, ts: int, headers: Any) -> None:
        cluster = value["cluster"]
        st = w.cache.state(NAMESPACE + cluster)
        run = value["run_id"]
        high_water_key = HIGH_WATER + run
        if value["seq"] <= st.get(high_water_key, -1):
            return  # a re-emitted copy
        st.set(high_water_key, value["seq"])
        last_write_prefix = f"{LAST_WRITE}{run}|"
        last = {t: st.get(f"{last_write_prefix}{t}") for t in value["read_table_ids"] or ()}
        rows, writes = flatten(value, last)
        for t, us in writes.items():
            prev = st.get(f"{last_write_prefix}{t}")
            if prev is None or us > prev:
                st.set(f"{last_write_prefix}{t}", us)
        ts_ms = value["arrival_us"] // 1000
        for r in rows:
            w.produce(t_out, cluster, r, ts_ms)

    w.handlers.append(on_clean)
