"""Security: credentials never reach output or logs; the SQL box and the dashboard queries
cannot be turned into writes, file reads or SQL injection."""

from __future__ import annotations

import subprocess
import sys
import uuid
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.fixtures import fill_synthetic
from common.settings import Settings
from dashboards.queries import Data, Filters
from dashboards.sqlbox import SqlRejected, run
from warehouse.store import Warehouse

ROOT = Path(__file__).resolve().parents[2]
SECRET = f"pw-{uuid.uuid4().hex}"  # unique: any occurrence in output is a leak
KEY_SECRET = f"kp-{uuid.uuid4().hex}"

#: text an attacker would put in a URL parameter or a search box
HOSTILE = st.sampled_from(
    [
        "x' OR '1'='1",
        "'; DROP TABLE clean_queries; --",
        "1; ATTACH '/tmp/evil.duckdb' AS e",
        '" OR ""="',
        "%' UNION SELECT * FROM kafka_offsets --",
        "read_csv('/etc/passwd')",
        "\x00",
    ]
) | st.text(max_size=40)


@pytest.fixture(scope="module")
def wh(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    w = Warehouse.open(str(tmp_path_factory.mktemp("sec") / "w.duckdb"))
    fill_synthetic(w, 3000, seed=5, run_id="run-s")
    return w


def _counts(w: Warehouse) -> dict[str, int]:
    tables = w.query(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'main' AND table_type = 'BASE TABLE'"
    )["table_name"]
    return {t: int(w.scalar(f'SELECT count(*) FROM "{t}"')) for t in tables}


def _databases(w: Warehouse) -> list[str]:
    return sorted(w.query("SELECT database_name FROM duckdb_databases()")["database_name"])


def _cli(args: list[str], s: Settings, tmp_path: Path, timeout: float = 120) -> str:
    env = s.to_env()
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    logs = "".join(
        p.read_text(errors="replace")
        for p in Path(s.run_dir).rglob("*")
        if p.is_file()
        and p.suffix in {".log", ".txt", ".json", ""}
        and p.stat().st_size < 5_000_000
    )
    return proc.stdout + proc.stderr + logs + f"\nexit={proc.returncode}"


# --- credentials ----------------------------------------------------------------------------


@pytest.mark.integration
def test_credentials_never_printed_on_success_paths(topics: Settings, tmp_path: Path) -> None:
    """PLAINTEXT broker with secrets configured: every component runs, none prints them."""
    s = replace(
        topics,
        sasl_username="alice",
        sasl_password=SECRET,
        ssl_key_password=KEY_SECRET,
        run_dir=str(tmp_path / "run"),
    )
    db = str(tmp_path / "w.duckdb")
    out = _cli(["-m", "common.topics"], s, tmp_path)
    out += _cli(["-m", "producers.replay", "synthetic:rows=300,seed=3"], s, tmp_path)
    out += _cli(["-m", "processors", "clean", "--until-idle", "3"], s, tmp_path)
    out += _cli(["-m", "warehouse", "materialize", "--db", db, "--until-idle", "3"], s, tmp_path)
    assert out.count("exit=0") == 4, out[-3000:]
    assert SECRET not in out and KEY_SECRET not in out


@pytest.mark.integration
def test_credentials_never_printed_when_authentication_fails(
    topic_settings: Settings, tmp_path: Path
) -> None:
    """SASL against a broker that does not speak it: a clear failure, still no secret."""
    s = replace(
        topic_settings,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_username="alice",
        sasl_password=SECRET,
        connect_timeout_s=3.0,
        message_timeout_ms=3000,
        run_dir=str(tmp_path / "run"),
    )
    for args in (
        ["-m", "common.topics"],
        ["-m", "producers.replay", "synthetic:rows=50,seed=3"],
    ):
        out = _cli(args, s, tmp_path)
        assert "exit=0" not in out, f"{args} succeeded without authentication: {out[-2000:]}"
        assert "Traceback" not in out, out[-3000:]
        assert s.bootstrap_servers in out  # one clear line naming the broker it could not use
        assert SECRET not in out


def test_settings_never_render_secrets() -> None:
    s = Settings.from_env({"KAFKA_SASL_PASSWORD": SECRET, "KAFKA_SSL_KEY_PASSWORD": KEY_SECRET})
    assert s.sasl_password == SECRET  # it is configured, just never rendered
    for text in (repr(s), str(s), repr(s.redacted()), f"{s}"):
        assert SECRET not in text and KEY_SECRET not in text


# --- SQL box --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM kafka_offsets",
        "SELECT * FROM read_csv('/etc/passwd')",
        "COPY (SELECT 1) TO '{tmp}/leak.csv'",
        "ATTACH ':memory:' AS m",
        "CREATE TABLE x AS SELECT 1",
        "UPDATE clean_queries SET query_id = 0",
        "SELECT 1; DELETE FROM clean_queries",
        "SELECT * FROM fact_query, '/etc/passwd'",
        "SELECT * FROM '{tmp}/leak.csv'",
    ],
)
def test_sql_box_cannot_write_attach_or_read_files(wh: Warehouse, sql: str, tmp_path: Path) -> None:
    before, dbs_before = _counts(wh), _databases(wh)
    (tmp_path / "secret.csv").write_text("a\n1\n")
    with pytest.raises(SqlRejected):
        run(wh, sql.format(tmp=tmp_path))
    assert _counts(wh) == before
    assert not (tmp_path / "leak.csv").exists()
    assert _databases(wh) == dbs_before


def test_sql_box_limits_rows_and_interrupts_long_queries(wh: Warehouse) -> None:
    assert len(run(wh, "SELECT * FROM fact_query", limit=7)) == 7
    slow = "SELECT count(*) FROM fact_query a, fact_query b, fact_query c WHERE a.query_id + b.query_id > c.query_id"
    with pytest.raises(SqlRejected, match="interrupted"):
        run(wh, slow, timeout_s=0.5)
    assert run(wh, "SELECT count(*) AS n FROM fact_query")["n"].iloc[0] > 0  # still usable


# --- query parameters -----------------------------------------------------------------------


_BASELINE: dict[str, int] = {}


def baseline_counts(w: Warehouse) -> dict[str, int]:
    """Row counts of every table the first time asked (nothing may change them later)."""
    if not _BASELINE:
        _BASELINE.update(_counts(w))
    return _BASELINE


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=HOSTILE, cluster=HOSTILE, fp=HOSTILE)
def test_hostile_parameters_are_data_never_sql(
    wh: Warehouse, text: str, cluster: str, fp: str
) -> None:
    """URL values and search text are bound parameters: never an error, never more rows."""
    baseline_counts(wh)
    d = Data(wh)
    base = Filters("run-s")
    everything = len(d.export_rows(base))
    params = {"run": "run-s", "cluster": cluster, "fingerprint": fp, "user": text, "start": text}
    f = Filters.from_params(params, "run-s")
    # not numbers / not timestamps: dropped (st.text may draw a number, e.g. "0")
    assert f.user is None or f.user == int(text)
    assert f.start is None or f.start == datetime.fromisoformat(text)
    for method in (d.export_rows, d.slowest, d.latency_distribution, d.tables):
        assert len(method(f)) <= max(everything, len(method(base)))
    assert len(d.search("run-s", text)) <= 20
    known = set(wh.query("SELECT DISTINCT cluster FROM fact_query")["cluster"])
    assert cluster in known or d.totals(replace(base, cluster=cluster))["queries"] == 0
    assert d.time_range(text) == (None, None)  # an unknown run id, not an injection
    assert _counts(wh) == baseline_counts(wh)
