"""The run history store: where each ``--release-gate`` run leaves one entry, and where gates read them back.

``history_url`` (or ``RELEASE_GATES_HISTORY_URL``) picks the backend: the local
``.release-gates/history.jsonl`` (empty), SQLite (``sqlite:///PATH``) or
PostgreSQL (``postgresql://...``). This package imports no gate and no report
module; the flaky gate, the trends and the HTML report go through
:class:`~.base.Store` only.
"""

from __future__ import annotations

from pathlib import Path

from .base import PRUNE_EVERY, Entry, FailureCounts, Imported, Overview, Scope, Store, StoreError
from .url import ENV, JSONL, POSTGRES, SQLITE, StoreURL, mask, parse

__all__ = [
    "ENV",
    "Entry",
    "FailureCounts",
    "Imported",
    "Overview",
    "Scope",
    "Store",
    "StoreError",
    "StoreURL",
    "mask",
    "open_store",
    "parse",
]


def open_store(url: StoreURL, *, timeout: float = 5.0, prune_every: float = PRUNE_EVERY) -> Store:
    """Connect (within ``timeout`` seconds), create or migrate the schema; ``StoreError`` when that fails."""
    if url.kind == SQLITE:
        from .sqlite import SqliteStore

        return SqliteStore(url, timeout, prune_every)
    if url.kind == POSTGRES:
        from .postgres import PostgresStore

        return PostgresStore(url, timeout, prune_every)
    from .jsonl import JsonlStore

    assert url.kind == JSONL and url.path is not None
    return JsonlStore(Path(url.path))
