"""Writing the local history file: append a run's entry and prune, under an exclusive lock.

Each run rewrites the file under ``<history>.lock`` (so concurrent runs on
one checkout never lose a line), atomically (so a reader never sees half a
file), pruned to ``history_max_runs`` / ``history_max_days``. Apart from the
reading (``jsonl_read.py``), which needs no lock.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .. import atomic
from ..model import UsageError
from .base import dumps
from .jsonl_read import History, file_stat, read


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
    with locked(path):
        unchanged = previous is not None and previous.error is None and previous.stat == file_stat(path)
        hist = previous if unchanged and previous is not None else read(path)
        if hist.error:
            raise UsageError(hist.error)
        line = dumps(entry)
        pairs = [*zip(hist.times, hist.lines, strict=True), (float(entry["time"]), line)]
        pairs.sort(key=lambda p: p[0])  # concurrent runs may end out of start order
        oldest = now - max_days * 86400.0
        pairs = [p for p in pairs if p[0] >= oldest][-max_runs:]
        atomic.write_text(path, "".join(f"{text}\n" for _, text in pairs))
        out = History(path, skipped=hist.skipped, first_problem=hist.first_problem, stat=file_stat(path))
        for t, text in pairs:
            out.add(text, t)
    return out


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
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
