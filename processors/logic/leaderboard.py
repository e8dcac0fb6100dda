"""LEADERBOARD: top-k boards over a window (pure logic).

Row kept in window state: ``[cluster, user_id, execution_ms, total_ms, compile_ms,
mbytes_spilled, query_key, read_table_ids, write_table_ids]``. Ranking: value desc, entity
asc (deterministic tie-break); ranks 1..k. Boards (``common.contract.BOARDS``):

* ``busiest_clusters``: cluster by sum of execution_duration_ms
* ``top_users_by_queries``: ``cluster/user_id`` by query count
* ``top_users_by_runtime``: ``cluster/user_id`` by sum of total_duration_ms
* ``longest_compiles``: query_key by compile_duration_ms (only > 0)
* ``biggest_spillers``: query_key by mbytes_spilled (only > 0)
* ``hottest_tables``: ``cluster/table_id`` by accesses (a query reading and writing a
  table counts 2; an id repeated within one list counts once)

Unknown values (NULL: not measured) are skipped, never ranked as 0: a query without a
known compile time is not on ``longest_compiles``, a query without a user not on the user
boards, a NULL duration adds nothing to a sum (a cluster with no known execution time is
not on ``busiest_clusters``), a NULL table-id list accesses no table.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from common.contract import BOARDS, VARIANT_CURRENT, VARIANT_FINAL


def lb_row(rec: dict[str, Any]) -> list[Any]:
    return [
        rec["cluster"],
        rec["user_id"],
        rec["execution_duration_ms"],
        rec["total_duration_ms"],
        rec["compile_duration_ms"],
        rec["mbytes_spilled"],
        rec["query_key"],
        rec["read_table_ids"],
        rec["write_table_ids"],
    ]


def top_k(values: dict[str, float], k: int) -> list[tuple[str, float]]:
    """Top k (entity, value) by value desc, entity asc."""
    return sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))[:k]


def board_values(rows: list[list[Any]]) -> dict[str, dict[str, float]]:
    clusters: dict[str, float] = defaultdict(float)
    user_q: dict[str, float] = defaultdict(float)
    user_rt: dict[str, float] = defaultdict(float)
    compiles: dict[str, float] = {}
    spills: dict[str, float] = {}
    tables: dict[str, float] = defaultdict(float)
    for cluster, user, exe, total, comp, spill, qk, reads, writes in rows:
        if exe is not None:
            clusters[cluster] += exe
        if user is not None:
            u = f"{cluster}/{user}"
            user_q[u] += 1
            if total is not None:
                user_rt[u] += total
        if comp is not None and comp > 0:
            compiles[qk] = comp
        if spill is not None and spill > 0:
            spills[qk] = spill
        for t in dict.fromkeys(reads or ()):
            tables[f"{cluster}/{t}"] += 1
        for t in dict.fromkeys(writes or ()):
            tables[f"{cluster}/{t}"] += 1
    return {
        "busiest_clusters": clusters,
        "top_users_by_queries": user_q,
        "top_users_by_runtime": user_rt,
        "longest_compiles": compiles,
        "biggest_spillers": spills,
        "hottest_tables": tables,
    }


def cluster_partial(rows: list[list[Any]], k: int, final: bool) -> dict[str, Any]:
    """A cluster's top-k per board over one window. Every entity is cluster-scoped, so
    the fleet top-k is exactly the top-k of the union of the clusters' top-k lists."""
    values = board_values(rows)
    return {"final": final, "boards": {b: top_k(values[b], k) for b in BOARDS}}


def boards(
    run_id: str, start: int, end: int, partials: dict[str, dict[str, Any]], k: int
) -> list[dict[str, Any]]:
    """One message per board (BOARDS order), each holding its whole ranked list, merged
    from the latest partial of every cluster. Variant ``final`` when every cluster's
    partial is final, else ``current``."""
    variant = VARIANT_FINAL if all(p["final"] for p in partials.values()) else VARIANT_CURRENT
    out = []
    for board in BOARDS:
        union: dict[str, float] = {}
        for p in partials.values():
            for entity, value in p["boards"][board]:
                union[entity] = value
        entries = [
            {
                "board": board,
                "rank": i + 1,
                "entity": entity,
                "value": value,
                "window_start": start,
                "window_end": end,
            }
            for i, (entity, value) in enumerate(top_k(union, k))
        ]
        out.append(
            {
                "record": "board",
                "run_id": run_id,
                "board": board,
                "variant": variant,
                "window_start": start,
                "window_end": end,
                "k": k,
                "entries": entries,
            }
        )
    return out
