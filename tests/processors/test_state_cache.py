"""processors.streaming.quix_internals.StateCache over a fake Quix store: a value is read once and kept
across checkpoints, writes land in the transaction of the checkpoint that commits them, an
assignment change drops what another member may have changed (keeping unflushed writes),
and deleted or surplus values do not accumulate."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from processors.streaming import quix_internals
from processors.streaming.quix_internals import StateCache


class _Store:
    """The store's contents per (partition, prefix, key), and every read."""

    def __init__(self) -> None:
        self.data: dict[tuple[int, str, str], Any] = {}
        self.reads: list[str] = []


class _PrefixState:
    def __init__(self, store: _Store, tx: _Tx, p: int, prefix: str) -> None:
        self.store, self.tx, self.p, self.prefix = store, tx, p, prefix

    def get(self, key: str, default: Any = None) -> Any:
        assert not self.tx.committed, "read through a committed transaction"
        self.store.reads.append(key)
        return self.store.data.get((self.p, self.prefix, key), default)

    def set(self, key: str, value: Any) -> None:
        assert not self.tx.committed, "write into a committed transaction"
        self.store.data[(self.p, self.prefix, key)] = value

    def delete(self, key: str) -> None:
        assert not self.tx.committed, "write into a committed transaction"
        self.store.data.pop((self.p, self.prefix, key), None)


class _Tx:
    def __init__(self, store: _Store, p: int) -> None:
        self.store, self.p, self.committed = store, p, False

    def as_state(self, prefix: str) -> _PrefixState:
        return _PrefixState(self.store, self, self.p, prefix)


class _Checkpoint:
    def __init__(self, store: _Store) -> None:
        self.store = store
        self.txs: dict[int, _Tx] = {}

    def get_store_transaction(self, stream_id: str, partition: int) -> _Tx:
        return self.txs.setdefault(partition, _Tx(self.store, partition))


class _World:
    """A fake application and dataframe: checkpoints, assigned partitions, callbacks."""

    def __init__(self) -> None:
        self.store = _Store()
        self.partitions = {0, 1}
        self.checkpoint = _Checkpoint(self.store)
        store_obj = SimpleNamespace(partitions=self.partitions)
        manager = SimpleNamespace(get_store=lambda _sid: store_obj, recovery_required=False)
        ctx = SimpleNamespace(state_manager=manager)
        ctx.checkpoint = self.checkpoint
        self.ctx = ctx
        self.sdf: Any = SimpleNamespace(processing_context=ctx, stream_id="s")
        self.app: Any = SimpleNamespace(
            _on_assign=lambda c, tps: None,
            _on_revoke=lambda c, tps: None,
            _on_lost=lambda c, tps: None,
        )

    def commit(self, cache: StateCache) -> None:
        cache.flush()
        for tx in self.checkpoint.txs.values():
            tx.committed = True
        self.checkpoint = self.ctx.checkpoint = _Checkpoint(self.store)


def test_a_value_is_read_once_and_kept_across_checkpoints() -> None:
    w = _World()
    cache = StateCache(w.app, w.sdf)
    w.store.data[(0, "a/", "k")] = 1
    st = cache.state("a/", 0)
    st.set("k", st.get("k") + 1)
    w.commit(cache)
    assert w.store.data[(0, "a/", "k")] == 2
    st = cache.state("a/", 0)
    st.set("k", st.get("k") + 1)  # from the cache, written into the new checkpoint's tx
    w.commit(cache)
    assert w.store.data[(0, "a/", "k")] == 3 and w.store.reads == ["k"]


def test_an_assignment_change_drops_clean_values_and_keeps_unflushed_writes() -> None:
    w = _World()
    cache = StateCache(w.app, w.sdf)
    w.store.data[(0, "a/", "k")] = "old"
    w.store.data[(1, "a/", "k")] = "x"
    assert cache.state("a/", 0).get("k") == "old"
    w.commit(cache)
    cache.state("a/", 1).set("k", "y")  # not flushed yet when partitions are added
    w.store.data[(0, "a/", "k")] = "changed elsewhere"
    epoch = cache.epoch
    w.app._on_assign(None, [object()])
    assert cache.epoch == epoch + 1
    assert cache.state("a/", 0).get("k") == "changed elsewhere"
    w.commit(cache)
    assert w.store.data[(1, "a/", "k")] == "y"


@pytest.mark.parametrize("hook", ["_on_assign", "_on_revoke", "_on_lost"])
def test_every_assignment_callback_drops_the_cache(hook: str) -> None:
    w = _World()
    calls: list[str] = []
    setattr(w.app, hook, lambda c, tps: calls.append("quix"))
    cache = StateCache(w.app, w.sdf)
    epoch = cache.epoch
    getattr(w.app, hook)(None, [])  # Quix's "empty" calls change nothing
    assert cache.epoch == epoch
    getattr(w.app, hook)(None, [object()])
    assert calls == ["quix", "quix"] and cache.epoch == epoch + 1


def test_deleted_and_surplus_values_are_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    w = _World()
    cache = StateCache(w.app, w.sdf)
    st = cache.state("a/", 0)
    st.set("gone", 1)
    st.delete("gone")
    w.commit(cache)
    assert len(cache.state("a/", 0)) == 0 and (0, "a/", "gone") not in w.store.data
    monkeypatch.setattr(quix_internals, "MAX_CACHED_VALUES", 3)
    st = cache.state("a/", 0)
    for i in range(4):
        st.set(f"k{i}", i)
    w.commit(cache)
    assert cache.state("a/", 0).get("k3") == 3 and w.store.reads[-1] == "k3"


def test_a_lost_partitions_writes_are_not_flushed() -> None:
    w = _World()
    cache = StateCache(w.app, w.sdf)
    cache.state("a/", 1).set("k", "lost")
    w.partitions.discard(1)
    w.commit(cache)
    assert (1, "a/", "k") not in w.store.data
    cache.state("a/", 0).set("k", "kept")
    w.partitions.add(1)  # the partition comes back: its old write must not
    w.commit(cache)
    assert (1, "a/", "k") not in w.store.data and w.store.data[(0, "a/", "k")] == "kept"


def test_a_loss_drops_that_partitions_unflushed_writes() -> None:
    w = _World()
    cache = StateCache(w.app, w.sdf)
    cache.state("a/", 1).set("k", "lost")
    w.partitions.discard(1)
    w.app._on_lost(None, [object()])
    w.partitions.add(1)
    w.commit(cache)
    assert (1, "a/", "k") not in w.store.data
