"""``python -m processors WORKER... | all [--until-idle SECONDS] [settings flags]``.

A worker is a stage or stages joined by ``+`` that read the same topic or the output of
another of them (``query_metrics+flatten``, ``clean+flatten``); ``all`` is
``clean+flatten`` and ``query_metrics+compile_metrics+leaderboard``. One worker runs in this process;
several run as one child process each (each its own consumer group). Ctrl-C / SIGTERM
stops every child (by PID) after its checkpoint; :mod:`pipeline.supervisor` starts,
stops and restarts them.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from dataclasses import fields

from common.settings import Settings, SettingsError
from pipeline.supervisor import RestartPolicy, Supervisor, stop_requested
from processors.streaming.topology import (
    ALL_WORKERS,
    STAGES,
    all_workers,
    output_topics,
    parse_worker,
    worker_name,
    worker_source,
)
from processors.streaming.workers import run_worker


def settings_env(s: Settings) -> dict[str, str]:
    env = dict(os.environ)
    for f in fields(s):
        env[str(f.metadata["env"])] = str(getattr(s, f.name))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def parse_stages(names: list[str], workers: tuple[tuple[str, ...], ...] = ALL_WORKERS) -> list[str]:
    """The workers named (``all`` = ``workers``), each once, in order."""
    out: list[str] = []
    for n in names:
        try:
            found = [worker_name(w) for w in workers] if n == "all" else [n]
            for w in found:
                w = worker_name(parse_worker(w))
                if w not in out:
                    out.append(w)
        except ValueError as e:
            raise SettingsError(f"{e} (or all)") from None
    return out


#: a failed stage is restarted at most this many times within RESTART_WINDOW_S
MAX_RESTARTS = 5
RESTART_WINDOW_S = 600.0
RESTARTS = RestartPolicy(max_restarts=MAX_RESTARTS, window_s=RESTART_WINDOW_S)


def upstream_of(worker: str, workers: list[str]) -> list[str]:
    """The workers among ``workers`` that write the topic ``worker`` reads."""
    source = worker_source(parse_worker(worker))
    return [u for u in workers if any(source in output_topics(s) for s in parse_worker(u))]


def worker_argv(worker: str, until_idle: float | None, restarted: bool = False) -> list[str]:
    cmd = [sys.executable, "-m", "processors", worker]
    if until_idle is not None:
        cmd += ["--until-idle", str(until_idle)]
    if restarted:
        cmd.append("--restarted")
    return cmd


def run_children(stages: list[str], settings: Settings, until_idle: float | None) -> int:
    """Run each stage as a child process; restart a child that fails (at-least-once: it
    resumes from its last committed checkpoint), up to MAX_RESTARTS per RESTART_WINDOW_S."""
    sup = Supervisor(env=settings_env(settings), policy=RESTARTS)
    with stop_requested(signal.SIGTERM, signal.SIGINT) as stop_asked:
        try:
            for st in stages:
                sup.start(st, worker_argv(st, until_idle))
            print(
                "processors: " + ", ".join(f"{s} (pid {c.pid})" for s, c in sup.children.items()),
                file=sys.stderr,
                flush=True,
            )
            # a failed child keeps the loop going too: every child of a replica may die
            # between two polls (SIGKILLed together), and each must still be restarted
            while not stop_asked() and sup.active():
                if not _supervise_step(sup, stages, until_idle):
                    break
                time.sleep(0.2)
        finally:
            sup.stop(timeout_s=30)
    bad = {s: c for s, c in sup.exit_codes().items() if c not in (0, -signal.SIGTERM)}
    for s, c in bad.items():
        print(f"error: stage {s} exited with code {c}", file=sys.stderr)
    return 1 if bad else 0


def _supervise_step(sup: Supervisor, stages: list[str], until_idle: float | None) -> bool:
    """One look at the children: schedule the failed ones' restarts, start the due ones;
    False once a stage has spent its restart budget (then every stage stops)."""
    now = time.monotonic()
    for f in sup.check_failures(now):
        if f.backoff_s is None:
            print(
                f"error: stage {f.child.name} failed {f.failures} times in "
                f"{RESTART_WINDOW_S:g} s; stopping every stage",
                file=sys.stderr,
                flush=True,
            )
            return False
        print(
            f"processors: stage {f.child.name} exited with code {f.child.proc.returncode}; "
            f"restarting it in {f.backoff_s:g} s (it resumes from its last committed checkpoint)",
            file=sys.stderr,
            flush=True,
        )
    # with --until-idle, a stage that finished while its upstream is still running (e.g.
    # restarted after a failure) may have stopped before the upstream's last output: start
    # it again (it stops once idle, having nothing left to read)
    if until_idle is not None:
        for st, c in list(sup.children.items()):
            if c.proc.poll() == 0 and any(sup.pending(u) for u in upstream_of(st, stages)):
                sup.restart(st, worker_argv(st, until_idle, restarted=True))
    sup.restart_due(now, lambda st: worker_argv(st, until_idle, restarted=True))
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m processors",
        description="Run stream processor stages: " + ", ".join(STAGES) + ". A worker is a "
        "stage, or stages joined by + that read the same topic or another's output (one "
        "process, one consumer group, each message read once); all = "
        + " and ".join(worker_name(w) for w in ALL_WORKERS)
        + ". One worker runs in this process; several run as one child process each. "
        "Ctrl-C / SIGTERM stops them after a checkpoint.",
    )
    parser.add_argument(
        "stages", nargs="+", metavar="WORKER", help="stage, stage+stage..., or 'all'"
    )
    parser.add_argument(
        "--until-idle",
        type=float,
        default=None,
        metavar="SECONDS",
        help="exit 0 once no new input arrived for SECONDS after having consumed something",
    )
    parser.add_argument(
        "--restarted",
        action="store_true",
        help="set by `all` when it restarts a failed stage: with --until-idle, stop on idle "
        "even if nothing was left to consume",
    )
    Settings.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_args(args)
        if "all" in args.stages and not settings.embedded:
            from common.broker import resolve_kind

            settings = resolve_kind(settings)
        stages = parse_stages(args.stages, all_workers(settings))
    except SettingsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if settings.embedded:
        print(
            "error: no broker configured: set KAFKA_BOOTSTRAP_SERVERS (or --bootstrap-servers); "
            "`python -m common.broker` starts the embedded one",
            file=sys.stderr,
        )
        return 2
    from common.broker import BrokerError, wait_for_metadata

    # before any Quix client: those retry a refused login or an untrusted certificate
    # until their own timeouts and then report a bare transport failure
    try:
        wait_for_metadata(settings.bootstrap_servers, settings, settings.connect_timeout_s)
    except BrokerError as e:
        print(f"error: {', '.join(stages)}: {e}", file=sys.stderr)
        return 1
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if len(stages) > 1:
        return run_children(stages, settings, args.until_idle)
    try:
        run_worker(
            parse_worker(stages[0]),
            settings,
            until_idle=args.until_idle,
            idle_exit_empty=args.restarted,
        )
    except KeyboardInterrupt:
        return 0
    except Exception as e:
        print(f"error: stage {stages[0]}: {describe_failure(e, settings)}", file=sys.stderr)
        return 1
    return 0


def describe_failure(e: BaseException, settings: Settings) -> str:
    """One line for a failed stage: names the broker when it no longer answers (a lost
    broker otherwise shows up as a delivery timeout or a transport error)."""
    from common.broker import BrokerError, wait_for_metadata

    try:
        wait_for_metadata(
            settings.bootstrap_servers, settings, min(5.0, settings.connect_timeout_s)
        )
    except BrokerError:
        return (
            f"broker at {settings.bootstrap_servers} unreachable ({type(e).__name__}: {e}); "
            "if it was the embedded broker, its topics are gone: see README 'Broker restarted'"
        )
    return f"{type(e).__name__}: {e}"


if __name__ == "__main__":
    sys.exit(main())
