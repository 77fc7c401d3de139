"""Content findings and their keys: what a rule reports, and the accepted counts the baseline keeps.

A finding's key is (rule, path, hash of the normalized matched text): no line
number, so moving code or inserting lines above it keeps the key; findings
with the same key are counted, so a second copy of an accepted finding still
shows as a count going up. Apart from the rules (``text_rules.py``,
``rules.py``): the baseline side reads and validates these counts without
scanning anything.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, final

from ...model import UsageError
from .manifest import display

DUPLICATE_LINES: Final = "duplicate-lines"
HARDCODED_PATHS: Final = "hardcoded-paths"
SECRETS: Final = "secrets"
CONFLICT_MARKERS: Final = "conflict-markers"
PERMISSIONS: Final = "permissions"
GITIGNORED: Final = "gitignored"
TEXT_RULES: Final = (DUPLICATE_LINES, HARDCODED_PATHS, SECRETS, CONFLICT_MARKERS)
ALL_RULES: Final = (*TEXT_RULES, PERMISSIONS, GITIGNORED)


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
