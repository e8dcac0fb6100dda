"""Dead letters of the clean stage: a RAW_DATA value that cannot be cleaned, with its
provenance (run, dataset, file, row), its cluster when readable, the reason and the field
(docs/CONTRACT.md, DEAD_LETTERS). Pure logic."""

from __future__ import annotations

from typing import Any

from common.contract import (
    PROV_DATASET,
    PROV_FILE,
    PROV_KIND,
    PROV_ROW,
    PROV_RUN_ID,
    cluster_key,
    row_location,
)
from processors.logic.parsers import RowError, parse_int


def provenance(raw: dict[str, Any]) -> tuple[str, str, str, int | None]:
    row = raw.get(PROV_ROW)
    try:
        row_n = int(row) if row is not None else None
    except (TypeError, ValueError):
        row_n = None
    return (
        str(raw.get(PROV_RUN_ID) or ""),
        str(raw.get(PROV_DATASET) or ""),
        str(raw.get(PROV_FILE) or ""),
        row_n,
    )


def raw_cluster(raw: dict[str, Any]) -> str | None:
    """Cluster of a raw row if its instance id is readable, else None."""
    kind = raw.get(PROV_KIND) or "provisioned"
    try:
        iid = parse_int(raw.get("instance_id"), "instance_id")
    except RowError:
        return None
    return cluster_key(str(kind), iid) if iid is not None else None


def dead_letter(
    raw: dict[str, Any], field: str | None, reason: str, detail: str, cluster: str | None = None
) -> dict[str, Any]:
    run_id, dataset, file, row = provenance(raw)
    qid: int | None
    try:
        qid = parse_int(raw.get("query_id"), "query_id", required=False)
    except RowError:
        qid = None
    where = row_location(file, row, field)
    return {
        "run_id": run_id,
        "dataset": dataset,
        "file": file,
        "row": row,
        "cluster": cluster if cluster is not None else raw_cluster(raw),
        "query_id": qid,
        "stage": "clean",
        "reason": reason,
        "field": field,
        # a reader's message already names file and row: do not say it twice
        "message": detail if detail.startswith(row_location(file, row)) else f"{where}: {detail}",
        "raw": raw,
    }
