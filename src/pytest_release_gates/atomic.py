"""The one place that writes files: atomically, or not at all.

A reader (a later CI stage, a person's editor) must never see half a file,
and a failed write must leave the old file as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

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


def read_json(path: Path, *, what: str = "file") -> Any:
    """Read JSON, turning every failure into a one-line ``UsageError``.

    ``FileNotFoundError`` is re-raised as is so callers can tell "missing"
    (often fine) from "unreadable" (never fine).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
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
