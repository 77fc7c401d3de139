"""The store interface: what the flaky gate, the trends and the HTML report may ask of a run history.

An entry is one run as a plain JSON object (``{"v": 1, "time": ..., "verdict": ...}``
first, then the rest). Every backend keeps entries whole and answers the same
questions; readers never see how. Rows are written already masked: the store
is below the gates and reports and imports none of them.

Counting each test run once: a CI pipeline split into shards writes one
``shard`` row per job, and ``release-gate merge`` later writes one ``pipeline``
row listing its shards' ``run_id``s. From then on the shard rows are no
longer counted (the pipeline row stands for them); a shard that was never
merged counts as its own run.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, final

Entry = dict[str, Any]

VERSION: Final = 1
RUN: Final = "run"
SHARD: Final = "shard"
PIPELINE: Final = "pipeline"
ROLES: Final = (RUN, SHARD, PIPELINE)
#: Histories longer than this are sampled for charts (the newest ``SAMPLE_KEEP_LAST`` runs always kept).
SAMPLE_MAX: Final = 4000
SAMPLE_KEEP_LAST: Final = 400
#: Retention runs at most this often per project (seconds), by whichever writer gets the lock first.
PRUNE_EVERY: Final = 60.0
#: Key order of a written entry; the local file's reader checks ``{"v":N,"time":...`` without parsing.
_FIRST: Final = ("v", "time", "verdict")


class StoreError(Exception):
    """The store could not be reached or used. The text is one line and safe to print (no password)."""


@final
@dataclass(frozen=True, slots=True)
class Scope:
    """Which runs a reader sees in a shared store: one project, some branches (None: every branch)."""

    project: str | None = None
    branches: tuple[str, ...] | None = None


@final
@dataclass(frozen=True, slots=True)
class FailureCounts:
    """Runs looked at (counted once each) and, per test, in how many of them it failed or needed a rerun."""

    runs: int
    counts: Mapping[str, int] = field(default_factory=dict)


@final
@dataclass(slots=True)
class Overview:
    """What the HTML report shows: totals over the whole history and an even sample of its entries."""

    total: int
    verdict_counts: dict[str, int]
    entries: list[Entry]


@final
@dataclass(frozen=True, slots=True)
class Imported:
    added: int
    present: int  # already in the store (same run_id): importing twice adds nothing


class Store(Protocol):
    """A run history. Every method raises ``StoreError`` (one line, no password) when it cannot answer."""

    @property
    def label(self) -> str:
        """How messages name this store (no password)."""

    def append(self, entry: Entry, *, max_runs: int, max_days: float) -> None:
        """Add one run; retention (per project) is applied by one writer at a time, not by every one."""

    def failures(self, scope: Scope, *, last_runs: int | None = None, since: float | None = None) -> FailureCounts:
        """Failures per test over the newest ``last_runs`` runs, or over the runs since ``since`` (epoch s)."""

    def recent(self, scope: Scope, n: int) -> list[Entry]:
        """The newest ``n`` entries, oldest first."""

    def overview(self, scope: Scope, max_entries: int = SAMPLE_MAX, keep_last: int = SAMPLE_KEEP_LAST) -> Overview:
        """Totals and an even sample (the newest ``keep_last`` always in), oldest first."""

    def entries(self, run_ids: Iterable[str]) -> list[Entry]:
        """The entries with these ``run_id``s (those that are there), oldest first."""

    def export(self) -> Iterator[Entry]:
        """Every entry of every project, oldest first."""

    def import_entries(self, entries: Iterable[Entry]) -> Imported:
        """Add entries (a ``history.jsonl``); an entry already there (same run key) is skipped."""

    def close(self) -> None: ...


# ------------------------------------------------------------------ entries


def is_entry(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("time"), (int, float))
        and not isinstance(value.get("time"), bool)
        and math.isfinite(value["time"])
        and isinstance(value.get("verdict"), str)
    )


def ordered(entry: Mapping[str, Any]) -> Entry:
    """``entry`` with ``v``, ``time``, ``verdict`` first (a store may hand keys back in another order)."""
    out = {k: entry[k] for k in _FIRST if k in entry}
    out.update((k, v) for k, v in entry.items() if k not in out)
    return out


def dumps(entry: Mapping[str, Any]) -> str:
    return json.dumps(ordered(entry), separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def run_key(entry: Mapping[str, Any]) -> str:
    """The entry's ``run_id``; for an entry without one (older files), a digest of its content."""
    rid = entry.get("run_id")
    if isinstance(rid, str) and rid:
        return rid
    return "sha256:" + hashlib.sha256(dumps(entry).encode("utf-8")).hexdigest()[:32]


def text(entry: Mapping[str, Any], key: str) -> str:
    value = entry.get(key)
    return value if isinstance(value, str) else ""


def failed_of(entry: Mapping[str, Any]) -> list[str]:
    failed = entry.get("failed")
    return sorted({n for n in failed if isinstance(n, str)}) if isinstance(failed, list) else []


def shards_of(entry: Mapping[str, Any]) -> list[str]:
    """The ``run_id``s a pipeline entry stands for."""
    if entry.get("role") != PIPELINE:
        return []
    shards = entry.get("shards")
    return [s for s in shards if isinstance(s, str) and s] if isinstance(shards, list) else []


def shard_position(entry: Mapping[str, Any]) -> tuple[int | None, int | None]:
    shard = entry.get("shard")
    if not isinstance(shard, dict):
        return None, None
    index, count = shard.get("index"), shard.get("count")
    ok = [v if isinstance(v, int) and not isinstance(v, bool) else None for v in (index, count)]
    return ok[0], ok[1]


def count_failures(entries: Iterable[Mapping[str, Any]]) -> FailureCounts:
    runs = 0
    counts: dict[str, int] = {}
    for e in entries:
        runs += 1
        for name in failed_of(e):
            counts[name] = counts.get(name, 0) + 1
    return FailureCounts(runs, counts)


def sample_indices(n: int, max_entries: int, keep_last: int) -> list[int]:
    """Indexes (oldest first) of at most ``max_entries`` of ``n`` runs: the newest ``keep_last``, older ones evenly."""
    if n <= max_entries:
        return list(range(n))
    older = n - keep_last
    step = older / (max_entries - keep_last)
    return sorted({int(i * step) for i in range(max_entries - keep_last)} | set(range(older, n)))


def verdict_counts(verdicts: Iterable[tuple[str, int]]) -> dict[str, int]:
    counts = {"deploy": 0, "hold": 0, "rollback": 0}
    for verdict, n in verdicts:
        if verdict in counts:
            counts[verdict] += int(n)
    return counts


def prune_due(last: float | None, now: float, every: float = PRUNE_EVERY) -> bool:
    """Retention is due when it never ran for the project, or ran ``every`` seconds ago (or in the future)."""
    return last is None or now - last >= every or now < last
