"""Run history: one compact JSON line per ``--release-gate`` run in ``.release-gates/history.jsonl``.

Trends (HTML charts, terminal sparklines) and the repeated-failure gate read
it. It is a machine file that is never committed: each run rewrites it under
an exclusive lock (so concurrent runs on one checkout never lose a line),
atomically (so a reader never sees half a file), pruned to
``history_max_runs`` / ``history_max_days``. Reading is tolerant: a line that
is not a history entry (garbage, a truncated tail from a killed writer) is
skipped with a warning, never a crash.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import re
import statistics
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, final

from .. import atomic, redact
from ..model import Status, UsageError

if TYPE_CHECKING:
    from ..session import GateContext

RELATIVE_PATH: Final = ".release-gates/history.jsonl"
VERSION: Final = 1
#: session.extra key caching this run's read of the history (read once, before this run is appended).
_CACHE_KEY: Final = "history.before"
#: Failing gates kept per entry: enough to tell why, small enough for 200 runs x 5,000 tests.
MAX_FAILING_GATES: Final = 50
MAX_FAILED_TESTS: Final = 2000


#: Lines our writer produced (compact JSON starting with version and time) are checked without parsing;
#: anything else is parsed and validated in full. Keeps a 100,000-line history fast.
_FAST: Final = re.compile(r'\{"v":\d+,"time":(-?\d[\d.eE+-]*),')
#: Histories longer than this are sampled for charts (the newest ``SAMPLE_KEEP_LAST`` runs always kept).
SAMPLE_MAX: Final = 4000
SAMPLE_KEEP_LAST: Final = 400


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
            except ValueError:
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
        older = n - keep_last
        step = older / (max_entries - keep_last)
        picks = sorted({int(i * step) for i in range(max_entries - keep_last)} | set(range(older, n)))
        return self._pick(picks)

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
    hist = History(path)
    lines = text.split("\n")
    last = len(lines)
    for number, line in enumerate(lines, 1):
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
        except ValueError:
            truncated = number == last and not text.endswith("\n")
            problem = f"line {number}: {'truncated last line' if truncated else 'not JSON'}"
            entry = None
        if problem is None and not _is_entry(entry):
            problem = f"line {number}: not a history entry"
        if problem is not None:
            hist.skipped += 1
            hist.first_problem = hist.first_problem or problem
            continue
        hist.add(line, float(entry["time"]))
    return hist


def _is_entry(entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("time"), (int, float))
        and not isinstance(entry.get("time"), bool)
        and math.isfinite(entry["time"])
        and isinstance(entry.get("verdict"), str)
    )


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
        raw = path.read_bytes()
    except FileNotFoundError:
        return History(path)
    except OSError as exc:
        return History(path, error=f"cannot read {path}: {exc.strerror or exc}")
    hist = parse(path, raw.decode("utf-8", errors="replace"))
    hist.stat = stat
    return hist


def before_this_run(context: GateContext) -> History:
    """The history as it was when this run ended, before its own line: read once per run."""
    extra = context.session.extra
    hist = extra.get(_CACHE_KEY)
    if not isinstance(hist, History):
        hist = extra[_CACHE_KEY] = read(path_for(context.rootdir))
    return hist


# ------------------------------------------------------------------ entries


def failed_tests(context: GateContext, reruns: Iterable[str] = ()) -> list[str]:
    """Tests that failed or errored this run, or needed a rerun (pytest-rerunfailures)."""
    out = {rec.nodeid for rec in context.iter_records() if rec.outcome in ("failed", "error")}
    out.update(reruns)
    return sorted(out)


def metric_medians(context: GateContext) -> dict[str, dict[str, Any]]:
    """Median of each tracked metric this run: ``{key: {"m": median, "u": unit, "h": higher_is_better}}``."""
    from ..metrics import collect

    values: dict[str, list[float]] = {}
    meta: dict[str, dict[str, Any]] = {}
    for metric in collect(context):
        if not metric.values:
            continue
        values.setdefault(metric.key, []).extend(metric.values)
        meta[metric.key] = {"u": metric.unit, "h": metric.higher_is_better}
    out = {}
    for key, vals in values.items():
        info = {"m": _round(statistics.median(vals))}
        info.update({k: v for k, v in meta[key].items() if v not in (False, "s")})  # defaults left out
        out[key] = info
    return out


def build_entry(verdict: Mapping[str, Any], context: GateContext, *, reruns: Iterable[str] = (),
                now: float | None = None) -> dict[str, Any]:
    """One compact history line for this run, from the verdict document (never re-derived)."""
    failing = [g for g in verdict.get("gates", ()) if g.get("status") == Status.FAIL.value]
    git = verdict.get("git") or {}
    entry: dict[str, Any] = {
        "v": VERSION,
        "time": round(time.time() if now is None else now, 3),
        "verdict": verdict.get("verdict"),
        "created": verdict.get("created"),
        "complete": bool(verdict.get("complete", True)),
        "partial": (verdict.get("run") or {}).get("partial"),
        "tests": verdict.get("tests", {}),
        "duration_s": verdict.get("duration_s"),
        "commit": git.get("commit") if isinstance(git, dict) else None,
        "dirty": git.get("dirty") if isinstance(git, dict) else None,
        "failing": [[g.get("kind"), g.get("subject"), g.get("level")] for g in failing[:MAX_FAILING_GATES]],
        "failed": failed_tests(context, reruns)[:MAX_FAILED_TESTS],
        "metrics": metric_medians(context),
    }
    if len(failing) > MAX_FAILING_GATES:
        entry["failing_more"] = len(failing) - MAX_FAILING_GATES
    # Failed node ids and metric keys come from the run, not the (already masked) verdict: every store
    # gets the entry masked, so a test id is stored the way the verdict shows it.
    return redact.document({k: v for k, v in entry.items() if v not in (None, [], {}) or k == "verdict"})


def _round(x: float) -> float:
    """Six significant digits: plenty for a trend, half the bytes of a full repr."""
    return float(f"{x:.6g}") if math.isfinite(x) else 0.0


# ------------------------------------------------------------------ writing


def prune(entries: list[dict[str, Any]], *, max_runs: int, max_days: float, now: float) -> list[dict[str, Any]]:
    """Keep the newest ``max_runs`` entries no older than ``max_days`` (entries stay in time order)."""
    oldest = now - max_days * 86400.0
    kept = [e for e in entries if e["time"] >= oldest]
    return kept[-max_runs:]


def dumps_entry(entry: Mapping[str, Any]) -> str:
    return json.dumps(entry, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


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


# ------------------------------------------------------------------ reading back


def series(entries: Iterable[Mapping[str, Any]], key: str) -> list[tuple[float, float]]:
    """(time, median) of one tracked metric over the history, oldest first."""
    out = []
    for e in entries:
        m = e.get("metrics")
        if not isinstance(m, dict):
            continue
        info = m.get(key)
        value = info.get("m") if isinstance(info, dict) else info
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out.append((float(e["time"]), float(value)))
    return out


def all_series(entries: Iterable[Mapping[str, Any]]) -> dict[str, list[tuple[float, float]]]:
    """Every tracked metric's (time, median) points in one pass over the history."""
    out: dict[str, list[tuple[float, float]]] = {}
    for e in entries:
        m = e.get("metrics")
        if not isinstance(m, dict):
            continue
        t = float(e["time"])
        for key, info in m.items():
            value = info.get("m") if isinstance(info, dict) else info
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                out.setdefault(key, []).append((t, float(value)))
    return out


def when(entry: Mapping[str, Any]) -> str:
    return dt.datetime.fromtimestamp(float(entry["time"]), dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
