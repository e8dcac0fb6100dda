"""`make demo`: the main job on the embedded default.

Starts the embedded broker (unless KAFKA_BOOTSTRAP_SERVERS is set), creates the topics,
starts the processor chain and both dashboards (each dashboard server materializes the
topics into its own DuckDB file), then replays a synthetic dataset at a steady rate so the
leaderboards move. Prints the dashboard URLs. Ctrl-C (or SIGTERM) stops everything it
started, by PID, and leaves no process behind.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from common.broker import BrokerError, broker_for, free_port
from common.settings import Settings
from common.signals import interrupt_on
from common.topics import ensure_topics

DEFAULT_SOURCE = (
    "synthetic:rows=300000,seed=7,clusters=24,days=7,error_rate=0.002,duplicate_rate=0.001"
)


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path


def start_child(name: str, cmd: list[str], env: dict[str, str], log_dir: Path) -> Child:
    log = log_dir / f"{name}.log"
    with open(log, "ab") as fh:
        proc = subprocess.Popen(
            cmd,
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # we stop it ourselves, by PID
        )
    return Child(name, proc, log)


def stop_children(children: list[Child], timeout_s: float = 15.0) -> None:
    """SIGTERM every child we started (by PID), wait, then SIGKILL stragglers."""
    for c in reversed(children):
        if c.proc.poll() is None:
            c.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for c in reversed(children):
        try:
            c.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            c.proc.kill()
            c.proc.wait(5)


def _stop_and_report(children: list[Child]) -> None:
    running = [c for c in children if c.proc.returncode is None]
    stop_children(children)
    if running:
        print("stopped: " + ", ".join(f"{c.name} (pid {c.proc.pid})" for c in running), flush=True)
    children.clear()


def wait_http(port: int, timeout_s: float) -> bool:
    import requests

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).ok:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.3)
    return False


#: replay rows/s by broker kind: what the chain sustains beside both dashboards on 2 cores
#: (docs/bench.md); a faster replay only builds a backlog the leaderboards trail behind
DEMO_RATE = {"kafka": 1500.0, "tansu": 150.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.demo",
        description="Run the whole product locally: broker, processors, both dashboards, and a replay.",
    )
    parser.add_argument(
        "--source", default=DEFAULT_SOURCE, help="what to replay (default: %(default)s)"
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="replay rows per second (0 = as fast as possible); the default is what the whole "
        "chain sustains beside both dashboards on 2 cores, so they stay live: "
        + ", ".join(f"{k} {v:g}" for k, v in DEMO_RATE.items()),
    )
    parser.add_argument("--expert-port", type=int, default=8501, help="expert dashboard port")
    parser.add_argument("--aggregate-port", type=int, default=8502, help="aggregate dashboard port")
    parser.add_argument("--no-dashboards", action="store_true", help="run without the dashboards")
    parser.add_argument(
        "--exit-after-replay",
        action="store_true",
        help="stop everything once the replay has finished and the chain went idle (for tests)",
    )
    Settings.add_arguments(parser)
    args = parser.parse_args(argv)
    children: list[Child] = []
    try:
        settings = Settings.from_args(args)
        data_dir = Path(settings.duckdb_path).parent
        data_dir.mkdir(parents=True, exist_ok=True)
        log_dir = Path(settings.run_dir) / "demo"
        log_dir.mkdir(parents=True, exist_ok=True)
        with broker_for(settings) as s:
            try:
                where = "local" if settings.embedded else "configured"
                print(f"{where} {s.broker_kind} broker at {s.bootstrap_servers}", flush=True)
                rate = args.rate if args.rate is not None else DEMO_RATE.get(s.broker_kind, 150.0)
                ensure_topics(s)
                print(f"topics: {', '.join(s.topics.values())}", flush=True)
                # generous delivery timeout for the chain: a loaded 2-core machine slows the broker
                env = dict(
                    s.with_(message_timeout_ms=max(s.message_timeout_ms, 90_000)).to_env(),
                    PYTHONUNBUFFERED="1",
                )
                py = sys.executable
                children.append(
                    start_child("processors", [py, "-m", "processors", "all"], env, log_dir)
                )
                urls: list[tuple[str, int]] = []
                if not args.no_dashboards:
                    for name, port in (
                        ("expert", args.expert_port),
                        ("aggregate", args.aggregate_port),
                    ):
                        if port == 0 or _port_busy(port):
                            port = free_port()
                        denv = dict(env, DUCKDB_PATH=str(data_dir / f"{name}.duckdb"))
                        if urls:  # the aggregate page's links open the expert page
                            denv["EXPERT_URL"] = f"http://127.0.0.1:{urls[0][1]}"
                        cmd = [
                            py,
                            "-m",
                            "streamlit",
                            "run",
                            f"dashboards/{name}.py",
                            "--server.headless",
                            "true",
                            "--server.port",
                            str(port),
                            "--server.address",
                            "127.0.0.1",
                            "--browser.gatherUsageStats",
                            "false",
                        ]
                        children.append(start_child(f"dashboard-{name}", cmd, denv, log_dir))
                        urls.append((name, port))
                replay_cmd = [py, "-m", "producers.replay", args.source]
                if rate > 0:
                    replay_cmd += ["--rate", str(rate)]
                replay = start_child("replay", replay_cmd, env, log_dir)
                children.append(replay)
                for name, port in urls:
                    ok = wait_http(port, 60)
                    state = "" if ok else " (not answering yet; see its log)"
                    print(f"{name} dashboard: http://127.0.0.1:{port}{state}", flush=True)
                print(
                    f"replaying {args.source} at {rate or 'max'} rows/s; logs in {log_dir}/",
                    flush=True,
                )
                print("Ctrl-C stops everything.", flush=True)
                while True:
                    for c in children:
                        code = c.proc.poll()
                        if code is not None and c is not replay:
                            print(
                                f"error: {c.name} exited with code {code}; see {c.log}",
                                file=sys.stderr,
                            )
                            return 1
                    if replay.proc.poll() is not None:
                        if replay.proc.returncode != 0:
                            print(f"error: replay failed; see {replay.log}", file=sys.stderr)
                            return 1
                        if args.exit_after_replay:
                            time.sleep(10)  # let the chain and the materializers drain
                            print("replay finished", flush=True)
                            return 0
                    time.sleep(0.5)
            finally:  # children first, while the broker still runs
                _stop_and_report(children)
    except KeyboardInterrupt:
        print("\nstopping...", flush=True)
        return 0
    except BrokerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        _stop_and_report(children)


def _port_busy(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


if __name__ == "__main__":
    interrupt_on(signal.SIGTERM, signal.SIGINT)
    sys.exit(main())
