"""An exclusive advisory lock on a file, with a bounded wait.

For read-modify-write cycles on files that concurrent runs share (the
baseline). The wait is bounded so a stuck holder never hangs a CI job; the
caller turns a timeout into a one-line reason. POSIX uses ``flock``, Windows
``msvcrt.locking`` on the first byte; the lock goes with the open file, so a
crashed holder releases it. The lock file stays behind (removing it would let
two runs lock different files of one name).
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from .model import UsageError

#: How long a run waits for another one's update (an update holds the lock for milliseconds).
TIMEOUT_S = 30.0
_POLL_S: Final = 0.05
_BUSY: Final = frozenset({errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK, errno.EDEADLK})


class LockTimeout(UsageError):
    """The lock was held by someone else for the whole wait."""


@contextlib.contextmanager
def locked(path: Path, *, what: str, timeout: float | None = None) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created, with its folder, when missing) inside the block.

    Raises ``LockTimeout`` when it cannot be had within ``timeout`` seconds (default
    ``TIMEOUT_S``), and
    ``UsageError`` naming ``path`` when the file cannot be opened or locked at all.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise UsageError(f"{path}: cannot create the lock for {what}: {exc.strerror or exc}") from None
    timeout = TIMEOUT_S if timeout is None else timeout
    try:
        deadline = time.monotonic() + timeout
        while not _try_lock(fd, path, what):
            if time.monotonic() >= deadline:
                raise LockTimeout(f"{path}: could not lock {what} within {timeout:g} s: another run is still "
                                  "updating it")
            time.sleep(_POLL_S)
        try:
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)  # closing releases the lock too


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _acquire(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

    def _release(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _acquire(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _release(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _try_lock(fd: int, path: Path, what: str) -> bool:
    """True when the lock is ours; False when someone else holds it."""
    try:
        _acquire(fd)
    except OSError as exc:
        if exc.errno in _BUSY:
            return False
        raise UsageError(f"{path}: cannot lock {what}: {exc.strerror or exc}") from None
    return True


def _unlock(fd: int) -> None:
    with contextlib.suppress(OSError):
        _release(fd)
