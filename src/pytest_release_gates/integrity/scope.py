"""Where things are: the manifest a config names, what is excluded automatically, the command that fixes it.

Shared by the CLI, the gate and the fixture so the three agree on which files
a check covers.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from ..model import UsageError
from .manifest import DEFAULT_MANIFEST, companion_path, relative_inside

DEFAULT_STAT_CACHE = ".release-gates/integrity.statcache.json"


def config_manifest(root: Path, value: str, where: str) -> Path:
    """A manifest path from the config: relative to the root, and never outside it."""
    p = Path(value).expanduser()
    full = p if p.is_absolute() else root / p
    if relative_inside(root, full) is None:
        raise UsageError(f"{where} integrity.manifest: {value!r} escapes the root {root}")
    return full


def auto_excluded(root: Path, manifest: Path | None, *others: Path | None) -> list[str]:
    """Exact relative paths never selected: the manifest and its ``.sha256`` companion, and ``others``
    (the stat cache, the baseline file and its ``.bak``)."""
    candidates: list[Path] = []
    if manifest is not None:
        candidates += [manifest, companion_path(manifest)]
    for f in others:
        if f is not None:
            candidates += [f, f.with_name(f.name + ".bak")]
    out: list[str] = []
    for candidate in candidates:
        rel = relative_inside(root, candidate)
        if rel is not None and rel not in out and (candidate == manifest or candidate.suffix != ".bak"
                                                   or candidate.exists()):
            out.append(rel)
    return out


def generate_command(root: Path, manifest: Path) -> str:
    """The exact command that creates ``manifest`` for ``root`` (config patterns are read from the root)."""
    cmd = ["release-gate", "integrity", "generate", "--root", str(root)]
    if relative_inside(root, manifest) != DEFAULT_MANIFEST:
        cmd += ["--manifest", str(manifest)]
    return shlex.join(cmd)
