"""When the materializer checkpoints the warehouse: once it has caught up, not while a
backlog streams in (a checkpoint runs on the writer's commit and would slow it)."""

from __future__ import annotations

import time
from collections.abc import Callable

import duckdb

from warehouse.store import Warehouse

#: DuckDB's row group: a checkpoint compresses a table's unfinished row group again
ROW_GROUP_ROWS = 122_880
#: an idle materializer with fewer unchecked rows checkpoints at most this often
CHECKPOINT_EVERY_S = 60.0
#: after a failed checkpoint, the next try waits this long
CHECKPOINT_RETRY_S = 30.0


def caught_up(
    unchecked: int,
    rows: int | None,
    batch_size: int,
    since_s: float,
    min_rows: int = ROW_GROUP_ROWS,
    every_s: float = CHECKPOINT_EVERY_S,
) -> bool:
    """Whether to checkpoint now: ``unchecked`` messages were written since the last
    checkpoint, ``since_s`` ago, and the fetcher just came back empty (``rows`` None) or
    with ``rows`` messages. Once ``min_rows`` are unchecked: when the batches shrink to a
    quarter (the backlog is in; while it streams in full batches a checkpoint would slow the
    writer, whose commit runs it). Fewer: when idle ``every_s`` after the last checkpoint
    (a trickle checkpoints once a minute, not after every write). DuckDB also checkpoints
    at :data:`~warehouse.store.CHECKPOINT_THRESHOLD`."""
    if unchecked == 0:
        return False
    if unchecked >= min_rows:
        return rows is None or rows <= batch_size // 4
    return rows is None and since_s >= every_s


class CheckpointPolicy:
    """Counts the messages written since the last checkpoint and checkpoints ``warehouse``
    when :func:`caught_up` says so; a failed checkpoint is a notice, retried later."""

    def __init__(
        self, warehouse: Warehouse, batch_size: int, notice: Callable[[str], None]
    ) -> None:
        self.warehouse = warehouse
        self.batch_size = batch_size
        self.notice = notice
        #: checkpoint once this many messages were written since the last checkpoint and
        #: the batches shrink, or once idle this long after any write
        self.min_rows = ROW_GROUP_ROWS
        self.every_s = CHECKPOINT_EVERY_S
        #: messages written (to any table) since the last checkpoint
        self._unchecked_rows = 0
        self._checkpointed_at = time.monotonic()
        self._retry_at = 0.0

    def after_fetch(self, rows: int | None) -> None:
        """After a write of ``rows`` messages, or an idle fetch (None)."""
        self._unchecked_rows += rows or 0
        now = time.monotonic()
        if now < self._retry_at or not caught_up(
            self._unchecked_rows,
            rows,
            self.batch_size,
            now - self._checkpointed_at,
            self.min_rows,
            self.every_s,
        ):
            return
        try:
            self.warehouse.checkpoint()
        except duckdb.Error as e:  # DuckDB still checkpoints at its threshold
            self._retry_at = now + CHECKPOINT_RETRY_S
            self.notice(f"checkpoint failed, retrying in {CHECKPOINT_RETRY_S:g} s: {e}")
            return
        self._unchecked_rows = 0
        self._checkpointed_at = now
