"""``python -m processors STAGE... | all [--until-idle SECONDS] [settings flags]``.

One stage runs in this process; several stages (or ``all``) run as one child process per
stage (each its own consumer group). Ctrl-C / SIGTERM stops every child (by PID) after
its checkpoint.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import fields

from common.settings import Settings, SettingsError
from processors.stages import STAGES, run_stage


def settings_env(s: Settings) -> dict[str, str]:
    env = dict(os.environ)
    for f in fields(s):
        env[str(f.metadata["env"])] = str(getattr(s, f.name))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def parse_stages(names: list[str]) -> list[str]:
    out: list[str] = []
    for n in names:
        if n == "all":
            out += [s for s in STAGES if s not in out]
        elif n in STAGES:
            if n not in out:
                out.append(n)
        else:
            raise SettingsError(f"unknown stage {n!r}: expected one of {', '.join(STAGES)} or all")
    return out


def run_children(stages: list[str], settings: Settings, until_idle: float | None) -> int:
    env = settings_env(settings)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    for st in stages:
        cmd = [sys.executable, "-m", "processors", st]
        if until_idle is not None:
            cmd += ["--until-idle", str(until_idle)]
        procs[st] = subprocess.Popen(cmd, env=env, start_new_session=True)
    stopping = False

    def _stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(
        "processors: " + ", ".join(f"{s} (pid {p.pid})" for s, p in procs.items()),
        file=sys.stderr,
        flush=True,
    )
    try:
        while not stopping and any(p.poll() is None for p in procs.values()):
            if any(p.poll() not in (None, 0) for p in procs.values()):
                break  # a child failed: stop the others
            time.sleep(0.2)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for p in procs.values():
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
    codes = {s: p.returncode for s, p in procs.items()}
    bad = {s: c for s, c in codes.items() if c not in (0, -signal.SIGTERM)}
    for s, c in bad.items():
        print(f"error: stage {s} exited with code {c}", file=sys.stderr)
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m processors",
        description="Run stream processor stages: " + ", ".join(STAGES) + " (or all). "
        "One stage runs in this process; several run as one child process each. "
        "Ctrl-C / SIGTERM stops them after a checkpoint.",
    )
    parser.add_argument("stages", nargs="+", metavar="STAGE", help="stage names or 'all'")
    parser.add_argument(
        "--until-idle",
        type=float,
        default=None,
        metavar="SECONDS",
        help="exit 0 once no new input arrived for SECONDS after having consumed something",
    )
    Settings.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_args(args)
        stages = parse_stages(args.stages)
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
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if len(stages) > 1:
        return run_children(stages, settings, args.until_idle)
    try:
        run_stage(stages[0], settings, until_idle=args.until_idle)
    except KeyboardInterrupt:
        return 0
    except Exception as e:
        print(f"error: stage {stages[0]}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
