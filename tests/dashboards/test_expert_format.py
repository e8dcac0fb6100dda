"""The expert page's pure pieces: human tables, the query card, the power-law fit's curve,
time buckets, search hits and the flattened-row filter."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashboards.expert_format import (
    COLUMNS,
    detail_fields,
    detail_sections,
    duration_unit,
    fit_caption,
    fit_curve,
    humanize,
    time_bucket,
)
from dashboards.queries import Filters
from dashboards.search import hit_label, open_hit


def test_humanize_names_and_units_every_column_and_leaves_no_nan() -> None:
    df = pd.DataFrame(
        {
            "cluster": ["provisioned-1", None],
            "queries": [1234, 5],
            "p95_total_ms": [27_192.0, float("nan")],
            "abort_rate": [0.0006, None],
            "mbytes_scanned": [132_785.0 * 1024, None],
            "freshness_p50_ms": [140_983_800.0, None],
            "user_id": [7.0, None],
        }
    )
    out = humanize(df)
    assert list(out.columns) == [COLUMNS[c][0] for c in df.columns]
    assert out.iloc[0].tolist() == [
        "provisioned-1",
        "1,234",
        "27.2 s",
        "0.1 %",
        "129.7 TB",
        "1.6 d",
        "7",
    ]
    assert out.iloc[1].tolist()[2:] == ["n/a"] * 5
    assert not out.isna().any().any()


def test_humanize_formats_a_top_k_value_by_its_kind() -> None:
    df = pd.DataFrame({"user": [3], "value": [7_200_000.0], "queries": [9]})
    out = humanize(df, "duration", "Total execution time")
    assert out.to_dict("records") == [
        {"User": "3", "Total execution time": "2.0 h", "Queries": "9"}
    ]


def test_card_fields_are_labelled_in_human_units_without_provenance() -> None:
    row = {
        "query_id": 5,
        "cluster": "serverless-2",
        "total_duration_ms": 90_000,
        "mbytes_scanned": 2048.0,
        "was_cached": False,
        "read_tables": "",
        "write_tables": "3, 4",
        "file": "/data/x.parquet",
        "row": 17,
        "query_key": "k",
        "dataset": "redset",
        "arrival_timestamp": datetime(2024, 3, 1, 2, 3, 4),
    }
    sections = detail_sections(row)
    assert [title for title, _ in sections] == ["Where and who", "Time", "Work"]
    assert [f for _, fields in sections for f in fields] == detail_fields(row)
    card = dict(detail_fields(row))
    assert card["Total latency"] == "1.5 min" and card["Data scanned"] == "2.0 GB"
    assert card["Answered from the result cache"] == "no"
    assert card["Tables read"] == "none" and card["Tables written"] == "3, 4"
    assert card["Arrival"] == "2024-03-01 02:03:04"
    assert not {"/data/x.parquet", "17", "k", "redset"} & set(card.values())


@given(
    slope=st.floats(-2, 3),
    intercept=st.floats(-1, 4),
    lo=st.floats(1, 50),
    span=st.floats(1, 100),
)
def test_fit_curve_follows_the_power_law(
    slope: float, intercept: float, lo: float, span: float
) -> None:
    curve = fit_curve(slope, intercept, lo, lo * span)
    assert curve["complexity"].iloc[0] == pytest.approx(lo)
    assert curve["complexity"].iloc[-1] == pytest.approx(lo * span)
    assert np.allclose(
        np.log10(curve["fit_compile_ms"]), intercept + slope * np.log10(curve["complexity"])
    )


def test_no_fit_draws_no_curve_and_says_so() -> None:
    assert fit_curve(None, 1.0, 1, 10).empty and fit_curve(float("nan"), 1.0, 1, 10).empty
    assert fit_caption({"slope": None, "intercept": None, "r2": None, "n": 0}).startswith(
        "Not enough"
    )
    text = fit_caption({"slope": 0.5, "intercept": 2.0, "r2": 0.81234, "n": 1200})
    assert (
        "100.0 ms \u00d7 complexity^0.50" in text
        and "R² = 0.81" in text
        and "1,200 queries" in text
    )


def test_duration_unit_reads_at_the_median() -> None:
    assert duration_unit([1.5e6 * 1000, 2e6 * 1000, None]) == (86_400_000.0, "d")
    assert duration_unit([90_000.0, 120_000.0]) == (60_000.0, "min")
    assert duration_unit([5.0, 20.0]) == (1.0, "ms")
    assert duration_unit([]) == (1.0, "ms")


def test_time_bucket_hours_up_to_three_days() -> None:
    t = datetime(2024, 3, 1)
    assert time_bucket(t, t + timedelta(days=3)) == "hour"
    assert time_bucket(t, t + timedelta(days=3, seconds=1)) == "day"
    assert time_bucket(None, t) == "hour"


def test_a_hit_opens_its_own_entity_on_its_cluster() -> None:
    f = Filters("r", cluster="old", user=1, fingerprint="ab", qtypes=("select",))
    hit = {"kind": "table", "cluster": "provisioned-3", "match": "42", "queries": 7}
    assert open_hit(f, hit) == Filters("r", cluster="provisioned-3", table=42, qtypes=("select",))
    fp = {"kind": "fingerprint", "cluster": "c", "match": "abcdef0123456789abcdef", "queries": 1234}
    assert open_hit(f, fp).fingerprint == "abcdef0123456789abcdef"
    assert hit_label(fp) == "fingerprint abcdef0123456789… on c (1,234 queries)"
    cl = {"kind": "cluster", "cluster": "serverless-1", "match": "serverless-1", "queries": 3}
    assert hit_label(cl) == "cluster serverless-1 (3 queries)"
    assert open_hit(f, cl) == Filters("r", cluster="serverless-1", qtypes=("select",))


def test_where_flat_binds_every_filter() -> None:
    f = Filters(
        "r",
        start=datetime(2024, 1, 1),
        end=datetime(2024, 2, 1),
        kinds=("serverless",),
        cluster="x' --",
        user=3,
        database=4,
        qtypes=("select", "copy"),
        table=9,
        fingerprint="ff",
        query=11,
    )
    where, params = f.where_flat()
    assert where.count("?") == len(params)
    assert "x'" not in where and "ff" not in where
    for column in (
        "arrival_us",
        "cluster_kind",
        "cluster",
        "user_id",
        "database_id",
        "query_type",
        "table_id",
        "query_id",
        "feature_fingerprint",
    ):
        assert re.search(rf"\b{column}\b", where), column
    assert Filters("r").where_flat() == ("run_id = ?", ["r"])


def test_panel_controls_round_trip_through_the_link() -> None:
    from dashboards.expert_format import controls_from_params, controls_to_params

    defaults = controls_from_params({})
    assert controls_to_params(defaults) == {}
    params = {"measure": "scans", "top": "user", "by": "p95", "k": "25"}
    state = controls_from_params(params)
    assert state["compile-measure"] == "scans" and state["topk-metric"] == "p95 latency"
    assert controls_to_params(state) == params
    bad = controls_from_params({"measure": "'; DROP", "k": "0", "by": "nope"})
    assert bad == defaults
