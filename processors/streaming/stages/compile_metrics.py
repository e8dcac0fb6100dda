"""The compile_metrics stage: per cluster and window compile-time figures, with each
feature fingerprint's first sighting per run and cluster."""

from __future__ import annotations

from typing import Any

from processors.logic import compile_metrics
from processors.logic.winlog import Emit, is_fresh
from processors.streaming.quix_internals import CachedState
from processors.streaming.runtime import Windowed
from processors.streaming.wiring import Wiring

#: the stage's state namespace (one per cluster)
NAMESPACE = "compile_metrics/"
#: state key prefix: a fingerprint seen in a run (``f:<run>|<fingerprint>``)
FINGERPRINT = "f:"


def wire_compile_metrics(w: Wiring) -> None:
    s = w.settings
    t_out = s.topic("compile_metrics")
    spec = w.spec(s.window_seconds)

    def emit_window(key: str, e: Emit, _: CachedState) -> None:
        rec = compile_metrics.window_record(e.run_id, key, e.start, e.end, e.rows, e.final)
        w.produce(t_out, key, rec, e.start)

    windows = Windowed(w.cache, NAMESPACE, spec, emit_window)

    def on_clean(value: Any, key: Any, ts: int, headers: Any) -> None:
        cluster = value["cluster"]
        st = windows.state(cluster)
        run = value["run_id"]
        if not is_fresh(st, run, value["seq"]):
            return
        fp = value["feature_fingerprint"]
        first: bool | None = None
        if fp is not None:
            fp_key = f"{FINGERPRINT}{run}|{fp}"
            first = st.get(fp_key) is None
            if first:
                st.set(fp_key, 1)
        windows.add(value, compile_metrics.cm_row(value, first))

    w.handlers.append(on_clean)
    w.rt.flushers.append(windows.flush)
