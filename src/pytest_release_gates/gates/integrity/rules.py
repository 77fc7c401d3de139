"""Content rules: find what a release must not ship, keyed so a baseline does not churn.

``scan_tree`` reads each file once (links not followed) and applies the
rules asked for: the text rules (``text_rules.py``) to each decoded file, and
the file-level rules here, ``permissions`` (git's recorded mode, else the
file's) and ``gitignored`` (``git check-ignore``). Findings and their keys are
``findings.py``'s; this module re-exports them, so callers import one module.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterable, Iterator, Sequence

from .findings import (
    ALL_RULES,
    CONFLICT_MARKERS,
    DUPLICATE_LINES,
    GITIGNORED,
    HARDCODED_PATHS,
    PERMISSIONS,
    SECRETS,
    TEXT_RULES,
    Finding,
    ScanResult,
    compare_counts,
    describe,
    digest,
    from_section,
    to_section,
    validate_section,
)
from .patterns import PatternSet, walk
from .text_rules import is_binary, scan_text

__all__ = [
    "ALL_RULES",
    "CONFLICT_MARKERS",
    "DUPLICATE_LINES",
    "GITIGNORED",
    "HARDCODED_PATHS",
    "PERMISSIONS",
    "SECRETS",
    "TEXT_RULES",
    "Finding",
    "ScanResult",
    "compare_counts",
    "describe",
    "digest",
    "from_section",
    "git_modes",
    "gitignored_findings",
    "is_binary",
    "scan_text",
    "scan_tree",
    "to_section",
    "validate_section",
]


def git_modes(root: str) -> dict[str, str] | None:
    """Git's recorded modes (``100644``/``100755``) of tracked files, or None outside a git checkout."""
    try:
        proc = subprocess.run(["git", "-C", root, "ls-files", "-s", "-z"], capture_output=True, check=False,
                              timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    out: dict[str, str] = {}
    for rec in proc.stdout.split(b"\x00"):
        if not rec:
            continue
        meta, _, name = rec.partition(b"\t")
        out[os.fsdecode(name)] = meta.split(b" ", 1)[0].decode("ascii", "replace")
    return out


def _permission_findings(path: str, mode: int, head: bytes, binary: bool, git_mode: str | None) -> Iterator[Finding]:
    executable = git_mode == "100755" if git_mode is not None else bool(mode & 0o111)
    if executable and not binary and not head.startswith(b"#!"):
        yield Finding(PERMISSIONS, path, digest("executable-without-shebang"), 0,
                      "executable but has no #! line" + (" (git mode 100755)" if git_mode else f" (mode {mode:04o})"))
    if mode & 0o002:
        yield Finding(PERMISSIONS, path, digest("world-writable"), 0, f"world-writable (mode {mode:04o})")
    elif mode & 0o020:
        yield Finding(PERMISSIONS, path, digest("group-writable"), 0, f"group-writable (mode {mode:04o})")


def gitignored_findings(root: str, must_be_ignored: Sequence[str]) -> tuple[list[Finding], list[str]]:
    """Paths that ``must_be_ignored`` names and git does not ignore (``git check-ignore``).

    Glob entries are matched against the files present under the root (SPEC's
    pattern semantics); an entry without ``*``, ``?`` or ``[`` is checked as
    given, present or not, so a status file that does not exist yet is covered.
    """
    if not must_be_ignored:
        return [], []
    candidates: list[str] = []
    globs = [p for p in must_be_ignored if any(c in p for c in "*?[") or p.startswith("!")]
    candidates.extend(p.lstrip("/") for p in must_be_ignored if p not in globs)
    if globs:
        candidates.extend(walk(root, PatternSet(globs)).files)
    candidates = sorted(set(candidates))
    if not candidates:
        return [], []
    try:
        proc = subprocess.run(["git", "-C", root, "check-ignore", "-z", "--stdin"],
                              input=b"".join(os.fsencode(c) + b"\x00" for c in candidates),
                              capture_output=True, check=False, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        return [], [f"gitignored rule skipped: git not available ({exc})"]
    if proc.returncode not in (0, 1):
        why = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        return [], [f"gitignored rule skipped: {why[0] if why else 'not a git checkout'}"]
    ignored = {os.fsdecode(p) for p in proc.stdout.split(b"\x00") if p}
    out = [Finding(GITIGNORED, c, digest("not-ignored"), 0, "listed in must_be_ignored but not ignored by git")
           for c in candidates if c not in ignored and c.rstrip("/") not in ignored]
    return out, []


def scan_tree(root: str, paths: Iterable[str], rules: Iterable[str], *, must_be_ignored: Sequence[str] = (),
              read_limit: int = 64 << 20) -> ScanResult:
    """Apply ``rules`` to ``paths`` (relative to ``root``; links are not followed)."""
    wanted = tuple(dict.fromkeys(rules))
    text_rules = [r for r in wanted if r in TEXT_RULES]
    result = ScanResult()
    modes = git_modes(root) if PERMISSIONS in wanted else None
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    if text_rules or PERMISSIONS in wanted:
        for path in paths:
            full = os.path.join(root, path)
            try:
                fd = os.open(full, flags)
            except OSError as exc:
                if not os.path.islink(full):
                    result.unreadable.append((path, exc.strerror or str(exc)))
                continue
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    continue
                chunks = []
                total = 0
                while total <= read_limit:
                    data = os.read(fd, max(st.st_size + 1 - total, 1 << 16))
                    if not data:
                        break
                    chunks.append(data)
                    total += len(data)
                raw = b"".join(chunks)
            except OSError as exc:
                result.unreadable.append((path, exc.strerror or str(exc)))
                continue
            finally:
                os.close(fd)
            text = is_binary(raw)
            if text is None:
                result.binary.append(path)
            elif text_rules:
                result.findings.extend(scan_text(path, text, text_rules))
            if PERMISSIONS in wanted:
                git_mode = modes.get(path) if modes is not None else None
                result.findings.extend(_permission_findings(path, stat.S_IMODE(st.st_mode), raw[:2], text is None,
                                                            git_mode))
    if GITIGNORED in wanted:
        found, notes = gitignored_findings(root, must_be_ignored)
        result.findings.extend(found)
        result.notes.extend(notes)
        if not must_be_ignored:
            result.notes.append("gitignored rule: no must_be_ignored paths configured")
    return result
