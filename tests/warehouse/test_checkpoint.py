"""When the warehouse compresses what the materializer appended: after it caught up, not
while a backlog streams in (no broker: fake messages into a DuckDB file)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from common.settings import Settings
from warehouse.checkpoint import ROW_GROUP_ROWS, caught_up
from warehouse.materializer import Materializer
from warehouse.store import Warehouse

from .conftest import CountingReader, FakeMessage

B = 20_000


@pytest.mark.parametrize(
    ("unchecked", "rows", "since_s", "want"),
    [
        (0, None, 999, False),  # idle, nothing new
        (ROW_GROUP_ROWS, None, 0, True),  # idle after a backlog
        (ROW_GROUP_ROWS * 5, B, 0, False),  # a backlog streams in full batches
        (ROW_GROUP_ROWS * 5, B // 4 + 1, 999, False),
        (ROW_GROUP_ROWS, B // 4, 0, True),  # the batches shrank: the backlog is in
        (ROW_GROUP_ROWS - 1, 10, 999, False),  # a trickle, less than a row group, not idle
        (ROW_GROUP_ROWS - 1, None, 59, False),  # a trickle: idle, but checkpointed < 60 s ago
        (1, None, 60, True),  # idle a minute after the last checkpoint
    ],
)
def test_caught_up(unchecked: int, rows: int | None, since_s: float, want: bool) -> None:
    assert caught_up(unchecked, rows, B, since_s) is want


def _wal(db: Path) -> int:
    wal = Path(f"{db}.wal")
    return wal.stat().st_size if wal.exists() else 0


def test_checkpoint_after_the_backlog_not_during_it(tmp_path: Path) -> None:
    s = Settings()
    db = tmp_path / "w.duckdb"
    wh = Warehouse.open(str(db))
    mat = Materializer(s, wh, ["clean"], batch_size=1000)
    mat.checkpoints.min_rows = 2000  # a "row group" of 2,000 messages
    t = s.topic("clean")
    offset = 0
    for n in (1000, 1000, 1000, 250):  # three full batches, then a quarter
        msgs = [
            FakeMessage(t, json.dumps({"query_key": f"k{i}", "arrival_us": i}).encode(), i)
            for i in range(offset, offset + n)
        ]
        offset += n
        mat.write(msgs)
        before = _wal(db)
        mat.checkpoints.after_fetch(n)
        if n == 1000:  # more is waiting: no checkpoint, even past 2,000
            assert _wal(db) == before > 0
    assert _wal(db) == 0  # the batches shrank: caught up, checkpointed
    # the database file alone (no WAL) holds the rows and the offsets
    shutil.copyfile(db, tmp_path / "copy.duckdb")
    copy = Warehouse.open(str(tmp_path / "copy.duckdb"), read_only=True)
    assert copy.scalar("SELECT count(*) FROM clean_queries") == 3250
    assert copy.scalar("SELECT max(next_offset) FROM kafka_offsets") == 3250


def test_readers_go_on_during_a_checkpoint(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    wh = Warehouse.open(str(db))
    for start in range(0, 300_000, 20_000):  # batches, as the materializer appends
        wh.execute(
            "INSERT INTO clean_queries BY NAME SELECT 'k' || i AS query_key, 'r' AS run_id, "
            "i AS arrival_us, md5(i::VARCHAR) AS feature_fingerprint "
            f"FROM range({start}, {start + 20_000}) t(i)"
        )
    assert _wal(db) > 0
    reader = CountingReader(wh)
    reader.start()
    try:
        started = time.monotonic()
        wh.checkpoint()
        ended = time.monotonic()
    finally:
        reader.stop()
    assert not reader.errors
    assert reader.seen and set(reader.seen) == {300_000}
    # readers were answered while the checkpoint ran, not only after it
    assert any(started < t < ended for t in reader.answered_at)
    assert _wal(db) == 0
