"""The one error a source raises (imported by every format and by the download)."""

from __future__ import annotations


class SourceError(ValueError):
    """A source cannot be read at all (missing file, wrong columns); the message names it."""
