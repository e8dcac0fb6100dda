"""What a SOURCE argument points at: files (a path or a glob), a URL to download once, or
a synthetic spec."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from producers.sources.download import fetch
from producers.sources.errors import SourceError


@dataclass(frozen=True)
class ResolvedSource:
    """What a SOURCE argument points at."""

    text: str
    kind: str  # parquet | csv | xlsx | synthetic
    paths: tuple[str, ...]
    dataset: str


def dataset_name(path: str) -> str:
    """``.../redset/provisioned/sample_0.001.parquet`` -> ``provisioned/sample_0.001``."""
    p = Path(path)
    parent = p.parent.name
    return f"{parent}/{p.stem}" if parent in ("provisioned", "serverless", "parts") else p.stem


def resolve(text: str, cache_dir: str, progress: bool = True) -> ResolvedSource:
    """The source ``text`` names; a URL is downloaded into ``cache_dir`` first (once)."""
    if text.startswith("synthetic:") or text == "synthetic":
        return ResolvedSource(text, "synthetic", (text,), "synthetic")
    if text.startswith(("https://", "http://", "s3://")):
        local = fetch(text, cache_dir, progress=progress)
        return ResolvedSource(text, _kind_of(local), (local,), dataset_name(text))
    paths = sorted(glob.glob(text)) if any(ch in text for ch in "*?[") else [text]
    if not paths:
        raise SourceError(f"{text}: no file matches")
    for p in paths:
        if not os.path.isfile(p):
            raise SourceError(f"{p}: no such file")
    kinds = {_kind_of(p) for p in paths}
    if len(kinds) != 1:
        raise SourceError(f"{text}: mixes file types {sorted(kinds)}")
    return ResolvedSource(text, kinds.pop(), tuple(paths), dataset_name(paths[0]))


def _kind_of(path: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".csv", ".txt", ".tsv"):
        return "csv"
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx"
    raise SourceError(f"{path}: unsupported file type {suffix!r} (use .parquet, .csv, .xlsx)")
