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
import sys
import time
from pathlib import Path

from common.broker import BrokerError, broker_for, free_port
from common.settings import Settings
from common.signals import interrupt_on
from common.topics import ensure_topics
from pipeline.supervisor import Supervisor

DEFAULT_SOURCE = (
    "synthetic:rows=300000,seed=7,clusters=24,days=7,error_rate=0.002,duplicate_rate=0.001"
)


#: the dashboards' scripts (found from the package, so the demo runs from any folder)
DASHBOARDS = Path(__file__).resolve().parents[1] / "dashboards"


def dashboard_argv(name: str, port: int, args: list[str] | None = None) -> list[str]:
    """``streamlit run dashboards/<name>.py`` headless on 127.0.0.1:``port`` (script
    ``args`` after ``--``)."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(DASHBOARDS / f"{name}.py"),
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
    ] + (["--", *args] if args else [])


def _stop_and_report(sup: Supervisor) -> None:
    """Stop every child, the last started first (the replay before the chain it feeds)."""
    stopped = sup.stop(timeout_s=15.0, reverse=True)
    if stopped:
        print("stopped: " + ", ".join(f"{c.name} (pid {c.pid})" for c in stopped), flush=True)


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


def _parser() -> argparse.ArgumentParser:
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    sup: Supervisor | None = None
    try:
        settings = Settings.from_args(args)
        data_dir = Path(settings.duckdb_path).parent
        data_dir.mkdir(parents=True, exist_ok=True)
        log_dir = Path(settings.run_dir) / "demo"
        log_dir.mkdir(parents=True, exist_ok=True)
        with broker_for(settings) as s:
            where = "local" if settings.embedded else "configured"
            print(f"{where} {s.broker_kind} broker at {s.bootstrap_servers}", flush=True)
            ensure_topics(s)
            print(f"topics: {', '.join(s.topics.values())}", flush=True)
            # generous delivery timeout for the chain: a loaded 2-core machine slows the broker
            env = dict(
                s.with_(message_timeout_ms=max(s.message_timeout_ms, 90_000)).to_env(),
                PYTHONUNBUFFERED="1",
            )
            sup = Supervisor(env=env, log_dir=log_dir)
            try:
                return _run(sup, args, s.broker_kind, data_dir)
            finally:  # children first, while the broker still runs
                _stop_and_report(sup)
    except KeyboardInterrupt:
        print("\nstopping...", flush=True)
        return 0
    except BrokerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        if sup is not None:
            _stop_and_report(sup)


def _run(sup: Supervisor, args: argparse.Namespace, broker_kind: str, data_dir: Path) -> int:
    """Start the chain, the dashboards and the replay, then watch them."""
    rate = args.rate if args.rate is not None else DEMO_RATE.get(broker_kind, 150.0)
    sup.start("processors", [sys.executable, "-m", "processors", "all"])
    urls = [] if args.no_dashboards else _start_dashboards(sup, args, data_dir)
    replay_cmd = [sys.executable, "-m", "producers.replay", args.source]
    if rate > 0:
        replay_cmd += ["--rate", str(rate)]
    sup.start("replay", replay_cmd)
    for name, port in urls:
        ok = wait_http(port, 60)
        state = "" if ok else " (not answering yet; see its log)"
        print(f"{name} dashboard: http://127.0.0.1:{port}{state}", flush=True)
    print(
        f"replaying {args.source} at {rate or 'max'} rows/s; logs in {sup.log_dir}/",
        flush=True,
    )
    print("Ctrl-C stops everything.", flush=True)
    return _watch(sup, args.exit_after_replay)


def _start_dashboards(
    sup: Supervisor, args: argparse.Namespace, data_dir: Path
) -> list[tuple[str, int]]:
    """Both dashboard servers, each materializing into its own DuckDB file: (name, port)."""
    urls: list[tuple[str, int]] = []
    for name, port in (("expert", args.expert_port), ("aggregate", args.aggregate_port)):
        if port == 0 or _port_busy(port):
            port = free_port()
        denv = dict(sup.env or {}, DUCKDB_PATH=str(data_dir / f"{name}.duckdb"))
        if urls:  # the aggregate page's links open the expert page
            denv["EXPERT_URL"] = f"http://127.0.0.1:{urls[0][1]}"
        sup.start(f"dashboard-{name}", dashboard_argv(name, port), env=denv)
        urls.append((name, port))
    return urls


def _watch(sup: Supervisor, exit_after_replay: bool) -> int:
    """Until a child fails (1), or the replay is done with ``exit_after_replay`` (0)."""
    others = [name for name in sup.children if name != "replay"]
    while True:
        failed = sup.first_exited(others)
        if failed is not None:
            print(
                f"error: {failed.name} exited with code {failed.proc.returncode}; see {failed.log}",
                file=sys.stderr,
            )
            return 1
        replay = sup["replay"]
        if not replay.running():
            if replay.proc.returncode != 0:
                print(f"error: replay failed; see {replay.log}", file=sys.stderr)
                return 1
            if exit_after_replay:
                time.sleep(10)  # let the chain and the materializers drain
                print("replay finished", flush=True)
                return 0
        time.sleep(0.5)


def _port_busy(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def cli() -> None:
    """The command: SIGTERM stops it like Ctrl-C (its children first, then the broker)."""
    interrupt_on(signal.SIGTERM, signal.SIGINT)
    sys.exit(main())


if __name__ == "__main__":
    cli()
