"""The cluster health columns of query_metrics and the ``cluster_health`` view: filled by
the materializer from the stage's records, and by ``fill_synthetic`` the way the stage
computes them (checked against processors.logic.health, a separate implementation)."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from typing import Any

from bench.fixtures import fill_synthetic
from common.contract import FLEET, HEALTH_METRICS
from common.settings import Settings
from processors.logic import health, query_metrics
from warehouse.materializer import Materializer
from warehouse.store import Warehouse

from .conftest import FakeMessage

H = 3_600_000
_COLS = (*HEALTH_METRICS, "compile_share", *(f"{m}_z" for m in HEALTH_METRICS))


def _close(a: Any, b: Any) -> bool:
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)):
        na = a is None or (isinstance(a, float) and math.isnan(a))
        nb = b is None or (isinstance(b, float) and math.isnan(b))
        return na and nb
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)


def _row(ex: int | None, queue: int, spilled: float, cached: bool = False) -> list[Any]:
    return query_metrics.qm_row(
        {
            "query_type": "select",
            "was_aborted": False,
            "was_cached": cached,
            "queue_duration_ms": queue,
            "execution_duration_ms": ex,
            "total_duration_ms": None if ex is None else ex + queue,
            "mbytes_scanned": 10.0,
            "mbytes_spilled": spilled,
            "compile_duration_ms": 5,
        }
    )


def _records() -> list[dict[str, Any]]:
    a = health.Anomaly(trailing=4, min_trailing=2, z_threshold=2.0)
    out: list[dict[str, Any]] = []
    hist: list[list[Any]] = []
    parts: dict[str, dict[str, Any]] = {}
    for i in range(6):
        rows = [_row(100 + 10 * i + j, j % 2, 0.0) for j in range(4)]
        if i == 5:
            rows += [_row(10_000, 50, 9.0, True)] * 3  # one odd window
        rec, parts[f"c{i}"] = query_metrics.window_record(
            "r", "c-1", i * H, (i + 1) * H, rows, True
        )
        z, hist = health.score(rec, hist, a)
        out.append({**rec, **z})
    out.append(query_metrics.fleet_record("r", 5 * H, 6 * H, {"c-1": parts["c5"]}))
    return out


def test_materialized_records_fill_the_cluster_health_view() -> None:
    s = Settings()
    wh = Warehouse.open(":memory:")
    mat = Materializer(s, wh, topics=["query_metrics"])
    recs = _records()
    t = s.topic("query_metrics")
    mat.write([FakeMessage(t, json.dumps(v).encode(), i) for i, v in enumerate(recs)])
    got = wh.query("SELECT * FROM cluster_health ORDER BY cluster, window_start")
    assert len(got) == len(recs)
    by_key = {(r["cluster"], r["window_start"]): r for r in recs}
    for row in got.to_dict("records"):
        ws = int(row["window_start"].timestamp() * 1000)
        rec = by_key[(row["cluster"], ws)]
        for c in _COLS:
            assert _close(row[c], rec[c]), (c, row[c], rec[c])
        assert row["bottleneck"] == rec["bottleneck"]
        if row["cluster"] == FLEET:
            assert row["anomalies"] is None
        else:
            assert list(row["anomalies"]) == rec["anomalies"]
    odd = by_key[("c-1", 5 * H)]
    assert odd["anomalies"], "the odd window is flagged (else this test checks little)"


def test_fill_synthetic_health_equals_the_stage_logic() -> None:
    wh = Warehouse.open(":memory:")
    fill_synthetic(wh, 6000, seed=5, run_id="r")
    cur = wh.cursor()
    rows = cur.execute(
        """SELECT cluster, arrival_us // 1000 // 3600000 * 3600000 AS ws, query_type, was_aborted,
                  was_cached, queue_duration_ms, execution_duration_ms, total_duration_ms,
                  mbytes_scanned, mbytes_spilled, compile_duration_ms
           FROM clean_queries ORDER BY arrival_us"""
    ).fetchall()
    names = (
        "query_type",
        "was_aborted",
        "was_cached",
        "queue_duration_ms",
        "execution_duration_ms",
        "total_duration_ms",
        "mbytes_scanned",
        "mbytes_spilled",
        "compile_duration_ms",
    )
    wins: dict[tuple[str, int], list[list[Any]]] = defaultdict(list)
    for r in rows:
        wins[(r[0], r[1])].append(query_metrics.qm_row(dict(zip(names, r[2:], strict=True))))
    want: dict[tuple[str, int], dict[str, Any]] = {}
    hist: dict[str, list[list[Any]]] = defaultdict(list)
    for c, ws in sorted(wins):
        rec, _ = query_metrics.window_record("r", c, ws, ws + H, wins[(c, ws)], True)
        z, hist[c] = health.score(rec, hist[c], health.DEFAULT_ANOMALY)
        want[(c, ws)] = {**rec, **z}
    got = wh.query(
        "SELECT *, epoch_ms(window_start) AS ws FROM cluster_health WHERE cluster <> 'fleet'"
    )
    assert len(got) == len(want)
    flagged = 0
    for row in got.to_dict("records"):
        w = want[(row["cluster"], row["ws"])]
        for c in _COLS:
            assert _close(row[c], w[c]), (row["cluster"], row["ws"], c, row[c], w[c])
        assert row["bottleneck"] == w["bottleneck"]
        assert list(row["anomalies"]) == w["anomalies"]
        assert row["health_trailing"] == w["health_trailing"]
        flagged += len(w["anomalies"])
    assert flagged > 0
