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
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final, final

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
    is_entry,
    run_key,
    sample_indices,
    shards_of,
)
from .url import LOCAL_FILE

RELATIVE_PATH: Final = LOCAL_FILE
_is_entry = is_entry
dumps_entry = dumps


#: Lines our writer produced (compact JSON starting with version and time) are checked without parsing;
#: anything else is parsed and validated in full. Keeps a 100,000-line history fast.
_FAST: Final = re.compile(r'\{"v":\d+,"time":(-?\d[\d.eE+-]*),')
#: A history line longer than this (1 MiB; ours stay well under: at most 2,000 failed tests, 50 gates) is
#: skipped, with a warning, like any other unreadable line.
MAX_LINE_BYTES: Final = 1024 * 1024


@final
@dataclass(slots=True)
class History:
    """The history file as raw valid lines (oldest first) and their times; entries are parsed on demand.

    Also what was wrong with the file, for one warning line.
    """

    path: Path
    lines: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    skipped: int = 0
    first_problem: str | None = None
    error: str | None = None  # the file could not be read at all
    stat: tuple[int, int] | None = None  # (mtime_ns, size) when read, to skip a re-read under the lock
    _parsed: dict[int, dict[str, Any] | None] = field(default_factory=dict, init=False, repr=False)

    def __len__(self) -> int:
        return len(self.lines)

    def warnings(self) -> list[str]:
        out = []
        if self.error:
            out.append(f"history: {self.error}")
        if self.skipped:
            out.append(
                f"history: skipped {self.skipped} unreadable line{'s' if self.skipped != 1 else ''} "
                f"in {self.path} ({self.first_problem})"
            )
        return out

    def entry(self, i: int) -> dict[str, Any] | None:
        """Entry ``i`` parsed (cached); None if the line passed the quick check but is not valid JSON."""
        if i not in self._parsed:
            try:
                value = json.loads(self.lines[i])
            except (ValueError, RecursionError):
                value = None
            self._parsed[i] = value if _is_entry(value) else None
        return self._parsed[i]

    def _pick(self, indices: Iterable[int]) -> list[dict[str, Any]]:
        return [e for e in map(self.entry, indices) if e is not None]

    @property
    def entries(self) -> list[dict[str, Any]]:
        """Every entry, oldest first (parses the whole file: prefer ``tail`` or ``sampled``)."""
        return self._pick(range(len(self.lines)))

    def tail(self, n: int) -> list[dict[str, Any]]:
        """The newest ``n`` entries, oldest first."""
        return self._pick(range(max(0, len(self.lines) - n), len(self.lines))) if n > 0 else []

    def sampled(self, max_entries: int = SAMPLE_MAX, keep_last: int = SAMPLE_KEEP_LAST) -> list[dict[str, Any]]:
        """At most ``max_entries`` entries: the newest ``keep_last`` and an even sample of the older ones."""
        n = len(self.lines)
        if n <= max_entries:
            return self.entries
        return self._pick(sample_indices(n, max_entries, keep_last))

    def verdict_counts(self) -> dict[str, int]:
        """deploy/hold/rollback over every run, without parsing each line."""
        counts = {"deploy": 0, "hold": 0, "rollback": 0}
        for line in self.lines:
            i = line.find('"verdict":"')
            if i >= 0:
                word = line[i + 11:line.find('"', i + 11)]
                if word in counts:
                    counts[word] += 1
        return counts

    def add(self, line: str, t: float) -> None:
        self.lines.append(line)
        self.times.append(t)


def path_for(rootdir: Path) -> Path:
    return Path(rootdir) / RELATIVE_PATH


def parse(path: Path, text: str) -> History:
    """Parse history text tolerantly: every line that is not an entry is counted, not raised."""
    lines = text.split("\n")
    return _parse(path, ((line, i < len(lines) - 1) for i, line in enumerate(lines)))


def _lines(fh: IO[bytes]) -> Iterator[tuple[str | None, bool]]:
    """(line, ends with a newline) of each line; a line over ``MAX_LINE_BYTES`` is None, never held in memory."""
    while True:
        raw = fh.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):  # skip the rest of the line a chunk at a time
                raw = fh.readline(MAX_LINE_BYTES)
            yield None, True
            continue
        yield raw.decode("utf-8", errors="replace"), raw.endswith(b"\n")


def _parse(path: Path, lines: Iterable[tuple[str | None, bool]]) -> History:
    hist = History(path)
    for number, (line, terminated) in enumerate(lines, 1):
        if line is None:
            hist.skipped += 1
            hist.first_problem = hist.first_problem or f"line {number}: longer than {atomic.size_text(MAX_LINE_BYTES)}"
            continue
        line = line.strip()
        if not line:
            continue
        m = _FAST.match(line)
        if m is not None and line.endswith("}") and '"verdict":"' in line:
            try:
                t = float(m.group(1))
            except ValueError:
                t = math.nan
            if math.isfinite(t):
                hist.add(line, t)
                continue
        problem = None
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError):
            problem = f"line {number}: {'not JSON' if terminated else 'truncated last line'}"
            entry = None
        if problem is None and not _is_entry(entry):
            problem = f"line {number}: not a history entry"
        if problem is not None:
            hist.skipped += 1
            hist.first_problem = hist.first_problem or problem
            continue
        hist.add(line, float(entry["time"]))
    return hist


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def read(path: Path) -> History:
    """Read the history file; a missing file is an empty history."""
    path = Path(path)
    stat = _stat(path)
    try:
        with path.open("rb") as fh:  # line by line: a line over MAX_LINE_BYTES is skipped unread
            hist = _parse(path, _lines(fh))
    except FileNotFoundError:
        return History(path)
    except OSError as exc:
        return History(path, error=f"cannot read {path}: {exc.strerror or exc}")
    hist.stat = stat
    return hist


def prune(entries: list[dict[str, Any]], *, max_runs: int, max_days: float, now: float) -> list[dict[str, Any]]:
    """Keep the newest ``max_runs`` entries no older than ``max_days`` (entries stay in time order)."""
    oldest = now - max_days * 86400.0
    kept = [e for e in entries if e["time"] >= oldest]
    return kept[-max_runs:]


def append(path: Path, entry: dict[str, Any], *, max_runs: int, max_days: float,
           now: float | None = None, previous: History | None = None) -> History:
    """Add ``entry`` and prune, under an exclusive lock; returns the history as written.

    ``previous``: this run's earlier read of the file, reused when the file has not changed since.
    Raises ``UsageError`` naming the file when it cannot be written.
    """
    path = Path(path)
    now = time.time() if now is None else now
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{path}: cannot write history: {exc.strerror or exc}") from None
    with _locked(path):
        unchanged = previous is not None and previous.error is None and previous.stat == _stat(path)
        hist = previous if unchanged and previous is not None else read(path)
        if hist.error:
            raise UsageError(hist.error)
        line = dumps_entry(entry)
        pairs = [*zip(hist.times, hist.lines, strict=True), (float(entry["time"]), line)]
        pairs.sort(key=lambda p: p[0])  # concurrent runs may end out of start order
        oldest = now - max_days * 86400.0
        pairs = [p for p in pairs if p[0] >= oldest][-max_runs:]
        atomic.write_text(path, "".join(f"{text}\n" for _, text in pairs))
        out = History(path, skipped=hist.skipped, first_problem=hist.first_problem, stat=_stat(path))
        for t, text in pairs:
            out.add(text, t)
    return out


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Exclusive advisory lock on ``<history>.lock`` (POSIX flock, Windows msvcrt; none elsewhere)."""
    lock_path = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise UsageError(f"{lock_path}: cannot lock history: {exc.strerror or exc}") from None
    try:
        _lock(fd)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _lock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        try:
            import msvcrt
        except ImportError:
            return
        deadline = time.monotonic() + 30
        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise UsageError("history: could not lock the history file within 30 s") from None
                time.sleep(0.05)
    fcntl.flock(fd, fcntl.LOCK_EX)




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
            with _locked(self.path):
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
