"""Replay sources over a real broker and read back exactly what was sent."""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import duckdb
import pytest

from common.contract import REDSET_COLUMNS
from common.settings import Settings
from producers.replay import replay
from producers.sources import SourceError
from producers.synthetic import SyntheticSpec, generate, write, write_table
from tests.support.kafka_io import read_all, value

pytestmark = pytest.mark.integration
SPEC = SyntheticSpec(
    rows=3000, seed=4, kind="mixed", clusters=6, error_rate=0.02, duplicate_rate=0.01
)


def expected_order(table) -> list[tuple[str | None, int]]:
    """(cluster key, row) in replay order, computed independently with DuckDB."""
    con = duckdb.connect()
    con.register("t", table)
    return [
        (k, r)
        for k, r in con.execute(
            """
            WITH n AS (SELECT *, row_number() OVER () AS r FROM t),
            x AS (SELECT *, TRY_CAST(arrival_timestamp AS TIMESTAMP) AS ts,
                  CASE WHEN cluster_size IS NULL THEN 'serverless' ELSE 'provisioned' END AS kind FROM n)
            SELECT CASE WHEN instance_id IS NULL THEN NULL ELSE kind || '-' || instance_id END, r FROM x
            """
        ).fetchall()
    ]


def check_round_trip(settings: Settings, table, file_label: str, summary) -> None:
    msgs = read_all(settings, settings.topic("raw"), summary.rows_sent)
    assert len(msgs) == table.num_rows == summary.rows_sent == summary.rows_read
    want = dict((r, k) for k, r in expected_order(table))
    rows = table.to_pylist()
    # order holds per key within its partition; rows without a key (unreadable instance
    # id) are spread over the partitions by row number
    per_key: dict[tuple[str | None, int], list[tuple[int, int]]] = {}
    for m in msgs:
        v = value(m)
        h = {k: x.decode() for k, x in m.headers()}
        row = v["_row"]
        assert h == {
            "run_id": summary.run_id,
            "dataset": h["dataset"],
            "file": v["_file"],
            "row": str(row),
        }
        assert v["_run_id"] == summary.run_id and file_label in v["_file"]
        key = m.key().decode() if m.key() is not None else None
        assert key == want[row]
        src = rows[row - 1]
        assert set(REDSET_COLUMNS) <= set(v)
        assert (
            str(v["query_id"]).split(".")[0] == str(src["query_id"]).split(".")[0]
            or src["query_id"] is None
        )
        ts = m.timestamp()[1]
        arrival = src["arrival_timestamp"]
        if isinstance(arrival, datetime):
            assert ts == int(arrival.replace(tzinfo=UTC).timestamp() * 1000)
        per_key.setdefault((key, m.partition()), []).append((ts, row))
    for key, seq in per_key.items():
        assert [t for t, _ in seq] == sorted(t for t, _ in seq), f"out of order for {key}"


def test_replay_synthetic(topic_settings: Settings) -> None:
    s = replay(SPEC.to_string(), topic_settings, progress=False)
    check_round_trip(topic_settings, generate(SPEC).table, "synthetic:", s)


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".xlsx"])
def test_replay_files(topic_settings: Settings, tmp_path: Path, suffix: str) -> None:
    spec = SyntheticSpec(rows=1500 if suffix == ".xlsx" else 3000, seed=5, kind="mixed", clusters=5)
    path = tmp_path / f"redset{suffix}"
    data = write(spec, path)
    s = replay(str(path), topic_settings, progress=False)
    check_round_trip(topic_settings, data.table, path.name, s)
    # the generator writes replay order: every format streams as read, without a sort
    assert not s.sorted


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_replay_unordered_file_is_sorted(
    topic_settings: Settings, tmp_path: Path, suffix: str
) -> None:
    table = generate(SyntheticSpec(rows=3000, seed=8, kind="mixed", clusters=5)).table
    backwards = table.take(list(range(table.num_rows - 1, -1, -1)))
    path = tmp_path / f"backwards{suffix}"
    write_table(backwards, path)
    s = replay(str(path), topic_settings, progress=False)
    assert s.sorted
    check_round_trip(topic_settings, backwards, path.name, s)
    msgs = read_all(topic_settings, topic_settings.topic("raw"), s.rows_sent)
    by_part: dict[int, list[tuple[int, int]]] = {}
    for m in msgs:
        by_part.setdefault(m.partition(), []).append((m.timestamp()[1], int(value(m)["query_id"])))
    for part, seq in by_part.items():
        assert seq == sorted(seq), f"partition {part} not in (arrival, query_id) order"


def test_replay_url_with_cache(topic_settings: Settings, tmp_path: Path) -> None:
    served = tmp_path / "www"
    served.mkdir()
    data = write(SyntheticSpec(rows=2000, seed=6), served / "sample_0.001.parquet")
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/sample_0.001.parquet"
    try:
        s = replay(url, topic_settings, progress=False)
        check_round_trip(topic_settings, data.table, "sample_0.001.parquet", s)
    finally:
        server.shutdown()
    # second replay: served file gone, server down: the cache answers
    other = topic_settings.with_(topic_prefix=topic_settings.topic_prefix + "again.")
    s2 = replay(url, other, progress=False)
    assert s2.rows_sent == 2000


def test_csv_unreadable_rows_are_sent_raw_and_counted(
    topic_settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "broken.csv"
    write(SyntheticSpec(rows=50, seed=7), path)
    lines = path.read_text().splitlines()
    lines.insert(10, "1,2,3")  # wrong field count: line 11 = data row 10
    lines.append("garbage line without commas")
    path.write_text("\n".join(lines) + "\n")
    s = replay(str(path), topic_settings, progress=False)
    assert s.rows_read == 52 and s.rows_sent == 52
    assert s.rows_rejected == {"unreadable_row": 2}
    raws = [value(m) for m in read_all(topic_settings, topic_settings.topic("raw"), 52)]
    bad = sorted((v["_row"], v["_raw"]) for v in raws if "_raw" in v)
    assert bad == [(10, "1,2,3"), (52, "garbage line without commas")]
    assert all(
        v["_error"]["reason"] == "unreadable_row" and "broken.csv row" in v["_error"]["message"]
        for v in raws
        if "_raw" in v
    )
    assert sorted(v["_row"] for v in raws) == list(range(1, 53))


@pytest.mark.parametrize(
    "content,needle",
    [(None, "no such file"), ("a;b;c\n1;2;3\n", "missing instance_id"), ("", "empty file")],
)
def test_bad_sources_fail_clearly(
    topic_settings: Settings, tmp_path: Path, content, needle
) -> None:
    path = tmp_path / "x.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(SourceError, match=needle) as e:
        replay(str(path), topic_settings, progress=False)
    assert "x.csv" in str(e.value)


def test_cli_wrong_columns_one_line_error(topic_settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "cols.parquet"
    t = generate(SyntheticSpec(rows=10)).table.drop_columns(["query_type"])
    write_table(t, path)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "producers.replay",
            str(path),
            "--bootstrap-servers",
            topic_settings.bootstrap_servers,
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"error: {path}: wrong column set: missing query_type"
    )


def test_filters(topic_settings: Settings) -> None:
    spec = SyntheticSpec(rows=4000, seed=8, clusters=5)
    s = replay(
        spec.to_string(),
        topic_settings,
        clusters=["provisioned-0", "provisioned-2"],
        start="2024-03-02",
        end="2024-03-04",
        progress=False,
    )
    con = duckdb.connect()
    con.register("t", generate(spec).table)
    row = con.execute(
        "SELECT count(*) FROM t WHERE instance_id IN (0, 2) AND arrival_timestamp >= '2024-03-02' "
        "AND arrival_timestamp < '2024-03-04'"
    ).fetchone()
    assert row is not None
    n = row[0]
    assert s.rows_sent == n > 0
    other = topic_settings.with_(topic_prefix=topic_settings.topic_prefix + "lim.")
    assert replay(spec.to_string(), other, limit=123, progress=False).rows_sent == 123
    other2 = topic_settings.with_(topic_prefix=topic_settings.topic_prefix + "smp.")
    sampled = replay(spec.to_string(), other2, sample=0.25, progress=False).rows_sent
    assert 0.2 * 4000 < sampled < 0.3 * 4000


def test_sigkill_and_resume(topic_settings: Settings, tmp_path: Path) -> None:
    """Kill -9 mid-replay, restart with the same run id: every row at least once, resends
    identifiable by (run_id, file, row), no more resent than the in-flight bound."""
    path = tmp_path / "big.parquet"
    write(SyntheticSpec(rows=60_000, seed=9, clusters=8), path)
    env = dict(
        os.environ,
        KAFKA_BOOTSTRAP_SERVERS=topic_settings.bootstrap_servers,
        TOPIC_PREFIX=topic_settings.topic_prefix,
        RUN_DIR=str(tmp_path / "run"),
    )
    cmd = [
        sys.executable,
        "-m",
        "producers.replay",
        str(path),
        "--run-id",
        "killme",
        "--rate",
        "20000",
        "--no-progress",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ckpt = tmp_path / "run" / "replay-killme.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (
        ckpt.exists() and '"acked": 0' not in ckpt.read_text()
    ):
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    first = read_all(topic_settings, topic_settings.topic("raw"), 1, timeout_s=5)
    assert 0 < len(first) < 60_000, "the kill must land mid-replay"
    r = subprocess.run(
        [*cmd[:-3], "--no-progress", "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    msgs = read_all(topic_settings, topic_settings.topic("raw"), 60_000)
    ids = Counter((value(m)["_run_id"], value(m)["_file"], value(m)["_row"]) for m in msgs)
    assert len(ids) == 60_000, "every row present at least once"
    resent = sum(c - 1 for c in ids.values())
    assert all(run == "killme" for run, _, _ in ids)
    in_flight_bound = 50_000 + 1024  # producer queue bound + one checkpoint stride
    assert resent <= in_flight_bound
    assert resent <= len(first)
