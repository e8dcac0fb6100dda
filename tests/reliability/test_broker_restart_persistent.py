"""Broker restart with persistent storage: the test's own Apache Kafka (a data dir kept
across starts) is stopped mid-run and started again on the same port and data dir while
the replay, the processors and the materializer run. They ride over the outage and resume
from their committed offsets: the topics equal the batch oracle, and the DuckDB tables
written across the outage equal a fresh materialization of the final topics.

The replay is paused across the outage (the processors are not), and the oracle is taken
over the rows RAW holds: rows acknowledged to the replay have gone missing across the
restart (3 of 8,035 in one run even with the replay paused and RAW's watermarks still for a
second before the stop), which is the client's or the broker's loss, not the processors'
(librdkafka's idempotent producer: confluentinc/librdkafka#4134). The test says how many
and fails past one batch's worth.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
import warnings
from pathlib import Path

import pytest

from common.broker import KafkaBroker
from common.contract import PROV_ROW
from common.settings import Settings
from common.topics import ensure_topics
from processors.__main__ import settings_env
from producers.replay import ReplaySummary, replay
from tests.support.chain import CHAIN_OVERRIDES
from tests.support.kafka_io import read_topic
from tests.support.oracle import check_chain
from tests.support.probes import group_members, high_watermarks, wait_for
from tests.support.tables import diff, materialize, snapshot
from warehouse.materializer import Materializer
from warehouse.store import Warehouse

SPEC = "synthetic:rows=8000,seed=9,clusters=6,days=1.5,error_rate=0.01,duplicate_rate=0.005"
#: rows/s of the replay, so the outage lands mid-replay
RATE = 300.0
#: seconds the broker stays away
OUTAGE_S = 6.0
#: longer than the outage plus the broker's start: a stage must not idle out meanwhile
UNTIL_IDLE_S = 25.0


def raw_settled(s: Settings, quiet_s: float = 1.0) -> bool:
    """RAW's high watermarks did not move for ``quiet_s`` (the paused replay has nothing
    in flight)."""
    before = high_watermarks(s, s.topic("raw"))
    time.sleep(quiet_s)
    return high_watermarks(s, s.topic("raw")) == before


@pytest.mark.integration
def test_persistent_broker_restart_midrun_resumes_from_committed_offsets(
    topic_settings: Settings, needs_kafka: object, tmp_path: Path
) -> None:
    needs_kafka()  # type: ignore[operator]
    base = topic_settings.with_(
        bootstrap_servers="",
        run_dir=str(tmp_path / "run"),
        state_dir=str(tmp_path / "state"),
        **CHAIN_OVERRIDES,
    )
    broker = KafkaBroker(base, data_dir=tmp_path / "kafka").start()
    try:
        s = base.with_(bootstrap_servers=broker.bootstrap, broker_kind="kafka")
        cluster_id = broker.cluster_id
        ensure_topics(s)
        run_id = "restart-" + uuid.uuid4().hex[:6]
        wh = Warehouse.open(str(tmp_path / "live.db"), threads=1)
        mat = Materializer(s, wh)
        stop_mat = threading.Event()
        mat_errors: list[BaseException] = []

        def materialize_live() -> None:
            try:
                mat.run(stop_event=stop_mat)
            except BaseException as e:  # reported by the test
                mat_errors.append(e)

        sent: list[ReplaySummary] = []
        paused = threading.Event()
        feeder = threading.Thread(
            target=lambda: sent.append(
                replay(SPEC, s, run_id=run_id, rate=RATE, progress=False, pause_event=paused)
            )
        )
        live = threading.Thread(target=materialize_live)
        log = tmp_path / "processors.log"
        with open(log, "wb") as out:
            sup = subprocess.Popen(
                [sys.executable, "-m", "processors", "all", "--until-idle", str(UNTIL_IDLE_S)],
                env=settings_env(s),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            # every stage is in its group before the input flows
            wait_for(lambda: all(group_members(s).values()), 90, "the stages to join")
            feeder.start()
            live.start()
            wait_for(
                lambda: (
                    high_watermarks(s, s.topic("clean")) > 1500
                    and high_watermarks(s, s.topic("flattened")) > 0
                ),
                120,
                "the chain to be under way",
            )
            paused.set()
            wait_for(lambda: raw_settled(s), 30, "the paused replay's last rows to land")
            broker.stop()  # SIGTERM: a clean broker shutdown, storage kept
            assert feeder.is_alive(), "the replay ended before the outage: not mid-run"
            time.sleep(OUTAGE_S)
            broker.start()
            assert broker.cluster_id == cluster_id and broker.bootstrap == s.bootstrap_servers
            paused.clear()
            feeder.join(180)
            assert sent, "the replay failed across the outage"
            assert sup.wait(240) == 0, log.read_text()[-3000:]
        finally:
            if sup.poll() is None:
                sup.terminate()  # it stops its children by PID
                sup.wait(60)
            stop_mat.set()
            live.join(60)
            feeder.join(60)
        assert not mat_errors, mat_errors
        said = log.read_text()
        print("\n".join(ln for ln in said.splitlines() if "error" in ln or "restart" in ln))
        # the rows written since the live materializer's last batch, then the tables
        Materializer(s, wh).run(until_idle=3)
        got = snapshot(wh)
        wh.close()

        # the processors answer for what RAW holds; rows acknowledged to the replay and then
        # missing are the client's or broker's loss (module doc), said, not hidden
        rows = {v[PROV_ROW] for _, v, _ in read_topic(s, s.topic("raw"))}
        lost = frozenset(range(1, sent[0].rows_sent + 1)) - rows
        if lost:
            warnings.warn(
                f"RAW lacks {len(lost)} rows the replay had acknowledged: {sorted(lost)[:20]}",
                stacklevel=1,
            )
        assert len(lost) <= 50, f"RAW lost {len(lost)} acknowledged rows: more than a batch"
        counts = check_chain(s, SPEC, run_id, allow_dups=True, lost=lost)
        assert counts["raw"] == sent[0].rows_sent - len(lost)
        want = materialize(s, tmp_path / "fresh.db")
        assert got == want, diff(got, want)
    finally:
        broker.stop()
