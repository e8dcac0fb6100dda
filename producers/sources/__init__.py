"""Sources: every input becomes a DuckDB relation of raw rows with provenance.

A source is staged (CSV, Excel, synthetic) or read in place (Parquet) and exposed as a
DuckDB SQL relation with the 24 Redset columns *as read* plus ``_file``, ``_row`` and, for
unreadable rows, ``_raw`` / ``_error``. DuckDB then orders it by (arrival, query_id) with a
memory limit, spilling to disk, so no source is ever held in Python memory whole.

Modules: ``resolve`` (what a SOURCE names; ``download`` fetches a URL once), one per
format (``parquet``, ``csv_reader``, ``excel_reader``, ``synthetic``), ``rows`` (the
staged batches' schema and bad rows), ``stage`` (the relation), ``errors``.
"""

from producers.sources.csv_reader import csv_batches
from producers.sources.errors import SourceError
from producers.sources.excel_reader import xlsx_batches
from producers.sources.resolve import ResolvedSource, resolve
from producers.sources.stage import stage, stage_ordered

__all__ = [
    "ResolvedSource",
    "SourceError",
    "csv_batches",
    "resolve",
    "stage",
    "stage_ordered",
    "xlsx_batches",
]
