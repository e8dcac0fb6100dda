"""make bench's chain section: ``python -m processors all`` beside a bare passthrough with
the chain's own topology, both over the same RAW backlog, measured the same way.

Each run is watched from outside (:mod:`bench.watch`): every stage's consumer group's
committed offsets and the processes' RSS, every 0.5 s. The figures (:mod:`bench.progress`)
are the sustained rate between 10 % and 90 % of the input, the start-up (launch -> every
group has committed progress) and the total time (launch -> every group has committed all
of its input), reported apart.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.passthrough import start_topology
from bench.progress import Progress, analyse, value_at
from bench.report import console, metric
from bench.watch import Watched, watch
from common.settings import Settings
from common.topics import ensure_topics
from processors.streaming.topology import all_workers, worker_id, worker_name, worker_source

#: seconds without input after which the chain's stages and the workers stop
IDLE_S = 5.0


def default_rows(kind: str | None, quick: bool) -> int:
    """Rows through the chain: enough for a sustained rate on Kafka; on Tansu the chain runs
    a few hundred rows/s, where a bigger backlog only lengthens the run."""
    if kind == "tansu":
        return 5_000 if quick else 30_000
    return 20_000 if quick else 200_000


def run_chain(
    s: Settings, prefix: str, timeout_s: float, guarantee: str = "at-least-once"
) -> Watched:
    """``python -m processors all --until-idle`` over ``prefix``'s RAW backlog, watched."""
    cs = s.with_(
        topic_prefix=prefix,
        processing_guarantee=guarantee,
        state_dir=tempfile.mkdtemp(prefix="bench-state-"),
        message_timeout_ms=max(s.message_timeout_ms, 90_000),  # as experiments do (loaded broker)
    )
    # the stages' log goes to a file: a pipe nobody reads while they run fills up (64 KB of
    # progress lines) and blocks every stage writing to it
    log_path = Path(s.run_dir) / f"chain-{prefix.strip('.')}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "processors", "all", "--until-idle", str(IDLE_S)],
            env=cs.to_env(),
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    inputs = {cs.group(worker_id(w)): cs.topic(worker_source(w)) for w in all_workers(cs)}
    w = watch(cs, [proc], inputs, started, timeout_s)
    if w.codes != [0]:
        err = log_path.read_bytes().decode(errors="replace")[-400:]
        raise RuntimeError(f"processors exited {w.codes[0]} (log {log_path}): {err}")
    return w


#: rows of the unmeasured chain run that warms the broker up
WARM_UP_ROWS = 30_000


def warm_up(s: Settings, parquet: str, timeout_s: float) -> None:
    """An unmeasured chain run over the first rows of ``parquet``, on topics of its own:
    the broker's JIT then has compiled what the chain asks of it before either measured
    run, so neither pays for it."""
    from producers.replay import replay

    prefix = f"bench-warm-{uuid.uuid4().hex[:6]}."
    ws = s.with_(topic_prefix=prefix)
    ensure_topics(ws)
    replay(parquet, ws, progress=False, limit=WARM_UP_ROWS)
    console.print(f"  warming the broker up: a {WARM_UP_ROWS:,}-row chain run (not measured) ...")
    run_chain(s, prefix, timeout_s)


#: passthrough rounds over the same backlog (it lasts seconds; one round's slope is noisy)
PASSTHROUGH_ROUNDS = 3


def run_passthrough(s: Settings, prefix: str, timeout_s: float, tag: str = "") -> Watched:
    """The passthrough workers over the same RAW backlog, watched."""
    started = time.monotonic()
    procs, inputs = start_topology(s, prefix, IDLE_S, Path(s.run_dir), tag)
    w = watch(s, procs, inputs, started, timeout_s)
    if any(c != 0 for c in w.codes):
        raise RuntimeError(f"passthrough workers exited {w.codes} (logs in {s.run_dir})")
    return w


def _per_stage(w: Watched, rows: int, s: Settings) -> str:
    """Each group's own sustained rate, in words (which stage holds the chain back)."""
    groups = list(w.offsets[-1][1]) if w.offsets else []
    parts = []
    for st, g in zip([worker_name(w) for w in all_workers(s)], groups, strict=False):
        r = analyse(w.offsets, [g], rows).sustained_rows_per_s
        parts.append(f"{st} {r:,.0f}" if r else f"{st} -")
    return ", ".join(parts)


def _cpu(w: Watched) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in sorted(w.cpu_s.items(), key=lambda kv: -kv[1]))


def bench_chain(
    s: Settings, parquet: str, notes: list[str], timeout_s: float = 3600.0
) -> dict[str, dict[str, Any]]:
    """Replay ``parquet`` into a new RAW topic, then run the passthrough and the chain over
    it, one after the other (the passthrough first: it is over in seconds on Kafka)."""
    from producers.replay import replay

    if not s.on_tansu:  # a JVM broker; Tansu is compiled ahead of time
        warm_up(s, parquet, timeout_s)
        notes.append(
            f"chain: the broker was warmed up first by a {WARM_UP_ROWS:,}-row chain run (a "
            "cold broker JVM compiles the chain's request paths during the first run measured)"
        )
    prefix = f"bench-chain-{uuid.uuid4().hex[:6]}."
    cs = s.with_(topic_prefix=prefix)
    ensure_topics(cs)
    rows = replay(parquet, cs, progress=False).rows_sent
    console.print(f"  {rows:,} rows in RAW; passthrough with the chain's topology ...")
    rounds = []
    for n in range(PASSTHROUGH_ROUNDS):
        w = run_passthrough(s, prefix, timeout_s, str(n))
        rounds.append((analyse(w.offsets, list(w.offsets[-1][1]), rows), w))
    # the round of the median sustained rate is the baseline, every figure of it
    rounds.sort(key=lambda r: r[0].sustained_rows_per_s or 0.0)
    base, base_w = rounds[len(rounds) // 2]
    notes.append(
        "chain: the passthrough's sustained rows/s in its rounds: "
        + " / ".join(f"{r.sustained_rows_per_s or 0:,.0f}" for r, _ in rounds)
        + " (the median round is the baseline)"
    )
    console.print("  chain (python -m processors all) ...")
    chain_w = run_chain(s, prefix, timeout_s)
    chain = analyse(chain_w.offsets, list(chain_w.offsets[-1][1]), rows)
    notes.append(
        f"chain: {rows:,} rows; sustained rows/s by stage (10-90 % of its input): "
        f"{_per_stage(chain_w, rows, s)}; passthrough: {_per_stage(base_w, rows, s)}"
    )
    notes.append(
        f"chain: CPU s during the run ({chain.total_s or 0:.0f} s to the last commit): "
        f"{_cpu(chain_w)}; passthrough ({base.total_s or 0:.0f} s): {_cpu(base_w)}"
    )
    out = chain_metrics(rows, chain, chain_w, base, base_w)
    if s.on_tansu:
        notes.append("chain: exactly-once not measured (Tansu has no transactions here)")
        return out
    # exactly-once over a RAW backlog of its own (its outputs must not mix with the first's)
    eos_prefix = f"bench-chain-eos-{uuid.uuid4().hex[:6]}."
    es = s.with_(topic_prefix=eos_prefix)
    ensure_topics(es)
    replay(parquet, es, progress=False)
    console.print("  chain with PROCESSING_GUARANTEE=exactly-once ...")
    eos_w = run_chain(s, eos_prefix, timeout_s, "exactly-once")
    eos = analyse(eos_w.offsets, list(eos_w.offsets[-1][1]), rows)
    notes.append(
        f"chain, exactly-once: sustained rows/s by stage: {_per_stage(eos_w, rows, s)}; "
        f"CPU s ({eos.total_s or 0:.0f} s to the last commit): {_cpu(eos_w)}"
    )
    out["chain_eos_sustained_rows_per_s"] = metric(
        eos.sustained_rows_per_s,
        f"rows/s (exactly-once, 10-90 % of {rows:,} rows; baseline: at-least-once chain)",
        chain.sustained_rows_per_s,
    )
    return out


def chain_metrics(
    rows: int, chain: Progress, chain_w: Watched, base: Progress, base_w: Watched
) -> dict[str, dict[str, Any]]:
    """The chain's figures, each beside the passthrough's."""

    def overall(p: Progress) -> float | None:
        return rows / p.total_s if p.total_s else None

    peak = max((mb for _, mb in chain_w.rss), default=None)
    base_peak = max((mb for _, mb in base_w.rss), default=None)
    half = value_at(chain_w.rss, chain.half_s)
    # at 90 %, not at the end: a stage whose input is done stops (after its idle wait)
    # while the others finish, so the last samples have fewer processes
    late = value_at(chain_w.rss, chain.late_s)
    span = f"{rows:,} rows"
    return {
        "chain_sustained_rows_per_s": metric(
            chain.sustained_rows_per_s,
            f"rows/s (10-90 % of {span}; baseline: passthrough, same topology)",
            base.sustained_rows_per_s,
        ),
        "chain_overall_rows_per_s": metric(
            overall(chain), f"rows/s ({span} / launch to last commit)", overall(base)
        ),
        "chain_startup_s": metric(
            chain.startup_s, "s (launch to every group's first commit)", base.startup_s, False
        ),
        "chain_total_s": metric(
            chain.total_s, "s (launch to every group's last commit)", base.total_s, False
        ),
        "processors_rss_peak_mb": metric(
            peak,
            "MB (supervisor + the workers; baseline: the passthrough workers)",
            base_peak,
            False,
        ),
        "processors_rss_late_mb": metric(
            late, "MB at 90 % of the input (baseline: at 50 %; ratio 1 = flat)", half, False
        ),
    }
