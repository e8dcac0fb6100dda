"""Security on a real broker: the local Apache Kafka with a SASL_SSL listener (PLAIN, a
broker certificate signed by a CA made here with keytool).

With the right credentials, replay, one stage and the materializer work end to end; with a
wrong password or a CA that did not sign the broker's certificate, each fails within the
connect timeout with one line naming the broker and the cause. No password appears in any
output or log, the broker's included.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from common.kafka_broker import KafkaBroker, SaslSslListener
from common.settings import Settings
from tests.support.broker import TEST_SESSION_TIMEOUT_MS, require_kafka
from tests.support.keystores import BrokerKeys, keytool, make_broker_keys, make_ca

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
USER = "alice"
PASSWORD = f"pw-{uuid.uuid4().hex}"  # unique: any occurrence in output is a leak
WRONG_PASSWORD = f"wrong-{uuid.uuid4().hex}"
#: the clients' connect timeout; a failing command must end, start-up included, within it
CONNECT_TIMEOUT_S = 10.0
ROWS = 300


@dataclass(frozen=True)
class SecureBroker:
    broker: KafkaBroker
    keys: BrokerKeys
    untrusted_ca: Path  # a CA of its own that never signed the broker's certificate
    secrets: tuple[str, ...]  # every password in play, none of which may be printed

    @property
    def bootstrap(self) -> str:
        return self.broker.sasl_ssl_bootstrap


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    require_kafka()
    if keytool() is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("keytool (from the JDK) is missing")
        pytest.skip("keytool (from the JDK) is missing")
    folder = tmp_path_factory.mktemp("sasl-ssl")
    keys = make_broker_keys(folder / "keys")
    untrusted = make_ca(folder / "untrusted", "untrusted-ca")
    ca_passwords = tuple(p.read_text() for p in folder.rglob("*.storepass"))
    listener = SaslSslListener(keys.keystore, keys.keystore_password, {USER: PASSWORD})
    # the broker's own settings are the defaults (its readiness check is on PLAINTEXT),
    # whatever KAFKA_* variables this test run has
    broker = KafkaBroker(Settings.from_env({}, run_dir=str(folder / "broker")), sasl_ssl=listener)
    broker.start()
    try:
        yield SecureBroker(
            broker,
            keys,
            untrusted,
            (PASSWORD, WRONG_PASSWORD, keys.keystore_password, *ca_passwords),
        )
    finally:
        broker.stop()


def _client_settings(secure: SecureBroker, tmp_path: Path, **changes: object) -> Settings:
    base = Settings.from_env(
        {},
        bootstrap_servers=secure.bootstrap,
        security_protocol="SASL_SSL",
        sasl_mechanism="PLAIN",
        sasl_username=USER,
        sasl_password=PASSWORD,
        ssl_ca_location=str(secure.keys.ca_pem),
        connect_timeout_s=CONNECT_TIMEOUT_S,
        message_timeout_ms=int(CONNECT_TIMEOUT_S * 1000),
        session_timeout_ms=TEST_SESSION_TIMEOUT_MS,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
        run_dir=str(tmp_path / "run"),
        state_dir=str(tmp_path / "state"),
    )
    return base.with_(**changes)


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str
    elapsed_s: float


def _run(args: list[str], s: Settings, timeout: float = 180) -> Run:
    env = s.to_env()
    env["PYTHONPATH"] = str(ROOT)
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - t0)


def _logs(*folders: Path) -> str:
    """Every file the commands and the broker wrote that could hold text."""
    return "".join(
        p.read_text(errors="replace")
        for folder in folders
        if folder.exists()
        for p in folder.rglob("*")
        if p.is_file() and p.suffix in {".log", ".txt", ".json", ""} and p.stat().st_size < 20e6
    )


def _assert_no_secret(text: str, secure: SecureBroker) -> None:
    for secret in secure.secrets:
        assert secret not in text, "a password was printed or logged"


def _said(stderr: str) -> list[str]:
    """stderr without Python's warnings (a dependency's deprecation notice at import)."""
    lines = stderr.splitlines()
    out: list[str] = []
    for i, line in enumerate(lines):
        if "Warning: " in line or (i and "Warning: " in lines[i - 1] and line.startswith(" ")):
            continue
        if line.strip():
            out.append(line)
    return out


def _commands(db: Path) -> dict[str, list[str]]:
    return {
        "replay": ["producers.replay", f"synthetic:rows={ROWS},seed=3", "--no-progress"],
        "stage": ["processors", "clean", "--until-idle", "3"],
        "materializer": ["warehouse", "materialize", "--db", str(db), "--until-idle", "3"],
    }


def test_pipeline_works_over_sasl_ssl_with_the_right_credentials(
    secure: SecureBroker, tmp_path: Path
) -> None:
    s = _client_settings(secure, tmp_path)
    db = tmp_path / "w.duckdb"
    runs = {name: _run(args, s) for name, args in _commands(db).items()}
    for name, r in runs.items():
        assert r.code == 0, f"{name} failed over SASL_SSL: {r.stderr[-3000:]}"
    assert f"sent {ROWS} to {s.topic('raw')}" in runs["replay"].stdout
    counts = ast.literal_eval(runs["materializer"].stdout.split("materialized ", 1)[1].strip())
    assert counts["raw"] == ROWS
    assert counts["clean"] + counts.get("dead_letters", 0) == ROWS
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.sql("SELECT count(*) FROM fact_query").fetchall()[0][0] == counts["clean"]
    finally:
        con.close()
    everything = "".join(r.stdout + r.stderr for r in runs.values())
    _assert_no_secret(everything + _logs(Path(s.run_dir), Path(s.state_dir)), secure)
    _assert_no_secret(secure.broker.log_path.read_text(errors="replace"), secure)


@pytest.mark.parametrize("command", ["replay", "stage", "materializer"])
@pytest.mark.parametrize(
    ("case", "cause"),
    [
        ("wrong password", "SASL authentication failed"),
        ("untrusted CA", "SSL handshake failed: certificate verify failed"),
    ],
)
def test_refused_connection_fails_fast_with_one_line(
    secure: SecureBroker, tmp_path: Path, command: str, case: str, cause: str
) -> None:
    if case == "wrong password":
        s = _client_settings(secure, tmp_path, sasl_password=WRONG_PASSWORD)
    else:
        s = _client_settings(secure, tmp_path, ssl_ca_location=str(secure.untrusted_ca))
    r = _run(_commands(tmp_path / "w.duckdb")[command], s)
    assert r.code != 0, f"{command} succeeded with a {case}: {r.stdout[-2000:]}"
    assert r.elapsed_s < CONNECT_TIMEOUT_S, f"{command} took {r.elapsed_s:.1f} s to fail"
    said = _said(r.stderr)
    assert len(said) == 1, f"{command} said more than one line:\n" + "\n".join(said)
    line = said[0]
    assert line.startswith("error: ") and secure.bootstrap in line and cause in line, line
    _assert_no_secret(r.stdout + r.stderr + _logs(Path(s.run_dir), Path(s.state_dir)), secure)
    _assert_no_secret(secure.broker.log_path.read_text(errors="replace"), secure)
