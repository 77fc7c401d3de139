"""The text rules (duplicate lines, hard-coded home paths, secrets, conflict markers) on one decoded file.

Binary files are skipped by these rules: a file is binary when it holds a
NUL byte or is not valid UTF-8. A line holding ``release-gates: allow[rule]``
(several names comma-separated, or ``*``) accepts that line on purpose.
Secrets are never printed: a finding's preview masks the value. Pure: text
in, findings out (``rules.py`` reads the files).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Final

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
from .findings import CONFLICT_MARKERS, DUPLICATE_LINES, HARDCODED_PATHS, SECRETS, Finding, digest

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
