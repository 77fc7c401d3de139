"""The one place that writes files: atomically, or not at all.

A reader (a later CI stage, a person's editor) must never see half a file,
and a failed write must leave the old file as it was.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import stat
import tempfile
from pathlib import Path
from typing import Any, Final

from .model import UsageError


def write_text(path: Path, text: str, *, backup: Path | None = None, durable: bool = True) -> None:
    """Write ``text`` to ``path`` via a temp file in the same folder and ``os.replace``.

    Parent folders are created. With ``backup``, the previous file (if any) is
    copied there first, also atomically. ``durable=False`` skips the fsync: still
    atomic for readers, for outputs that are regenerated every run (reports).
    Raises ``UsageError`` naming the path on any OS error.
    """
    path = Path(path)
    try:
        if path.is_dir():
            raise UsageError(f"{path}: is a directory, cannot write a file there")
        path.parent.mkdir(parents=True, exist_ok=True)
        if backup is not None and path.is_file():
            _replace_with(backup, path.read_bytes())
        _replace_with(path, text.encode("utf-8"), durable=durable)
    except UsageError:
        raise
    except OSError as exc:
        raise UsageError(f"{path}: cannot write: {exc.strerror or exc}") from None


def _replace_with(path: Path, data: bytes, *, durable: bool = True) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        if path.exists():
            with contextlib.suppress(OSError):
                os.chmod(tmp, path.stat().st_mode & 0o7777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def dumps(data: Any) -> str:
    """Deterministic JSON: sorted keys, two-space indent, trailing newline."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def write_json(path: Path, data: Any, *, backup: Path | None = None, durable: bool = True) -> None:
    write_text(path, dumps(data), backup=backup, durable=durable)


#: Every JSON file the plugin and the command read is refused above this size, without reading it:
#: a garbage gigabyte would otherwise cost seconds and gigabytes of memory before its error.
MAX_FILE_ENV: Final = "RELEASE_GATES_MAX_FILE_MB"
DEFAULT_MAX_FILE_MB: Final = 256
_MIB: Final = 1024 * 1024


def max_file_bytes() -> int:
    """The size cap in bytes: ``RELEASE_GATES_MAX_FILE_MB`` (MiB, default 256)."""
    raw = os.environ.get(MAX_FILE_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_FILE_MB * _MIB
    try:
        mib = float(raw)
    except ValueError:
        mib = math.nan
    if not (math.isfinite(mib) and mib > 0):
        raise UsageError(f"{MAX_FILE_ENV}={raw!r}: expected a positive number of MiB (default {DEFAULT_MAX_FILE_MB})")
    return max(1, int(mib * _MIB))


def size_text(n: int) -> str:
    for unit, factor in (("GiB", _MIB * 1024), ("MiB", _MIB), ("KiB", 1024)):
        if n >= factor:
            return f"{n / factor:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} bytes"


def read_capped(path: Path, *, what: str = "file") -> bytes:
    """The bytes of ``path``, refused with a one-line ``UsageError`` above :func:`max_file_bytes`.

    The size is checked with ``stat`` before opening, and at most cap+1 bytes
    are ever read, so a file that grows meanwhile, a FIFO or a device cannot
    get past the cap either. ``OSError`` (``FileNotFoundError`` included) passes through.
    """
    path = Path(path)
    cap = max_file_bytes()
    st = path.stat()
    if stat.S_ISREG(st.st_mode) and st.st_size > cap:
        raise UsageError(f"{path}: {what} is {size_text(st.st_size)}, over the {size_text(cap)} cap "
                         f"({MAX_FILE_ENV}); not read")
    with path.open("rb") as fh:
        data = fh.read(cap + 1)
    if len(data) > cap:
        raise UsageError(f"{path}: {what} is over the {size_text(cap)} cap ({MAX_FILE_ENV}); not read")
    return data


def read_json(path: Path, *, what: str = "file") -> Any:
    """Read JSON, turning every failure into a one-line ``UsageError``.

    ``FileNotFoundError`` is re-raised as is so callers can tell "missing"
    (often fine) from "unreadable" (never fine).
    """
    path = Path(path)
    try:
        raw = read_capped(path, what=what)
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, not a {what}") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    if not raw.strip():
        raise UsageError(f"{path}: {what} is empty")
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"{path}: {what} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: {what} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except RecursionError:
        raise UsageError(f"{path}: {what} is nested too deeply to read") from None
