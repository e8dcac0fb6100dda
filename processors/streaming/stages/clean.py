"""The clean stage: RAW_DATA -> CLEAN_DATA (numbered per run and cluster) or a dead letter;
a query id seen again within the dedup horizon is a duplicate (a dead letter too)."""

from __future__ import annotations

from typing import Any

from common.contract import DUPLICATE_REASON
from processors.logic.clean import clean_row
from processors.logic.dead_letters import dead_letter
from processors.logic.dedup import seen_or_add
from processors.streaming.wiring import Wiring

#: the stage's state namespace (one per cluster)
NAMESPACE = "clean/"
#: state key prefix: next sequence number of a run
SEQ = "n:"


def wire_clean(w: Wiring) -> None:
    s = w.settings
    t_clean, t_dead = s.topic("clean"), s.topic("dead_letters")
    horizon_ms = s.dedup_horizon_seconds * 1000

    def on_raw(value: Any, key: Any, ts: int, headers: Any) -> None:
        res = clean_row(value)
        if res.clean is None:
            dl = res.dead
            assert dl is not None
            w.produce(t_dead, dl["cluster"], dl, ts)
            return
        rec = res.clean
        cluster = rec["cluster"]
        prov = [rec["file"], rec["row"]]
        ts_ms = rec["arrival_us"] // 1000
        st = w.cache.state(NAMESPACE + cluster)
        old = seen_or_add(st, f"{rec['run_id']}/{rec['query_id']}", ts_ms, prov, horizon_ms)
        if old is None:
            seq_key = SEQ + rec["run_id"]
            seq = st.get(seq_key, 0)
            st.set(seq_key, seq + 1)
            rec["seq"] = seq
            w.produce(t_clean, cluster, rec, ts_ms)
            for h in w.fed:
                h(rec, cluster, ts_ms, None)
        elif list(old) != prov:
            dl = dead_letter(
                value,
                "query_id",
                DUPLICATE_REASON,
                f"duplicate of query_id {rec['query_id']} in cluster {cluster} "
                f"first seen at {old[0]} row {old[1]}",
                cluster,
            )
            w.produce(t_dead, cluster, dl, ts)

    w.handlers.append(on_raw)
