"""Broker restart: a broker that comes back without its topics (Tansu's memory storage, a
Kafka on temporary storage) is detected by its new cluster id; the materializer and the
processors say so once, keep the materialized rows and recover when the source is
replayed. A persistent broker (same cluster id, offsets within the partitions) resumes.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from common.broker import BrokerProcess, KafkaBroker, TansuBroker
from common.broker_identity import (
    OffsetVerdict,
    StoredOffset,
    decide_offsets,
    is_embedded_cluster,
    state_is_stale,
)
from common.settings import Settings, state_path
from common.topics import ensure_topics
from processors.streaming.broker_state import BROKER_MARKER, check_state_broker
from producers.replay import replay
from warehouse.materializer import Materializer
from warehouse.store import Warehouse

ROOT = Path(__file__).resolve().parents[2]
A, B = "tansu-embedded-aaaa", "tansu-embedded-bbbb"
KAFKA = "MkU3OEVBNTcwNTJENDM2Qg"  # a real Kafka's cluster id: exact high watermarks
T = "RAW_DATA"


# --- the decision, pure -------------------------------------------------------------------
def _decide(
    stored: dict[tuple[str, int], StoredOffset],
    cluster: str | None,
    marks: dict[tuple[str, int], int | None],
) -> OffsetVerdict:
    return decide_offsets(stored, cluster, marks, exact_watermarks=not is_embedded_cluster(cluster))


def test_same_broker_offsets_within_partitions_resume() -> None:
    stored = {(T, 0): StoredOffset(100, KAFKA), (T, 1): StoredOffset(0, KAFKA)}
    v = _decide(stored, KAFKA, {(T, 0): 100, (T, 1): 0})
    assert v.action == "resume" and not v.forget and v.message("k:9092", KAFKA) == ""
    # more messages arrived since: still resume
    assert _decide(stored, KAFKA, {(T, 0): 250, (T, 1): 7}).action == "resume"
    assert decide_offsets({}, KAFKA, {}, exact_watermarks=True).action == "resume"


def test_other_cluster_id_forgets_its_offsets_with_one_clear_message() -> None:
    stored = {(T, 0): StoredOffset(100, A), (T, 1): StoredOffset(40, A)}
    v = _decide(stored, B, {})  # topics not created yet on the new broker
    assert v.action == "forget" and v.forget == {(T, 0), (T, 1)}
    assert v.other_clusters == (A,) and v.shorter == ()
    msg = v.message("127.0.0.1:9092", B)
    assert "broker at 127.0.0.1:9092 is not the one this warehouse consumed from" in msg
    assert f"(cluster id {A}, now {B})" in msg
    assert "keeps topics in memory and loses them on restart" in msg
    assert "Materialized rows are kept" in msg and "README 'Broker restarted'" in msg
    assert "\n" not in msg
    # even if the new broker already holds more messages than were consumed
    assert _decide(stored, B, {(T, 0): 500, (T, 1): 500}).forget == {(T, 0), (T, 1)}


def test_embedded_broker_watermark_defect_is_not_a_restart() -> None:
    # the embedded broker reports high watermark = base offset of the last batch + 1, so a
    # fully consumed partition can show a high watermark below the stored next offset
    stored = {(T, 0): StoredOffset(500, A)}
    assert _decide(stored, A, {(T, 0): 301}).action == "resume"
    # an empty or missing partition is proof on any broker
    empty = _decide(stored, A, {(T, 0): 0})
    assert empty.forget == {(T, 0)} and empty.shorter == ((T, 0, 500, 0),)
    assert "topic RAW_DATA partition 0 has fewer messages than already materialized" in (
        empty.message("b:1", A)
    )
    assert _decide(stored, A, {}).shorter == ((T, 0, 500, None),)


def test_exact_watermarks_detect_a_recreated_topic_on_the_same_cluster() -> None:
    stored = {(T, 0): StoredOffset(500, KAFKA), (T, 1): StoredOffset(20, KAFKA)}
    v = _decide(stored, KAFKA, {(T, 0): 300, (T, 1): 20})
    assert v.forget == {(T, 0)} and v.other_clusters == ()
    msg = v.message("k:9092", KAFKA)
    assert "has 300, 500 materialized" in msg and "deleted and created again" in msg


def test_offsets_stored_before_cluster_ids_are_checked_by_watermark() -> None:
    stored = {(T, 0): StoredOffset(10, None), (T, 1): StoredOffset(10, None)}
    v = _decide(stored, B, {(T, 0): 10, (T, 1): 0})
    assert v.forget == {(T, 1)} and v.other_clusters == ()
    # a broker that names no cluster id: only the watermarks count
    assert _decide({(T, 0): StoredOffset(10, A)}, None, {(T, 0): 10}).action == "resume"


def test_processor_state_from_another_broker_is_discarded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert state_is_stale(A, B) and not state_is_stale(A, A)
    assert not state_is_stale(None, B) and not state_is_stale(A, None)
    s = Settings.from_env(state_dir=str(tmp_path), bootstrap_servers="127.0.0.1:1")
    path = state_path(s, "clean")
    assert check_state_broker(s, "clean", A) is None  # first start: nothing to compare
    (path / "group" / "store").mkdir(parents=True)
    assert check_state_broker(s, "clean", A) is None  # same broker: state kept
    assert (path / "group" / "store").is_dir()
    with caplog.at_level(logging.WARNING, logger="processors"):
        said = check_state_broker(s, "clean", B)
    assert said is not None and f"(cluster id {A}, now {B})" in said
    assert "Discarding the local state" in said and said in caplog.text
    assert not (path / "group").exists() and B in (path / BROKER_MARKER).read_text()


# --- a real restart of the embedded broker ------------------------------------------------
SOURCE = "synthetic:rows=1200,seed=21,clusters=6,error_rate=0.02,duplicate_rate=0.01"
TOPICS = ("raw", "clean", "dead_letters")
TABLES = ("raw_rows", "clean_queries", "rejects")


def _snapshot(wh: Warehouse) -> dict[str, list[tuple[str, ...]]]:
    out = {}
    for t in TABLES:
        df = wh.query(f"SELECT * EXCLUDE (loaded_at) FROM {t}")
        out[t] = sorted(map(tuple, df.astype(str).itertuples(index=False)))
    off = wh.query('SELECT topic, "partition", next_offset, cluster_id FROM kafka_offsets')
    out["kafka_offsets"] = sorted(map(tuple, off.astype(str).itertuples(index=False)))
    return out


def _clean_stage(s: Settings) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "processors", "clean", "--until-idle", "2"],
        env=dict(s.to_env(), PYTHONUNBUFFERED="1"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _fresh_broker(kind: str, settings: Settings, port: int | None = None) -> BrokerProcess:
    """A broker of ``kind`` that starts with no topics (Kafka: new temporary storage)."""
    return (KafkaBroker if kind == "kafka" else TansuBroker)(settings, port).start()


@pytest.mark.integration
def test_broker_restart_without_its_topics_is_detected_and_recovered_by_replay(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, broker_kind: str
) -> None:
    base = Settings.from_env(
        run_dir=str(tmp_path / "run"),
        state_dir=str(tmp_path / "state"),
        topic_prefix="restart.",
    ).with_(bootstrap_servers="")
    db = str(tmp_path / "wh.duckdb")

    # 1. first broker: replay run r1, clean it, materialize
    b1 = _fresh_broker(broker_kind, base)
    try:
        s1 = base.with_(bootstrap_servers=b1.bootstrap, broker_kind=b1.kind)
        ensure_topics(s1)
        replay(SOURCE, s1, run_id="r1", progress=False)
        first = _clean_stage(s1)
        assert first.returncode == 0, first.stderr
        wh = Warehouse.open(db)
        Materializer(s1, wh, topics=TOPICS).run(until_idle=2)
        before = _snapshot(wh)
        wh.close()
        n_raw = len(before["raw_rows"])  # rows plus the generator's duplicates
        assert n_raw >= 1200 and len(before["clean_queries"]) > 1000
    finally:
        b1.stop()

    # 2. the broker restarts (same address, no storage kept: every topic is gone)
    b2 = _fresh_broker(broker_kind, base, port=b1.port)
    try:
        s2 = base.with_(bootstrap_servers=b2.bootstrap, broker_kind=b2.kind)
        assert b2.cluster_id != b1.cluster_id
        # the standalone materializer says so once, exits 0 and keeps every row
        cli = subprocess.run(
            [
                sys.executable,
                "-m",
                "warehouse",
                "materialize",
                "--db",
                db,
                "--topics",
                ",".join(TOPICS),
                "--until-idle",
                "1",
            ],
            env=dict(s2.to_env(), PYTHONUNBUFFERED="1"),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert cli.returncode == 0, cli.stderr
        expected = (
            f"broker restarted: the broker at {b2.bootstrap} is not the one this warehouse "
            f"consumed from (cluster id {b1.cluster_id}, now {b2.cluster_id})"
        )
        assert cli.stderr.count(expected) == 1, cli.stderr
        assert "README 'Broker restarted'" in cli.stderr
        wh = Warehouse.open(db)
        kept = _snapshot(wh)
        assert {t: kept[t] for t in TABLES} == {t: before[t] for t in TABLES}
        assert kept["kafka_offsets"] == []  # forgotten: the new broker is read from its start

        # 3. recovery: replay. A new run id (the replay's default) is a new run beside the
        # old one; the same run id completes the old run (its rows are absorbed).
        # The replay's own checkpoint (RUN_DIR/replay-r1.json) says r1 was fully sent; it
        # went to the old broker, so the replay starts r1 again from its first row.
        ensure_topics(s2)
        replay(SOURCE, s2, run_id="r2", progress=False)
        with caplog.at_level(logging.WARNING, logger="producers.replay"):
            again = replay(SOURCE, s2, run_id="r1", progress=False)
        assert again.resumed_from == 0 and again.rows_sent == n_raw
        assert f"is not the one run r1 was replayed into (cluster id {b1.cluster_id}" in caplog.text
        caplog.clear()
        second = _clean_stage(s2)
        assert second.returncode == 0, second.stderr
        assert "broker restarted: the broker at" in second.stderr
        assert "local state of stage clean was built from" in second.stderr
        with caplog.at_level(logging.WARNING, logger="warehouse"):
            Materializer(s2, wh, topics=TOPICS).run(until_idle=2)
        assert "broker restarted" not in caplog.text  # said once, by the run that saw it
        after = _snapshot(wh)
        wh.close()

        # 4. a clean run: a new warehouse materialized from the new broker alone
        clean_wh = Warehouse.open(str(tmp_path / "clean.duckdb"))
        Materializer(s2, clean_wh, topics=TOPICS).run(until_idle=2)
        assert after == _snapshot(clean_wh)
        clean_wh.close()
        r1 = [r for r in after["raw_rows"] if r[0] == "r1"]
        assert r1 == before["raw_rows"] and len(after["raw_rows"]) == 2 * n_raw
        assert {r[3] for r in after["kafka_offsets"]} == {b2.cluster_id}
    finally:
        b2.stop()
