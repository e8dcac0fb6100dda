"""The expert page's SQL (no Streamlit here: unit-testable), mixed into ``queries.Data`` so
the dashboards' result cache covers it.

Every panel reads through :meth:`Filters.where` (fact_query rows) or
:meth:`Filters.where_flat` (flattened rows): each filter applies to every panel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from dashboards.queries import Filters

#: plan-complexity measures the compile panel offers: label -> SQL expression
COMPLEXITY = {
    "joins": "num_joins",
    "scans": "num_scans",
    "aggregations": "num_aggregations",
    "joins + scans + aggregations": "coalesce(num_joins, 0) + coalesce(num_scans, 0) + coalesce(num_aggregations, 0)",
}

#: Top-K entities: name -> column
TOP_ENTITIES = {
    "cluster": "cluster",
    "user": "user_id",
    "database": "database_id",
    "fingerprint": "feature_fingerprint",
}

#: Top-K metrics: name -> (SQL aggregate, unit kind for display)
TOP_METRICS = {
    "queries": ("count(*)", "count"),
    "total execution time": ("sum(execution_duration_ms)", "duration"),
    "p95 latency": ("quantile_cont(total_duration_ms, 0.95)", "duration"),
    "total compile time": ("sum(compile_duration_ms)", "duration"),
    "data scanned": ("sum(mbytes_scanned)", "size"),
    "data spilled": ("sum(mbytes_spilled)", "size"),
}

#: how many log-spaced latency bins per decade (4: 1, 1.8, 3.2, 5.6, 10 ms ...)
BINS_PER_DECADE = 4

#: time buckets the over-time charts use, by the span they cover
BUCKETS = ("hour", "day")


class ExpertQueries:
    """The expert dashboard's queries; needs ``self.df(sql, params)``."""

    def df(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        raise NotImplementedError

    def known(self, run_id: str, kind: str, value: Any) -> bool:
        """Whether ``value`` exists in the run at all (a deep link's cluster, user, ...)."""
        column = {
            "cluster": "cluster",
            "user": "user_id",
            "database": "database_id",
            "fingerprint": "feature_fingerprint",
            "query": "query_id",
        }.get(kind)
        if kind == "table":
            sql = "SELECT 1 FROM flattened WHERE run_id = ? AND table_id = ? LIMIT 1"
        elif column is not None:
            sql = f"SELECT 1 FROM fact_query WHERE run_id = ? AND {column} = ? LIMIT 1"
        else:
            raise ValueError(kind)
        return not self.df(sql, [run_id, value]).empty

    def breakdown(self, f: Filters, by: str, limit: int = 50) -> pd.DataFrame:
        """Per-entity figures at the next drill-down level (``by`` from a fixed list)."""
        column = TOP_ENTITIES[by]
        where, params = f.where()
        return self.df(
            f"""SELECT {column} AS {by}, count(*) AS queries,
                   avg(was_aborted::INT) AS abort_rate, avg(was_cached::INT) AS cache_hit_rate,
                   quantile_cont(total_duration_ms, 0.95) AS p95_total_ms,
                   sum(execution_duration_ms) AS execution_ms, sum(mbytes_scanned) AS mbytes_scanned
                FROM fact_query WHERE {where} AND {column} IS NOT NULL
                GROUP BY ALL ORDER BY queries DESC, 1 LIMIT ?""",
            [*params, limit],
        )

    def latency_distribution(self, f: Filters) -> pd.DataFrame:
        """Total latency in log-spaced bins (ms), each with its queries' mean queue, compile
        and execution-after-compile time (Redset's execution time includes compiling)."""
        where, params = f.where()
        return self.df(
            f"""WITH b AS (
                  SELECT floor(log10(greatest(total_duration_ms, 1)) * {BINS_PER_DECADE}) AS bin, *
                  FROM fact_query WHERE {where} AND total_duration_ms IS NOT NULL)
                SELECT pow(10, bin / {BINS_PER_DECADE}) AS bin_start_ms,
                   pow(10, (bin + 1) / {BINS_PER_DECADE}) AS bin_end_ms, count(*) AS queries,
                   avg(queue_duration_ms) AS queue_ms, avg(compile_duration_ms) AS compile_ms,
                   avg(greatest(execution_duration_ms - coalesce(compile_duration_ms, 0), 0))
                     AS execution_after_compile_ms
                FROM b GROUP BY bin ORDER BY bin""",
            params,
        )

    def compile_vs_complexity(self, f: Filters, measure: str) -> pd.DataFrame:
        """Compile time per complexity value (geometric mean: the log-log fit's own scale,
        and the arithmetic mean and p95), over the queries that compiled (> 0 ms) and have
        a complexity of at least 1 (both axes are logarithmic)."""
        x = COMPLEXITY[measure]
        where, params = f.where()
        return self.df(
            f"""SELECT {x} AS complexity, count(*) AS queries,
                   pow(10, avg(log10(compile_duration_ms))) AS geomean_compile_ms,
                   avg(compile_duration_ms) AS mean_compile_ms,
                   quantile_cont(compile_duration_ms, 0.95) AS p95_compile_ms
                FROM fact_query WHERE {where} AND compile_duration_ms > 0 AND {x} >= 1
                GROUP BY ALL ORDER BY 1""",
            params,
        )

    def compile_fit(self, f: Filters, measure: str) -> dict[str, Any]:
        """Least-squares power law compile = 10^a * complexity^b over the same queries, in
        log10 space: slope b, intercept a, r2, n."""
        x = COMPLEXITY[measure]
        where, params = f.where()
        df = self.df(
            f"""SELECT regr_slope(log10(compile_duration_ms), log10({x})) AS slope,
                   regr_intercept(log10(compile_duration_ms), log10({x})) AS intercept,
                   regr_r2(log10(compile_duration_ms), log10({x})) AS r2, count(*) AS n
                FROM fact_query WHERE {where} AND compile_duration_ms > 0 AND {x} >= 1""",
            params,
        )
        return {str(k): v for k, v in df.iloc[0].items()}

    def over_time(self, f: Filters, bucket: str = "hour") -> pd.DataFrame:
        """Per time bucket: queries, cache-hit rate, MB spilled, mean compile and mean
        execution-after-compile time."""
        if bucket not in BUCKETS:
            raise ValueError(bucket)
        where, params = f.where()
        return self.df(
            f"""SELECT date_trunc(?, arrival_timestamp) AS bucket, count(*) AS queries,
                   avg(was_cached::INT) AS cache_hit_rate, sum(mbytes_spilled) AS mbytes_spilled,
                   avg(compile_duration_ms) AS compile_ms,
                   avg(greatest(execution_duration_ms - coalesce(compile_duration_ms, 0), 0))
                     AS execution_after_compile_ms
                FROM fact_query WHERE {where} GROUP BY ALL ORDER BY 1""",
            [bucket, *params],
        )

    def cached_vs_uncached(self, f: Filters, bucket: str = "day") -> pd.DataFrame:
        """Mean execution time per time bucket, query type and whether the result cache
        answered."""
        if bucket not in BUCKETS:
            raise ValueError(bucket)
        where, params = f.where()
        return self.df(
            f"""SELECT date_trunc(?, arrival_timestamp) AS bucket, query_type,
                   CASE WHEN was_cached THEN 'cached' ELSE 'not cached' END AS cache,
                   count(*) AS queries, avg(execution_duration_ms) AS mean_execution_ms
                FROM fact_query WHERE {where} AND execution_duration_ms IS NOT NULL
                GROUP BY ALL ORDER BY 1, 2, 3""",
            [bucket, *params],
        )

    def fingerprint_repetition(self, f: Filters, limit: int = 30) -> pd.DataFrame:
        where, params = f.where()
        return self.df(
            f"""SELECT feature_fingerprint AS fingerprint, count(*) AS executions,
                   avg(execution_duration_ms) AS mean_exec_ms
                FROM fact_query WHERE {where} AND feature_fingerprint IS NOT NULL
                GROUP BY ALL ORDER BY executions DESC, 1 LIMIT ?""",
            [*params, limit],
        )

    def tables(self, f: Filters, limit: int = 30) -> pd.DataFrame:
        """Hot tables and freshness (time since the table's last write when read) over the
        filtered queries' table accesses."""
        where, params = f.where_flat()
        return self.df(
            f"""SELECT cluster || ' / table ' || table_id AS table_name, cluster, table_id,
                   count(*) FILTER (WHERE access = 'read') AS reads,
                   count(*) FILTER (WHERE access = 'write') AS writes,
                   quantile_cont(freshness_ms, 0.5) FILTER (WHERE access = 'read') AS freshness_p50_ms
                FROM flattened WHERE {where}
                GROUP BY ALL ORDER BY reads + writes DESC, cluster, table_id LIMIT ?""",
            [*params, limit],
        )

    def top_k(self, f: Filters, entity: str, metric: str, k: int) -> pd.DataFrame:
        """The ``k`` entities with the highest ``metric`` under the filters."""
        column = TOP_ENTITIES[entity]
        agg = TOP_METRICS[metric][0]
        where, params = f.where()
        return self.df(
            f"""SELECT {column} AS {entity}, {agg} AS value, count(*) AS queries
                FROM fact_query WHERE {where} AND {column} IS NOT NULL
                GROUP BY ALL HAVING value IS NOT NULL ORDER BY value DESC, 1 LIMIT ?""",
            [*params, int(k)],
        )

    def slowest(self, f: Filters, limit: int = 50) -> pd.DataFrame:
        where, params = f.where()
        return self.df(
            f"""SELECT query_id, cluster, user_id, database_id, query_type, arrival_timestamp,
                   total_duration_ms, queue_duration_ms, compile_duration_ms, execution_duration_ms,
                   mbytes_scanned, mbytes_spilled, was_aborted, was_cached, feature_fingerprint
                FROM fact_query WHERE {where}
                ORDER BY total_duration_ms DESC NULLS LAST, cluster, query_id LIMIT ?""",
            [*params, limit],
        )

    def query_detail(self, f: Filters) -> pd.DataFrame:
        """The query's own fields (no provenance: dataset, file, row, keys)."""
        where, params = f.where()
        return self.df(
            f"""SELECT query_id, cluster, cluster_kind, cluster_size, user_id, database_id,
                   query_type, arrival_timestamp, was_cached, was_aborted, queue_duration_ms,
                   compile_duration_ms, execution_duration_ms, total_duration_ms,
                   mbytes_scanned, mbytes_spilled, num_joins, num_scans, num_aggregations,
                   array_to_string(read_table_ids, ', ') AS read_tables,
                   array_to_string(write_table_ids, ', ') AS write_tables, feature_fingerprint
                FROM fact_query WHERE {where} ORDER BY cluster LIMIT 1""",
            params,
        )

    def search(self, run_id: str, text: str, limit: int = 20) -> pd.DataFrame:
        """Hits for a query / user / database / table id (a number), a fingerprint prefix
        or a cluster name part: exact matches first, then by the queries behind each hit."""
        text = text.strip()
        if not text:
            return pd.DataFrame(columns=["kind", "cluster", "match", "queries", "exact"])
        n = int(text) if text.isdigit() and len(text) < 19 else None
        low = text.lower()
        return self.df(
            """WITH q AS (SELECT * FROM fact_query WHERE run_id = $run),
            hits AS (
              SELECT 'query' AS kind, cluster, query_id::VARCHAR AS match, count(*) AS queries, true AS exact
                FROM q WHERE query_id = $n GROUP BY ALL
              UNION ALL SELECT 'user', cluster, user_id::VARCHAR, count(*), true
                FROM q WHERE user_id = $n GROUP BY ALL
              UNION ALL SELECT 'database', cluster, database_id::VARCHAR, count(*), true
                FROM q WHERE database_id = $n GROUP BY ALL
              UNION ALL SELECT 'table', cluster, table_id::VARCHAR, count(DISTINCT query_key), true
                FROM flattened WHERE run_id = $run AND table_id = $n GROUP BY ALL
              UNION ALL SELECT 'fingerprint', cluster, feature_fingerprint, count(*), feature_fingerprint = $low
                FROM q WHERE starts_with(feature_fingerprint, $low) GROUP BY ALL
              UNION ALL SELECT 'cluster', cluster, cluster, count(*), lower(cluster) = $low
                FROM q WHERE contains(lower(cluster), $low) GROUP BY ALL)
            SELECT * FROM hits ORDER BY exact DESC, queries DESC, kind, cluster, match LIMIT $limit""",
            {"run": run_id, "n": n, "low": low, "limit": limit},  # type: ignore[arg-type]
        )

    def export_rows(self, f: Filters, limit: int = 100_000) -> pd.DataFrame:
        where, params = f.where()
        return self.df(
            f"SELECT * EXCLUDE (read_table_ids, write_table_ids), array_to_string(read_table_ids, ',') AS read_table_ids, "
            f"array_to_string(write_table_ids, ',') AS write_table_ids FROM fact_query WHERE {where} LIMIT ?",
            [*params, limit],
        )
