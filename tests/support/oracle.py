"""The batch oracle: what the chain must output for a synthetic dataset, from DuckDB over
the generator's table minus the manifest's broken rows (never from processors.logic.clean).

The generator writes the real files' NULL measures: the oracle's aggregates are SQL's
(``sum``, ``count(x)``, ``quantile_cont`` skip NULLs; a sum over no value is NULL), so the
chain's sums, known-counts and percentiles must follow the same semantics.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from common.contract import BOARDS, FLEET, QUERY_TYPES
from common.settings import Settings
from producers.synthetic import SyntheticSpec, generate
from tests.support.kafka_io import read_topic
from tests.support.oracle_health import check_health

PCTS = ((0.5, "p50"), (0.95, "p95"), (0.99, "p99"))
LAT = (("queue_ms", "queue"), ("execution_ms", "exec"), ("total_ms", "total"))


def close(a: float | None, b: float | None, rel: float = 1e-9, abs_: float = 1e-6) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=rel, abs_tol=abs_)


def latest(msgs: list[tuple[str | None, Any, int]], ident: tuple[str, ...]) -> dict[tuple, Any]:
    """Last message per identity (topic order within a key's partition = emission order)."""
    out: dict[tuple, Any] = {}
    for _, v, _ in msgs:
        out[tuple(v[f] for f in ident)] = v
    return out


def batch(
    spec_text: str, lost: frozenset[int] = frozenset()
) -> tuple[duckdb.DuckDBPyConnection, Any]:
    """The generated input in DuckDB (``src``, ``injected``, ``good``), without the rows in
    ``lost`` (rows RAW does not hold: the processors never saw them)."""
    data = generate(SyntheticSpec.parse(spec_text))
    t = data.table
    t = t.append_column("row", pa.array(range(1, t.num_rows + 1), pa.int64()))
    injected = data.injected
    if lost:
        gone = pa.array(sorted(lost), pa.int64())
        t = t.filter(pc.invert(pc.is_in(t["row"], value_set=gone)))
        injected = injected.filter(pc.invert(pc.is_in(injected["row"], value_set=gone)))
    con = duckdb.connect()
    con.register("src", t)
    con.register("injected", injected)
    con.execute(
        """
        CREATE TABLE good AS
        SELECT row, 'provisioned-' || CAST(instance_id AS BIGINT) AS cluster,
               CAST(user_id AS BIGINT) AS user_id, CAST(query_id AS BIGINT) AS query_id,
               epoch_ms(CAST(arrival_timestamp AS TIMESTAMP)) AS ts,
               epoch_us(CAST(arrival_timestamp AS TIMESTAMP)) AS ts_us,
               CAST(CAST(compile_duration_ms AS DOUBLE) AS BIGINT) AS compile,
               CAST(CAST(queue_duration_ms AS DOUBLE) AS BIGINT) AS queue,
               CAST(CAST(execution_duration_ms AS DOUBLE) AS BIGINT) AS exec,
               CAST(CAST(queue_duration_ms AS DOUBLE) AS BIGINT)
                 + CAST(CAST(execution_duration_ms AS DOUBLE) AS BIGINT) AS total,
               feature_fingerprint AS fp, was_aborted = 1 AS aborted, was_cached = 1 AS cached,
               query_type, mbytes_scanned AS scanned, mbytes_spilled AS spilled,
               num_joins, num_scans, num_aggregations, read_table_ids, write_table_ids
        FROM src WHERE row NOT IN (SELECT row FROM injected)
        """
    )
    return con, data


def check_chain(
    settings: Settings,
    spec_text: str,
    run_id: str,
    *,
    allow_dups: bool,
    lost: frozenset[int] = frozenset(),
) -> dict[str, int]:
    """Assert every output topic against the batch oracle over the input RAW holds (all
    generated rows but ``lost``); return a few counts."""
    con, _ = batch(spec_text, lost)
    size = settings.window_seconds * 1000
    con.execute(f"SET VARIABLE size = {size}")
    counts = check_reconciliation(con, settings, allow_dups=allow_dups)
    windows, late = check_query_metrics(con, settings, run_id)
    health = check_health(con, settings, windows)
    cm = check_compile_metrics(con, settings)
    n_boards = check_leaderboard(con, settings, run_id)
    n_flattened = check_flattened(con, settings, run_id, allow_dups=allow_dups)
    (n_null_compile, n_null_mb, n_null_fp) = con.execute(  # type: ignore[misc]
        "SELECT count(*) - count(compile), count(*) - count(scanned), count(*) - count(fp) FROM good"
    ).fetchone()
    return {
        "null_compile": n_null_compile,
        "null_mbytes": n_null_mb,
        "null_fingerprint": n_null_fp,
        **counts,
        "windows": len(windows),
        "compile_windows": len(cm),
        "boards": n_boards,
        "flattened": n_flattened,
        "late": len(late),
        **{f"health_{k}": v for k, v in health.items()},
    }


def check_reconciliation(
    con: duckdb.DuckDBPyConnection, settings: Settings, *, allow_dups: bool
) -> dict[str, int]:
    """RAW = CLEAN + dead letters + duplicates, row for row."""
    # fetched to the end: a result left open blocks the connection's next relation
    ((n_raw,),) = con.execute("SELECT count(*) FROM src").fetchall()
    clean = [v for _, v, _ in read_topic(settings, settings.topic("clean"))]
    dead = [v for _, v, _ in read_topic(settings, settings.topic("dead_letters"))]
    clean_rows = {v["row"] for v in clean}
    if not allow_dups:
        assert len(clean) == len(clean_rows)
    dup_rows = {v["row"] for v in dead if v["reason"] == "duplicate"}
    bad = {v["row"]: v["reason"] for v in dead if v["reason"] != "duplicate"}
    inj = con.sql("SELECT * FROM injected").to_arrow_table().to_pylist()
    assert dup_rows == {r["row"] for r in inj if r["kind"] == "duplicate"}
    assert bad == {r["row"]: r["kind"] for r in inj if r["kind"] != "duplicate"}
    assert len(clean_rows) + len(bad) + len(dup_rows) == n_raw
    assert clean_rows == {r for (r,) in con.execute("SELECT row FROM good").fetchall()}
    return {"raw": n_raw, "clean": len(clean_rows), "dead": len(bad), "duplicates": len(dup_rows)}


def check_query_metrics(
    con: duckdb.DuckDBPyConnection, settings: Settings, run_id: str
) -> tuple[dict[tuple, Any], set[str]]:
    """QUERY_METRICS: the late rows, and every cluster and fleet window; returns the
    windows (latest per identity) and the late rows' query keys."""
    size = settings.window_seconds * 1000
    grace = settings.grace_seconds * 1000
    qm = [v for _, v, _ in read_topic(settings, settings.topic("query_metrics"))]
    late = {v["query_key"] for v in qm if v["record"] == "late"}
    (exp_late,) = con.execute(  # type: ignore[misc]
        f"""SELECT count(*) FROM (
              SELECT ts, max(ts) OVER (PARTITION BY cluster ORDER BY ts, query_id, row
                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_max FROM good)
            WHERE (ts - ts % {size}) + {size} + {grace} <= prev_max"""
    ).fetchone()
    assert len(late) == exp_late
    windows = latest(
        [(None, v, 0) for v in qm if v["record"] == "window"], ("cluster", "window_start")
    )
    exp = expected_windows(con, size)
    assert set(windows) == set(exp), (
        "windows emitted differ from the batch windows: missing "
        f"{sorted(set(exp) - set(windows))[:10]}, extra {sorted(set(windows) - set(exp))[:10]}"
    )
    for key, e in exp.items():
        check_window(windows[key], e, key, run_id, size)
    return windows, late


def expected_windows(con: duckdb.DuckDBPyConnection, size: int) -> dict[tuple, dict[str, Any]]:
    """The batch's cluster and fleet windows by (cluster, window start)."""
    lat_cols = ", ".join(
        f"sum({c}) AS {n}_sum, count({c}) AS {n}_known, "
        + ", ".join(f"quantile_cont({c}, {q}) AS {n}_{lab}" for q, lab in PCTS)
        + ", "
        + ", ".join(
            f"list_sort(list({c}) FILTER (WHERE {c} IS NOT NULL))"
            f"[CAST(floor({q} * (count({c}) - 1)) AS BIGINT) + 1] AS {n}_{lab}_lower"
            for q, lab in PCTS
        )
        for n, c in LAT
    )
    type_cols = ", ".join(
        f"count(*) FILTER (WHERE query_type = '{t}') AS t_{t}" for t in QUERY_TYPES
    )
    base_sql = f"""count(*) AS queries, count(*) FILTER (WHERE aborted) AS aborted,
        count(*) FILTER (WHERE cached) AS cached, sum(scanned) AS scanned, sum(spilled) AS spilled,
        count(scanned) AS scanned_known, count(spilled) AS spilled_known,
        {type_cols}, {lat_cols}"""
    exp: dict[tuple, dict[str, Any]] = {}
    for grp in ("cluster", f"'{FLEET}'"):
        cur = con.execute(
            f"SELECT {grp} AS cluster, ts - ts % {size} AS ws, {base_sql} FROM good GROUP BY ALL"
        )
        cols = [d[0] for d in cur.description]
        for r in cur.fetchall():
            d = dict(zip(cols, r, strict=True))
            exp[(d["cluster"], d["ws"])] = d
    return exp


def check_window(
    got: dict[str, Any], e: dict[str, Any], key: tuple, run_id: str, size: int
) -> None:
    """One QUERY_METRICS window against its batch window (fleet percentiles: the sketch's)."""
    assert got["run_id"] == run_id
    assert got["window_end"] == key[1] + size
    for f in ("queries", "aborted", "cached"):
        assert got[f] == e[f], (key, f, got[f], e[f])
    assert close(got["abort_rate"], e["aborted"] / e["queries"])
    assert close(got["cache_hit_rate"], e["cached"] / e["queries"])
    assert got["count_by_type"] == {t: e[f"t_{t}"] for t in QUERY_TYPES}
    assert close(got["mbytes_scanned_sum"], e["scanned"]), key
    assert close(got["mbytes_spilled_sum"], e["spilled"]), key
    assert got["mbytes_scanned_known"] == e["scanned_known"], key
    assert got["mbytes_spilled_known"] == e["spilled_known"], key
    for n, _ in LAT:
        assert got[f"{n}_sum"] == e[f"{n}_sum"], (key, n)
        assert got[f"{n}_known"] == e[f"{n}_known"], (key, n)
        for _, lab in PCTS:
            if key[0] == FLEET:  # sketch: within 1 % of the exact lower quantile
                assert close(got[f"{n}_{lab}"], e[f"{n}_{lab}_lower"], rel=0.0101), (
                    key,
                    n,
                    lab,
                )
            else:
                assert close(got[f"{n}_{lab}"], e[f"{n}_{lab}"]), (key, n, lab)


def check_compile_metrics(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[tuple, Any]:
    """COMPILE_METRICS: every window, its complexity buckets and fingerprint counts."""
    size = settings.window_seconds * 1000
    cm = latest(
        [(None, v, 0) for _, v, _ in read_topic(settings, settings.topic("compile_metrics"))],
        ("cluster", "window_start"),
    )
    cur = con.execute(
        f"""
        WITH o AS (
          SELECT *, ts - ts % {size} AS ws,
            CASE WHEN num_joins IS NULL AND num_scans IS NULL AND num_aggregations IS NULL
                 THEN 'unknown' ELSE
                 CASE WHEN c = 0 THEN '0' WHEN c <= 2 THEN '1-2' WHEN c <= 5 THEN '3-5'
                      WHEN c <= 10 THEN '6-10' ELSE '11+' END END AS bucket,
            CASE WHEN fp IS NULL THEN NULL ELSE
              row_number() OVER (PARTITION BY cluster, fp ORDER BY ts, query_id, row) = 1 END AS first
          FROM (SELECT *, coalesce(num_joins, 0) + coalesce(num_scans, 0)
                          + coalesce(num_aggregations, 0) AS c FROM good))
        SELECT cluster, ws, count(*) AS queries, count(*) FILTER (WHERE compile > 0) AS compiled,
               count(compile) AS compile_known, count(fp) AS fp_known,
               sum(compile) AS compile_sum, quantile_cont(compile, 0.95) AS p95,
               count(*) FILTER (WHERE first) AS first, count(*) FILTER (WHERE NOT first) AS repeated,
               list(bucket) AS buckets, list(compile) AS compiles
        FROM o GROUP BY ALL
        """
    )
    cols = [d[0] for d in cur.description]
    exp_cm = {(r[0], r[1]): dict(zip(cols, r, strict=True)) for r in cur.fetchall()}
    assert set(cm) == set(exp_cm)
    for key, e in exp_cm.items():
        check_compile_window(cm[key], e, key)
    return cm


def check_compile_window(got: dict[str, Any], e: dict[str, Any], key: tuple) -> None:
    """One COMPILE_METRICS window against its batch window."""
    assert got["queries"] == e["queries"] and got["compiled"] == e["compiled"], key
    assert got["compile_ms_sum"] == e["compile_sum"], key
    assert got["compile_known"] == e["compile_known"], key
    assert got["fingerprint_known"] == e["fp_known"], key
    known = e["compile_known"]
    assert close(got["compile_ms_mean"], e["compile_sum"] / known if known else None), key
    assert close(got["compiled_share"], e["compiled"] / known if known else None), key
    assert close(got["compile_ms_p95"], e["p95"]), key
    assert got["fingerprints_first_seen"] == e["first"], key
    assert got["fingerprints_repeated"] == e["repeated"], key
    n_b: Counter[str] = Counter()
    k_b: Counter[str] = Counter()
    s_b: dict[str, int] = {}
    for b, c in zip(e["buckets"], e["compiles"], strict=True):
        n_b[b] += 1
        if c is not None:
            k_b[b] += 1
            s_b[b] = s_b.get(b, 0) + c
    for b, v in got["by_complexity"].items():
        assert v["queries"] == n_b[b] and v["compile_known"] == k_b[b], (key, b)
        assert v["compile_ms_sum"] == s_b.get(b), (key, b)


def check_leaderboard(con: duckdb.DuckDBPyConnection, settings: Settings, run_id: str) -> int:
    """LEADERBOARD: every board of every window; returns the boards checked."""
    lsize = settings.leaderboard_window_seconds * 1000
    k = settings.leaderboard_k
    lb = latest(
        [(None, v, 0) for _, v, _ in read_topic(settings, settings.topic("leaderboard"))],
        ("board", "window_start"),
    )
    con.execute(
        f"""
        CREATE TEMP TABLE lbw AS SELECT *, ts - ts % {lsize} AS ws,
          '{run_id}/' || cluster || '/' || query_id AS qk FROM good;
        CREATE TEMP TABLE acc AS
          SELECT ws, cluster || '/' || t AS entity FROM (
            SELECT ws, cluster, row, unnest(list_distinct(string_split(read_table_ids, ','))) AS t
            FROM lbw WHERE read_table_ids IS NOT NULL AND read_table_ids <> ''
            UNION ALL
            SELECT ws, cluster, row, unnest(list_distinct(string_split(write_table_ids, ','))) AS t
            FROM lbw WHERE write_table_ids IS NOT NULL AND write_table_ids <> '')
        """
    )
    board_sql = {
        # unknowns are skipped: a NULL value or entity is on no board
        "busiest_clusters": "SELECT ws, cluster AS entity, sum(exec) AS v FROM lbw WHERE exec IS NOT NULL GROUP BY ALL",
        "top_users_by_queries": "SELECT ws, cluster || '/' || user_id AS entity, count(*) AS v FROM lbw WHERE user_id IS NOT NULL GROUP BY ALL",
        "top_users_by_runtime": "SELECT ws, cluster || '/' || user_id AS entity, sum(total) AS v FROM lbw WHERE user_id IS NOT NULL AND total IS NOT NULL GROUP BY ALL",
        "longest_compiles": "SELECT ws, qk AS entity, compile AS v FROM lbw WHERE compile > 0",
        "biggest_spillers": "SELECT ws, qk AS entity, spilled AS v FROM lbw WHERE spilled > 0",
        "hottest_tables": "SELECT ws, entity, count(*) AS v FROM acc GROUP BY ALL",
    }
    n_boards = 0
    for board in BOARDS:
        rows = con.execute(
            f"""SELECT ws, entity, v FROM (
                  SELECT *, row_number() OVER (PARTITION BY ws ORDER BY v DESC, entity ASC) AS rk
                  FROM ({board_sql[board]})) WHERE rk <= {k} ORDER BY ws, rk"""
        ).fetchall()
        want: dict[int, list[tuple[str, float]]] = {}
        for ws, entity, v in rows:
            want.setdefault(ws, []).append((entity, float(v)))
        (all_ws,) = zip(*con.execute("SELECT DISTINCT ws FROM lbw").fetchall(), strict=True)
        for ws in all_ws:
            got = lb[(board, ws)]
            entries = [(e["entity"], float(e["value"])) for e in got["entries"]]
            assert [e["rank"] for e in got["entries"]] == list(range(1, len(entries) + 1))
            exp_entries = want.get(ws, [])
            assert [e for e, _ in entries] == [e for e, _ in exp_entries], (board, ws)
            assert all(close(a, b) for (_, a), (_, b) in zip(entries, exp_entries, strict=True))
            n_boards += 1
    return n_boards


def check_flattened(
    con: duckdb.DuckDBPyConnection, settings: Settings, run_id: str, *, allow_dups: bool
) -> int:
    """FLATTENED: one row per (query, table, access), reads with their freshness; returns
    the rows (distinct keys)."""
    flat = [v for _, v, _ in read_topic(settings, settings.topic("flattened"))]
    keys = {(v["query_key"], v["table_id"], v["access"]): v for v in flat}
    if not allow_dups:
        assert len(keys) == len(flat)
    (n_flat,) = con.execute(  # type: ignore[misc]
        """SELECT sum(len(list_distinct(string_split(coalesce(read_table_ids, ''), ',')
                                        .list_filter(lambda x: x <> ''))))
                + sum(len(list_distinct(string_split(coalesce(write_table_ids, ''), ',')
                                        .list_filter(lambda x: x <> '')))) FROM good"""
    ).fetchone()
    assert len(keys) == n_flat
    fresh = con.execute(
        f"""
        WITH ev AS (
          SELECT cluster, query_id, row, ts, ts_us, CAST(t AS BIGINT) AS t, 0 AS w FROM (
            SELECT *, unnest(list_distinct(string_split(read_table_ids, ','))) AS t FROM good
            WHERE read_table_ids IS NOT NULL AND read_table_ids <> '')
          UNION ALL
          SELECT cluster, query_id, row, ts, ts_us, CAST(t AS BIGINT), 1 FROM (
            SELECT *, unnest(list_distinct(string_split(write_table_ids, ','))) AS t FROM good
            WHERE write_table_ids IS NOT NULL AND write_table_ids <> ''))
        SELECT '{run_id}/' || cluster || '/' || query_id, t, ts_us, lw FROM (
          SELECT *, max(CASE WHEN w = 1 THEN ts_us END) OVER (
            PARTITION BY cluster, t ORDER BY ts_us, query_id, row, w
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS lw FROM ev) WHERE w = 0
        """
    ).fetchall()
    for qk, t, ts_us, lw in fresh:
        want_f = None if lw is None else (ts_us - lw) / 1000.0
        assert close(keys[(qk, t, "read")]["freshness_ms"], want_f), (qk, t)
    return len(keys)
