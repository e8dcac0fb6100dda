"""When the warehouse compresses what the materializer appended: after it caught up, not
while a backlog streams in (no broker: fake messages into a DuckDB file)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from common.settings import Settings
from processors.warehouse.materializer import ROW_GROUP_ROWS, Materializer, caught_up
from processors.warehouse.store import Warehouse

from .conftest import CountingReader, FakeMessage

B = 20_000


@pytest.mark.parametrize(
    ("unchecked", "rows", "want"),
    [
        (0, None, False),  # idle, nothing new
        (1, None, True),  # idle after a write
        (ROW_GROUP_ROWS * 5, B, False),  # a backlog streams in full batches
        (ROW_GROUP_ROWS * 5, B // 4 + 1, False),
        (ROW_GROUP_ROWS, B // 4, True),  # a trickle, a row group's worth since the last
        (ROW_GROUP_ROWS - 1, 10, False),  # a trickle, less than a row group
    ],
)
def test_caught_up(unchecked: int, rows: int | None, want: bool) -> None:
    assert caught_up(unchecked, rows, B) is want


def _wal(db: Path) -> int:
    wal = Path(f"{db}.wal")
    return wal.stat().st_size if wal.exists() else 0


def test_checkpoint_after_the_backlog_not_during_it(tmp_path: Path) -> None:
    s = Settings()
    db = tmp_path / "w.duckdb"
    wh = Warehouse.open(str(db))
    mat = Materializer(s, wh, ["clean"], batch_size=B)
    t = s.topic("clean")
    for n in range(3):
        mat.write(
            [
                FakeMessage(t, json.dumps({"query_key": f"k{i}", "arrival_us": i}).encode(), i)
                for i in range(n * 1000, (n + 1) * 1000)
            ]
        )
        before = _wal(db)
        mat._checkpoint_if_caught_up(B)  # a full batch: more is waiting
        assert _wal(db) == before > 0
    mat._checkpoint_if_caught_up(None)  # the fetcher came back empty
    assert _wal(db) == 0
    # the database file alone (no WAL) holds the rows and the offsets
    shutil.copyfile(db, tmp_path / "copy.duckdb")
    copy = Warehouse.open(str(tmp_path / "copy.duckdb"), read_only=True)
    assert copy.scalar("SELECT count(*) FROM clean_queries") == 3000
    assert copy.scalar("SELECT max(next_offset) FROM kafka_offsets") == 3000


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
        wh.checkpoint()
    finally:
        reader.stop()
    assert not reader.errors
    assert reader.seen and set(reader.seen) == {300_000}
    assert _wal(db) == 0
