"""The Apache Kafka broker's jars: pinned in ``common/kafka/pom.xml``, fetched once with Maven into a
cache outside git, reused by every later run and clone.

``python -m common.kafka_jars`` fetches them (``make kafka-jars``) and prints the folder.
The cache is ``$KAFKA_JARS_DIR`` if set, else ``$XDG_CACHE_HOME/redset-stream`` (default
``~/.cache/redset-stream``) / ``kafka-<version>-<pom digest>``; a folder is used only once
its ``.complete`` marker is written, so an interrupted download is fetched again.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from common.broker_process import BrokerError

POM = Path(__file__).resolve().parent / "kafka" / "pom.xml"
MIN_JAVA = 17
COMPLETE = ".complete"


def kafka_version(pom: Path = POM) -> str:
    """The pinned Kafka version (``<kafka.version>`` in the pom)."""
    m = re.search(r"<kafka\.version>\s*([^<\s]+)\s*</kafka\.version>", pom.read_text())
    if not m:
        raise BrokerError(f"{pom} has no <kafka.version> property")
    return m.group(1)


def jars_dir(pom: Path = POM, environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get("KAFKA_JARS_DIR"):
        return Path(env["KAFKA_JARS_DIR"]).expanduser()
    base = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "redset-stream"
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()[:8]
    return base / f"kafka-{kafka_version(pom)}-{digest}"


def jars_cached(pom: Path = POM) -> bool:
    d = jars_dir(pom)
    return (d / COMPLETE).exists() and any(d.glob("kafka_2.13-*.jar"))


@dataclass(frozen=True)
class Java:
    path: str
    major: int
    version: str


def parse_java_version(text: str) -> tuple[int, str] | None:
    """(major, full) from ``java -version`` output: '17.0.15' -> 17, '1.8.0_402' -> 8."""
    m = re.search(r'version "([^"]+)"', text)
    if not m:
        return None
    full = m.group(1)
    parts = full.split(".")
    try:
        major = int(parts[1]) if parts[0] == "1" and len(parts) > 1 else int(parts[0].split("-")[0])
    except ValueError:
        return None
    return major, full


def find_java(environ: dict[str, str] | None = None) -> Java | None:
    """The java to run the broker with ($JAVA_HOME/bin/java, else PATH), or None."""
    env = os.environ if environ is None else environ
    candidates = []
    if env.get("JAVA_HOME"):
        candidates.append(str(Path(env["JAVA_HOME"]) / "bin" / "java"))
    if found := shutil.which("java", path=env.get("PATH")):
        candidates.append(found)
    for path in candidates:
        try:
            out = subprocess.run(
                [path, "-version"], capture_output=True, text=True, timeout=20
            ).stderr
        except (OSError, subprocess.SubprocessError):
            continue
        if parsed := parse_java_version(out):
            return Java(path, parsed[0], parsed[1])
    return None


def find_mvn() -> str | None:
    return shutil.which("mvn")


def fetch_jars(pom: Path = POM, *, quiet: bool = False) -> Path:
    """Copy the runtime jars of the pom into the cache (once); return the folder.

    Raises BrokerError with Maven's last lines when it fails (no network, no mvn).
    """
    target = jars_dir(pom)
    if jars_cached(pom):
        return target
    mvn = find_mvn()
    if not mvn:
        raise BrokerError("Maven (mvn) is not on PATH, so the Kafka jars cannot be fetched")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    cmd = [
        mvn,
        "-B",  # batch mode still logs one "Downloaded from" line per file, which we count
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={staging}",
    ]
    say = _Progress(f"fetching Apache Kafka {kafka_version(pom)} jars with Maven", quiet)
    tail: list[str] = []
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            tail = [*tail[-19:], line.rstrip()]
            if "Downloaded from" in line:
                say.step(line)
        code = proc.wait()
    finally:
        say.done()
    if code != 0 or not any(staging.glob("kafka_2.13-*.jar")):
        shutil.rmtree(staging, ignore_errors=True)
        errors = [t for t in tail if "ERROR" in t] or tail
        raise BrokerError(
            f"mvn could not fetch the Kafka jars (exit {code}): " + " | ".join(errors[-3:])
        )
    (staging / COMPLETE).write_text(kafka_version(pom) + "\n")
    if target.exists():  # another process finished first: keep its copy
        shutil.rmtree(staging, ignore_errors=True)
    else:
        staging.rename(target)
    return target


class _Progress:
    """One line that counts what Maven downloads (rewritten in place on a terminal)."""

    def __init__(self, what: str, quiet: bool) -> None:
        self.what, self.quiet, self.n = what, quiet, 0
        self.t0 = time.monotonic()
        self.mb = 0.0
        self.tty = sys.stderr.isatty()
        if not quiet:
            print(
                f"{what} (once; about 60 MB from an empty ~/.m2) ...", file=sys.stderr, flush=True
            )

    def step(self, line: str) -> None:
        self.n += 1
        if m := re.search(r"\(([\d.]+) (kB|MB|B) at", line):
            self.mb += float(m.group(1)) / {"B": 2**20, "kB": 1024, "MB": 1}[m.group(2)]
        if self.quiet:
            return
        if self.tty:
            print(f"\r  {self.n} files, {self.mb:.1f} MB", end="", file=sys.stderr, flush=True)
        elif self.n % 50 == 0:
            print(f"  {self.n} files, {self.mb:.1f} MB", file=sys.stderr, flush=True)

    def done(self) -> None:
        if not self.quiet:
            took = time.monotonic() - self.t0
            print(
                ("\r" if self.tty else "")
                + f"  done in {took:.0f} s ({self.n} files, {self.mb:.1f} MB downloaded)",
                file=sys.stderr,
            )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m common.kafka_jars",
        description="Fetch the Apache Kafka broker's jars (version pinned in common/kafka/pom.xml) "
        "into the cache once and print the folder. Needs Maven and Maven Central.",
    )
    p.add_argument("--check", action="store_true", help="only say whether they are cached")
    p.add_argument("--if-java", action="store_true", help="do nothing (exit 0) without Java 17+")
    args = p.parse_args(argv)
    if args.check:
        print(jars_dir() if jars_cached() else "not cached")
        return 0 if jars_cached() else 1
    if args.if_java:
        java = find_java()
        if java is None or java.major < MIN_JAVA:
            print("no Java 17+: the Kafka jars are not needed (Tansu is used)", file=sys.stderr)
            return 0
    try:
        print(fetch_jars())
    except BrokerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
