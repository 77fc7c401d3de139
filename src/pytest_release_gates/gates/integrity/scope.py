"""Where things are: the manifest a config names, what is excluded automatically, the command that fixes it.

Shared by the CLI, the gate and the fixture so the three agree on which files
a check covers.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from ...model import UsageError
from .manifest import DEFAULT_MANIFEST, OLD_DEFAULT_MANIFEST, companion_path, relative_inside

DEFAULT_STAT_CACHE = ".release-gates/integrity.statcache.json"


def config_manifest(root: Path, value: str, where: str) -> Path:
    """A manifest path from the config: relative to the root, and never outside it."""
    p = Path(value).expanduser()
    full = p if p.is_absolute() else root / p
    if relative_inside(root, full) is None:
        raise UsageError(f"{where} integrity.manifest: {value!r} escapes the root {root}")
    return full


def legacy_manifest(root: Path, manifest: Path) -> Path | None:
    """The manifest at the pre-SPEC-v3 default (``.release-gates/integrity.json``, a git-ignored
    folder), when ``manifest`` is the default and does not exist but that one does: read it rather
    than hold a project that has not moved it yet."""
    if relative_inside(root, manifest) != DEFAULT_MANIFEST or manifest.exists() or manifest.is_symlink():
        return None
    old = root / OLD_DEFAULT_MANIFEST
    return old if old.is_file() else None


def move_hint() -> str:
    """What to tell a user whose manifest is still at the old default (the path is the subject)."""
    return ("read from the old default location, inside the git-ignored .release-gates/, so a fresh clone "
            f"does not have it: move it with `mv {OLD_DEFAULT_MANIFEST} {DEFAULT_MANIFEST}` (`git mv` if it "
            "is tracked) and commit it")


def auto_excluded(root: Path, manifest: Path | None, *others: Path | None) -> list[str]:
    """Exact relative paths never selected: the manifest and its ``.sha256`` companion, and ``others``
    (the stat cache, the baseline file and the ``.bak`` earlier versions kept beside it)."""
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
