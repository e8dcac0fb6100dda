"""The expert page's Replay tab: start a replay of a source at a rate, pause / resume it,
change its rate, stop it, or reset it (the same source again under a new run id, the
previous run kept for comparison); progress as rows / total with the rate and an ETA.

A replay is a ``python -m producers.replay`` child of this server. The controls are its
files under ``RUN_DIR`` (:func:`producers.replay.control_paths`: pause file, rate file,
checkpoint), so a replay started elsewhere (``make demo``) shows its progress and can be
paused or re-paced too; only those started here can be stopped (by PID) or reset.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from common.settings import Settings
from dashboards.data import Backend
from dashboards.units import count, duration, rate_per_s
from pipeline import supervisor
from pipeline.supervisor import Proc
from producers.replay.checkpoint import control_paths

#: a checkpoint not written for this long, of a replay not started here, is shown as gone
STALE_S = 60.0


@dataclass
class Launched:
    """A replay this server started."""

    run_id: str
    source: str
    rate: float
    proc: Proc
    log: Path
    #: the run this one reset (started again as this one)
    replaces: str | None = None


@dataclass(frozen=True)
class Progress:
    """What a replay's checkpoint file says (all zero / None before its first save)."""

    acked: int = 0
    total: int | None = None
    rows_per_s: float = 0.0
    rate: float | None = None
    done: bool = False
    source: str | None = None
    #: the file's modification time (epoch s)
    updated: float | None = None


def read_progress(checkpoint: Path) -> Progress:
    try:
        state = json.loads(checkpoint.read_text())
        updated = checkpoint.stat().st_mtime
    except (OSError, ValueError):
        return Progress()
    if not isinstance(state, dict):
        return Progress()
    meta = state.get("meta")
    meta = meta if isinstance(meta, dict) else {}
    total = state.get("total")
    return Progress(
        acked=int(state.get("acked") or 0),
        total=int(total) if isinstance(total, int | float) else None,
        rows_per_s=float(state.get("rows_per_s") or 0.0),
        rate=float(state["rate"]) if isinstance(state.get("rate"), int | float) else None,
        done=bool(state.get("done")),
        source=str(meta.get("source")) if meta.get("source") else None,
        updated=updated,
    )


def eta_s(p: Progress) -> float | None:
    """Seconds left at the measured rate; None when unknown (no total, no rate yet)."""
    if p.total is None or p.rows_per_s <= 0:
        return None
    return max(0, p.total - p.acked) / p.rows_per_s


def progress_text(p: Progress, *, state: str) -> str:
    """'12,345 / 50,000 rows (24.7 %), 1,980 rows/s, about 19.0 s left' for ``state``
    running; paused, stopped and finished runs show no rate and no ETA."""
    rows = f"{count(p.acked)} / {count(p.total)} rows" if p.total else f"{count(p.acked)} rows"
    if p.total:
        rows += f" ({min(p.acked / p.total, 1.0) * 100:.1f} %)"
    if state != "running":
        return rows
    eta = eta_s(p)
    left = "time left unknown yet" if eta is None else f"about {duration(eta * 1000)} left"
    return f"{rows}, {rate_per_s(p.rows_per_s)}, {left}"


def asked_rate(rate: float | None) -> str:
    return "as fast as possible" if not rate else f"paced at {rate_per_s(rate)}"


# --- actions (no Streamlit) -------------------------------------------------------------------
def replay_command(source: str, run_id: str, rate: float) -> list[str]:
    cmd = [sys.executable, "-m", "producers.replay", source, "--run-id", run_id, "--no-progress"]
    return cmd + (["--rate", f"{rate:g}"] if rate else [])


def start(
    settings: Settings,
    procs: dict[str, Launched],
    source: str,
    rate: float,
    replaces: str | None = None,
) -> str:
    """Start a replay of ``source`` under a new run id; its output goes to a log file."""
    run_id = uuid.uuid4().hex[:12]
    run_dir = Path(settings.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    log = run_dir / f"replay-{run_id}.log"
    proc = supervisor.start(replay_command(source, run_id, rate), env=settings.to_env(), log=log)
    procs[run_id] = Launched(run_id, source, rate, proc, log, replaces)
    return run_id


def set_paused(run_dir: str, run_id: str, paused: bool) -> None:
    """The replay watches this file: present = paused, removed = running."""
    pause = control_paths(run_dir, run_id)["pause"]
    if paused:
        pause.parent.mkdir(parents=True, exist_ok=True)
        pause.touch()
    else:
        pause.unlink(missing_ok=True)


def set_rate(run_dir: str, run_id: str, rate: float) -> None:
    """Ask a running replay for ``rate`` rows/s (0 = as fast as possible), atomically."""
    path = control_paths(run_dir, run_id)["rate"]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".rate-tmp")
    tmp.write_text(f"{float(rate):g}\n")
    os.replace(tmp, path)


def stop(run_dir: str, launched: Launched, timeout_s: float = 10.0) -> None:
    """SIGTERM: the replay flushes what it sent and saves its checkpoint, then exits
    (SIGKILLed if it has not within ``timeout_s``)."""
    supervisor.stop([launched.proc], timeout_s)
    set_paused(run_dir, launched.run_id, False)


def reset(settings: Settings, procs: dict[str, Launched], run_id: str) -> str:
    """Stop ``run_id`` (kept, with its rows, for comparison) and replay its source again,
    at its newest rate, as a new run; returns the new run id."""
    old = procs[run_id]
    stop(settings.run_dir, old)
    return start(settings, procs, old.source, old.rate, replaces=run_id)


def state_of(launched: Launched | None, p: Progress, paused: bool, now: float) -> str:
    """running, paused, finished, stopped, failed (exit n), or gone (a replay not started
    here whose checkpoint stopped moving)."""
    if launched is not None:
        code = launched.proc.poll()
        if code is None:
            return "paused" if paused else "running"
        if code != 0:
            return f"failed (exit {code})"
        return "finished" if p.done else "stopped"
    if p.done:
        return "finished"
    if paused:
        return "paused"
    if p.updated is not None and now - p.updated > STALE_S:
        return "gone"
    return "running"


def last_line(log: Path) -> str:
    with contextlib.suppress(OSError):
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
        return lines[-1][:300] if lines else ""
    return ""


def other_runs(run_dir: str, known: set[str], limit: int = 10) -> list[str]:
    """Run ids of the ``limit`` newest replay checkpoints under ``run_dir`` not started by
    this server, newest first (a long-lived RUN_DIR keeps every old run's)."""
    found = sorted(Path(run_dir).glob("replay-*.json"), key=lambda f: f.stat().st_mtime)
    ids = [f.stem.removeprefix("replay-") for f in reversed(found)]
    return [r for r in ids if r not in known][:limit]


# --- the tab (Streamlit I/O) ------------------------------------------------------------------
@st.cache_resource
def _replays() -> dict[str, Launched]:
    """Replays started from this server (shared by all sessions): run id -> process."""
    return {}


def replay_tab(be: Backend) -> None:
    """The tab: needs a broker (the server then materializes what is replayed)."""
    settings = be.settings
    if settings.embedded or be.materializer is None:
        st.info(
            "Replay control needs a broker: start the dashboards with "
            "KAFKA_BOOTSTRAP_SERVERS (make demo does)."
        )
        return
    procs = _replays()
    c1, c2 = st.columns([3, 1])
    source = c1.text_input(
        "Source (file, glob, URL or synthetic:...)",
        value="synthetic:rows=50000,seed=1",
        key="rp-source",
    )
    rate = c2.number_input("Rows/s (0 = max)", min_value=0, value=2000, step=500, key="rp-rate")
    if st.button("Start replay", key="rp-start"):
        start(settings, procs, source, float(rate))
    st.caption(
        "Each replay is a run of its own: compare runs with the Run filter of the "
        "Explore tab. Reset replays the same source again as a new run."
    )
    st.fragment(run_every=settings.refresh_seconds)(_replay_list)(settings)


def _replay_list(settings: Settings) -> None:
    procs = _replays()
    now = time.time()
    for run_id in reversed(list(procs)):
        _replay_row(settings, run_id, procs[run_id], now)
    for run_id in other_runs(settings.run_dir, set(procs)):
        _replay_row(settings, run_id, None, now)


def _replay_row(settings: Settings, run_id: str, launched: Launched | None, now: float) -> None:
    paths = control_paths(settings.run_dir, run_id)
    p = read_progress(paths["checkpoint"])
    paused = paths["pause"].exists()
    state = state_of(launched, p, paused, now)
    with st.container(border=True):
        who = f"pid {launched.proc.pid}" if launched else "started elsewhere"
        source = launched.source if launched else (p.source or "?")
        since = f", reset of `{launched.replaces}`" if launched and launched.replaces else ""
        st.markdown(f"`{run_id}` {who}: {state}{since}, {asked_rate(_rate(p, launched))}")
        st.caption(f"source {source}")
        frac = min(p.acked / p.total, 1.0) if p.total else 0.0
        st.progress(frac, text=progress_text(p, state=state))
        if state.startswith("failed") and launched is not None:
            st.error(f"The replay failed: {last_line(launched.log) or 'see ' + str(launched.log)}")
        if state in ("running", "paused"):
            _controls(settings, run_id, launched, p, paused)
        elif launched is not None:
            st.button(
                "Replay again as a new run",
                key=f"reset-{run_id}",
                on_click=_reset,
                args=(settings, run_id),
            )


def _rate(p: Progress, launched: Launched | None) -> float | None:
    """The pace the replay says it runs at; before its first checkpoint, the one asked."""
    if p.updated is not None:
        return p.rate
    return launched.rate if launched else None


def _reset(settings: Settings, run_id: str) -> None:
    reset(settings, _replays(), run_id)


def _apply_rate(settings: Settings, run_id: str, launched: Launched | None) -> None:
    rate = float(st.session_state.get(f"rate-{run_id}") or 0)
    set_rate(settings.run_dir, run_id, rate)
    if launched is not None:
        launched.rate = rate  # a reset keeps the newest rate


def _controls(
    settings: Settings, run_id: str, launched: Launched | None, p: Progress, paused: bool
) -> None:
    """The running replay's buttons; each acts in its callback, before the (fragment)
    rerun that then draws the new state."""
    cols = st.columns([1, 2, 1, 1, 1], vertical_alignment="bottom")
    cols[0].button(
        "Resume" if paused else "Pause",
        key=f"pause-{run_id}",
        on_click=set_paused,
        args=(settings.run_dir, run_id, not paused),
    )
    cols[1].number_input(
        "Rows/s (0 = max)",
        min_value=0,
        value=int(_rate(p, launched) or 0),
        step=500,
        key=f"rate-{run_id}",
    )
    cols[2].button(
        "Set rate", key=f"setrate-{run_id}", on_click=_apply_rate, args=(settings, run_id, launched)
    )
    if launched is None:
        return
    cols[3].button("Stop", key=f"stop-{run_id}", on_click=stop, args=(settings.run_dir, launched))
    cols[4].button(
        "Reset",
        key=f"reset-{run_id}",
        help="stop, and replay the same source as a new run",
        on_click=_reset,
        args=(settings, run_id),
    )
