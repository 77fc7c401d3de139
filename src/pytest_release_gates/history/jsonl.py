"""The local history file, ``.release-gates/history.jsonl``: one compact JSON line per run.

The store when ``history_url`` is empty, and the spool that keeps a run's entry
when a shared store cannot be reached (``release-gate history import`` moves
it later). It is a machine file that is never committed: each run rewrites it
under an exclusive lock (so concurrent runs on one checkout never lose a
line), atomically (so a reader never sees half a file), pruned to
``history_max_runs`` / ``history_max_days``. Reading is tolerant: a line that
is not a history entry (garbage, a truncated tail from a killed writer) is
skipped with a warning, never a crash. The file belongs to one checkout, so
its reads are not filtered by project or branch.

This module is the :class:`~.base.Store`; the file is read by ``jsonl_read.py``
and written by ``jsonl_write.py``, whose names are re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Final, final

from .. import atomic
from ..model import UsageError
from .base import (
    PIPELINE,
    SAMPLE_KEEP_LAST,
    SAMPLE_MAX,
    SHARD,
    Entry,
    FailureCounts,
    Imported,
    Overview,
    Scope,
    StoreError,
    count_failures,
    dumps,
    run_key,
    sample_indices,
    shards_of,
)
from .jsonl_read import MAX_LINE_BYTES, History, parse, read
from .jsonl_write import append, locked, prune
from .url import LOCAL_FILE

__all__ = [
    "MAX_LINE_BYTES",
    "RELATIVE_PATH",
    "History",
    "JsonlStore",
    "append",
    "dumps_entry",
    "parse",
    "path_for",
    "prune",
    "read",
]

RELATIVE_PATH: Final = LOCAL_FILE
dumps_entry = dumps


def path_for(rootdir: Path) -> Path:
    return Path(rootdir) / RELATIVE_PATH


# ------------------------------------------------------------------ the store


@final
class JsonlStore:
    """The local file as a :class:`~.base.Store`. Read once per run; the append reuses that read."""

    __slots__ = ("_hist", "path")

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._hist: History | None = None

    @property
    def label(self) -> str:
        return str(self.path)

    def history(self) -> History:
        """The file as read this run (the first call reads it)."""
        if self._hist is None:
            self._hist = read(self.path)
        return self._hist

    def _merged(self, hist: History) -> set[str]:
        """run_ids of shard entries a pipeline entry stands for (a quick scan: pipelines are rare here)."""
        out: set[str] = set()
        for i, line in enumerate(hist.lines):
            if f'"role":"{PIPELINE}"' in line:
                e = hist.entry(i)
                if e is not None:
                    out.update(shards_of(e))
        return out

    def _counted(self, hist: History) -> Iterator[tuple[int, Entry]]:
        """(index, entry) newest first, merged shard entries left out."""
        merged = self._merged(hist)
        for i in range(len(hist.lines) - 1, -1, -1):
            e = hist.entry(i)
            if e is None:
                continue
            if merged and e.get("role") == SHARD and e.get("run_id") in merged:
                continue
            yield i, e

    def failures(self, scope: Scope, *, last_runs: int | None = None, since: float | None = None) -> FailureCounts:
        hist = self.history()
        picked: list[Entry] = []
        for i, e in self._counted(hist):
            if since is not None and hist.times[i] < since:
                break
            if last_runs is not None and len(picked) >= last_runs:
                break
            picked.append(e)
        return count_failures(picked)

    def recent(self, scope: Scope, n: int) -> list[Entry]:
        out: list[Entry] = []
        if n > 0:
            for _, e in self._counted(self.history()):
                out.append(e)
                if len(out) >= n:
                    break
        return out[::-1]

    def overview(self, scope: Scope, max_entries: int = SAMPLE_MAX, keep_last: int = SAMPLE_KEEP_LAST) -> Overview:
        hist = self.history()
        if not self._merged(hist):
            return Overview(len(hist), hist.verdict_counts(), hist.sampled(max_entries, keep_last))
        kept = [e for _, e in self._counted(hist)][::-1]
        counts = {"deploy": 0, "hold": 0, "rollback": 0}
        for e in kept:
            if e.get("verdict") in counts:
                counts[str(e["verdict"])] += 1
        return Overview(len(kept), counts, [kept[i] for i in sample_indices(len(kept), max_entries, keep_last)])

    def append(self, entry: Entry, *, max_runs: int, max_days: float) -> None:
        try:
            self._hist = append(self.path, entry, max_runs=max_runs, max_days=max_days, previous=self._hist)
        except UsageError as exc:
            raise StoreError(str(exc)) from None

    def entries(self, run_ids: Iterable[str]) -> list[Entry]:
        wanted = set(run_ids)
        hist = self.history()
        return [e for i in range(len(hist.lines)) if (e := hist.entry(i)) is not None and e.get("run_id") in wanted]

    def export(self) -> Iterator[Entry]:
        hist = read(self.path)
        if hist.error:
            raise StoreError(hist.error)
        yield from hist.entries

    def import_entries(self, entries: Iterable[Entry]) -> Imported:
        """Merge entries into the file under its lock, oldest first; no retention (the next run applies it)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with locked(self.path):
                hist = read(self.path)
                if hist.error:
                    raise StoreError(hist.error)
                keys = {run_key(e) for e in hist.entries}
                pairs = list(zip(hist.times, hist.lines, strict=True))
                added = present = 0
                for e in entries:
                    key = run_key(e)
                    if key in keys:
                        present += 1
                        continue
                    keys.add(key)
                    pairs.append((float(e["time"]), dumps(e)))
                    added += 1
                if added:
                    pairs.sort(key=lambda p: p[0])
                    atomic.write_text(self.path, "".join(f"{text}\n" for _, text in pairs))
        except UsageError as exc:
            raise StoreError(str(exc)) from None
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot write history: {exc.strerror or exc}") from None
        self._hist = None
        return Imported(added, present)

    def close(self) -> None:
        pass
