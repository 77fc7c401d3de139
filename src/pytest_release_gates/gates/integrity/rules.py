"""Content rules: find what a release must not ship, keyed so a baseline does not churn.

A finding's key is (rule, path, hash of the normalized matched text): no line
number, so moving code or inserting lines above it keeps the key; findings
with the same key are counted, so a second copy of an accepted finding still
shows as a count going up.

Binary files are skipped by the text rules: a file is binary when it holds a
NUL byte or is not valid UTF-8. A line holding ``release-gates: allow[rule]``
(several names comma-separated, or ``*``) accepts that line on purpose.
Secrets are never printed: a finding's preview masks the value.
"""

from __future__ import annotations

import bisect
import hashlib
import os
import re
import stat
import subprocess
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, final

from ...model import UsageError
from ...redact import (
    CLOUD_HINTS,
    CLOUD_KEY,
    PRIVATE_KEY,
    SECRET_ASSIGN,
    SECRET_WORDS,
    mask,
    mask_private_key,
    secret_value,
)
from .manifest import display
from .patterns import PatternSet, walk

DUPLICATE_LINES: Final = "duplicate-lines"
HARDCODED_PATHS: Final = "hardcoded-paths"
SECRETS: Final = "secrets"
CONFLICT_MARKERS: Final = "conflict-markers"
PERMISSIONS: Final = "permissions"
GITIGNORED: Final = "gitignored"
TEXT_RULES: Final = (DUPLICATE_LINES, HARDCODED_PATHS, SECRETS, CONFLICT_MARKERS)
ALL_RULES: Final = (*TEXT_RULES, PERMISSIONS, GITIGNORED)

_PRAGMA: Final = re.compile(r"release-gates:\s*allow\[([^\]]*)\]")
_HOME_PATH: Final = re.compile(
    r"(?<![\w.~$%/\\-])(?:"
    r"/(?:home|Users)/[A-Za-z0-9._-]+(?=/|\\|[\s'\"`),;]|$)[^\s'\"`<>|,;()\[\]{}]*"
    r"|[A-Za-z]:(?:\\\\|\\|/)(?:Users|Documents and Settings)(?:\\\\|\\|/)[A-Za-z0-9._-]+(?:\\\\|\\|/)"
    r"[^\s'\"`<>|,;()\[\]{}]*)",
    re.MULTILINE,
)
_CONFLICT: Final = re.compile(r"^(?:<{7}|>{7}|\|{7})(?:[ \t].*)?$", re.MULTILINE)
# The secret detectors live in ``redact.py``, shared with the masking of every output: what this rule
# flags in a file is what is masked wherever the plugin shows text.


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


@final
@dataclass(frozen=True, slots=True)
class Finding:
    """One occurrence. ``line`` (1-based, 0 for path-level rules) is for people, never part of the key."""

    rule: str
    path: str
    key: str  # hash of the normalized matched text
    line: int
    preview: str  # safe to print: secrets masked

    @property
    def ident(self) -> tuple[str, str, str]:
        return (self.rule, self.path, self.key)


@final
@dataclass(slots=True)
class ScanResult:
    findings: list[Finding] = field(default_factory=list)
    binary: list[str] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def counts(self) -> Counter[tuple[str, str, str]]:
        return Counter(f.ident for f in self.findings)

    def first(self) -> dict[tuple[str, str, str], Finding]:
        out: dict[tuple[str, str, str], Finding] = {}
        for f in self.findings:
            out.setdefault(f.ident, f)
        return out


def is_binary(data: bytes) -> str | None:
    """Decode as text, or None when binary (a NUL byte, or not valid UTF-8)."""
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _allowed_lines(lines: Sequence[str]) -> dict[int, frozenset[str]]:
    out = {}
    for i, line in enumerate(lines):
        if "release-gates:" in line:
            m = _PRAGMA.search(line)
            if m:
                out[i] = frozenset(n.strip() for n in m.group(1).split(",") if n.strip())
    return out


def _allowed(allow: Mapping[int, frozenset[str]], line_index: int, rule: str) -> bool:
    names = allow.get(line_index)
    return names is not None and (rule in names or "*" in names)


class _Lines:
    """Offset -> line index, computed lazily (most files have no finding at all)."""

    __slots__ = ("starts", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts: list[int] | None = None

    def index(self, offset: int) -> int:
        if self.starts is None:
            self.starts = [0] + [m.end() for m in re.finditer("\n", self.text)]
        return bisect.bisect_right(self.starts, offset) - 1

    def line(self, index: int) -> str:
        assert self.starts is not None
        start = self.starts[index]
        end = self.starts[index + 1] - 1 if index + 1 < len(self.starts) else len(self.text)
        return self.text[start:end]


def scan_text(path: str, text: str, rules: Iterable[str]) -> list[Finding]:
    """Apply the text rules to one decoded file."""
    wanted = set(rules)
    out: list[Finding] = []
    lines = text.split("\n")
    allow = _allowed_lines(lines) if "release-gates:" in text else {}
    where = _Lines(text)
    if DUPLICATE_LINES in wanted:
        out.extend(_duplicates(path, lines, allow))
    if HARDCODED_PATHS in wanted and ("/home/" in text or "/Users/" in text or "Users\\" in text
                                      or ":/Users/" in text or "Documents and Settings" in text):
        for m in _HOME_PATH.finditer(text):
            i = where.index(m.start())
            if _allowed(allow, i, HARDCODED_PATHS):
                continue
            norm = m.group(0).replace("\\\\", "\\")
            out.append(Finding(HARDCODED_PATHS, path, digest(norm), i + 1, _clip(norm)))
    if CONFLICT_MARKERS in wanted and ("<<<<<<<" in text or ">>>>>>>" in text or "|||||||" in text):
        for m in _CONFLICT.finditer(text):
            i = where.index(m.start())
            if _allowed(allow, i, CONFLICT_MARKERS):
                continue
            norm = m.group(0).strip()
            out.append(Finding(CONFLICT_MARKERS, path, digest(norm), i + 1, _clip(norm)))
    if SECRETS in wanted:
        out.extend(_secrets(path, text, where, allow))
    return out


def _clip(s: str, n: int = 100) -> str:
    s = s.replace("\t", " ")
    return s if len(s) <= n else s[: n - 1] + "…"


def _secrets(path: str, text: str, where: _Lines, allow: Mapping[int, frozenset[str]]) -> Iterator[Finding]:
    if "PRIVATE KEY" in text:
        for m in PRIVATE_KEY.finditer(text):
            i = where.index(m.start())
            if not _allowed(allow, i, SECRETS):
                yield Finding(SECRETS, path, digest(m.group(0)), i + 1, mask_private_key(m.group(1)))
    if any(h in text for h in CLOUD_HINTS):
        for m in CLOUD_KEY.finditer(text):
            i = where.index(m.start())
            if not _allowed(allow, i, SECRETS):
                yield Finding(SECRETS, path, digest(m.group(0)), i + 1, f"access key {mask(m.group(0))}")
    for i in sorted(_secret_lines(text, where)):
        line = where.line(i)
        for m in SECRET_ASSIGN.finditer(line):
            value = m.group(3)
            if not secret_value(value):
                continue
            if CLOUD_KEY.fullmatch(value):
                continue  # already reported as an access key
            if not _allowed(allow, i, SECRETS):
                yield Finding(SECRETS, path, digest(value), i + 1, f"{m.group(1)} = {mask(value)}")


def _secret_lines(text: str, where: _Lines) -> set[int]:
    """Indexes of lines that hold a secret-like word, case-insensitively."""
    low = text.lower()
    out: set[int] = set()
    if len(low) != len(text):  # a character whose lower case has another length: offsets differ, go by line
        for i, line in enumerate(text.split("\n")):
            lowered = line.lower()
            if any(w in lowered for w in SECRET_WORDS):
                out.add(i)
        where.index(0)
        return out
    for w in SECRET_WORDS:
        at = low.find(w)
        while at != -1:
            out.add(where.index(at))
            at = low.find(w, at + len(w))
    return out


def _duplicates(path: str, raw_lines: Sequence[str], allow: Mapping[int, frozenset[str]]) -> Iterator[Finding]:
    """Blocks of >= 3 lines, not all blank, repeated immediately after themselves.

    Candidate alignments come from repeated 3-line windows (the last 8 earlier
    occurrences of each); a candidate (p, j) is confirmed by comparing the
    block ``[p, j)`` with ``[j, 2j - p)``. Lines compare after stripping
    whitespace, so re-indented copies still count.
    """
    n = len(raw_lines)
    if n < 6:
        return
    ids: dict[str, int] = {}
    seq = [ids.setdefault(line.strip(), len(ids)) for line in raw_lines]
    if len(ids) == n:  # every line distinct: nothing can repeat
        return
    blank = ids.get("", -1)
    seen: dict[tuple[int, int, int], list[int]] = {}
    covered = 0
    for j in range(n - 2):
        key = (seq[j], seq[j + 1], seq[j + 2])
        prev = seen.get(key)
        if prev is None:
            seen[key] = [j]
            continue
        if j >= covered and not (key[0] == key[1] == key[2] == blank):
            for p in reversed(prev[-8:]):
                k = j - p
                if k < 3 or j + k > n:
                    continue
                block = seq[p:j]
                if block != seq[j : j + k] or all(x == blank for x in block):
                    continue
                if any(_allowed(allow, i, DUPLICATE_LINES) for i in range(p, j + k)):
                    covered = j + k
                    break
                norm = "\n".join(raw_lines[i].strip() for i in range(p, j))
                first = next(raw_lines[i].strip() for i in range(p, j) if seq[i] != blank)
                yield Finding(DUPLICATE_LINES, path, digest(norm), j + 1,
                              _clip(f"{k} lines repeated, starting {first!r}"))
                covered = j + k
                break
        prev.append(j)


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


def from_section(section: Mapping[str, object]) -> Counter[tuple[str, str, str]]:
    """Accepted finding counts from the baseline's ``integrity`` section (``findings[rule][path][key] = count``)."""
    out: Counter[tuple[str, str, str]] = Counter()
    findings = section.get("findings")
    if not isinstance(findings, dict):
        return out
    for rule, by_path in findings.items():
        if not isinstance(by_path, dict):
            continue
        for path, by_key in by_path.items():
            if not isinstance(by_key, dict):
                continue
            for key, count in by_key.items():
                if isinstance(count, int) and not isinstance(count, bool) and count > 0:
                    out[(str(rule), str(path), str(key))] = count
    return out


def to_section(counts: Mapping[tuple[str, str, str], int]) -> dict[str, dict[str, dict[str, int]]]:
    out: dict[str, dict[str, dict[str, int]]] = {}
    for (rule, path, key), count in sorted(counts.items()):
        if count > 0:
            out.setdefault(rule, {}).setdefault(path, {})[key] = count
    return out


def compare_counts(current: Mapping[tuple[str, str, str], int], accepted: Mapping[tuple[str, str, str], int]
                   ) -> tuple[list[tuple[tuple[str, str, str], int, int]], list[tuple[tuple[str, str, str], int, int]]]:
    """(new, stale): keys whose count went up (now, accepted), keys accepted but now fewer or gone."""
    new = [(k, n, accepted.get(k, 0)) for k, n in sorted(current.items()) if n > accepted.get(k, 0)]
    stale = [(k, current.get(k, 0), n) for k, n in sorted(accepted.items()) if current.get(k, 0) < n]
    return new, stale


def describe(f: Finding) -> str:
    """One safe line: rule, path, line and masked preview."""
    where = f"{display(f.path)}:{f.line}" if f.line else display(f.path)
    return f"{f.rule}: {where}: {f.preview}"


def validate_section(path: object, section: Mapping[str, object]) -> None:
    """Baseline validator for the ``integrity`` section (declared by the kind's ``SPEC``): a
    malformed entry makes the file unreadable (and so never overwritten), rather than silently
    accepting or dropping findings."""
    unknown = set(section) - {"findings"}
    if unknown:
        raise UsageError(f"{path}: integrity: unknown key {sorted(unknown)[0]!r} (expected 'findings')")
    findings = section.get("findings", {})
    if not isinstance(findings, dict):
        raise UsageError(f"{path}: integrity.findings must be an object of rule -> path -> key -> count")
    for rule, by_path in findings.items():
        if rule not in ALL_RULES:
            raise UsageError(f"{path}: integrity.findings: unknown rule {rule!r}")
        if not isinstance(by_path, dict):
            raise UsageError(f"{path}: integrity.findings[{rule!r}] must be an object of path -> key -> count")
        for p, by_key in by_path.items():
            if not isinstance(by_key, dict):
                raise UsageError(f"{path}: integrity.findings[{rule!r}][{p!r}] must be an object of key -> count")
            for k, count in by_key.items():
                if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                    raise UsageError(f"{path}: integrity.findings[{rule!r}][{p!r}][{k!r}]: count must be a "
                                     f"positive whole number, got {count!r}")
