"""Exactly-once on Apache Kafka (issue 15 item 2): with ``PROCESSING_GUARANTEE=exactly-once``
every stage is SIGKILLed once mid-run and restarted by the supervisor; a ``read_committed``
reader of every output topic then sees each final record exactly once (counted at the
topic, before any upsert), the outputs equal the batch oracle, and the DuckDB warehouse
materialized from them reconciles with the oracle's counts.

Which records must be unique (docs/processors.md, "Output messages"): every CLEAN_DATA row,
dead letter, late record and FLATTENED row; every cluster window with ``final: true`` (a
cluster's window is emitted final once, when it closes). The fleet roll-up and the boards
are merges, emitted again on every change of a contributing cluster's partial: a window
with a sparse cluster whose partial arrives after the others closed is final more than
once, each time more complete, and the leaderboard merge re-emits every board, changed or
not, so even an identical final board repeats without any redelivery (measured: 24 of 240
final boards here). Their repeats are reported, not judged (the oracle judges their latest
value). Provisional records (``final: false``, variant ``current``) may repeat.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

import psutil
import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition

from common.contract import FLEET
from common.kafka_config import consumer_config
from common.settings import Settings
from pipeline.report import reconcile
from processors.__main__ import settings_env
from processors.streaming.topology import (
    ALL_WORKERS,
    STAGES,
    output_topics,
    worker_id,
    worker_name,
    worker_source,
)
from producers.replay import Pace, ReplaySummary, replay
from tests.support.kafka_io import read_topic
from tests.support.oracle import check_chain
from tests.support.probes import high_watermarks
from warehouse.materializer import Materializer
from warehouse.store import Warehouse

EOS_SPEC = "synthetic:rows=12000,seed=13,clusters=6,days=1.5,error_rate=0.01,duplicate_rate=0.005"
#: rows/s of the paced replay until the last kill (then as fast as it goes): 12 k rows would
#: last 80 s, far longer than the kills and restarts take on a loaded machine
EOS_RATE = 150.0


def identity(topic: str, v: dict[str, Any]) -> tuple[tuple[Any, ...], bool] | None:
    """(identity, merged) of a final record on logical ``topic``, or None for a provisional
    one. ``merged``: a fleet window or a board, which may repeat (module docstring)."""
    if topic == "clean":
        return (v["run_id"], v["cluster"], v["query_id"]), False
    if topic == "dead_letters":
        return (v["run_id"], v["file"], v["row"]), False
    if topic == "flattened":
        return (v["query_key"], v["table_id"], v["access"]), False
    if topic in ("query_metrics", "compile_metrics"):
        if v.get("record") == "late":
            return ("late", v["query_key"]), False
        if not v["final"]:
            return None
        return (v["run_id"], v["cluster"], v["window_start"]), v["cluster"] == FLEET
    if topic == "leaderboard":
        if v["variant"] != "final":
            return None
        return (v["run_id"], v["board"], v["window_start"]), True
    raise ValueError(f"no identity for topic {topic!r}")


def repeats(topic: str, values: Iterable[dict[str, Any]]) -> tuple[Counter[tuple], int]:
    """Extra copies per repeated identity of the records that must be unique, and how many
    merged finals (fleet windows, boards) repeat an identity (reported, not judged)."""
    seen: Counter[tuple] = Counter()
    merged_seen: Counter[tuple] = Counter()
    for v in values:
        got = identity(topic, v)
        if got is None:
            continue
        ident, merged = got
        (merged_seen if merged else seen)[ident] += 1

    def extra(c: Counter[tuple]) -> Counter[tuple]:
        return Counter({k: n - 1 for k, n in c.items() if n > 1})

    return extra(seen), sum(extra(merged_seen).values())


def test_repeat_counter_finds_redelivered_copies() -> None:
    """The counter can fail: a redelivered copy of any unique record is counted; provisional
    records are not, merged finals apart."""
    clean = {"run_id": "r", "cluster": "c", "query_id": 1}
    win = {"record": "window", "run_id": "r", "cluster": "c", "window_start": 0, "final": True}
    fleet = {**win, "cluster": FLEET, "queries": 3}
    board = {"run_id": "r", "board": "b", "variant": "final", "window_start": 0, "entries": []}
    assert repeats("clean", [clean, {**clean, "query_id": 2}]) == (Counter(), 0)
    assert sum(repeats("clean", [clean, clean])[0].values()) == 1
    assert sum(repeats("query_metrics", [win, {**win, "queries": 9}])[0].values()) == 1
    assert sum(repeats("compile_metrics", [win, win, win])[0].values()) == 2
    assert repeats("query_metrics", [{**win, "final": False}] * 3) == (Counter(), 0)
    assert repeats("query_metrics", [fleet, {**fleet, "queries": 4}]) == (Counter(), 1)
    assert repeats("leaderboard", [{**board, "variant": "current"}] * 2) == (Counter(), 0)
    assert repeats("leaderboard", [board, board]) == (Counter(), 1)
    late = {"record": "late", "run_id": "r", "cluster": "c", "query_key": "r/c/1"}
    assert sum(repeats("query_metrics", [late, late])[0].values()) == 1
    flat = {"query_key": "r/c/1", "table_id": 7, "access": "read"}
    assert sum(repeats("flattened", [flat, {**flat, "access": "write"}, flat])[0].values()) == 1
    dead = {"run_id": "r", "file": "f", "row": 3}
    assert sum(repeats("dead_letters", [dead, dead])[0].values()) == 1


def count_topics(s: Settings, isolation: str) -> dict[str, tuple[Counter[tuple], int, int]]:
    """Per logical output topic: (repeated identities, refinements, messages) as read by a
    consumer with ``isolation.level=isolation``."""
    out = {}
    conf: dict[str, Any] = {"isolation.level": isolation}
    for stage in STAGES:
        for t in output_topics(stage):
            values = [v for _, v, _ in read_topic(s, s.topic(t), **conf)]
            dups, merged = repeats(t, values)
            out[t] = (dups, merged, len(values))
    return out


#: the processes ``python -m processors all`` runs, by name -> their stages
WORKERS = {worker_name(w): w for w in ALL_WORKERS}


def committed(s: Settings, worker: str) -> int:
    """Offsets ``worker``'s group has committed on its input, summed over the partitions
    (read by a consumer of that group id that never joins it)."""
    stages = WORKERS[worker]
    topic = s.topic(worker_source(stages))
    c = Consumer(consumer_config(s, s.group(worker_id(stages))))
    try:
        tps = c.committed([TopicPartition(topic, p) for p in range(s.partitions)], timeout=10)
    except KafkaException:  # the group coordinator is still loading: nothing seen yet
        return 0
    finally:
        c.close()
    return sum(max(0, tp.offset) for tp in tps)


def ends(s: Settings, topics: list[str], isolation: str) -> int:
    """``high_watermarks`` of ``topics`` summed; 0 while the broker cannot say yet (the
    replay creating RAW_DATA, a partition without its leader)."""
    try:
        return sum(high_watermarks(s, t, isolation) for t in topics)
    except (KafkaException, KeyError):  # KeyError: a topic not in the metadata yet
        return 0


def holds_open_output(s: Settings, worker: str) -> bool:
    """Whether a transaction of ``worker`` has output on the broker that is not committed
    yet (a high watermark past the last stable offset): a SIGKILL now leaves it aborted."""
    topics = [s.topic(t) for st in WORKERS[worker] for t in output_topics(st)]
    return ends(s, topics, "read_uncommitted") > ends(s, topics, "read_committed")


def stage_pid(sup: subprocess.Popen[bytes], stage: str) -> int | None:
    """PID of the supervisor's child running worker ``stage`` (from its command line)."""
    with contextlib.suppress(psutil.Error):
        for c in psutil.Process(sup.pid).children():
            cmd = c.cmdline()
            if stage in cmd and c.status() != psutil.STATUS_ZOMBIE:
                return c.pid
    return None


def wait_for(cond: Callable[[], object], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.integration
def test_exactly_once_survives_sigkill_of_every_stage(
    chain_settings: Settings, needs_kafka: Callable[[], None], tmp_path: Path
) -> None:
    needs_kafka()
    if chain_settings.broker_kind != "kafka":
        pytest.skip(
            f"exactly-once needs Apache Kafka, the session's broker is {chain_settings.broker_kind}"
        )
    # a killed stage's open transaction holds back read_committed readers until the broker
    # aborts it (transaction.timeout.ms = this + a checkpoint + 3 s): short, so the test stays short
    # checkpoints every second: each kill lands after a commit with work left to do
    s = chain_settings.with_(
        processing_guarantee="exactly-once", message_timeout_ms=15_000, commit_interval_seconds=1.0
    )
    run_id = "eos-" + uuid.uuid4().hex[:6]
    # the replay runs paced beside the chain, so every stage still has input arriving when
    # it is killed: its open transaction holds output, which the kill leaves aborted
    replayed: list[ReplaySummary] = []
    pace = Pace(rate=EOS_RATE)
    replayer = threading.Thread(
        target=lambda: replayed.append(
            replay(EOS_SPEC, s, run_id=run_id, progress=False, pace=pace)
        ),
        daemon=True,
    )
    replayer.start()
    wait_for(
        lambda: ends(s, [s.topic("raw")], "read_uncommitted") > 0, 60, "the replay's first rows"
    )

    def progress(stage: str) -> int:
        return committed(s, stage)

    log_path = tmp_path / "all.log"
    at_kill: dict[str, int] = {}
    started = time.monotonic()
    with open(log_path, "wb") as log:
        sup = subprocess.Popen(
            [sys.executable, "-m", "processors", "all", "--until-idle", "5"],
            env=settings_env(s),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        for stage in WORKERS:
            killed = f"stage {stage} exited with code -9"
            while killed not in log_path.read_text():
                # mid-run: it has committed progress since it (re)started, input still arrives,
                # and its open transaction holds output (so the kill leaves some aborted)
                before = progress(stage)
                pid = wait_for(
                    partial(
                        lambda st, b: (
                            progress(st) > b and holds_open_output(s, st) and stage_pid(sup, st)
                        ),
                        stage,
                        before,
                    ),
                    180,
                    f"{stage} to commit progress with output open",
                )
                at_kill[stage] = progress(stage)
                assert replayer.is_alive(), f"the replay ended before {stage}'s SIGKILL"
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                # the supervisor restarts it (or saw it exit on its own just before)
                wait_for(
                    partial(lambda st, old: stage_pid(sup, st) not in (None, old), stage, pid),
                    120,
                    f"{stage} to be restarted",
                )
        pace.set_rate(None)  # the rest as fast as it goes
        assert sup.wait(400) == 0, log_path.read_text()[-3000:]
    finally:
        if sup.poll() is None:
            os.killpg(sup.pid, signal.SIGKILL)
            sup.wait(30)
    elapsed = time.monotonic() - started
    replayer.join(60)
    assert replayed, "the replay did not finish"
    summary = replayed[0]
    for stage in WORKERS:
        assert progress(stage) > at_kill[stage], f"{stage} had finished before its SIGKILL"

    # at the topic: every final record exactly once for a read_committed reader
    seen = count_topics(s, "read_committed")
    report = {t: (sum(d.values()), r, n) for t, (d, r, n) in seen.items()}
    print(
        f"\nchain with {len(WORKERS)} SIGKILLs: {elapsed:.0f} s; (duplicates, merged finals repeated, messages) {report}"
    )
    for t, (dups, _, n) in seen.items():
        assert n > 0, t
        assert not dups, f"{t}: {sum(dups.values())} duplicates, e.g. {list(dups)[:3]}"
    # the kills did leave aborted output behind: read_uncommitted, the same counter finds
    # the aborted copies (so a duplicate at the topic would have been seen)
    dirty = count_topics(s, "read_uncommitted")
    assert sum(sum(d.values()) for d, _, _ in dirty.values()) > 0, "no aborted output seen"

    # the outputs equal the batch oracle (= a fault-free run), without deduplicating rows
    counts = check_chain(s, EOS_SPEC, run_id, allow_dups=False)
    assert counts["raw"] == summary.rows_sent

    # the warehouse: materialized from the topics, every count reconciles and equals the
    # oracle's
    wh = Warehouse.open(str(tmp_path / "eos.duckdb"), threads=1)
    try:
        mat = Materializer(s, wh)
        mat.run(
            until_idle=5.0,
            until=lambda: all(c.ok for c in reconcile(wh, run_id, summary.rows_read)),
        )
        checks = reconcile(wh, run_id, summary.rows_read)
        assert all(c.ok for c in checks), [c for c in checks if not c.ok]

        def rows(sql: str) -> int:
            return int(wh.scalar(sql, [run_id]) or 0)

        assert rows("SELECT count(*) FROM clean_queries WHERE run_id = ?") == counts["clean"]
        assert (
            rows("SELECT count(*) FROM rejects WHERE run_id = ? AND reason <> 'duplicate'")
            == counts["dead"]
        )
        assert (
            rows("SELECT count(*) FROM rejects WHERE run_id = ? AND reason = 'duplicate'")
            == counts["duplicates"]
        )
        assert rows("SELECT count(*) FROM flattened WHERE run_id = ?") == counts["flattened"]
        assert (
            # every window, the last (still open, provisional) one of each cluster included
            rows("SELECT count(*) FROM query_metrics WHERE run_id = ?") == counts["windows"]
        )
        assert (
            rows("SELECT count(*) FROM compile_metrics WHERE run_id = ?")
            == counts["compile_windows"]
        )
        assert (
            rows("SELECT count(DISTINCT (board, window_start)) FROM leaderboards WHERE run_id = ?")
            == counts["boards"]
        )
        assert rows("SELECT count(*) FROM late_rows WHERE run_id = ?") == counts["late"]
    finally:
        wh.close()
