"""CSV row numbers stay right whatever the block size and wherever unreadable rows are
(pyarrow parses blocks ahead, so its handler reports skipped rows of later blocks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from common.contract import REDSET_COLUMNS
from producers.sources import csv_batches

QID = REDSET_COLUMNS.index("query_id")


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.sampled_from(["good", "good", "good", "short", "long"]), min_size=1, max_size=300),
    st.sampled_from([1 << 12, 1 << 14, 1 << 20]),
)
def test_every_row_keeps_its_line_number(
    tmp_path_factory: Any, kinds: list[str], block_size: int
) -> None:
    path: Path = tmp_path_factory.mktemp("csv") / "rows.csv"
    lines = [",".join(REDSET_COLUMNS)]
    for n, kind in enumerate(kinds, start=1):
        fields = ["x" * 40] * len(REDSET_COLUMNS)
        fields[QID] = str(n)  # the row number, to check against
        if kind == "short":
            fields = fields[:3]
        elif kind == "long":
            fields = [*fields, "surplus"]
        lines.append(",".join(fields))
    path.write_text("\n".join(lines) + "\n")
    good: dict[int, str] = {}
    bad: list[int] = []
    for batch in csv_batches(str(path), block_size=block_size):
        for row, qid, raw in zip(
            batch.column("_row").to_pylist(),
            batch.column("query_id").to_pylist(),
            batch.column("_raw").to_pylist(),
            strict=True,
        ):
            if raw is None:
                good[row] = qid
            else:
                bad.append(row)
    assert {r: int(q) for r, q in good.items()} == {
        n: n for n, k in enumerate(kinds, start=1) if k == "good"
    }
    assert sorted(bad) == [n for n, k in enumerate(kinds, start=1) if k != "good"]
