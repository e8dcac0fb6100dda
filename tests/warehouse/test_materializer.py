"""Materializer: idempotent upserts, offsets in the same transaction, crash-safety,
reading while writing, export."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from common.settings import Settings
from producers.synthetic import SyntheticSpec
from tests.support.records import messages, produce_all
from warehouse.export import export
from warehouse.materializer import Materializer
from warehouse.store import Warehouse

from .conftest import CountingReader

pytestmark = pytest.mark.integration
SPEC = SyntheticSpec(rows=3000, seed=12, clusters=5, error_rate=0.03, duplicate_rate=0.01)
TABLES = ("raw_rows", "clean_queries", "rejects", "query_metrics", "leaderboards", "flattened")


def snapshot(wh: Warehouse) -> dict[str, list[tuple]]:
    out = {}
    for t in TABLES:
        df = wh.query(f"SELECT * EXCLUDE (loaded_at) FROM {t}")
        out[t] = sorted(map(tuple, df.astype(str).itertuples(index=False)))
    return out


def expected_counts(msgs) -> dict[str, int]:
    return {
        "raw_rows": len(msgs["raw"]),
        "clean_queries": len({v["query_key"] for _, v, _ in msgs["clean"]}),
        "rejects": len({(v["run_id"], v["file"], v["row"]) for _, v, _ in msgs["dead_letters"]}),
        "query_metrics": 5,
        "leaderboards": 5,
        "flattened": len({(v["query_key"], v["table_id"]) for _, v, _ in msgs["flattened"]}),
    }


def test_redelivery_is_absorbed_and_offsets_are_stored(topics: Settings) -> None:
    msgs = messages(SPEC)
    key, first, _ = msgs["clean"][0]
    dup = {
        "run_id": first["run_id"],
        "dataset": "synthetic",
        "file": first["file"],
        "row": 10**6,
        "cluster": key,
        "query_id": first["query_id"],
        "stage": "clean",
        "reason": "duplicate",
        "field": "query_id",
        "message": "duplicate",
        "raw": {},
    }
    msgs["dead_letters"].append((key, dup, 0))
    produce_all(topics, msgs, times=2)  # every message delivered twice
    wh = Warehouse.open(":memory:")
    Materializer(topics, wh).run(until_idle=3)
    counts = {t: int(wh.scalar(f"SELECT count(*) FROM {t}")) for t in TABLES}
    assert counts == expected_counts(msgs)
    # a final window is never replaced by a later running record
    finals = wh.query(
        "SELECT final, (payload->>'queries')::INT AS q, window_start FROM query_metrics ORDER BY window_start"
    )
    assert finals["final"].all() and list(finals["q"]) == [10, 11, 12, 13, 14]
    # offsets: next offset per partition equals the messages in it
    total = sum(len(v) for v in msgs.values()) * 2
    assert int(wh.scalar("SELECT sum(next_offset) FROM kafka_offsets")) == total
    # a restart resumes from the stored offsets: nothing is read again
    again = Materializer(topics, wh).run(until_idle=2)
    assert sum(again.rows.values()) == 0
    # public views
    assert int(wh.scalar("SELECT count(*) FROM fact_query")) == counts["clean_queries"]
    n_dead = int(wh.scalar("SELECT count(*) FROM dead_letters"))
    n_dup = int(wh.scalar("SELECT count(*) FROM duplicates"))
    assert n_dead + n_dup == counts["rejects"] and n_dup == 1
    lb = wh.query(
        "SELECT * FROM v_leaderboard WHERE window_start = make_timestamp(3600000::BIGINT * 1000) ORDER BY rank"
    )
    # window 1 ranks provisioned-2, -3, -0; window 0 ranked -1, -2, -3
    assert list(lb["entity"]) == ["provisioned-2", "provisioned-3", "provisioned-0"]
    assert lb["prev_rank"].tolist()[:2] == [2, 3] and lb["prev_rank"].isna().tolist()[2]


def test_reading_while_writing(topics: Settings) -> None:
    msgs = messages(SyntheticSpec(rows=20_000, seed=13, clusters=8))
    wh = Warehouse.open(":memory:")
    mat = Materializer(topics, wh, batch_size=500)
    thread = mat.start_background()
    r = CountingReader(wh, also="SELECT * FROM v_cluster_health", pause_s=0.01)
    r.start()
    produce_all(topics, msgs)
    want = len(msgs["clean"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not r.seen or r.seen[-1] < want):
        time.sleep(0.2)
    r.stop()
    mat.stop()
    assert not thread.is_alive()
    assert not r.errors, r.errors[:3]
    seen = r.seen
    assert seen[-1] == want
    assert seen == sorted(seen), "counts must be monotone"
    assert len(set(seen)) > 2, "the reader must have seen the table grow"


def test_sigkill_materializer_repeatedly(topics: Settings, tmp_path: Path) -> None:
    msgs = messages(SyntheticSpec(rows=15_000, seed=14, clusters=6, error_rate=0.02))
    produce_all(topics, msgs)
    # reference: an undisturbed run
    ref = Warehouse.open(str(tmp_path / "ref.duckdb"))
    Materializer(topics, ref, group="ref").run(until_idle=3)
    want = snapshot(ref)
    ref.close()
    db = str(tmp_path / "killed.duckdb")
    env = dict(topics.to_env(), PYTHONUNBUFFERED="1")
    cmd = [
        sys.executable,
        "-m",
        "warehouse",
        "materialize",
        "--db",
        db,
        "--until-idle",
        "3",
    ]
    kills = 0
    for delay in (1.5, 2.0, 2.5, 3.0):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(10)
    assert kills >= 2, "the materializer must have been killed mid-run"
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    wh = Warehouse.open(db, read_only=True)
    assert snapshot(wh) == want
    wh.close()


def test_export_parquet_and_csv(topics: Settings, tmp_path: Path) -> None:
    msgs = messages(SyntheticSpec(rows=500, seed=15))
    produce_all(topics, msgs)
    db = str(tmp_path / "w.duckdb")
    wh = Warehouse.open(db)
    mat = Materializer(topics, wh)
    mat.checkpoints.every_s = 0.5  # idle half a second after a write: checkpoint
    mat.run(until_idle=2)
    # caught up, the materializer checkpointed: the file alone holds the rows
    assert not os.path.exists(db + ".wal") or os.path.getsize(db + ".wal") == 0
    n = int(wh.scalar("SELECT count(*) FROM fact_query"))
    wh.close()
    for out in (tmp_path / "f.parquet", tmp_path / "f.csv"):
        assert export(db, "fact_query", str(out)) == n
        assert duckdb.connect().execute(f"SELECT count(*) FROM '{out}'").fetchone() == (n,)
    with pytest.raises(ValueError, match="no table or view"):
        export(db, "fact_query; DROP TABLE x", str(tmp_path / "x.csv"))
    argv = ["export", "nope", "--db", db, "--out", str(tmp_path / "y.csv")]
    r = subprocess.run(
        [sys.executable, "-m", "warehouse", *argv],
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )
    assert r.returncode == 2 and "no table or view named 'nope'" in r.stderr
