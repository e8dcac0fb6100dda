"""Scale-out: two replicas of every stage (two ``python -m processors all`` supervisors,
each with its own state dir) share 6 partitions per topic in their stages' consumer
groups; every stage of one replica is SIGKILLed mid-run and restarted by its supervisor.
The final DuckDB tables equal those of a fault-free single-replica run of the same input
and run id, and the topics equal the batch oracle."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from common.settings import Settings
from common.topics import ensure_topics
from processors.__main__ import settings_env
from processors.streaming.topology import ALL_WORKERS, worker_name
from producers.replay import ReplaySummary, replay
from tests.support.chain import CHAIN_OVERRIDES
from tests.support.oracle import check_chain
from tests.support.probes import group_members, high_watermarks, wait_for
from tests.support.tables import diff, materialize, single_replica_tables

#: the processes ``python -m processors all`` runs
WORKERS = [worker_name(w) for w in ALL_WORKERS]

#: 12 clusters: their keys fill partitions on both sides of the range assignment of 6
#: partitions to 2 members (a replica whose partitions are all empty never idles out)
SCALE_SPEC = "synthetic:rows=12000,seed=5,clusters=12,days=1.5,error_rate=0.01,duplicate_rate=0.005"
#: rows/s of the replay that runs beside the replicas, so the kill lands mid-run
RATE = 600.0


def stage_children(pid: int) -> dict[str, int]:
    """Worker -> PID of the live children of supervisor ``pid`` (Linux /proc): a child it
    restarted has a new PID, said nowhere."""
    out = {}
    kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for kid in kids:
        try:
            args = Path(f"/proc/{kid}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            continue  # ended meanwhile
        if b"processors" in args:
            out[args[args.index(b"processors") + 1].decode()] = int(kid)
    return out


@pytest.mark.integration
def test_two_replicas_one_killed_equal_a_single_replica(
    topic_settings: Settings, needs_kafka: object, broker_kind: str, tmp_path: Path
) -> None:
    needs_kafka()  # type: ignore[operator]
    if broker_kind != "kafka":
        pytest.skip("scale-out is tested on Apache Kafka")
    base = topic_settings.with_(partitions=6, **CHAIN_OVERRIDES)
    run_id = "scale-" + uuid.uuid4().hex[:6]
    # the same run id twice: each replay keeps its checkpoint in a run dir of its own
    one = base.with_(topic_prefix=base.topic_prefix + "one.", run_dir=str(tmp_path / "run-1"))
    t0 = time.monotonic()
    want = single_replica_tables(one, SCALE_SPEC, run_id, tmp_path / "one.db")
    print(f"single replica {time.monotonic() - t0:.1f}s")
    t0 = time.monotonic()

    s = base.with_(topic_prefix=base.topic_prefix + "two.", run_dir=str(tmp_path / "run-2"))
    ensure_topics(s)
    logs = [tmp_path / f"replica-{i}.log" for i in (1, 2)]
    sups: list[subprocess.Popen[bytes]] = []
    for i, log in enumerate(logs, start=1):
        env = settings_env(s.with_(state_dir=str(tmp_path / f"state-{i}")))
        with open(log, "wb") as out:
            sups.append(
                subprocess.Popen(
                    [sys.executable, "-m", "processors", "all", "--until-idle", "5"],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
    sent: list[ReplaySummary] = []
    feeder = threading.Thread(
        target=lambda: sent.append(replay(SCALE_SPEC, s, run_id=run_id, rate=RATE, progress=False))
    )
    try:
        # both replicas hold partitions in every worker's group, then the input flows
        wait_for(lambda: all(n == 2 for n in group_members(s).values()), 90, "two members each")
        print(f"replicas joined {time.monotonic() - t0:.1f}s")
        feeder.start()
        wait_for(
            lambda: (
                high_watermarks(s, s.topic("clean")) > 3000
                and high_watermarks(s, s.topic("flattened")) > 0
            ),
            90,
            "the chain to be under way",
        )
        victims = stage_children(sups[1].pid)
        assert sorted(victims) == sorted(WORKERS), logs[1].read_text()[-2000:]
        for pid in victims.values():
            os.kill(pid, signal.SIGKILL)
        assert feeder.is_alive(), "the replay ended before the kill: not mid-run"
        feeder.join(120)
        assert sent, "the replay failed"
        for sup, log in zip(sups, logs, strict=True):
            assert sup.wait(240) == 0, log.read_text()[-3000:]
    finally:
        for sup in sups:
            if sup.poll() is None:
                sup.send_signal(signal.SIGTERM)  # it stops its children by PID
                sup.wait(60)
        feeder.join(60)
    said = logs[1].read_text()
    for st in WORKERS:
        assert f"stage {st} exited with code -9; restarting it" in said, said[-3000:]

    print(f"two replicas {time.monotonic() - t0:.1f}s")
    counts = check_chain(s, SCALE_SPEC, run_id, allow_dups=True)
    assert counts["raw"] == sent[0].rows_sent and counts["clean"] > 0
    got = materialize(s, tmp_path / "two.db")
    assert got == want, diff(got, want)
