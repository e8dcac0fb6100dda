"""One module per stage, each with its ``wire_<stage>``: what the stage does with a message
of its input, on the pure logic of ``processors.logic``."""

from collections.abc import Callable

from processors.streaming.stages.clean import wire_clean
from processors.streaming.stages.compile_metrics import wire_compile_metrics
from processors.streaming.stages.flatten import wire_flatten
from processors.streaming.stages.leaderboard import wire_leaderboard
from processors.streaming.stages.query_metrics import wire_query_metrics
from processors.streaming.wiring import Wiring

#: each stage's wiring, by stage name (processors.streaming.topology.STAGES)
WIRE: dict[str, Callable[[Wiring], None]] = {
    "clean": wire_clean,
    "query_metrics": wire_query_metrics,
    "compile_metrics": wire_compile_metrics,
    "leaderboard": wire_leaderboard,
    "flatten": wire_flatten,
}
