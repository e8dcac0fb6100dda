"""A ``synthetic:...`` source: the built-in generator's frame with provenance."""

from __future__ import annotations

import pyarrow as pa

from producers.synthetic import SyntheticSpec, generate


def synthetic_table(spec_text: str) -> pa.Table:
    spec = SyntheticSpec.parse(spec_text)
    t = generate(spec).table
    n = t.num_rows
    return (
        t.append_column("_file", pa.array([spec.to_string()] * n, pa.string()))
        .append_column("_row", pa.array(range(1, n + 1), pa.int64()))
        .append_column("_raw", pa.nulls(n, pa.string()))
        .append_column("_error", pa.nulls(n, pa.string()))
    )
