"""Hypothesis strategies of clean query records with NULLs, and the DuckDB side of the
tests that compare the stages' window metrics with SQL over the same records."""

from __future__ import annotations

import math
from typing import Any

import duckdb
import pyarrow as pa
from hypothesis import strategies as st

from common.contract import QUERY_TYPES


def maybe(s: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``s`` or NULL."""
    return st.one_of(st.none(), s)


def query_fields(
    ms: st.SearchStrategy[Any], mb: st.SearchStrategy[Any]
) -> dict[str, st.SearchStrategy[Any]]:
    """The measures of a clean record, each possibly NULL: durations from ``ms``, volumes
    from ``mb``."""
    return {
        "query_type": st.sampled_from(QUERY_TYPES),
        "was_aborted": st.booleans(),
        "was_cached": st.booleans(),
        "queue_duration_ms": maybe(ms),
        "execution_duration_ms": maybe(ms),
        "compile_duration_ms": maybe(ms),
        "mbytes_scanned": maybe(mb),
        "mbytes_spilled": maybe(mb),
    }


def close_or_both_null(a: Any, b: Any, abs_tol: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=abs_tol)


def duckdb_row(recs: list[dict[str, Any]], sql: str) -> dict[str, Any]:
    """The one row of ``sql`` over the records as table ``t``, by column name."""
    with duckdb.connect() as con:
        con.register("t", pa.Table.from_pylist(recs))
        cur = con.execute(sql)
        row = cur.fetchone()
        assert row is not None
        return dict(zip([d[0] for d in cur.description], row, strict=True))
