"""Leaderboards over a range, recomputed from the query-level rows (pure, testable).

The LEADERBOARD topic ranks each hour on its own, and the union of hourly top-k lists is
not the top-k of a week or a run (an entity 11th in every hour can lead the week), so a
board over a range is the same ranking (value desc, entity key asc, unknowns skipped, as
``processors/logic/leaderboard.py`` ranks) over that range's queries.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pandas as pd

from dashboards import units
from dashboards.queries import Data, Filters
from dashboards.tiles import movement

#: where the expert dashboard is served (its own server, so its own port)
EXPERT_URL_ENV = "EXPERT_URL"
DEFAULT_EXPERT_URL = "http://localhost:8501"


def expert_url() -> str:
    return os.environ.get(EXPERT_URL_ENV, "").strip() or DEFAULT_EXPERT_URL


@dataclass(frozen=True)
class Board:
    name: str
    title: str
    unit: str  # the value column's header
    fmt: Callable[[Any], str]
    kind: str  # entity kind: cluster, user, query, table
    empty: str  # why a board can be empty


BOARDS: tuple[Board, ...] = (
    Board(
        "busiest_clusters",
        "Busiest clusters",
        "execution time",
        units.duration,
        "cluster",
        "no query in this range has a known execution time",
    ),
    Board(
        "top_users_by_runtime",
        "Slowest users",
        "total runtime",
        units.duration,
        "user",
        "no query in this range has a known user and runtime",
    ),
    Board(
        "top_users_by_queries",
        "Most active users",
        "queries",
        units.count,
        "user",
        "no query in this range has a known user",
    ),
    Board(
        "longest_compiles",
        "Longest compiles",
        "compile time",
        units.duration,
        "query",
        "no query in this range compiled (every compile time is 0 or unknown)",
    ),
    Board(
        "biggest_spillers",
        "Biggest spillers",
        "spilled",
        units.data_size,
        "query",
        "no query in this range spilled to disk",
    ),
    Board(
        "hottest_tables",
        "Hottest tables",
        "accesses",
        units.count,
        "table",
        "no query in this range read or wrote a known table",
    ),
)

# per board: the grouping (cluster, ident[, key]), the value, the rows that count, and the
# entity key the stream ranks ties by, built after grouping (a string per group, not per row)
_SIMPLE: dict[str, tuple[str, str, str, str]] = {
    "busiest_clusters": (
        "cluster, NULL::BIGINT AS ident",
        "sum(execution_duration_ms)",
        "execution_duration_ms IS NOT NULL",
        "cluster",
    ),
    "top_users_by_runtime": (
        "cluster, user_id AS ident",
        "sum(total_duration_ms)",
        "user_id IS NOT NULL AND total_duration_ms IS NOT NULL",
        "cluster || '/' || ident",
    ),
    "top_users_by_queries": (
        "cluster, user_id AS ident",
        "count(*)",
        "user_id IS NOT NULL",
        "cluster || '/' || ident",
    ),
    "longest_compiles": (
        "cluster, query_id AS ident, query_key",
        "max(compile_duration_ms)",
        "compile_duration_ms > 0",
        "query_key",
    ),
    "biggest_spillers": (
        "cluster, query_id AS ident, query_key",
        "max(mbytes_spilled)",
        "mbytes_spilled > 0",
        "query_key",
    ),
}

# a table read and written by one query counts 2; an id repeated within one list once (its
# first position kept: cheaper than list_distinct on every row)
_TABLES = """WITH q AS (SELECT cluster, read_table_ids AS r, write_table_ids AS w FROM fact_query WHERE {where}),
a AS (SELECT cluster, r AS l, unnest(r) AS ident, generate_subscripts(r, 1) AS i FROM q
      UNION ALL SELECT cluster, w, unnest(w), generate_subscripts(w, 1) FROM q),
g AS (SELECT cluster, ident, count(*)::DOUBLE AS value FROM a
      WHERE ident IS NOT NULL AND list_position(l, ident) = i GROUP BY ALL)
SELECT cluster || '/' || ident AS entity, cluster, ident, value FROM g
ORDER BY value DESC, entity LIMIT ?"""


def board_sql(name: str, where: str) -> str:
    if name == "hottest_tables":
        return _TABLES.format(where=where)
    group, value, cond, entity = _SIMPLE[name]
    return (
        f"WITH g AS (SELECT {group}, {value}::DOUBLE AS value FROM fact_query "
        f"WHERE {where} AND {cond} GROUP BY ALL) "
        f"SELECT {entity} AS entity, cluster, ident, value FROM g ORDER BY value DESC, entity LIMIT ?"
    )


def ranked(data: Data, name: str, f: Filters, k: int) -> pd.DataFrame:
    """The top ``k`` of board ``name`` over the queries matching ``f``, ranked 1..k."""
    where, params = f.where()
    df = data.df(board_sql(name, where), [*params, k])
    df.insert(0, "rank", range(1, len(df) + 1))
    return df


def readable(kind: str, cluster: str, ident: Any) -> str:
    """'user 300 on provisioned-3' instead of the processor's 'provisioned-3/300'."""
    if kind == "cluster":
        return str(cluster)
    return f"{kind} {int(ident)} on {cluster}"


def link(base: str, f: Filters, kind: str, cluster: str, ident: Any) -> str:
    """The expert page's deep link to one board entry (its filters as ``Filters.to_params``)."""
    target: dict[str, Any] = {} if kind == "cluster" else {kind: int(ident)}
    params = f.drill(cluster=str(cluster), **target).to_params()
    return f"{base.rstrip('/')}/?{urlencode(params)}"


def _cell(text: str) -> str:
    """Markdown-table-safe text (entity names come from the data)."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("[", "\\[").replace("]", "\\]")


def markdown(
    board: Board,
    top: pd.DataFrame,
    prev: pd.DataFrame | None,
    f: Filters,
    base: str,
) -> str:
    """A board as a compact markdown table: rank, movement against ``prev`` (the previous
    period's board; None: no previous period, no movement column), linked name, value."""
    moves = prev is not None and board.kind != "query"  # a query is on one period only
    prev_rank = {} if prev is None else dict(zip(prev["entity"], prev["rank"], strict=True))
    head = ["#", *(["move"] if moves else []), board.kind, board.unit]
    rows = [
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["--:", *([":-:"] if moves else []), ":--", "--:"]) + "|",
    ]
    for rank, r in enumerate(top.itertuples(index=False), start=1):
        name = _cell(readable(board.kind, str(r.cluster), r.ident))
        url = link(base, f, board.kind, str(r.cluster), r.ident)
        cells = [str(rank)]
        if moves:
            cells.append(movement(rank, prev_rank.get(r.entity)))
        cells += [f"[{name}]({url})", board.fmt(r.value)]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)
