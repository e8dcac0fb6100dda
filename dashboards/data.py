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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from common.settings import Settings
from dashboards.queries import Data
from processors.warehouse.materializer import Materializer
from processors.warehouse.store import Warehouse


@dataclass
class Backend:
    warehouse: Warehouse
    data: Data
    materializer: Materializer | None
    settings: Settings
    error: str | None = None


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


def settings_from_argv(argv: list[str] | None = None) -> Settings:
    """Settings from the environment, overridden by args given after ``streamlit run x.py --``."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--db")
    parser.add_argument("--read-only", action="store_true")
    args, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    s = Settings.from_env()
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
            settings, wh, group=settings.group(f"materialize-{name}-{Path(db_path).stem}")
        )
        mat.start_background()
    else:
        error = "no KAFKA_BOOTSTRAP_SERVERS configured: showing what the DuckDB file holds"
    return Backend(wh, CachedData(db_path, Data(wh)), mat, settings, error)  # type: ignore[arg-type]


def backend(name: str) -> Backend:
    s = settings_from_argv()
    return _backend(s.duckdb_path, s.dashboard_read_only, name)


def human_int(n: Any) -> str:
    try:
        return f"{int(n):,}"
    except (TypeError, ValueError):
        return "–"


def pct(x: Any) -> str:
    try:
        return f"{float(x) * 100:.2f} %"
    except (TypeError, ValueError):
        return "–"


def ms(x: Any) -> str:
    try:
        return f"{float(x):,.0f} ms"
    except (TypeError, ValueError):
        return "–"


def gb(x: Any) -> str:
    try:
        return f"{float(x):,.1f} GB"
    except (TypeError, ValueError):
        return "–"
