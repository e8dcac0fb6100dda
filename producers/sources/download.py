"""Download an https:// or s3://redshift-downloads/... file once, into a local cache."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import urlparse

import requests
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from producers.sources.errors import SourceError

S3_HTTPS = "https://s3.amazonaws.com/"


def https_url(url: str) -> str:
    """``s3://bucket/key`` (public bucket, anonymous) -> its HTTPS address."""
    if url.startswith("s3://"):
        return S3_HTTPS + url[len("s3://") :]
    return url


def cache_path(url: str, cache_dir: str) -> Path:
    name = Path(urlparse(url).path).name or "download"
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    return Path(cache_dir) / f"{digest}-{name}"


def fetch(url: str, cache_dir: str, progress: bool = True, timeout_s: float = 30.0) -> str:
    """Return a local path for ``url``, downloading it (with a progress bar) if not cached."""
    target = cache_path(url, cache_dir)
    if target.exists():
        return str(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_suffix(target.suffix + ".part")
    src = https_url(url)
    try:
        with requests.get(src, stream=True, timeout=timeout_s) as r:
            if r.status_code != 200:
                raise SourceError(f"{url}: HTTP {r.status_code} from {src}")
            total = int(r.headers.get("content-length") or 0) or None
            with (
                open(part, "wb") as fh,
                Progress(
                    "[progress.description]{task.description}",
                    BarColumn(),
                    DownloadColumn(),
                    TransferSpeedColumn(),
                    disable=not progress,
                ) as bar,
            ):
                task = bar.add_task(f"download {Path(target).name}", total=total)
                for chunk in r.iter_content(1 << 20):
                    fh.write(chunk)
                    bar.advance(task, len(chunk))
    except requests.RequestException as e:
        part.unlink(missing_ok=True)
        raise SourceError(f"{url}: download failed ({e.__class__.__name__}: {e})") from e
    os.replace(part, target)
    return str(target)
