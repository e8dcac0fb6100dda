"""Parameter-bound SQL for the dashboards (no Streamlit here: unit-testable).

Every user value reaches SQL as a bound parameter; identifiers come from fixed lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any

import pandas as pd

from dashboards.expert_queries import ExpertQueries
from warehouse.store import Warehouse


@dataclass(frozen=True)
class Filters:
    run_id: str
    start: datetime | None = None
    end: datetime | None = None
    kinds: tuple[str, ...] = ()
    cluster: str | None = None
    user: int | None = None
    database: int | None = None
    qtypes: tuple[str, ...] = ()
    table: int | None = None
    fingerprint: str | None = None
    query: int | None = None

    def where(self, alias: str = "") -> tuple[str, list[Any]]:
        """SQL predicate over fact_query-shaped rows, with its bound parameters."""
        a = f"{alias}." if alias else ""
        sql = [f"{a}run_id = ?"]
        params: list[Any] = [self.run_id]
        if self.start is not None:
            sql.append(f"{a}arrival_timestamp >= ?")
            params.append(self.start)
        if self.end is not None:
            sql.append(f"{a}arrival_timestamp < ?")
            params.append(self.end)
        if self.kinds:
            sql.append(f"{a}cluster_kind IN ({', '.join('?' for _ in self.kinds)})")
            params += list(self.kinds)
        if self.qtypes:
            sql.append(f"{a}query_type IN ({', '.join('?' for _ in self.qtypes)})")
            params += list(self.qtypes)
        for col, val in (
            ("cluster", self.cluster),
            ("user_id", self.user),
            ("database_id", self.database),
            ("feature_fingerprint", self.fingerprint),
            ("query_id", self.query),
        ):
            if val is not None:
                sql.append(f"{a}{col} = ?")
                params.append(val)
        if self.table is not None:
            sql.append(
                f"(list_contains({a}read_table_ids, ?) OR list_contains({a}write_table_ids, ?))"
            )
            params += [self.table, self.table]
        return " AND ".join(sql), params

    def where_flat(self) -> tuple[str, list[Any]]:
        """The same filters over flattened rows (one per query and table accessed): its own
        copies of the query's columns, and the fingerprint through the query's key."""
        sql = ["run_id = ?"]
        params: list[Any] = [self.run_id]
        if self.start is not None:
            sql.append("arrival_us >= epoch_us(?::TIMESTAMP)")
            params.append(self.start)
        if self.end is not None:
            sql.append("arrival_us < epoch_us(?::TIMESTAMP)")
            params.append(self.end)
        for col, vals in (("cluster_kind", self.kinds), ("query_type", self.qtypes)):
            if vals:
                sql.append(f"{col} IN ({', '.join('?' for _ in vals)})")
                params += list(vals)
        for col, val in (
            ("cluster", self.cluster),
            ("user_id", self.user),
            ("database_id", self.database),
            ("table_id", self.table),
            ("query_id", self.query),
        ):
            if val is not None:
                sql.append(f"{col} = ?")
                params.append(val)
        if self.fingerprint is not None:
            sql.append(
                "query_key IN (SELECT query_key FROM clean_queries WHERE run_id = ? AND feature_fingerprint = ?)"
            )
            params += [self.run_id, self.fingerprint]
        return " AND ".join(sql), params

    @property
    def level(self) -> str:
        """The deepest drill-down level selected."""
        if self.query is not None:
            return "query"
        if self.fingerprint is not None:
            return "fingerprint"
        if self.table is not None:
            return "table"
        if self.database is not None:
            return "database"
        if self.user is not None:
            return "user"
        if self.cluster is not None:
            return "cluster"
        return "fleet"

    def drill(self, **changes: Any) -> Filters:
        return replace(self, **changes)

    def to_params(self) -> dict[str, str]:
        """URL query parameters reproducing these filters."""
        out: dict[str, str] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if v is None or v == ():
                continue
            if isinstance(v, tuple):
                out[f.name] = ",".join(v)
            elif isinstance(v, datetime):
                out[f.name] = v.isoformat()
            else:
                out[f.name] = str(v)
        return out

    @classmethod
    def from_params(cls, params: dict[str, str], default_run: str) -> Filters:
        """Parse URL query parameters; invalid values are dropped, never passed to SQL raw."""

        def _int(name: str) -> int | None:
            try:
                return int(params[name]) if name in params else None
            except ValueError:
                return None

        def _ts(name: str) -> datetime | None:
            try:
                return datetime.fromisoformat(params[name]) if name in params else None
            except ValueError:
                return None

        def _tuple(name: str) -> tuple[str, ...]:
            return tuple(x for x in params.get(name, "").split(",") if x)

        return cls(
            run_id=params.get("run_id") or default_run,
            start=_ts("start"),
            end=_ts("end"),
            kinds=_tuple("kinds"),
            cluster=params.get("cluster") or None,
            user=_int("user"),
            database=_int("database"),
            qtypes=_tuple("qtypes"),
            table=_int("table"),
            fingerprint=params.get("fingerprint") or None,
            query=_int("query"),
        )


@dataclass
class Data(ExpertQueries):
    """Thin query layer over a warehouse (the expert page's queries in ``ExpertQueries``)."""

    wh: Warehouse
    _cache: dict[str, Any] = field(default_factory=dict)

    def df(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        return self.wh.query(sql, params or [])

    # --- runs and status ---------------------------------------------------------------
    def runs(self) -> pd.DataFrame:
        return self.df("SELECT * FROM v_runs ORDER BY last_update DESC NULLS LAST")

    def run_status(self, run_id: str) -> dict[str, Any]:
        df = self.df("SELECT * FROM v_runs WHERE run_id = ?", [run_id])
        return {} if df.empty else {str(k): v for k, v in df.iloc[0].items()}

    def ingest_rate(self, run_id: str, seconds: int = 10) -> float:
        """Rows per second materialized into fact_query over the last ``seconds``."""
        n = self.wh.scalar(
            "SELECT count(*) FROM clean_queries WHERE run_id = ? AND loaded_at >= now() - to_seconds(?)",
            [run_id, seconds],
        )
        return float(n or 0) / seconds

    # --- aggregate dashboard -----------------------------------------------------------
    def totals(self, f: Filters) -> dict[str, Any]:
        where, params = f.where()
        df = self.df(
            f"""SELECT count(*) AS queries, avg(was_aborted::INT) AS abort_rate,
                   avg(was_cached::INT) AS cache_hit_rate,
                   quantile_cont(total_duration_ms, 0.95) AS p95_total_ms,
                   sum(mbytes_scanned) / 1024 AS gb_scanned, sum(mbytes_spilled) / 1024 AS gb_spilled
                FROM fact_query WHERE {where}""",
            params,
        )
        return {str(k): v for k, v in df.iloc[0].items()}

    # --- expert dashboard --------------------------------------------------------------
    def options(self, run_id: str) -> dict[str, list[Any]]:
        df = self.df(
            "SELECT cluster, cluster_kind, count(*) AS n FROM fact_query WHERE run_id = ? GROUP BY ALL ORDER BY n DESC",
            [run_id],
        )
        return {"clusters": df["cluster"].tolist(), "kinds": sorted(set(df["cluster_kind"]))}

    def time_range(self, run_id: str) -> tuple[datetime | None, datetime | None]:
        cur = self.wh.cursor()
        try:
            row = cur.execute(
                "SELECT min(arrival_timestamp), max(arrival_timestamp) FROM clean_queries WHERE run_id = ?",
                [run_id],
            ).fetchone()
        finally:
            cur.close()
        if row is None or row[0] is None:
            return None, None
        return row[0], row[1]
