"""The run-loop pieces every stage shares: progress and idle bookkeeping (:class:`Runtime`),
event-time windows on a cached key state (:class:`Windowed`) and the one-key merge step
of the fleet roll-up and the leaderboards (:class:`MergeStep`)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from quixstreams import Application
from quixstreams.context import message_context

from processors.logic.winlog import Emit, WindowSpec, add_row, mark_flushed, pending
from processors.streaming.quix_internals import (
    CachedState,
    StateCache,
    assigned_partitions,
    has_assignment,
    store_partitions,
)

log = logging.getLogger("processors")

#: seconds without input after which open windows are emitted as provisional results
IDLE_FLUSH_S = 2.0
#: seconds between progress lines in the log
REPORT_EVERY_S = 10.0
#: an idle worker without partitions says so this often (a group that never assigns)
UNASSIGNED_WARN_S = 30.0
#: state prefix (after the stage's namespace) holding the keys of a partition with windows
REGISTRY = "__keys__"
#: the registry's state key: the sorted keys of the partition with windows
REGISTRY_KEYS = "keys"
#: merge state: window id -> wall time of its last partial; "p:<window id>" its partials
MERGE_TOUCHED = "mw"
MERGE_PARTIALS = "p:"


@dataclass
class Runtime:
    """Shared mutable run-loop bookkeeping of one worker process."""

    app: Application
    until_idle: float | None
    name: str = ""
    #: with until_idle: stop on idle even if nothing was consumed (a restarted worker whose
    #: input was all committed before it failed has nothing left to read)
    idle_exit_empty: bool = False
    last_row: float = field(default_factory=time.monotonic)
    first_row: float | None = None
    last_report: float = field(default_factory=time.monotonic)
    reported: int = 0
    consumed: int = 0
    dirty: bool = False
    #: partials this process sent to its own private topic / the last of them read back
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    internal_out: int = 0
    internal_back: int = 0
    last_flush: float = field(default_factory=time.monotonic)
    #: emit open windows once the input is idle
    flushers: list[Callable[[], None]] = field(default_factory=list)
    #: ... and also every ``current_every`` seconds while data flows (running boards)
    running_flushers: list[Callable[[], None]] = field(default_factory=list)
    current_every: float = 10.0
    #: since when an idle worker has waited for the group to give it partitions
    unassigned_since: float | None = None
    unassigned_warned: float = 0.0

    def sent_internal(self) -> str:
        self.internal_out += 1
        return f"{self.token}:{self.internal_out}"

    def read_internal(self, mark: str) -> None:
        token, _, n = mark.partition(":")
        if token == self.token:
            self.internal_back = max(self.internal_back, int(n))

    def touch(self, *_: Any) -> None:
        self.last_row = time.monotonic()
        if self.first_row is None:
            self.first_row = self.last_row
        self.consumed += 1
        self.dirty = True

    def rate(self) -> float:
        if self.first_row is None or self.last_row <= self.first_row:
            return 0.0
        return self.consumed / (self.last_row - self.first_row)

    def _report(self, now: float) -> None:
        log.info(
            "%s: %d messages (%.0f/s over %.1f s)",
            self.name,
            self.consumed,
            (self.consumed - self.reported) / (now - self.last_report),
            now - self.last_report,
        )
        self.last_report, self.reported = now, self.consumed

    def _done(self, idle: float) -> bool:
        if self.until_idle is None or self.dirty or idle < self.until_idle:
            return False
        if not (self.consumed or (self.idle_exit_empty and idle >= 3 * self.until_idle)):
            return False
        # our own partials must have come back through the merge step (one partition, in
        # order); if another replica owns it, give up waiting after 3x the idle time
        return self.internal_back >= self.internal_out or idle >= 3 * self.until_idle

    def _unassigned(self, now: float) -> bool:
        """Not idle while the group has not given this member partitions: restart the
        idle clock then (and say so when that lasts, so a stuck group shows in the log)."""
        if has_assignment(self.app):
            self.unassigned_since, self.unassigned_warned = None, 0.0
            return False
        if self.unassigned_since is None:
            self.unassigned_since = now
        elif now - self.unassigned_since >= self.unassigned_warned + UNASSIGNED_WARN_S:
            self.unassigned_warned += UNASSIGNED_WARN_S
            log.warning(
                "%s: idle, but the consumer group has given it no partitions for %.0f s",
                self.name,
                now - self.unassigned_since,
            )
        self.last_row = now
        return True

    def tick(self) -> None:
        now = time.monotonic()
        idle = now - self.last_row
        if now - self.last_report >= REPORT_EVERY_S and self.consumed != self.reported:
            self._report(now)
        flush_after = IDLE_FLUSH_S
        if self.until_idle is not None:
            flush_after = min(flush_after, self.until_idle / 2)
        if self.dirty and idle >= flush_after:
            for f in self.flushers + self.running_flushers:
                f()
            self.dirty = False
            self.last_flush = now
        elif self.dirty and self.running_flushers and now - self.last_flush >= self.current_every:
            for f in self.running_flushers:
                f()
            self.last_flush = now
        if self._done(idle) and not self._unassigned(now):
            log.info(
                "%s: %d messages, %.0f/s from first to last; no input for %.1f s: stopping",
                self.name,
                self.consumed,
                self.rate(),
                idle,
            )
            self.app.stop()


class Windowed:
    """A window row log per key under one namespace of a cached store, with flushing of
    the open windows (provisional results)."""

    def __init__(
        self,
        cache: StateCache,
        ns: str,
        spec: WindowSpec,
        emit: Callable[[str, Emit, CachedState], None],
    ) -> None:
        self.cache = cache
        self.ns = ns
        self.spec = spec
        self.emit = emit
        self._known: dict[int, set[str]] = {}
        self._epoch = -1

    def state(self, key: str) -> CachedState:
        p = self.cache.partition
        if p is None:
            p = message_context().partition
        if self._epoch != self.cache.epoch:  # the cached registries were dropped
            self._known, self._epoch = {}, self.cache.epoch
        keys = self._known.get(p)
        if keys is None or key not in keys:
            reg = self.cache.state(self.ns + REGISTRY, p)
            stored = set(reg.get(REGISTRY_KEYS) or [])
            if key not in stored:
                stored.add(key)
                reg.set(REGISTRY_KEYS, sorted(stored))
            self._known[p] = stored
        return self.cache.state(self.ns + key, p)

    def add(self, rec: dict[str, Any], row: Any) -> bool | None:
        """Add a clean record's row to its cluster's window log and emit the windows it
        closes; returns ``add_row``'s accepted (False: late, None: a re-emitted copy)."""
        cluster = rec["cluster"]
        ts_ms = rec["arrival_us"] // 1000
        st = self.state(cluster)
        accepted, emits = add_row(st, self.spec, rec["run_id"], ts_ms, row, rec["seq"])
        for e in emits:
            self.emit(cluster, e, st)
        return accepted

    def flush(self) -> None:
        for p in store_partitions(self.cache.sdf):
            for key in self.cache.state(self.ns + REGISTRY, p).get(REGISTRY_KEYS) or []:
                st = self.cache.state(self.ns + key, p)
                for e in pending(st, self.spec):
                    self.emit(key, e, st)
                mark_flushed(st)


class MergeStep:
    """Merge per-cluster window partials ``[run, start, end, cluster, partial, mark]`` sent
    under one key (so one partition): keep the latest partial of every cluster per window
    and emit the merged result of every window that changed, once per checkpoint (call
    :meth:`emit_changed` before the commit). A window not updated for ``keep_s`` seconds of
    wall time is forgotten (event time cannot be used: partitions are consumed at different
    paces, a backlog partition may be a whole replay behind another)."""

    def __init__(
        self,
        app: Application,
        rt: Runtime,
        topic: Any,
        emit: Callable[[str, int, int, dict[str, Any]], None],
        keep_s: float,
    ) -> None:
        self.rt = rt
        self.emit = emit
        self.keep_s = keep_s
        sdf = app.dataframe(topic)
        sdf.register_store()
        self.cache = StateCache(app, sdf)
        self._changed: dict[tuple[int, str], dict[str, tuple[str, int, int]]] = {}
        self._generation = -1
        sdf.update(self.on_partial, metadata=True)

    def on_partial(self, value: Any, key: Any, ts: int, headers: Any) -> None:
        run, start, end, cluster, partial = value[:5]
        if len(value) > 5:
            self.rt.read_internal(value[5])
        p = message_context().partition
        st = self.cache.state(key, p)
        wid = f"{run}|{start}"
        touched = st.get(MERGE_TOUCHED) or {}
        touched[wid] = time.time()
        st.set(MERGE_TOUCHED, touched)
        partials = st.get(MERGE_PARTIALS + wid) or {}
        partials[cluster] = partial
        st.set(MERGE_PARTIALS + wid, partials)
        if self._generation != self.cache.generation:
            self._changed, self._generation = {}, self.cache.generation
        self._changed.setdefault((p, key), {})[wid] = (run, start, end)

    def emit_changed(self) -> None:
        changed, self._changed = self._changed, {}
        if self._generation != self.cache.generation:
            return  # those partials were never committed: they will be read again
        cutoff = time.time() - self.keep_s
        live = assigned_partitions(self.cache.sdf)
        for (p, key), windows in changed.items():
            if p not in live:
                continue
            st = self.cache.state(key, p)
            for wid, (run, start, end) in windows.items():
                self.emit(run, start, end, st.get(MERGE_PARTIALS + wid))
            touched = st.get(MERGE_TOUCHED) or {}
            old = [w for w, t in touched.items() if t < cutoff and w not in windows]
            for w in old:
                st.delete(MERGE_PARTIALS + w)
                del touched[w]
            if old:
                st.set(MERGE_TOUCHED, touched)
