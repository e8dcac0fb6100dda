"""What a worker does with each message of its source topic: parse the JSON value once,
then hand it to every stage's handler."""

from __future__ import annotations

import logging
from typing import Any

import orjson

from processors.streaming.runtime import Runtime
from processors.streaming.wiring import Handler

log = logging.getLogger("processors")


def message_dispatch(rt: Runtime, handlers: list[Handler], *, raw_input: bool) -> Handler:
    """The worker's handler of an input message: parse the JSON value, then call every
    stage's handler (its caller has set the state cache's partition to the message's)."""

    def on_message(value: Any, key: Any, ts: int, headers: Any) -> None:
        rt.touch()
        try:
            parsed = orjson.loads(value)
        except (orjson.JSONDecodeError, TypeError):  # not JSON, or no value at all
            text = bytes(value or b"").decode("utf-8", errors="replace")
            if not raw_input:  # our own topics hold JSON: say so, do not stop the stage
                log.warning("%s: a value that is not JSON skipped: %.200s", rt.name, text)
                return
            parsed = text  # the clean stage makes it a dead letter (not an object)
        for h in handlers:
            h(parsed, key, ts, headers)

    return on_message
