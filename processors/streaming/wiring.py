"""What a stage's wiring (``processors.streaming.stages``) needs from its worker.

Each stage adds its handler of an input message to :attr:`Wiring.handlers`; state keys are
namespaced per stage (``<stage>/<cluster>``), so stages reading the same input can share
one worker process, one dataframe and one store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from quixstreams import Application
from quixstreams.dataframe import StreamingDataFrame

from common.settings import Settings
from processors.logic.winlog import WindowSpec
from processors.streaming.quix_internals import StateCache
from processors.streaming.runtime import MergeStep, Runtime

#: what a stage does with one input message (value, key, timestamp, headers)
Handler = Callable[[Any, Any, int, Any], None]
#: wall seconds a fleet / board window's merge state is kept after its last update
MERGE_KEEP_S = 1800.0


@dataclass
class Wiring:
    """What a stage's wiring needs from its worker."""

    app: Application
    rt: Runtime
    settings: Settings
    sdf: StreamingDataFrame
    cache: StateCache
    send: Callable[[str, bytes, str | None, int], None]
    #: each stage's handler of an input message, called in order
    handlers: list[Handler] = field(default_factory=list)
    #: merge steps, whose changed windows are emitted before every commit
    merges: list[MergeStep] = field(default_factory=list)
    #: handlers of the stages fed in the process with each CLEAN_DATA record produced
    fed: list[Handler] = field(default_factory=list)

    def produce(self, topic: str, key: str | None, value: Any, ts_ms: int) -> None:
        self.send(topic, orjson.dumps(value), key, ts_ms)

    def topic_in(self, name: str) -> Any:
        return self.app.topic(name, key_deserializer="str", value_deserializer="json")

    def merge(self, topic: str, emit: Callable[[str, int, int, dict[str, Any]], None]) -> None:
        self.merges.append(MergeStep(self.app, self.rt, self.topic_in(topic), emit, MERGE_KEEP_S))

    def spec(self, window_seconds: int) -> WindowSpec:
        return WindowSpec(window_seconds * 1000, self.settings.grace_seconds * 1000)
