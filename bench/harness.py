"""make bench's harness: running the sections, peak RSS sampling, the machine's description
and the result JSON (the brokers are :mod:`bench.brokers`', the figures :mod:`bench.report`'s).
"""

from __future__ import annotations

import json
import os
import platform
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from bench.brokers import Fresh
from bench.report import console
from common.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results"

#: a section's figures: metric name -> :func:`bench.report.metric`
Metrics = dict[str, dict[str, Any]]


class Peak:
    """Peak RSS (MB) of this process and its children, sampled in a thread."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            try:
                rss = me.memory_info().rss + sum(
                    c.memory_info().rss for c in me.children(recursive=True)
                )
                self.peak = max(self.peak, rss / 2**20)
            except psutil.Error:
                pass
            time.sleep(0.1)

    def __enter__(self) -> Peak:
        self._sampler.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._sampler.join()


@dataclass
class Bench:
    """What the sections of one run share."""

    #: the running broker's settings (run and state directories under ``work``)
    s: Settings
    #: a fresh broker per measurement (see :func:`bench.brokers.fresh_brokers`)
    fresh: Fresh
    work: Path
    #: the Parquet file of synthetic rows the replay and end-to-end freshness send
    parquet: str
    notes: list[str] = field(default_factory=list)
    results: Metrics = field(default_factory=dict)


@dataclass(frozen=True)
class Section:
    """One part of the bench: ``--skip`` names it by ``name``."""

    name: str
    title: str
    run: Callable[[], Metrics]
    #: done before the section and outside it (not timed; a failure stops the bench)
    prepare: Callable[[], object] | None = None


def run_section(title: str, fn: Callable[[], Metrics], bench: Bench) -> None:
    """Run one section into ``bench.results``; a failure becomes a note, the bench goes on."""
    console.print(f"[bold]{title}[/] ...")
    t0 = time.monotonic()
    try:
        bench.results.update(fn())
    except Exception as e:
        bench.notes.append(f"{title}: failed: {type(e).__name__}: {str(e)[:300]}")
        console.print(f"[red]{title} failed: {e}[/]")
    console.print(f"  done in {time.monotonic() - t0:.1f} s")


def run_sections(sections: Iterable[Section], skip: set[str], bench: Bench) -> None:
    for sec in sections:
        if sec.name in skip:
            continue
        if sec.prepare is not None:
            sec.prepare()
        run_section(sec.title, sec.run, bench)


def machine() -> dict[str, Any]:
    """The machine and the versions of what is measured, for the result JSON."""
    import confluent_kafka
    import duckdb
    import quixstreams
    import streamlit

    return {
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "quixstreams": quixstreams.__version__,
        "confluent_kafka": confluent_kafka.version()[0],
        "librdkafka": confluent_kafka.libversion()[0],
        "duckdb": duckdb.__version__,
        "streamlit": streamlit.__version__,
    }


def _cpu_model() -> str:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return cpu


def write_result(result: dict[str, Any]) -> Path:
    """Write a result as ``bench/results/<UTC timestamp>.json``: its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(result, indent=2))
    return path
