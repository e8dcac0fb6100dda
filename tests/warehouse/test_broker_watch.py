"""BrokerWatch's notices and OffsetStore's assignments, without a broker."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from confluent_kafka import OFFSET_BEGINNING

from common.settings import Settings
from warehouse.broker_watch import BrokerChanged, BrokerWatch
from warehouse.offsets import OffsetStore
from warehouse.store import Warehouse


def test_an_outage_is_said_once_and_its_end_once() -> None:
    said: list[str] = []
    watch = BrokerWatch(Settings(bootstrap_servers="b:9092"), said.append)
    watch.reachable()
    watch.unreachable("down")
    watch.unreachable("still down")
    watch.reachable()
    watch.reachable()
    assert said == ["down", "broker at b:9092 reachable again"]


def test_another_cluster_is_a_broker_change() -> None:
    watch = BrokerWatch(Settings(), lambda _: None)
    watch.same_cluster(SimpleNamespace(cluster_id="a"))  # not checked yet: any cluster
    watch.cluster_id = "a"
    watch.same_cluster(SimpleNamespace(cluster_id="a"))
    watch.same_cluster(SimpleNamespace(cluster_id=None))
    with pytest.raises(BrokerChanged):
        watch.same_cluster(SimpleNamespace(cluster_id="b"))


def test_new_partitions_start_at_their_stored_offsets() -> None:
    wh = Warehouse.open(":memory:")
    store = OffsetStore(wh, "c", {"t1": "clean", "t2": "raw"})
    with wh.transaction() as cur:
        store.save(cur, {("t1", 0): 7, ("other", 0): 3}, "cluster")
    md = SimpleNamespace(
        topics={
            "t1": SimpleNamespace(partitions={0: None, 1: None}),
            "t3": SimpleNamespace(partitions={0: None}),
        }
    )
    assigned = {("t1", 1)}
    new = store.new_assignments(md, assigned)
    assert [(tp.topic, tp.partition, tp.offset) for tp in new] == [("t1", 0, 7)]
    assert assigned == {("t1", 0), ("t1", 1)}
    assert store.new_assignments(md, assigned) == []
    store.forget([("t1", 0)])
    assert store.next_offsets() == {}
    assigned.clear()
    starts = [tp.offset for tp in store.new_assignments(md, assigned)]
    assert starts == [OFFSET_BEGINNING, OFFSET_BEGINNING]
