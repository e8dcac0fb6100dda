"""Replay a Redset source into RAW_DATA.

``python -m producers.replay SOURCE [options]`` (:mod:`~producers.replay.cli`); from
Python, :func:`replay`.

Order is ``(arrival_timestamp, query_id)`` (a row whose arrival cannot be parsed keeps its
place after the previous row of its file); key = cluster (kind + instance id); Kafka
timestamp = arrival; headers carry run id, dataset, file and row. The producer is
idempotent with a bounded queue; progress (the highest row of the replay order below which
every row is acknowledged) is persisted under ``RUN_DIR`` so that a restart with the same
``--run-id`` continues after it, resending at most the rows that were in flight.

Modules: ``sql`` (DuckDB: the SQL in replay order, the plan, batches read ahead),
``sanitise`` (values Kafka and JSON readers accept), ``acks`` (delivery tracking),
``checkpoint`` (the run's files under ``RUN_DIR`` and its progress), ``pace`` (rate,
speed, the pause and rate files), ``loop`` (:func:`replay`), ``result``, ``cli``.
"""

from producers.replay.checkpoint import control_paths
from producers.replay.loop import replay, replay_producer_config
from producers.replay.pace import Pace, read_rate
from producers.replay.result import ReplayError, ReplaySummary
from producers.replay.sanitise import MAX_ROW_BYTES, safe_value
from producers.replay.sql import Filters, order_check_sql, ordered_sql

__all__ = [
    "MAX_ROW_BYTES",
    "Filters",
    "Pace",
    "ReplayError",
    "ReplaySummary",
    "control_paths",
    "order_check_sql",
    "ordered_sql",
    "read_rate",
    "replay",
    "replay_producer_config",
    "safe_value",
]
