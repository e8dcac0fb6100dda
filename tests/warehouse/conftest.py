"""Helpers: contract-shaped messages for every topic, produced straight to the broker."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from warehouse.store import Warehouse


@dataclass
class FakeMessage:
    """The part of confluent_kafka.Message the materializer reads."""

    _topic: str
    _value: bytes | None
    _offset: int
    _key: bytes | None = None
    _partition: int = 0

    def topic(self) -> str:
        return self._topic

    def value(self) -> bytes | None:
        return self._value

    def key(self) -> bytes | None:
        return self._key

    def offset(self) -> int:
        return self._offset

    def partition(self) -> int:
        return self._partition

    def timestamp(self) -> tuple[int, int]:
        return (1, 0)


class CountingReader(threading.Thread):
    """Another thread of the serving process: reads ``fact_query``'s count (and runs
    ``also``) in a loop until stopped, keeping every count and every error."""

    def __init__(self, wh: Warehouse, also: str | None = None, pause_s: float = 0.0) -> None:
        super().__init__(name="reader", daemon=True)
        self.wh, self.also, self.pause_s = wh, also, pause_s
        self.seen: list[int] = []
        #: time.monotonic() at which each count was answered
        self.answered_at: list[float] = []
        self.errors: list[BaseException] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                self.seen.append(int(self.wh.scalar("SELECT count(*) FROM fact_query")))
                self.answered_at.append(time.monotonic())
                if self.also:
                    self.wh.query(self.also)
            except BaseException as e:
                self.errors.append(e)
            time.sleep(self.pause_s)

    def stop(self) -> None:
        self.done.set()
        self.join()
