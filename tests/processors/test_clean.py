"""Cleaning rules: examples for every dead-letter reason and hypothesis properties."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.contract import QUERY_TYPES, REDSET_COLUMNS
from processors.logic.clean import clean_row
from processors.logic.parsers import (
    RowError,
    format_timestamp_us,
    parse_bool,
    parse_duration,
    parse_int,
    parse_nonneg_float,
    parse_table_ids,
    parse_timestamp_us,
)


def raw(**over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "instance_id": "7",
        "cluster_size": "4.0",
        "user_id": "3",
        "database_id": "2",
        "query_id": "1001",
        "arrival_timestamp": "2024-03-01 10:00:00.250000",
        "compile_duration_ms": "34.0",
        "queue_duration_ms": "5",
        "execution_duration_ms": 120,
        "feature_fingerprint": "ab" * 32,
        "was_aborted": "0",
        "was_cached": 1,
        "cache_source_query_id": None,
        "query_type": " SELECT ",
        "num_permanent_tables_accessed": "1.0",
        "num_external_tables_accessed": None,
        "num_system_tables_accessed": "0.0",
        "read_table_ids": "0,1,25",
        "write_table_ids": "",
        "mbytes_scanned": 12.5,
        "mbytes_spilled": 0,
        "num_joins": 1,
        "num_scans": 2,
        "num_aggregations": None,
        "_run_id": "run1",
        "_dataset": "synthetic",
        "_file": "parts/7.csv",
        "_row": 1234,
        "_kind": "provisioned",
    }
    row.update(over)
    return row


def test_valid_row_is_typed_and_normalized() -> None:
    res = clean_row(raw())
    assert res.ok and res.dead is None
    c = res.clean
    assert c is not None
    assert c["cluster"] == "provisioned-7" and c["cluster_kind"] == "provisioned"
    assert c["query_key"] == "run1/provisioned-7/1001"
    assert c["compile_duration_ms"] == 34 and c["queue_duration_ms"] == 5
    assert c["total_duration_ms"] == 125
    assert c["was_aborted"] is False and c["was_cached"] is True
    assert c["query_type"] == "select"
    assert c["read_table_ids"] == [0, 1, 25] and c["write_table_ids"] == []
    assert c["arrival_timestamp"] == "2024-03-01T10:00:00.250000"
    assert c["arrival_us"] == 1709287200 * 10**6 + 250000  # 2024-03-01T10:00:00.25Z
    assert c["cluster_size"] == 4 and c["num_permanent_tables_accessed"] == 1
    assert set(REDSET_COLUMNS) - {"arrival_timestamp"} <= set(c)


def test_serverless_has_null_cluster_size() -> None:
    c = clean_row(raw(_kind="serverless", cluster_size=None)).clean
    assert c is not None and c["cluster"] == "serverless-7" and c["cluster_size"] is None


#: what cannot be a query without (docs/CONTRACT.md): identity, event time, classification
REQUIRED = (
    "instance_id",
    "query_id",
    "arrival_timestamp",
    "query_type",
    "was_aborted",
    "was_cached",
)
DURATIONS = ("compile_duration_ms", "queue_duration_ms", "execution_duration_ms")
#: everything else may be NULL (not measured) and stays NULL in CLEAN_DATA
NULLABLE = tuple(c for c in REDSET_COLUMNS if c not in REQUIRED)


def test_result_cache_hit_with_null_measures_is_clean() -> None:
    """The shape of every result-cache hit in the real files."""
    nulls = (
        "compile_duration_ms",
        "feature_fingerprint",
        "num_permanent_tables_accessed",
        "num_external_tables_accessed",
        "num_system_tables_accessed",
        "read_table_ids",
        "write_table_ids",
        "mbytes_scanned",
        "mbytes_spilled",
    )
    res = clean_row(raw(was_cached="1", query_type="other", **dict.fromkeys(nulls)))
    assert res.clean is not None, res.dead
    for f in nulls:
        assert res.clean[f] is None, f
    assert res.clean["queue_duration_ms"] == 5 and res.clean["total_duration_ms"] == 125


@given(st.sampled_from(NULLABLE), st.sampled_from([None, "", "  "]))
def test_a_null_measure_or_attribute_stays_null(field: str, empty: Any) -> None:
    res = clean_row(raw(**{field: empty}))
    assert res.clean is not None, res.dead
    if field in ("read_table_ids", "write_table_ids"):
        # a present but empty list is "no table", a NULL one "not measured"
        assert res.clean[field] == ([] if empty is not None else None)
    else:
        assert res.clean[field] is None
    if field in ("queue_duration_ms", "execution_duration_ms"):
        assert res.clean["total_duration_ms"] is None  # a total without a part is unknown


@given(st.sampled_from(REQUIRED), st.sampled_from([None, ""]))
def test_a_missing_identity_or_class_is_a_dead_letter(field: str, empty: Any) -> None:
    res = clean_row(raw(**{field: empty}))
    assert res.dead is not None and res.dead["field"] == field
    want = "invalid_timestamp" if field == "arrival_timestamp" and empty == "" else "missing_field"
    assert res.dead["reason"] == want
    assert res.dead["message"].startswith(f"parts/7.csv row 1234 field {field}: ")


def _dead(**over: Any) -> tuple[str, str | None, str]:
    res = clean_row(raw(**over))
    assert res.dead is not None and res.clean is None
    return res.dead["reason"], res.dead["field"], res.dead["message"]


def test_dead_letter_reasons() -> None:
    assert _dead(query_type="selcet")[:2] == ("unknown_query_type", "query_type")
    assert _dead(queue_duration_ms="-5")[:2] == ("negative_duration", "queue_duration_ms")
    assert _dead(execution_duration_ms="12ms")[:2] == ("invalid_number", "execution_duration_ms")
    assert _dead(compile_duration_ms="nan")[:2] == ("invalid_number", "compile_duration_ms")
    assert _dead(arrival_timestamp="2024-02-30 10:00:00")[:2] == (
        "invalid_timestamp",
        "arrival_timestamp",
    )
    assert _dead(arrival_timestamp="")[:2] == ("invalid_timestamp", "arrival_timestamp")
    assert _dead(arrival_timestamp="1970-01-01 00:00:00")[:2] == (
        "implausible_timestamp",
        "arrival_timestamp",
    )
    assert _dead(query_id=None)[:2] == ("missing_field", "query_id")
    assert _dead(was_aborted="maybe")[:2] == ("invalid_boolean", "was_aborted")
    assert _dead(read_table_ids="1,x")[:2] == ("invalid_table_ids", "read_table_ids")
    assert _dead(mbytes_spilled=-1.0)[:2] == ("invalid_value", "mbytes_spilled")
    assert _dead(num_system_tables_accessed="-1.0")[:2] == (
        "invalid_value",
        "num_system_tables_accessed",
    )
    assert _dead(_error={"field": None, "reason": "unreadable_row", "message": "bad quote"})[
        :2
    ] == (
        "unreadable_row",
        None,
    )


def test_dead_letter_message_names_file_row_field_and_keeps_raw() -> None:
    r = raw(queue_duration_ms="-5")
    res = clean_row(r)
    assert res.dead is not None
    assert res.dead["message"] == "parts/7.csv row 1234 field queue_duration_ms: '-5' is negative"
    assert res.dead["raw"] == r and res.dead["cluster"] == "provisioned-7"
    assert res.dead["run_id"] == "run1" and res.dead["row"] == 1234 and res.dead["stage"] == "clean"
    # a reader's error already names file, row and field: said once, not twice
    said = "parts/7.csv row 1234 field user_id: byte 0xe9 is not UTF-8"
    reader = _dead(_error={"field": "user_id", "reason": "invalid_encoding", "message": said})
    assert reader == ("invalid_encoding", "user_id", said)
    assert _dead(_error={"field": None, "reason": "unreadable_row", "message": "bad quote"})[2] == (
        "parts/7.csv row 1234: bad quote"
    )


def test_non_object_value_is_a_dead_letter() -> None:
    res = clean_row("garbage")  # type: ignore[arg-type]
    assert res.dead is not None and res.dead["reason"] == "unreadable_row"


# ------------------------------------------------------------------ properties
@given(
    st.integers(min_value=0, max_value=10**9), st.sampled_from(["int", "str", "float", "floatstr"])
)
def test_non_negative_durations_parse_in_any_form(n: int, form: str) -> None:
    v: Any = {"int": n, "str": str(n), "float": float(n), "floatstr": f"{n}.0"}[form]
    c = clean_row(raw(queue_duration_ms=v)).clean
    assert c is not None and c["queue_duration_ms"] == n and c["total_duration_ms"] == n + 120


@given(st.integers(min_value=-(10**9), max_value=-1), st.booleans())
def test_negative_durations_are_rejected(n: int, as_str: bool) -> None:
    res = clean_row(raw(execution_duration_ms=str(n) if as_str else n))
    assert res.dead is not None and res.dead["reason"] == "negative_duration"


@given(st.booleans(), st.sampled_from(["bool", "int", "str", "word", "float"]))
def test_boolean_forms(b: bool, form: str) -> None:
    v: Any = {
        "bool": b,
        "int": int(b),
        "str": str(int(b)),
        "word": "TRUE" if b else "false",
        "float": float(b),
    }[form]
    assert parse_bool(v, "was_cached") is b


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)))
def test_timestamps_round_trip(dt: datetime) -> None:
    text = dt.strftime("%Y-%m-%d %H:%M:%S.%f")
    us = parse_timestamp_us(text)
    expect = (dt - datetime(1970, 1, 1)) // timedelta(microseconds=1)
    assert us == expect
    assert format_timestamp_us(us) == dt.strftime("%Y-%m-%dT%H:%M:%S.%f")


@given(
    st.lists(st.integers(min_value=0, max_value=10**6), max_size=20), st.sampled_from([",", ", "])
)
def test_table_id_lists(ids: list[int], sep: str) -> None:
    assert parse_table_ids(sep.join(map(str, ids)), "read_table_ids") == ids
    assert parse_table_ids(ids, "read_table_ids") == ids


@given(st.sampled_from(QUERY_TYPES), st.sampled_from([str.upper, str.lower, str.title]))
def test_query_types_normalize(t: str, case: Any) -> None:
    c = clean_row(raw(query_type=f" {case(t)} ")).clean
    assert c is not None and c["query_type"] == t


_any = st.one_of(st.none(), st.text(max_size=12), st.integers(), st.floats(), st.booleans())


@given(st.dictionaries(st.sampled_from(REDSET_COLUMNS), _any, max_size=24))
def test_clean_row_never_raises_and_yields_exactly_one_result(over: dict[str, Any]) -> None:
    res = clean_row(raw(**over))
    assert (res.clean is None) != (res.dead is None)
    if res.dead is not None:
        assert res.dead["reason"] and res.dead["message"].startswith("parts/7.csv row 1234")
    else:
        c = res.clean
        assert c is not None
        assert c["query_type"] in QUERY_TYPES
        for f in (*DURATIONS, "mbytes_scanned", "mbytes_spilled"):
            assert c[f] is None or c[f] >= 0, f
        for f in REQUIRED:
            assert c[f] is not None, f


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-(2**62), max_value=2**62), st.sampled_from(["", " ", "\t"]))
def test_text_numbers_parse_as_their_values(n: int, pad: str) -> None:
    assert parse_int(f"{pad}{n}{pad}", "f") == n
    if abs(n) < 2**53:  # "N.0" is read as a float: exact up to 2**53
        assert parse_int(f"{n}.0", "f") == n
    if n >= 0:
        assert parse_duration(f"{pad}{n}", "f") == n
        assert parse_nonneg_float(f"{n}.5", "f") == float(f"{n}.5")
    else:
        with pytest.raises(RowError):
            parse_duration(str(n), "f")
        with pytest.raises(RowError):
            parse_nonneg_float(str(n), "f")
