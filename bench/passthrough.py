"""``python -m bench.passthrough``: a bare consume -> produce worker, the chain's baseline.

One worker reads a topic in a consumer group and produces every message (key, value,
timestamp) unchanged to each of its output topics, committing its offsets every
``--commit-every`` seconds after its producer has flushed (at-least-once, as a Quix stage
checkpoints). ``make bench`` runs one per worker of ``python -m processors all``, with its
topology (see :func:`start_topology`): RAW -> CLEAN', and CLEAN' -> one topic per stage of
the worker reading CLEAN_DATA, all at once.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from common.settings import Settings
from common.signals import interrupt_on
from common.topics import ensure_topics

if TYPE_CHECKING:
    from confluent_kafka import Message, Producer

#: more often than the chain (COMMIT_INTERVAL_SECONDS): the baseline's run lasts seconds,
#: and its sustained rate needs a few commits to measure a slope by
COMMIT_EVERY_S = 2.0


def passthrough(
    s: Settings,
    source: str,
    targets: list[str],
    group: str,
    until_idle: float | None,
    commit_every: float,
) -> int:
    """Copy ``source`` to each of ``targets`` in ``group`` until stopped or idle: messages
    read."""
    from confluent_kafka import Consumer, Producer

    from common.kafka_config import consumer_config, producer_config

    c = Consumer(consumer_config(s, group))
    # the stages' producers are idempotent except on Tansu (kafka_config says why)
    p = Producer(producer_config(s, idempotent=not s.on_tansu))
    c.subscribe([source])
    n = 0
    last_msg: float | None = None
    last_commit = time.monotonic()
    pending = False

    def commit() -> None:
        nonlocal pending, last_commit
        if pending:
            p.flush(s.message_timeout_ms / 1000)
            c.commit(asynchronous=False)
            pending = False
        last_commit = time.monotonic()

    try:
        while True:
            batch = c.consume(1000, 0.2)
            copied = _copy(batch, targets, p, group)
            n += copied
            pending = pending or copied > 0
            p.poll(0)
            now = time.monotonic()
            if batch:
                last_msg = now
            if now - last_commit >= commit_every:
                commit()
            if until_idle is not None and last_msg is not None and now - last_msg >= until_idle:
                break
    except KeyboardInterrupt:
        pass
    finally:
        commit()
        c.close()
    return n


def _copy(batch: list[Message], targets: list[str], p: Producer, group: str) -> int:
    """Produce each message of ``batch`` to every target: the messages copied (errors are
    reported, not copied)."""
    from confluent_kafka import KafkaError

    n = 0
    for m in batch:
        if m.error():
            if m.error().code() != KafkaError._PARTITION_EOF:
                print(f"passthrough {group}: {m.error()}", file=sys.stderr)
            continue
        for target in targets:
            while True:
                try:
                    p.produce(target, m.value(), m.key(), timestamp=m.timestamp()[1])
                    break
                except BufferError:
                    p.poll(0.05)
        n += 1
    return n


def start_topology(
    s: Settings, prefix: str, until_idle: float, log_dir: Path, tag: str = ""
) -> tuple[list[subprocess.Popen[bytes]], dict[str, str]]:
    """Start one worker per worker of ``python -m processors all`` on ``prefix``'s RAW
    topic: the worker reading RAW copies it to ``<prefix>PASS.clean`` and to
    ``<prefix>PASS.<stage>`` for each other stage of it, the one reading CLEAN_DATA
    ``<prefix>PASS.clean`` -> ``<prefix>PASS.<stage>`` for each of its stages. Returns the
    processes and each worker's group -> the topic it reads (topics created with the
    chain's partitions). ``tag`` names a round: its groups and topics are its own."""
    # imported here: a worker process must not pay for Quix Streams, which it does not use
    from processors.streaming.topology import all_workers, worker_id, worker_source

    ts = s.with_(topic_prefix=prefix)
    clean_out = f"{prefix}PASS{tag}.clean"
    routes: dict[str, tuple[str, list[str]]] = {}
    for stages in all_workers(ts):
        src = ts.topic("raw") if worker_source(stages) == "raw" else clean_out
        outs = [clean_out if st == "clean" else f"{prefix}PASS{tag}.{st}" for st in stages]
        routes[worker_id(stages)] = (src, outs)
    ensure_topics(ts, sorted({t for _, outs in routes.values() for t in outs}))
    log_dir.mkdir(parents=True, exist_ok=True)
    procs, inputs = [], {}
    for name, (src, outs) in routes.items():
        group = f"{ts.group(name)}.passthrough{tag}"
        cmd = [sys.executable, "-m", "bench.passthrough", "--input", src, "--output", *outs]
        cmd += ["--group", group, "--until-idle", str(until_idle)]
        with open(log_dir / f"passthrough{tag}-{name}.log", "wb") as log:
            procs.append(
                subprocess.Popen(cmd, env=ts.to_env(), stdout=subprocess.DEVNULL, stderr=log)
            )
        inputs[group] = src
    return procs, inputs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.passthrough", description=__doc__)
    ap.add_argument("--input", required=True, help="topic to read (full name)")
    ap.add_argument(
        "--output",
        required=True,
        nargs="+",
        help="topic(s) to write (full names), each gets every message",
    )
    ap.add_argument("--group", required=True, help="consumer group")
    ap.add_argument(
        "--until-idle",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop once no message came for SECONDS after the first one (default: run until "
        "Ctrl-C / SIGTERM)",
    )
    ap.add_argument(
        "--commit-every",
        type=float,
        default=COMMIT_EVERY_S,
        metavar="SECONDS",
        help=f"flush and commit every SECONDS (default {COMMIT_EVERY_S:g})",
    )
    Settings.add_arguments(ap, only=["kafka"])
    args = ap.parse_args(argv)
    s = Settings.from_args(args)
    if s.embedded:
        print("error: no broker configured: set KAFKA_BOOTSTRAP_SERVERS", file=sys.stderr)
        return 2
    n = passthrough(s, args.input, args.output, args.group, args.until_idle, args.commit_every)
    outs = ", ".join(args.output)
    print(f"passthrough {args.group}: {n} messages {args.input} -> {outs}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    interrupt_on(signal.SIGTERM)
    sys.exit(main())
