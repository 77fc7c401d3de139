"""The one baseline file: load, validate, save atomically. Each gate kind owns a section.

The file is committed and reviewed, so it is deterministic (sorted keys, a
stable indented layout, no timestamps) and never overwritten when it could
not be read: a baseline this plugin cannot parse is the user's to fix.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, Final, final

from . import atomic
from .model import UsageError

SCHEMA: Final = "pytest-release-gates/baseline/1"
_SCHEMA_RE: Final = re.compile(r"^pytest-release-gates/baseline/(\d+)$")
CURRENT_VERSION: Final = 1


@final
class Baseline:
    """The baseline file's content: ``sections[kind]`` is owned by that gate kind."""

    __slots__ = ("path", "exists", "meta", "sections", "_original")

    def __init__(self, path: Path, *, exists: bool = False, meta: dict[str, Any] | None = None,
                 sections: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.exists = exists
        self.meta: dict[str, Any] = meta or {}
        self.sections: dict[str, Any] = sections or {}
        self._original = self.to_json() if exists else None

    def section(self, kind: str) -> dict[str, Any]:
        """The section of one gate kind, created empty on first use."""
        sec = self.sections.setdefault(kind, {})
        if not isinstance(sec, dict):
            raise UsageError(f"{self.path}: section {kind!r} must be an object")
        return sec

    def get(self, kind: str) -> dict[str, Any]:
        """The section of one gate kind, or an empty dict (never creates it)."""
        sec = self.sections.get(kind, {})
        return sec if isinstance(sec, dict) else {}

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schema": SCHEMA}
        if self.meta:
            out["meta"] = copy.deepcopy(self.meta)
        for kind, sec in self.sections.items():
            if sec:
                out[kind] = copy.deepcopy(sec)
        return out

    @property
    def changed(self) -> bool:
        return self.to_json() != self._original

    def save(self) -> bool:
        """Write the file if its content changed; keep the previous one as ``.bak``."""
        if not self.changed:
            return False
        atomic.write_json(self.path, self.to_json(), backup=self.path.with_name(self.path.name + ".bak"))
        self._original = self.to_json()
        self.exists = True
        return True


def load(path: Path) -> Baseline:
    """Load the baseline at ``path``; a missing file is an empty baseline.

    Anything unreadable (corrupt, empty, a directory, a newer schema) raises
    ``UsageError`` naming the file, and the file is left untouched.
    """
    path = Path(path)
    try:
        data = atomic.read_json(path, what="baseline")
    except FileNotFoundError:
        return Baseline(path, exists=False)
    if not isinstance(data, dict):
        raise UsageError(f"{path}: baseline must be a JSON object")
    schema = data.get("schema")
    m = _SCHEMA_RE.match(schema) if isinstance(schema, str) else None
    if m is None:
        raise UsageError(f"{path}: not a pytest-release-gates baseline (schema {schema!r}, expected {SCHEMA!r})")
    version = int(m.group(1))
    if version > CURRENT_VERSION:
        writer = data.get("meta", {}).get("plugin_version", "a newer version") if isinstance(data.get("meta"), dict) else "a newer version"
        raise UsageError(
            f"{path}: baseline schema {schema!r} was written by pytest-release-gates {writer}; "
            "this version reads up to "
            f"{SCHEMA!r}: upgrade pytest-release-gates"
        )
    meta = data.get("meta", {})
    if not isinstance(meta, dict):
        raise UsageError(f"{path}: 'meta' must be an object")
    sections = {k: v for k, v in data.items() if k not in ("schema", "meta")}
    for kind, sec in sections.items():
        if not isinstance(sec, dict):
            raise UsageError(f"{path}: section {kind!r} must be an object")
    return Baseline(path, exists=True, meta=meta, sections=sections)
