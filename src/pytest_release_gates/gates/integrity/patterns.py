"""``.gitignore``-like path patterns and the closed-world walker that applies them.

SPEC semantics: paths are relative to the root with ``/`` as separator; a
pattern without ``/`` matches a name at any depth (``"*.py"``), a pattern
with ``/`` is anchored at the root (``"src/*.py"``; a leading ``/`` only
anchors), ``*`` and ``?`` never cross ``/``, ``**`` matches any number of
folders, a trailing ``/`` matches folders only, ``!pat`` re-excludes, and as
in git a pattern that matches a folder matches everything under it. The
last matching pattern wins, and a folder's answer is inherited by what is
inside it.

Each pattern is compiled once to one regex; the walker uses ``os.scandir``,
never follows symbolic links and prunes excluded folders without entering
them, so listing a tree costs about one ``getdents`` per folder.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, final

from ...model import UsageError

#: Folders never entered: version control, caches and virtualenvs, and the plugin's own state folder
#: (verdict file, history, stat cache, default manifest). Matched by name at any depth.
AUTO_EXCLUDED_DIRS: Final = frozenset({
    ".git", ".hg", ".svn", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis",
    ".tox", ".nox", ".venv", ".release-gates", ".eggs",
})
#: Files never selected, by name at any depth (editor swap files would otherwise flap).
AUTO_EXCLUDED_FILES: Final = frozenset({".DS_Store"})


def _translate(body: str) -> str:
    """Glob body (no leading/trailing slash handling) to a regex fragment."""
    out: list[str] = []
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c == "*":
            j = i
            while j < n and body[j] == "*":
                j += 1
            stars = j - i
            at_start = i == 0 or body[i - 1] == "/"
            at_end = j == n or body[j] == "/"
            if stars >= 2 and at_start and at_end:
                if j == n:  # trailing "**" (or the whole pattern): anything, including "/"
                    out.append(".*")
                else:  # "**/": zero or more folders
                    out.append("(?:[^/]*/)*")
                    j += 1  # consume the "/"
            else:  # any other run of stars is a plain "*", as in git
                out.append("[^/]*")
            i = j
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            j = i + 1
            if j < n and body[j] in "!^":
                j += 1
            if j < n and body[j] == "]":
                j += 1
            while j < n and body[j] != "]":
                j += 1
            if j >= n:  # no closing bracket: a literal "["
                out.append(re.escape(c))
                i += 1
                continue
            inner = body[i + 1 : j]
            neg = inner[:1] in ("!", "^")
            if neg:
                inner = inner[1:]
            inner = inner.replace("\\", "\\\\")
            out.append(f"[^/{inner}]" if neg else f"[{inner}]")
            i = j + 1
        elif c == "\\" and i + 1 < n:
            out.append(re.escape(body[i + 1]))
            i += 2
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


@final
@dataclass(frozen=True, slots=True)
class Pattern:
    """One compiled pattern. ``regex`` matches a whole relative path (a file's or a folder's)."""

    text: str
    negated: bool
    dir_only: bool
    anchored: bool
    regex: re.Pattern[str]

    def matches(self, path: str, is_dir: bool) -> bool:
        if self.dir_only and not is_dir:
            return False
        return self.regex.fullmatch(path) is not None


def compile_pattern(text: str) -> Pattern:
    """Compile one pattern; an empty one or a bare ``!`` is a usage error."""
    raw = text
    negated = raw.startswith("!")
    if negated or raw.startswith("\\!"):
        raw = raw[1:]
    dir_only = raw.endswith("/") and raw.strip("/") != ""
    body = raw.rstrip("/") if dir_only else raw
    anchored = "/" in body
    body = body.lstrip("/")
    if not body or body in (".", ".."):
        raise UsageError(f"pattern {text!r}: selects nothing it could name (give a glob such as '*.py')")
    if ".." in body.split("/"):
        raise UsageError(f"pattern {text!r}: '..' would leave the root")
    rx = _translate(body)
    if not anchored:
        rx = "(?:[^/]*/)*" + rx if not rx.startswith("(?:[^/]*/)*") else rx
    return Pattern(text, negated, dir_only, anchored, re.compile(rx, re.DOTALL))


@final
class PatternSet:
    """Ordered patterns with git's "last match wins"; see :meth:`decide`."""

    __slots__ = ("_fast", "patterns")

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns: tuple[Pattern, ...] = tuple(compile_pattern(p) for p in patterns)
        self._fast: re.Pattern[str] | None = None
        if self.patterns and not any(p.negated or p.dir_only for p in self.patterns):
            # Common case: plain positive patterns, one combined regex.
            self._fast = re.compile("|".join(f"(?:{p.regex.pattern})" for p in self.patterns), re.DOTALL)

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def _prune_plan(self) -> tuple[tuple[str, int, bool], ...] | None:
        """(literal prefix, depth, deep) per pattern when every pattern is anchored, else None.

        Lets the walker skip folders no pattern can reach ("src/*.py" never needs node_modules/).
        """
        plan = []
        for p in self.patterns:
            if p.negated:
                continue
            if not p.anchored:
                return None
            parts = p.text.lstrip("!").strip("/").split("/")
            lit: list[str] = []
            for part in parts:
                if any(c in part for c in "*?[\\"):
                    break
                lit.append(part)
            rest = parts[len(lit):]
            plan.append(("/".join(lit), len(parts), any("**" in r for r in rest)))
        return tuple(plan)

    def may_reach(self, folder: str, plan: tuple[tuple[str, int, bool], ...]) -> bool:
        """Whether any pattern could match something inside ``folder`` (not itself selected)."""
        depth = folder.count("/") + 1
        for prefix, n, deep in plan:
            if prefix == folder or prefix.startswith(folder + "/"):
                return True  # on the way to the literal part
            if (not prefix or folder.startswith(prefix + "/")) and (deep or depth < n):
                return True  # inside it: deep enough patterns still reach below
        return False

    def decide(self, path: str, is_dir: bool, inherited: bool) -> bool:
        """Whether ``path`` is matched, given whether its folder was."""
        if self._fast is not None:
            return inherited or self._fast.fullmatch(path) is not None
        result = inherited
        for p in self.patterns:
            if (result != (not p.negated)) and p.matches(path, is_dir):
                result = not p.negated
        return result


@final
@dataclass(slots=True)
class Listing:
    """What a walk found: selected files (and links), and what it skipped on purpose."""

    files: list[str] = field(default_factory=list)
    #: Paths of selected entries that are symbolic links (also in ``files``).
    links: set[str] = field(default_factory=set)
    #: (path, why) for devices, sockets, FIFOs and folders that could not be read.
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _kind_of(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


def walk(
    root: str,
    include: PatternSet,
    exclude: PatternSet | None = None,
    *,
    exclude_paths: Iterable[str] = (),
    stats: dict[str, os.stat_result] | None = None,
) -> Listing:
    """List the files under ``root`` that ``include`` selects and ``exclude`` does not, sorted.

    ``exclude_paths`` are exact relative paths (the manifest itself, its companions).
    With ``stats``, the ``lstat`` of every selected entry is filed there (the stat-cache fast path).
    Symbolic links are listed as entries of their own, never followed. Devices,
    sockets and FIFOs are skipped and reported, as are folders that cannot be read.
    """
    out = Listing()
    skip_exact = frozenset(exclude_paths)
    excl = exclude if exclude is not None and exclude else None
    stack: list[tuple[str, str, bool]] = [(root, "", False)]
    files = out.files
    plan = include._prune_plan()
    while stack:
        dirpath, rel, inherited = stack.pop()
        try:
            it = os.scandir(dirpath)
        except OSError as exc:
            out.skipped.append((rel or ".", f"folder not readable: {exc.strerror or exc}"))
            continue
        with it:
            for entry in it:
                name = entry.name
                path = f"{rel}{name}"
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                except OSError:
                    is_dir = False
                if is_dir:
                    if name in AUTO_EXCLUDED_DIRS or (excl is not None and excl.decide(path, True, False)):
                        continue
                    selected = include.decide(path, True, inherited)
                    if selected or plan is None or include.may_reach(path, plan):
                        stack.append((entry.path, path + "/", selected))
                    continue
                if name in AUTO_EXCLUDED_FILES or path in skip_exact:
                    continue
                if not include.decide(path, False, inherited):
                    continue
                if excl is not None and excl.decide(path, False, False):
                    continue
                try:
                    if entry.is_symlink():
                        out.links.add(path)
                    elif not entry.is_file(follow_symlinks=False):
                        out.skipped.append((path, f"{_kind_of(entry.stat(follow_symlinks=False).st_mode)} skipped"))
                        continue
                    if stats is not None:
                        stats[path] = entry.stat(follow_symlinks=False)
                except OSError as exc:
                    out.skipped.append((path, f"cannot stat: {exc.strerror or exc}"))
                    continue
                files.append(path)
    files.sort()
    return out


def explain(root: str, patterns: Sequence[str], exclude: PatternSet | None, exclude_paths: Iterable[str]) -> \
        list[tuple[str, list[str]]]:
    """For ``generate --list``: what each pattern selects on its own (after excludes)."""
    paths = tuple(exclude_paths)
    return [(p, walk(root, PatternSet([p]), exclude, exclude_paths=paths).files) for p in patterns]
