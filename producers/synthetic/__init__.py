"""Deterministic synthetic Redset generator, calibrated to the figures in redset.md.

Output has the real files' 24 columns and quirks: 0/1 flags, ints written as floats
(``compile_duration_ms``, ``num_*_tables_accessed``, ``cluster_size``), NULL
``cluster_size`` for serverless, comma-separated table-id strings, the real files' NULL
measures (:data:`NULL_RATES`: every result-cache hit has NULL compile time, fingerprint,
table counts and lists and MB; a few other rows a NULL compile time, fingerprint or MB
pair), query ids not monotone in arrival time, a few dominant clusters, few users per
cluster (one cluster minting many), bursty ETL writes followed by reads of the same
tables, heavy-tailed runtimes and bytes scanned.

With ``error_rate`` > 0 it injects broken rows (each broken row has exactly one problem)
and records them in ``SyntheticData.injected`` (the ground truth for oracle tests); with
``duplicate_rate`` > 0 it inserts exact copies of earlier rows right after them.

Modules: :mod:`~producers.synthetic.calibration` (the figures), ``spec``, ``columns``
(the draws), ``generator``, ``faults`` (injection), ``files`` (writing), ``cli``
(``python -m producers.synthetic --rows N --out file.parquet|.csv|.xlsx``).
"""

from producers.synthetic.calibration import NULL_RATES
from producers.synthetic.files import write, write_table
from producers.synthetic.generator import generate
from producers.synthetic.spec import SyntheticData, SyntheticSpec

__all__ = [
    "NULL_RATES",
    "SyntheticData",
    "SyntheticSpec",
    "generate",
    "write",
    "write_table",
]
