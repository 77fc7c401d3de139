"""Reading the local history file: one compact JSON line per run, read tolerantly.

A line that is not a history entry (garbage, a truncated tail from a killed
writer, a line over :data:`MAX_LINE_BYTES`) is counted and skipped, with one
warning, never a crash. Lines our writer produced pass a quick check without
being parsed; entries are parsed on demand. Apart from the writing
(``jsonl_write.py``) and the store (``jsonl.py``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final, final

from .. import atomic
from .base import SAMPLE_KEEP_LAST, SAMPLE_MAX, is_entry, sample_indices

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
            self._parsed[i] = value if is_entry(value) else None
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
        if problem is None and not is_entry(entry):
            problem = f"line {number}: not a history entry"
        if problem is not None:
            hist.skipped += 1
            hist.first_problem = hist.first_problem or problem
            continue
        hist.add(line, float(entry["time"]))
    return hist


def file_stat(path: Path) -> tuple[int, int] | None:
    """(mtime_ns, size) of the file, or None: tells whether it changed since it was read."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def read(path: Path) -> History:
    """Read the history file; a missing file is an empty history."""
    path = Path(path)
    stat = file_stat(path)
    try:
        with path.open("rb") as fh:  # line by line: a line over MAX_LINE_BYTES is skipped unread
            hist = _parse(path, _lines(fh))
    except FileNotFoundError:
        return History(path)
    except OSError as exc:
        return History(path, error=f"cannot read {path}: {exc.strerror or exc}")
    hist.stat = stat
    return hist
