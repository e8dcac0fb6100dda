from __future__ import annotations

from pathlib import Path

import pytest

from bench.fixtures import fill_synthetic
from warehouse.store import Warehouse

ROOT = Path(__file__).resolve().parents[2]
EXPERT = str(ROOT / "dashboards" / "expert.py")
AGGREGATE = str(ROOT / "dashboards" / "aggregate.py")


@pytest.fixture(scope="session")
def filled_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("dash") / "filled.duckdb")
    wh = Warehouse.open(path)
    fill_synthetic(wh, 20_000, seed=3, run_id="run-a")
    wh.close()
    return path


@pytest.fixture
def empty_db(tmp_path: Path) -> str:
    path = str(tmp_path / "empty.duckdb")
    Warehouse.open(path).close()
    return path


@pytest.fixture
def dash_env(monkeypatch: pytest.MonkeyPatch):
    """Point the dashboards at a DuckDB file, read-only (no broker)."""

    def use(db: str) -> None:
        monkeypatch.setenv("DUCKDB_PATH", db)
        monkeypatch.setenv("DASHBOARD_READ_ONLY", "1")
        monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)

    return use
