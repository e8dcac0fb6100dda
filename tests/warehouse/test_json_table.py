"""The materializer's JSON parsing (DuckDB's reader) against pyarrow's reader as an oracle."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.json as pj
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.warehouse import materializer
from processors.warehouse.materializer import _CLEAN_SCHEMA, _FLAT_SCHEMA, _json_table

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
    st.sampled_from([_CLEAN_SCHEMA, _FLAT_SCHEMA]).flatmap(
        lambda s: st.tuples(st.just(s), _records(s))
    )
)
def test_same_table_as_pyarrows_reader(case: tuple[pa.Schema, list[dict[str, object]]]) -> None:
    schema, records = case
    values = [json.dumps(r).encode() for r in records]
    got = _json_table(values, schema)
    assert got.schema == schema
    if values:
        assert got.to_pylist() == _pyarrow(values, schema).to_pylist()
    else:
        assert got.num_rows == 0


def test_a_long_record_and_unicode() -> None:
    schema = pa.schema([("query_key", pa.string()), ("row", pa.int64())])
    long_text = 'é\u2028"\\' * 5_000_000  # ~22 MB of JSON, beyond DuckDB's default object size
    values = [json.dumps({"query_key": long_text, "row": 1}).encode(), b'{"row": 2}']
    got = _json_table(values, schema).to_pylist()
    assert got == [{"query_key": long_text, "row": 1}, {"query_key": None, "row": 2}]


def test_falls_back_to_the_temporary_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    """No usable in-memory scratch directory (missing, full): the temporary one serves."""
    monkeypatch.setattr(materializer, "_SCRATCH", "/nonexistent/scratch")
    schema = pa.schema([("row", pa.int64())])
    assert _json_table([b'{"row": 1}'], schema).to_pylist() == [{"row": 1}]
