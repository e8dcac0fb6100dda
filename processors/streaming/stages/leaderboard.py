"""The leaderboard stage: each cluster's top-k per board and window, merged under one key
into the fleet's boards; running ("current") boards while data flows."""

from __future__ import annotations

from typing import Any

from processors.logic import leaderboard
from processors.logic.winlog import Emit
from processors.streaming.quix_internals import CachedState
from processors.streaming.runtime import Windowed
from processors.streaming.topology import board_partials_topic
from processors.streaming.wiring import Wiring

#: the stage's state namespace (one per cluster)
NAMESPACE = "leaderboard/"
#: seconds between running ("current") leaderboards while data flows
CURRENT_EVERY_S = 10.0
#: the leaderboard's partials all go under this key (one partition of its merge topic)
BOARDS_KEY = "boards"


def wire_leaderboard(w: Wiring) -> None:
    s = w.settings
    t_out = s.topic("leaderboard")
    t_parts = board_partials_topic(s)
    k = s.leaderboard_k
    spec = w.spec(s.leaderboard_window_seconds)

    def emit_partial(key: str, e: Emit, _: CachedState) -> None:
        partial = leaderboard.cluster_partial(e.rows, k, e.final)
        msg = [e.run_id, e.start, e.end, key, partial, w.rt.sent_internal()]
        w.produce(t_parts, BOARDS_KEY, msg, e.start)

    windows = Windowed(w.cache, NAMESPACE, spec, emit_partial)

    def on_clean(value: Any, key: Any, ts: int, headers: Any) -> None:
        windows.add(value, leaderboard.lb_row(value))

    w.handlers.append(on_clean)

    def emit_boards(run: str, start: int, end: int, partials: dict[str, Any]) -> None:
        for msg in leaderboard.boards(run, start, end, partials, k):
            w.produce(t_out, msg["board"], msg, start)

    w.merge(t_parts, emit_boards)
    w.rt.running_flushers.append(windows.flush)
    w.rt.current_every = CURRENT_EVERY_S
