"""The materializer's JSON parsing (DuckDB's reader) against pyarrow's reader as an oracle."""

from __future__ import annotations

import json

import duckdb
import pyarrow as pa
import pyarrow.json as pj
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warehouse.json_parser import json_table, utf8_array
from warehouse.schemas import CLEAN_SCHEMA, FLAT_SCHEMA

_VALUES = {
    pa.string(): st.text(max_size=30),
    pa.int64(): st.integers(-(2**63), 2**63 - 1),
    pa.float64(): st.floats(allow_nan=False, allow_infinity=False, width=64),
    pa.bool_(): st.booleans(),
    pa.list_(pa.int64()): st.lists(st.integers(-(2**40), 2**40), max_size=5),
}


def _records(schema: pa.Schema) -> st.SearchStrategy[list[dict[str, object]]]:
    # any field may be absent or null; unknown fields may appear
    field = {f.name: st.one_of(st.none(), _VALUES[f.type]) for f in schema} | {
        "unknown_field": st.one_of(st.integers(), st.text(max_size=5))
    }
    return st.lists(st.fixed_dictionaries({}, optional=field), max_size=20)


def _pyarrow(values: list[bytes], schema: pa.Schema) -> pa.Table:
    return pj.read_json(
        pa.BufferReader(b"\n".join(values)),
        parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"),
    )


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from([CLEAN_SCHEMA, FLAT_SCHEMA]).flatmap(
        lambda s: st.tuples(st.just(s), _records(s))
    )
)
def test_same_table_as_pyarrows_reader(case: tuple[pa.Schema, list[dict[str, object]]]) -> None:
    schema, records = case
    # raw UTF-8, as the stages publish (orjson), not \u escapes
    values = [json.dumps(r, ensure_ascii=False).encode() for r in records]
    got = json_table(values, schema)
    assert got.schema == schema
    if values:
        assert got.to_pylist() == _pyarrow(values, schema).to_pylist()
    else:
        assert got.num_rows == 0


def test_a_long_record_and_unicode() -> None:
    schema = pa.schema([("query_key", pa.string()), ("row", pa.int64())])
    long_text = 'é\u2028"\\' * 2_000_000  # 18 MB of JSON
    values = [
        json.dumps({"query_key": long_text, "row": 1}, ensure_ascii=False).encode(),
        b'{"row": 2}',
    ]
    got = json_table(values, schema).to_pylist()
    assert got == [{"query_key": long_text, "row": 1}, {"query_key": None, "row": 2}]


def test_one_row_per_message_and_values_of_another_type_cast() -> None:
    """A ``null`` message is a row of NULLs (the raw table appends one key per message);
    values of another JSON type are cast as DuckDB casts them (the stages emit typed
    records; pyarrow's reader refused such a batch)."""
    schema = pa.schema([("n", pa.int64()), ("s", pa.string()), ("ids", pa.list_(pa.int64()))])
    values = [b'{"n": "5", "s": 7}', b"null", b'{"n": 1.5, "s": {"a": 1}, "ids": ["1", 2]}']
    assert json_table(values, schema).to_pylist() == [
        {"n": 5, "s": "7", "ids": None},
        {"n": None, "s": None, "ids": None},
        {"n": 2, "s": '{"a":1}', "ids": [1, 2]},
    ]


def test_malformed_json_fails_the_batch() -> None:
    with pytest.raises(duckdb.Error):
        json_table([b'{"n": 1}', b'{"n": '], pa.schema([("n", pa.int64())]))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(), max_size=30))
def test_utf8_array_is_pyarrows_array(texts: list[str]) -> None:
    values = [t.encode() for t in texts]
    assert utf8_array(values).to_pylist() == pa.array(values, pa.string()).to_pylist()


def test_invalid_utf8_fails_the_batch() -> None:
    with pytest.raises(pa.ArrowInvalid, match="UTF8"):
        json_table([b'{"n": 1}', b'{"s": "\xff"}'], pa.schema([("n", pa.int64())]))
