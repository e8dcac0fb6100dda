"""Headless Chromium: both dashboards against a DuckDB filled by a real replay through the
chain; no exception text, KPI numbers equal the views, one drill-down, screenshots.

Skips only when no Chromium exists and CI is not set; in CI a missing browser fails."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import duckdb
import pytest
import requests

from common.settings import Settings
from dashboards.data import human_int, pct

from .conftest import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.integration]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _browser_or_skip() -> str:
    if CHROMIUM:
        return CHROMIUM
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("CI=true but no chromium: .ci/run must install it")
    pytest.skip("no chromium on this machine (install Debian's chromium)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def replay_db(broker_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> str:
    from processors.experiment import run_experiment

    db = str(tmp_path_factory.mktemp("browser") / "replayed.duckdb")
    work = tmp_path_factory.mktemp("browser-run")
    s = broker_settings.with_(
        run_dir=str(work / "run"), state_dir=str(work / "state"), window_seconds=3600
    )
    _, _, checks = run_experiment(
        "synthetic:rows=8000,seed=21,clusters=8,days=2,error_rate=0.01",
        db,
        s,
        idle_s=6,
        progress=False,
    )
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    return db


def _start_dashboard(
    name: str, env: dict[str, str], args: list[str] | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    """``streamlit run dashboards/<name>.py`` on a free port, once it answers its health check."""
    port = _free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboards" / f"{name}.py"),
           "--server.headless", "true", "--server.port", str(port), "--server.address", "127.0.0.1",
           "--browser.gatherUsageStats", "false"] + (["--", *args] if args else [])  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
    return {k: v for k, v in os.environ.items()
            if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DUCKDB_PATH", "DASHBOARD_READ_ONLY")}  # fmt: skip


@pytest.fixture(scope="module")
def servers(replay_db: str):
    procs = {}
    try:
        # the expert gets its file as options after `--`, the aggregate by the environment
        procs["expert"] = _start_dashboard(
            "expert", _base_env(), ["--db", replay_db, "--read-only"]
        )
        procs["aggregate"] = _start_dashboard(
            "aggregate", dict(_base_env(), DUCKDB_PATH=replay_db, DASHBOARD_READ_ONLY="1")
        )
        yield {n: f"http://127.0.0.1:{port}" for n, (_, port) in procs.items()}
    finally:
        for proc, _ in procs.values():
            proc.terminate()
            proc.wait(15)


@pytest.fixture(scope="module")
def page():
    exe = _browser_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=exe,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )  # fmt: skip
        pg = browser.new_page(viewport={"width": 1600, "height": 1200})
        yield pg
        browser.close()


def _metric(page, label: str) -> str:
    loc = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return loc.locator('[data-testid="stMetricValue"]').inner_text().strip()


def _no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0
    assert "Traceback" not in page.content()


def test_aggregate_in_browser(servers, page, replay_db: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(servers["aggregate"])
    page.wait_for_selector('[data-testid="stMetric"]', timeout=60_000)
    time.sleep(1.0)
    _no_exception(page)
    con = duckdb.connect(replay_db, read_only=True)
    row = con.execute(
        "SELECT queries, abort_rate, cache_hit_rate FROM v_fleet_kpi WHERE final ORDER BY window_start DESC LIMIT 1"
    ).fetchone()
    if row is None:  # no closed window yet: the tiles show the newest running window
        row = con.execute(
            "SELECT queries, abort_rate, cache_hit_rate FROM v_fleet_kpi ORDER BY window_start DESC LIMIT 1"
        ).fetchone()
    con.close()
    assert row is not None
    assert _metric(page, "Queries") == human_int(row[0])
    assert _metric(page, "Abort rate") == pct(row[1])
    assert _metric(page, "Cache-hit rate") == pct(row[2])
    page.screenshot(path=str(ARTIFACTS / "aggregate.png"), full_page=True)


def test_expert_in_browser_with_drill_down(servers, page, replay_db: str) -> None:
    page.goto(servers["expert"])
    page.wait_for_selector('[data-testid="stMetric"]', timeout=60_000)
    time.sleep(1.0)
    _no_exception(page)
    con = duckdb.connect(replay_db, read_only=True)
    (n,) = con.execute("SELECT count(*) FROM fact_query").fetchone()  # type: ignore[misc]
    cluster, cn = con.execute(
        "SELECT cluster, count(*) FROM fact_query GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
    ).fetchone()  # type: ignore[misc]
    con.close()
    assert _metric(page, "Queries") == human_int(n)
    page.screenshot(path=str(ARTIFACTS / "expert-fleet.png"), full_page=True)
    # drill down: open the busiest cluster from the clusters table's picker
    page.get_by_text("Clusters", exact=True).scroll_into_view_if_needed()
    picker = page.locator('[data-testid="stSelectbox"]').filter(has_text="Open cluster").first
    picker.click()
    page.get_by_role("option", name=cluster, exact=True).click()
    page.wait_for_url(re.compile(r"cluster="), timeout=30_000)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _metric(page, "Queries") != human_int(cn):
        time.sleep(0.5)
    _no_exception(page)
    assert _metric(page, "Queries") == human_int(cn)
    page.screenshot(path=str(ARTIFACTS / "expert-cluster.png"), full_page=True)
    assert (ARTIFACTS / "expert-cluster.png").stat().st_size > 10_000
    # another chart panel: kept in the URL, drawn without an exception
    page.get_by_text("Hot tables & freshness", exact=True).click()
    page.wait_for_url(re.compile(r"panel=tables"), timeout=30_000)
    page.wait_for_selector('[data-testid="stVegaLiteChart"]', timeout=30_000)
    _no_exception(page)
    page.screenshot(path=str(ARTIFACTS / "expert-tables.png"), full_page=True)


def test_deep_link_reproduces_the_view(servers, page, replay_db: str) -> None:
    con = duckdb.connect(replay_db, read_only=True)
    run_id, cluster, cn = con.execute(
        "SELECT run_id, cluster, count(*) FROM fact_query WHERE query_type = 'select' GROUP BY ALL ORDER BY 3 DESC LIMIT 1"
    ).fetchone()  # type: ignore[misc]
    con.close()
    page.goto(f"{servers['expert']}/?run_id={run_id}&cluster={cluster}&qtypes=select")
    page.wait_for_selector('[data-testid="stMetric"]', timeout=60_000)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _metric(page, "Queries") != human_int(cn):
        time.sleep(0.5)
    assert _metric(page, "Queries") == human_int(cn)
    _no_exception(page)


def test_live_expert_shows_the_first_run_without_a_reload(
    broker_settings: Settings, page, tmp_path: Path
) -> None:
    """Opened before any data, a live expert page looks again every refresh and shows the
    first run once it is materialized (it used to stay at "No data yet" until reloaded)."""
    from common.topics import ensure_topics
    from producers.synthetic import SyntheticSpec
    from tests.warehouse.conftest import messages, produce_all

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
        _no_exception(page)
        page.screenshot(path=str(ARTIFACTS / "expert-live-first-run.png"), full_page=True)
    finally:
        proc.terminate()
        proc.wait(15)
