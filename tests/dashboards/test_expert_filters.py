"""Every filter applies to every panel of the expert page: for each filter given in the URL,
each panel's figures (the data its charts draw, its tables) equal a DuckDB query written
here against fact_query / flattened under that filter."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from bench.fixtures import fill_synthetic
from dashboards import units
from warehouse.store import Warehouse

from .expert_page import chart, frames, metrics, open_page, sql, texts

RUN = "run-a"
ENTITY = {
    "Cluster": "cluster",
    "User": "user_id",
    "Database": "database_id",
    "Fingerprint": "feature_fingerprint",
}


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Two runs over the same cluster names: a panel that ignored the run would mix them."""
    path = str(tmp_path_factory.mktemp("expert-filters") / "two.duckdb")
    wh = Warehouse.open(path)
    fill_synthetic(wh, 6000, seed=3, run_id=RUN)
    fill_synthetic(wh, 3000, seed=9, run_id="run-b")
    wh.close()
    return path


def _top(db: str, column: str) -> Any:
    return sql(
        db,
        f"SELECT {column} AS v FROM fact_query WHERE run_id = ? AND {column} IS NOT NULL "
        "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
        [RUN],
    )["v"][0]


def cases(db: str) -> dict[str, tuple[dict[str, str], str, list[Any]]]:
    """filter -> (URL parameters, predicate over fact_query q, its parameters)."""
    first = sql(db, "SELECT min(arrival_timestamp) AS t FROM fact_query WHERE run_id = ?", [RUN])
    start = datetime.combine(first["t"][0].date() + timedelta(days=3), datetime.min.time())
    end = start + timedelta(days=4)
    types = sql(
        db,
        "SELECT query_type FROM fact_query WHERE run_id = ? GROUP BY 1 "
        "ORDER BY count(*) DESC LIMIT 3",
        [RUN],
    )["query_type"].tolist()[1:]
    cluster, user, database = (_top(db, c) for c in ("cluster", "user_id", "database_id"))
    run = "q.run_id = ?"
    return {
        "run": ({"run_id": "run-b"}, run, ["run-b"]),
        "dates": (
            {"run_id": RUN, "start": start.isoformat(), "end": end.isoformat()},
            f"{run} AND q.arrival_timestamp >= ? AND q.arrival_timestamp < ?",
            [RUN, start, end],
        ),
        "kind": (
            {"run_id": RUN, "kinds": "serverless"},
            f"{run} AND q.cluster_kind = 'serverless'",
            [RUN],
        ),
        "cluster": (
            {"run_id": RUN, "cluster": cluster},
            f"{run} AND q.cluster = ?",
            [RUN, cluster],
        ),
        "user": ({"run_id": RUN, "user": str(user)}, f"{run} AND q.user_id = ?", [RUN, int(user)]),
        "database": (
            {"run_id": RUN, "database": str(database)},
            f"{run} AND q.database_id = ?",
            [RUN, int(database)],
        ),
        "types": (
            {"run_id": RUN, "qtypes": ",".join(types)},
            f"{run} AND q.query_type IN (?, ?)",
            [RUN, *types],
        ),
    }


def check_latency(at, db: str, where: str, p: list[Any]) -> None:
    rows = sql(
        db,
        f"SELECT total_duration_ms AS t, queue_duration_ms AS qd FROM fact_query q "
        f"WHERE {where} AND total_duration_ms IS NOT NULL",
        p,
    )
    rows["bin"] = np.floor(np.log10(np.maximum(rows["t"].astype(float), 1.0)) * 4).astype(int)
    want = rows.groupby("bin").agg(queries=("t", "size"), queue=("qd", "mean"))
    hist = chart(at, "Latency distribution", "queries")
    bins = np.round(np.log10(hist["bin_start_ms"]) * 4).astype(int)
    assert dict(zip(bins, hist["queries"], strict=True)) == want["queries"].to_dict()
    split = chart(at, "Where the time goes", "part")
    queue = split[split["part"] == "queue"]
    got = dict(
        zip(
            np.round(np.log10(queue["bin_start_ms"]) * 4).astype(int), queue["mean_ms"], strict=True
        )
    )
    assert got == pytest.approx(want["queue"].fillna(0.0).to_dict())


def check_compile(at, db: str, where: str, p: list[Any]) -> None:
    rows = sql(
        db,
        f"SELECT coalesce(num_joins, 0) + coalesce(num_scans, 0) + coalesce(num_aggregations, 0) AS x, "
        f"compile_duration_ms AS c FROM fact_query q WHERE {where} AND compile_duration_ms > 0",
        p,
    )
    rows = rows[rows["x"] >= 1]
    pts = chart(at, "Compile time against plan complexity", "queries")
    assert (
        dict(zip(pts["complexity"], pts["queries"], strict=True))
        == rows.groupby("x").size().to_dict()
    )
    r2 = (
        np.corrcoef(np.log10(rows["x"].astype(float)), np.log10(rows["c"].astype(float)))[0, 1] ** 2
    )
    caption = re.search(r"R² = ([\d.]+) over ([\d,]+) queries", texts(at))
    assert caption is not None and caption.group(2) == units.count(len(rows))
    assert float(caption.group(1)) == pytest.approx(r2, abs=0.006)


def check_time(at, db: str, where: str, p: list[Any]) -> None:
    (n, cached) = sql(
        db,
        f"SELECT count(*) AS n, count(*) FILTER (WHERE was_cached) AS c FROM fact_query q "
        f"WHERE {where}",
        p,
    ).iloc[0]
    cache = chart(at, "Cache-hit rate over time", "cache_hit_rate")
    assert cache["queries"].sum() == n
    assert (cache["cache_hit_rate"] * cache["queries"]).sum() == pytest.approx(cached)
    hourly = sql(
        db,
        f"SELECT date_trunc('hour', arrival_timestamp) AS h, avg(compile_duration_ms) AS c "
        f"FROM fact_query q WHERE {where} GROUP BY 1",
        p,
    )
    hourly = hourly[hourly["c"] > 0]
    comp = chart(at, "Hourly compile vs execution", "part")
    comp = comp[comp["part"] == "compile"]
    assert dict(zip(pd.to_datetime(comp["bucket"]), comp["mean_ms"], strict=True)) == pytest.approx(
        dict(zip(pd.to_datetime(hourly["h"]), hourly["c"], strict=True))
    )
    by = sql(
        db,
        f"SELECT query_type, CASE WHEN was_cached THEN 'cached' ELSE 'not cached' END AS cache, "
        f"count(*) AS n FROM fact_query q WHERE {where} AND execution_duration_ms IS NOT NULL "
        "GROUP BY ALL",
        p,
    )
    got = (
        chart(at, "Execution time per query type", "cache")
        .groupby(["query_type", "cache"])["queries"]
        .sum()
    )
    assert got.to_dict() == by.set_index(["query_type", "cache"])["n"].to_dict()


def check_plans(at, db: str, where: str, p: list[Any]) -> None:
    want = sql(
        db,
        f"SELECT feature_fingerprint AS fp, count(*) AS n FROM fact_query q WHERE {where} "
        "AND feature_fingerprint IS NOT NULL GROUP BY 1",
        p,
    ).set_index("fp")["n"]
    got = chart(at, "Fingerprint repetition", "executions")
    assert len(got) == min(30, len(want))
    assert all(want[fp] == n for fp, n in zip(got["fingerprint"], got["executions"], strict=True))
    assert got["executions"].max() == want.max()


def check_tables(at, db: str, where: str, p: list[Any]) -> None:
    want = sql(
        db,
        f"""SELECT fl.cluster || ' / table ' || fl.table_id AS name,
                          count(*) FILTER (WHERE fl.access = 'read') AS reads,
                          count(*) FILTER (WHERE fl.access = 'write') AS writes
                       FROM flattened fl JOIN fact_query q ON q.query_key = fl.query_key
                       WHERE {where} GROUP BY 1""",
        p,
    ).set_index("name")
    got = chart(at, "Hot tables", "reads")
    assert len(got) == min(30, len(want)) > 0
    for name, reads, writes in zip(got["table_name"], got["reads"], got["writes"], strict=True):
        assert (want.loc[name, "reads"], want.loc[name, "writes"]) == (reads, writes), name
    assert (got["reads"] + got["writes"]).max() == (want["reads"] + want["writes"]).max()
    shown = next(df for df in frames(at) if "Reads" in df.columns and "Table" in df.columns)
    assert list(shown["Reads"]) == [units.count(v) for v in got["reads"]]


def check_entity_tables(at, db: str, where: str, p: list[Any]) -> None:
    """The drill-down and Top-K tables: each entity's query count."""
    seen = 0
    for df in frames(at):
        for header, column in ENTITY.items():
            if header in df.columns and "Queries" in df.columns:
                want = sql(
                    db,
                    f"SELECT {column}::VARCHAR AS e, count(*) AS n FROM fact_query q WHERE {where} "
                    f"GROUP BY 1",
                    p,
                ).set_index("e")["n"]
                assert [units.count(want[e]) for e in df[header]] == list(df["Queries"])
                seen += 1
    assert seen


CHECKS = {
    "latency": check_latency,
    "compile": check_compile,
    "time": check_time,
    "plans": check_plans,
    "tables": check_tables,
    "topk": check_entity_tables,
}


@pytest.mark.parametrize("name", ["run", "dates", "kind", "cluster", "user", "database", "types"])
def test_every_panel_obeys_the_filter(two_runs: str, dash_env, name: str) -> None:
    dash_env(two_runs)
    url, where, p = cases(two_runs)[name]
    (n,) = sql(two_runs, f"SELECT count(*) AS n FROM fact_query q WHERE {where}", p).iloc[0]
    (everything,) = sql(two_runs, "SELECT count(*) AS n FROM fact_query").iloc[0]
    assert 0 < n < everything  # the filter leaves some queries out, and some in
    for panel, check in CHECKS.items():
        at = open_page(two_runs, **url, panel=panel)
        assert metrics(at)["Queries"] == units.count(n), panel
        assert not at.warning, [w.value for w in at.warning]
        check(at, two_runs, where, p)
        if panel == "latency":
            check_entity_tables(at, two_runs, where, p)
