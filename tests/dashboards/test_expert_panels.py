"""The expert page's panels as an expert reads them: human headers and units in every table,
the latency histogram in ms on a log axis with log-spaced bins, the split's named parts,
compile vs complexity on log axes with a fit and its R², the query card, ranked search
whose picked hit opens, Top K with its K."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pytest

from dashboards import units

from .expert_page import chart, charts, frames, open_page, sql, texts

SNAKE = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)+$")
UNIT = re.compile(r"^(n/a|-?[\d,]+(\.\d)? (ms|s|min|h|d))$")
PANELS = ("latency", "compile", "time", "plans", "tables", "topk", "anomalies")


def _spec(at, prefix: str) -> dict:
    for e in at.get("vega_lite_chart"):
        spec = json.loads(e.proto.spec)
        title = spec.get("title")
        if str(title.get("text") if isinstance(title, dict) else title).startswith(prefix):
            return spec
    raise AssertionError(prefix)


@pytest.mark.parametrize("panel", PANELS)
def test_every_table_has_human_headers_and_no_nan(filled_db: str, dash_env, panel: str) -> None:
    (cluster,) = sql(filled_db, "SELECT min(cluster) AS c FROM fact_query")["c"]
    dash_env(filled_db)
    for url in ({}, {"cluster": cluster}):
        at = open_page(filled_db, run_id="run-a", panel=panel, **url)
        assert frames(at)
        for df in frames(at):
            for header in df.columns:
                assert not SNAKE.match(str(header)) and (" " in header or header[0].isupper()), (
                    header
                )
            cells = df.astype(str).to_numpy().ravel().tolist()
            assert not any(c.lower() in ("nan", "none", "<na>", "nat") for c in cells), df.columns


def test_latency_histogram_in_ms_on_a_log_axis(filled_db: str, dash_env) -> None:
    dash_env(filled_db)
    at = open_page(filled_db, run_id="run-a")
    spec = _spec(at, "Latency distribution")
    x = spec["encoding"]["x"]
    assert x["scale"]["type"] == "log" and "ms" in x["title"] and "x2" in spec["encoding"]
    hist = chart(at, "Latency distribution", "queries")
    # log-spaced bins that touch: each ends where the next starts, a constant ratio wide
    ratios = hist["bin_end_ms"] / hist["bin_start_ms"]
    assert np.allclose(ratios, 10**0.25)
    (lo, hi, n) = sql(
        filled_db,
        "SELECT min(total_duration_ms) lo, max(total_duration_ms) hi, count(*) n "
        "FROM fact_query WHERE total_duration_ms IS NOT NULL",
    ).iloc[0]
    assert hist["queries"].sum() == n
    assert hist["bin_start_ms"].min() <= max(lo, 1) and hist["bin_end_ms"].max() > hi


def test_split_names_its_parts(filled_db: str, dash_env) -> None:
    dash_env(filled_db)
    at = open_page(filled_db, run_id="run-a")
    split = chart(at, "Where the time goes", "part")
    assert set(split["part"]) == {"queue", "compile", "execution after compile"}
    want = sql(
        filled_db,
        """SELECT floor(log10(greatest(total_duration_ms, 1)) * 4)::INT AS bin,
                   avg(greatest(execution_duration_ms - coalesce(compile_duration_ms, 0), 0)) AS e
               FROM fact_query WHERE total_duration_ms IS NOT NULL GROUP BY 1""",
    ).set_index("bin")["e"]
    part = split[split["part"] == "execution after compile"]
    got = dict(
        zip(np.round(np.log10(part["bin_start_ms"]) * 4).astype(int), part["mean_ms"], strict=True)
    )
    assert got == pytest.approx(want.fillna(0.0).to_dict())


@pytest.mark.parametrize(("measure", "column"), [("joins", "num_joins"), ("scans", "num_scans")])
def test_compile_vs_complexity_log_axes_fit_and_r2(
    filled_db: str, dash_env, measure: str, column: str
) -> None:
    dash_env(filled_db)
    at = open_page(filled_db, run_id="run-a", panel="compile")
    next(s for s in at.selectbox if s.key == "compile-measure").select(measure).run()
    assert not at.exception, at.exception
    spec = _spec(at, "Compile time")
    dots = spec["layer"][0]["encoding"]
    assert dots["x"]["scale"]["type"] == "log" and dots["y"]["scale"]["type"] == "log"
    assert measure in dots["x"]["title"]
    rows = sql(
        filled_db,
        f"SELECT {column}::DOUBLE AS x, compile_duration_ms::DOUBLE AS c FROM fact_query "
        f"WHERE compile_duration_ms > 0 AND {column} >= 1",
    )
    lx, ly = np.log10(rows["x"]), np.log10(rows["c"])
    slope, intercept = np.polyfit(lx, ly, 1)
    r2 = np.corrcoef(lx, ly)[0, 1] ** 2
    curve = chart(at, "Compile time", "fit_compile_ms")
    assert np.allclose(
        np.log10(curve["fit_compile_ms"]), intercept + slope * np.log10(curve["complexity"])
    )
    assert curve["complexity"].min() == rows["x"].min() and curve[
        "complexity"
    ].max() == pytest.approx(rows["x"].max())
    m = re.search(r"complexity\^(-?[\d.]+), R² = ([\d.]+) over ([\d,]+) queries", texts(at))
    assert m is not None
    assert float(m.group(1)) == pytest.approx(slope, abs=0.006)
    assert float(m.group(2)) == pytest.approx(r2, abs=0.006)
    assert m.group(3) == units.count(len(rows))


def test_freshness_and_durations_in_human_units(filled_db: str, dash_env) -> None:
    dash_env(filled_db)
    at = open_page(filled_db, run_id="run-a", panel="tables")
    table = next(df for df in frames(at) if "Reads" in df.columns)
    fresh = [c for c in table.columns if c.startswith("Freshness")]
    assert fresh and all(UNIT.match(v) for v in table[fresh[0]]), table[fresh[0]].tolist()
    legend = _spec(at, "Hot tables")["layer"][0]["encoding"]["color"]["title"]
    assert re.search(r"\((ms|s|min|h|d)\)$", legend)
    slow = next(df for df in frames(at) if "Total" in df.columns)
    assert all(UNIT.match(v) for v in slow["Total"])


def test_query_detail_is_a_card(filled_db: str, dash_env) -> None:
    row = sql(
        filled_db,
        "SELECT cluster, query_id, total_duration_ms, mbytes_scanned, file, dataset "
        "FROM fact_query ORDER BY total_duration_ms DESC LIMIT 1",
    ).iloc[0]
    dash_env(filled_db)
    at = open_page(filled_db, run_id="run-a", cluster=row["cluster"], query=str(row["query_id"]))
    card = {
        m.value.split("  \n")[0].strip("*"): m.value.split("  \n")[1]
        for m in at.markdown
        if m.value.startswith("**") and "  \n" in m.value
    }
    assert card["Total latency"] == units.duration(row["total_duration_ms"])
    assert card["Data scanned"] == units.data_size(row["mbytes_scanned"])
    assert card["Cluster"] == row["cluster"]
    assert not at.json
    shown = " ".join([*card, *card.values()]).lower()
    for provenance in ("file", "row", "query_key", "dataset"):
        assert provenance not in shown
    assert row["file"] not in card.values()


HIT = re.compile(r"^(\w+) (\S+?)(?:…)?(?: on (\S+))? \(([\d,]+) queries\)$")


def _hits(at) -> tuple[Any, list[tuple[str, str, str, int]]]:
    """The hit picker and its hits as (kind, match, cluster, queries), best first."""
    pick = next(s for s in at.selectbox if s.key == "search-pick")
    out = []
    for label in pick.options:
        m = HIT.match(label)
        assert m is not None, label
        kind, match, cluster, n = m.groups()
        out.append((kind, match, cluster or match, int(n.replace(",", ""))))
    return pick, out


def test_search_ranks_exact_ids_first_then_by_queries_and_opens_the_pick(
    filled_db: str, dash_env
) -> None:
    # the number with the most exact hits: a query, user, database and table id at once
    want = sql(
        filled_db,
        """WITH ids AS (
          SELECT 'query' AS kind, query_id AS n, cluster, 1 AS q FROM fact_query
          UNION ALL SELECT 'user', user_id, cluster, count(*) FROM fact_query GROUP BY ALL
          UNION ALL SELECT 'database', database_id, cluster, count(*) FROM fact_query GROUP BY ALL
          UNION ALL SELECT 'table', table_id, cluster, count(DISTINCT query_key) FROM flattened GROUP BY ALL)
        SELECT * FROM ids WHERE n = (SELECT n FROM ids GROUP BY n ORDER BY count(*) DESC, n LIMIT 1)""",
    )
    n = int(want["n"][0])
    assert len(want) > 1
    dash_env(filled_db)
    at = open_page(filled_db, run_id="run-a")
    next(t for t in at.text_input if t.key == "search").input(str(n)).run()
    pick, hits = _hits(at)
    exact = [h for h in hits if h[0] != "cluster"]  # a cluster name part is not an exact id
    assert hits[: len(exact)] == exact
    assert [h[3] for h in exact] == sorted((h[3] for h in exact), reverse=True)
    # the best-ranked hits are the exact ones with the most queries behind them
    best = sorted(want["q"], reverse=True)[: len(exact)]
    assert [h[3] for h in exact] == best
    assert {(k, c) for k, _, c, _ in exact} <= set(zip(want["kind"], want["cluster"], strict=True))
    # the second hit, not the first, opens
    kind, match, cluster, _ = hits[1]
    pick.select_index(1).run()
    next(b for b in at.button if b.key == "search-open").click().run()
    assert not at.exception, at.exception
    assert at.query_params["cluster"] == cluster
    assert kind == "cluster" or at.query_params[kind] == match


def test_search_finds_clusters_by_name(filled_db: str, dash_env) -> None:
    dash_env(filled_db)
    at = open_page(filled_db, run_id="run-a")
    next(t for t in at.text_input if t.key == "search").input("Provisioned-1").run()
    pick, hits = _hits(at)
    want = sql(
        filled_db,
        "SELECT cluster, count(*) AS n FROM fact_query WHERE cluster LIKE '%provisioned-1%' "
        "GROUP BY 1 ORDER BY cluster = 'provisioned-1' DESC, n DESC, cluster",
    )
    assert hits == [("cluster", c, c, n) for c, n in zip(want["cluster"], want["n"], strict=True)]
    pick.select_index(1).run()
    next(b for b in at.button if b.key == "search-open").click().run()
    assert at.query_params["cluster"] == want["cluster"][1]


def test_top_k_follows_its_k_entity_and_metric(filled_db: str, dash_env) -> None:
    dash_env(filled_db)
    at = open_page(filled_db, run_id="run-a", panel="topk")
    next(n for n in at.number_input if n.key == "topk-k").set_value(3).run()
    next(s for s in at.selectbox if s.key == "topk-entity").select("user").run()
    next(s for s in at.selectbox if s.key == "topk-metric").select("total execution time").run()
    assert not at.exception, at.exception
    want = sql(
        filled_db,
        "SELECT user_id, sum(execution_duration_ms) AS v FROM fact_query "
        "GROUP BY 1 HAVING v IS NOT NULL ORDER BY v DESC, 1 LIMIT 3",
    )
    table = next(df for df in frames(at) if "Total execution time" in df.columns)
    assert list(table["User"]) == [str(u) for u in want["user_id"]]
    assert list(table["Total execution time"]) == [units.duration(v) for v in want["v"]]
    assert any(t.startswith("Top K: 3 users by total execution time") for t in charts(at))


def test_top_k_and_complexity_controls_are_in_the_link(filled_db: str, dash_env) -> None:
    dash_env(filled_db)
    at = open_page(filled_db, run_id="run-a", panel="topk")
    next(n for n in at.number_input if n.key == "topk-k").set_value(4).run()
    next(s for s in at.selectbox if s.key == "topk-metric").select("data scanned").run()
    assert (at.query_params["k"], at.query_params["by"]) == ("4", "scanned")
    # the link reproduces the view in a new session
    again = open_page(filled_db, **{k: at.query_params[k] for k in at.query_params})
    assert any(t.startswith("Top K: 4 clusters by data scanned") for t in charts(again))
    want = sql(
        filled_db,
        "SELECT cluster, sum(mbytes_scanned) AS v FROM fact_query GROUP BY 1 "
        "HAVING v IS NOT NULL ORDER BY v DESC, 1 LIMIT 4",
    )
    table = next(df for df in frames(again) if "Data scanned" in df.columns)
    assert list(table["Cluster"]) == list(want["cluster"])
    assert list(table["Data scanned"]) == [units.data_size(v) for v in want["v"]]
    # a link's control that is not valid falls back to its default, the link kept
    odd = open_page(filled_db, run_id="run-a", panel="compile", measure="joins", k="9999")
    assert next(s for s in odd.selectbox if s.key == "compile-measure").value == "joins"
    assert "joins (log scale)" in json.dumps(_spec(odd, "Compile time"))
    assert odd.query_params["k"] == "9999"
