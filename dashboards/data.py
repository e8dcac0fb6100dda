"""Connection lifecycle of a dashboard server process.

Each dashboard server owns its DuckDB file: one read-write connection plus a background
materializer thread consuming the topics (so there is never a second process to collide
with, hence never a lock error), created once per server process with
``st.cache_resource``. Script runs read through cursors of that connection. With
``DASHBOARD_READ_ONLY=1`` (or ``-- --read-only``) it opens an existing file read-only and
materializes nothing: for experiment files.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import streamlit as st

from common.settings import Settings
from dashboards.queries import Data
from warehouse.materializer import ALL_TOPICS, Materializer
from warehouse.store import Warehouse

# The aggregate page reads no flattened rows nor compile metrics: it does not materialize
# them (flattened is the biggest topic). The expert's SQL box may query every view.
AGGREGATE_TOPICS: tuple[str, ...] = ("raw", "clean", "query_metrics", "leaderboard", "dead_letters")
EXPERT_TOPICS: tuple[str, ...] = ALL_TOPICS
TOPICS = {"aggregate": AGGREGATE_TOPICS, "expert": EXPERT_TOPICS}


@dataclass
class Backend:
    warehouse: Warehouse
    data: Data
    materializer: Materializer | None
    settings: Settings
    error: str | None = None
    _lag: tuple[float, dict[str, int] | None] = (0.0, None)
    _lag_lock: threading.Lock = field(default_factory=threading.Lock)
    _consumer: Any = None

    def materializer_lag(self, max_age_s: float = 5.0) -> dict[str, int] | None:
        """Messages per logical topic not yet materialized into this DuckDB (high watermark
        minus stored next offset), refreshed at most every ``max_age_s``; None without a
        materializer or when the broker does not answer. On the embedded broker the high
        watermark can trail the log end by one batch, so this is a lower bound."""
        mat = self.materializer
        if mat is None:
            return None
        with self._lag_lock:
            at, lag = self._lag
            if time.monotonic() - at < max_age_s:
                return lag
            try:
                lag = self._read_lag(mat)
            except Exception:  # a status tile must not break the page
                lag = None
            self._lag = (time.monotonic(), lag)
            return lag

    def _read_lag(self, mat: Materializer) -> dict[str, int]:
        from confluent_kafka import Consumer, TopicPartition

        from common.kafka_config import consumer_config

        if self._consumer is None:
            self._consumer = Consumer(
                consumer_config(self.settings, self.settings.group("dashboard-lag"))
            )
        stored = mat.stored_offsets()
        out: dict[str, int] = {}
        for full, logical in mat.logical_by_topic.items():
            meta = self._consumer.list_topics(full, timeout=2.0).topics.get(full)
            total = 0
            for p in meta.partitions if meta is not None else {}:
                low, high = self._consumer.get_watermark_offsets(
                    TopicPartition(full, p), timeout=2.0, cached=False
                )
                total += max(0, high - max(low, stored.get((full, p), low)))
            out[logical] = total
        return out


_DATA: dict[str, Data] = {}


@st.cache_data(ttl=3.0, max_entries=512, show_spinner=False)
def _cached(db_key: str, method: str, *args: Any) -> Any:
    return getattr(_DATA[db_key], method)(*args)


class CachedData:
    """``Data`` whose query results are cached for a few seconds (bounded entries), so a
    dashboard's reruns and refreshes do not repeat identical queries."""

    def __init__(self, key: str, data: Data) -> None:
        self._key = key
        self._data = data
        _DATA[key] = data

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._data, name)
        if not callable(attr):
            return attr
        return lambda *args: _cached(self._key, name, *args)


class ArgsError(ValueError):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line for the page, not SystemExit
        raise ArgsError(message)


def dashboard_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="streamlit run dashboards/<expert|aggregate>.py --",
        description="Dashboard options (after `--`); every setting also reads its env var.",
        add_help=False,
        allow_abbrev=False,
    )
    parser.add_argument("-h", "--help", action="store_true", help="show this help on the page")
    parser.add_argument("--db", help="DuckDB file (same as --duckdb-path / DUCKDB_PATH)")
    parser.add_argument(
        "--read-only",
        action="store_true",
        help="open an existing file read-only, materialize nothing (DASHBOARD_READ_ONLY=1)",
    )
    Settings.add_arguments(parser)
    return parser


def settings_from_argv(argv: list[str] | None = None) -> Settings:
    """Settings from the environment, overridden by args given after ``streamlit run x.py --``."""
    args, _ = dashboard_parser().parse_known_args(sys.argv[1:] if argv is None else argv)
    s = Settings.from_args(args)
    if args.db:
        s = s.with_(duckdb_path=args.db)
    if args.read_only:
        s = s.with_(dashboard_read_only=True)
    return s


@st.cache_resource(show_spinner=False)
def _backend(db_path: str, read_only: bool, name: str) -> Backend:
    settings = settings_from_argv().with_(duckdb_path=db_path, dashboard_read_only=read_only)
    if read_only:
        wh = Warehouse.open(db_path, read_only=True)
        return Backend(wh, CachedData(db_path, Data(wh)), None, settings)  # type: ignore[arg-type]
    wh = Warehouse.open(db_path)
    mat = None
    error = None
    if not settings.embedded:
        mat = Materializer(
            settings,
            wh,
            topics=TOPICS.get(name, ALL_TOPICS),
            group=settings.group(f"materialize-{name}-{Path(db_path).stem}"),
        )
        mat.start_background()
    else:
        error = "no KAFKA_BOOTSTRAP_SERVERS configured: showing what the DuckDB file holds"
    return Backend(wh, CachedData(db_path, Data(wh)), mat, settings, error)  # type: ignore[arg-type]


def backend(name: str) -> Backend:
    argv = sys.argv[1:]
    if "-h" in argv or "--help" in argv:
        st.code(dashboard_parser().format_help(), language=None)
        st.stop()
    try:
        s = settings_from_argv(argv)
    except (ArgsError, ValueError) as e:
        st.error(f"bad dashboard option: {e}")
        st.stop()
    return _backend(s.duckdb_path, s.dashboard_read_only, name)
