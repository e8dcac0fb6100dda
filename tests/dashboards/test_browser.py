"""Headless Chromium: both dashboards at 1280x720 and 1920x1080, on a finished run (a real
replay through the chain into DuckDB) and on a live one (``pipeline.demo`` replaying at a
rate), screenshots in ``test-artifacts/`` named page-size-state. On every page: no "nan",
no raw snake_case name in visible text or table headers, no Streamlit error text, no
Deploy button or developer menu; the headline tiles (read by their label) equal a DuckDB
query over the source data (the batch oracle's rows, never the pipeline's tables).

Skips only when no Chromium exists and CI is not set; in CI a missing browser fails."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import requests

from common.settings import Settings
from dashboards import units
from pipeline.demo import dashboard_argv
from producers.synthetic import SyntheticSpec, generate
from tests.support.oracle import batch

from .conftest import ROOT
from .pagecheck import (
    ARTIFACTS,
    ERROR_TEXT,
    chromium_or_skip,
    figure_problems,
    metric,
    no_exception,
    open_page,
    page_problems,
    run_sql,
    shoot,
    table_headers,
    tile,
    visible_text,
    wait_for_queries,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration]
SIZES = ((1280, 720), (1920, 1080))
PAGES = ("aggregate", "expert")
FINISHED_SPEC = "synthetic:rows=8000,seed=21,clusters=8,days=2,error_rate=0.01"
# no broken or duplicate rows: the rows a paused live replay acknowledged are its queries
LIVE_SPEC = "synthetic:rows=100000,seed=23,clusters=6,days=3"
LIVE_RATE = 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def replay_db(broker_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> str:
    from pipeline.experiment import run_experiment

    db = str(tmp_path_factory.mktemp("browser") / "replayed.duckdb")
    work = tmp_path_factory.mktemp("browser-run")
    s = broker_settings.with_(
        run_dir=str(work / "run"), state_dir=str(work / "state"), window_seconds=3600
    )
    _, _, checks = run_experiment(FINISHED_SPEC, db, s, idle_s=6, progress=False)
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    return db


def _start_dashboard(
    name: str, env: dict[str, str], args: list[str] | None = None, cwd: Path | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    """``streamlit run dashboards/<name>.py`` on a free port, once it answers its health check."""
    port = _free_port()
    proc = subprocess.Popen(
        dashboard_argv(name, port, args),
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).ok:
                break
        except requests.RequestException:
            time.sleep(0.3)
    assert proc.poll() is None
    return proc, port


def _base_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DUCKDB_PATH", "DASHBOARD_READ_ONLY")
    }


@pytest.fixture(scope="module")
def servers(replay_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    procs = {}
    # started outside the repository: the Streamlit config next to the scripts still applies
    elsewhere = tmp_path_factory.mktemp("cwd")
    env = dict(_base_env(), PYTHONPATH=str(ROOT))
    try:
        # the expert gets its file as options after `--`, the aggregate by the environment
        procs["expert"] = _start_dashboard(
            "expert", env, ["--db", replay_db, "--read-only"], cwd=elsewhere
        )
        procs["aggregate"] = _start_dashboard(
            "aggregate", dict(env, DUCKDB_PATH=replay_db, DASHBOARD_READ_ONLY="1"), cwd=elsewhere
        )
        yield {n: f"http://127.0.0.1:{port}" for n, (_, port) in procs.items()}
    finally:
        for proc, _ in procs.values():
            proc.terminate()
            proc.wait(15)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    exe = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=exe,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(browser: Any) -> Iterator[Any]:
    pg = browser.new_page(viewport={"width": 1600, "height": 1200})
    yield pg
    pg.close()


def source_figures(spec: str) -> dict[str, float]:
    """The whole run's headline from DuckDB over the source rows (batch oracle)."""
    con, _ = batch(spec)
    n, aborted, cached = con.execute(
        "SELECT count(*), avg(aborted::INT), avg(cached::INT) FROM good"
    ).fetchone()  # type: ignore[misc]
    con.close()
    return {"Queries": n, "Abort rate": aborted, "Cache-hit rate": cached}


# --- a finished run -------------------------------------------------------------------------
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name", PAGES)
def test_finished_run(
    servers: dict[str, str], browser: Any, name: str, size: tuple[int, int]
) -> None:
    pg = open_page(browser, servers[name], size)
    try:
        shoot(pg, name, size, "finished")
        problems = page_problems(pg) + figure_problems(pg, source_figures(FINISHED_SPEC))
        if name == "expert":
            assert table_headers(pg), "the fleet's tables show headers to check"
    finally:
        pg.close()
    assert not problems, f"{name} {size[0]}x{size[1]} finished: " + "; ".join(problems)


# --- a live run (make demo) -----------------------------------------------------------------
def _acked(ckpt: Path) -> int:
    import json

    try:
        return int(json.loads(ckpt.read_text())["acked"])
    except (OSError, ValueError, KeyError):
        return 0


@pytest.fixture(scope="module")
def live_demo(
    broker_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """``python -m pipeline.demo`` on the test broker: chain, both dashboards, a replay."""
    work = tmp_path_factory.mktemp("live-demo")
    s = broker_settings.with_(
        topic_prefix=f"demo-{uuid.uuid4().hex[:6]}.",
        run_dir=str(work / "run"),
        state_dir=str(work / "state"),
        duckdb_path=str(work / "data" / "demo.duckdb"),
        refresh_seconds=2.0,
    )
    out = work / "demo.out"
    cmd = [
        sys.executable,
        "-m",
        "pipeline.demo",
        "--source",
        LIVE_SPEC,
        "--rate",
        str(LIVE_RATE),
        "--expert-port",
        "0",
        "--aggregate-port",
        "0",
    ]
    with out.open("wb") as fh:
        proc = subprocess.Popen(
            cmd,
            env=s.to_env(_base_env()),
            cwd=ROOT,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        urls: dict[str, str] = {}
        deadline = time.monotonic() + 180
        while len(urls) < 2 and time.monotonic() < deadline and proc.poll() is None:
            urls = dict(re.findall(r"(\w+) dashboard: (http://\S+)", out.read_text()))
            time.sleep(0.5)
        assert len(urls) == 2, out.read_text()[-3000:]
        ckpts: list[Path] = []
        while time.monotonic() < deadline and not (ckpts and _acked(ckpts[0]) >= 5_000):
            ckpts = sorted(Path(s.run_dir).glob("replay-*.json"))
            time.sleep(0.5)
        assert ckpts and _acked(ckpts[0]) >= 5_000, out.read_text()[-3000:]
        yield {"urls": urls, "checkpoint": ckpts[0]}
    finally:
        proc.send_signal(signal.SIGTERM)  # the demo stops its children by PID
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name", PAGES)
def test_live_run(
    live_demo: dict[str, Any], browser: Any, name: str, size: tuple[int, int]
) -> None:
    pg = open_page(browser, live_demo["urls"][name], size)
    try:
        wait_for_queries(pg, 150)
        shoot(pg, name, size, "live")
        problems = page_problems(pg)
    finally:
        pg.close()
    assert not problems, f"{name} {size[0]}x{size[1]} live: " + "; ".join(problems)


def test_live_headline_equals_the_rows_sent(live_demo: dict[str, Any], browser: Any) -> None:
    """Paused, the chain drains: the expert's fleet count is the source's first N rows in
    replay order, N = the rows the replay acknowledged."""
    ckpt: Path = live_demo["checkpoint"]
    ckpt.with_suffix(".pause").touch()
    deadline = time.monotonic() + 60
    last = -1
    while time.monotonic() < deadline:
        now = _acked(ckpt)
        if now == last:
            break
        last = now
        time.sleep(3.0)
    con, _ = batch(LIVE_SPEC)
    (want,) = con.execute(
        f"SELECT count(*) FROM (SELECT * FROM good ORDER BY ts_us, query_id LIMIT {int(last)})"
    ).fetchone()  # type: ignore[misc]
    con.close()
    pg = open_page(browser, live_demo["urls"]["expert"], SIZES[0])
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and tile(pg, "Queries") != units.count(want):
            time.sleep(2.0)
        assert tile(pg, "Queries") == units.count(want), (tile(pg, "Queries"), want)
        # the Replay tab lists the demo's replay (started elsewhere) with rows / total
        total = generate(SyntheticSpec.parse(LIVE_SPEC)).table.num_rows
        pg.get_by_role("tab", name="Replay").click()
        pg.get_by_text(f"{int(last):,} / {total:,} rows", exact=False).wait_for(timeout=30_000)
        pg.screenshot(path=str(ARTIFACTS / "expert-1280x720-live-replay.png"))
    finally:
        pg.close()  # the replay stays paused: the tests after this one have the cores


# --- the SQL box (expert) ---------------------------------------------------------------------


def test_expert_sql_box(servers: dict[str, str], browser: Any, replay_db: str) -> None:
    """A cut result says how many rows there are, a wide one is cut with a note (never
    Streamlit's MessageSizeError page), and the result survives a tab switch."""
    con = duckdb.connect(replay_db, read_only=True)
    (n,) = con.execute("SELECT count(*) FROM fact_query").fetchone()  # type: ignore[misc]
    con.close()
    assert n > 1000
    size = SIZES[0]
    pg = open_page(browser, servers["expert"], size)
    try:
        pg.get_by_role("tab", name="SQL").click()
        run_sql(pg, "SELECT query_id, query_type FROM fact_query")
        pg.get_by_text(f"1,000 of {n:,} rows", exact=False).wait_for(timeout=30_000)
        pg.get_by_role("tab", name="Explore").click()
        time.sleep(1.0)
        pg.get_by_role("tab", name="SQL").click()
        pg.get_by_text(f"1,000 of {n:,} rows", exact=False).wait_for(timeout=10_000)
        pg.screenshot(path=str(ARTIFACTS / f"expert-{size[0]}x{size[1]}-finished-sql.png"))
        run_sql(pg, "SELECT repeat('x', 20000) AS wide, query_id FROM fact_query")
        pg.get_by_text("Cut to fit the page", exact=False).wait_for(timeout=30_000)
        text = visible_text(pg)
        assert not ERROR_TEXT.search(text), ERROR_TEXT.findall(text)
        assert pg.locator('[data-testid="stException"]').count() == 0
    finally:
        pg.close()


# --- drill-down and deep links (expert) -----------------------------------------------------


def test_expert_in_browser_with_drill_down(
    servers: dict[str, str], page: Any, replay_db: str
) -> None:
    page.goto(servers["expert"])
    page.wait_for_selector('[data-testid="stMetric"]', timeout=60_000)
    time.sleep(1.0)
    no_exception(page)
    con = duckdb.connect(replay_db, read_only=True)
    cluster, cn = con.execute(
        "SELECT cluster, count(*) FROM fact_query GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
    ).fetchone()  # type: ignore[misc]
    con.close()
    # drill down: open the busiest cluster from the clusters table's picker
    page.get_by_text("Clusters", exact=True).scroll_into_view_if_needed()
    picker = page.locator('[data-testid="stSelectbox"]').filter(has_text="Open cluster").first
    picker.click()
    page.get_by_role("option", name=cluster, exact=True).click()
    page.wait_for_url(re.compile(r"cluster="), timeout=30_000)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and metric(page, "Queries") != units.count(cn):
        time.sleep(0.5)
    no_exception(page)
    assert metric(page, "Queries") == units.count(cn)
    page.screenshot(path=str(ARTIFACTS / "expert-1600x1200-finished-cluster.png"), full_page=True)


def test_deep_link_reproduces_the_view(servers: dict[str, str], page: Any, replay_db: str) -> None:
    con = duckdb.connect(replay_db, read_only=True)
    run_id, cluster, cn = con.execute(
        "SELECT run_id, cluster, count(*) FROM fact_query WHERE query_type = 'select' GROUP BY ALL ORDER BY 3 DESC LIMIT 1"
    ).fetchone()  # type: ignore[misc]
    con.close()
    page.goto(f"{servers['expert']}/?run_id={run_id}&cluster={cluster}&qtypes=select")
    page.wait_for_selector('[data-testid="stMetric"]', timeout=60_000)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and metric(page, "Queries") != units.count(cn):
        time.sleep(0.5)
    assert metric(page, "Queries") == units.count(cn)
    no_exception(page)


def test_live_expert_shows_the_first_run_without_a_reload(
    broker_settings: Settings, page: Any, tmp_path: Path
) -> None:
    """Opened before any data, a live expert page looks again every refresh and shows the
    first run once it is materialized (it used to stay at "No data yet" until reloaded)."""
    from common.topics import ensure_topics
    from producers.synthetic import SyntheticSpec
    from tests.support.records import messages, produce_all

    s = broker_settings.with_(
        topic_prefix=f"live-{uuid.uuid4().hex[:6]}.",
        duckdb_path=str(tmp_path / "live.duckdb"),
        refresh_seconds=1.0,
        run_dir=str(tmp_path / "run"),
        state_dir=str(tmp_path / "state"),
    )
    ensure_topics(s)
    proc, port = _start_dashboard("expert", s.to_env(_base_env()))
    try:
        page.goto(f"http://127.0.0.1:{port}")
        page.get_by_text("No data yet", exact=False).wait_for(timeout=60_000)
        produce_all(s, {"clean": messages(SyntheticSpec(rows=300, seed=5))["clean"]})
        page.get_by_text("Slowest queries", exact=False).wait_for(timeout=60_000)
        no_exception(page)
    finally:
        proc.terminate()
        proc.wait(15)
