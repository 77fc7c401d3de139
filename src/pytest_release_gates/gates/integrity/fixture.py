"""The ``integrity`` fixture: watch a block of code for file changes it should not make.

::

    def test_formatter_leaves_docs_alone(integrity, tmp_path):
        with integrity.watch(tmp_path, patterns=["*.md"], rules=["duplicate-lines"]) as changes:
            run_formatter(tmp_path)
        assert changes.modified == ["guide.md"]       # the one file it was asked to format
        assert not changes.findings                   # and it did not duplicate lines in it

After the block, ``changes`` is a list of :class:`Change` (``kind`` is
``modified``, ``added``, ``removed``, ``mode changed`` or ``finding``) with
convenience lists of paths. With ``require_clean=True``, or in a test marked
``@pytest.mark.integrity_clean``, every change also becomes an ``integrity``
gate (hold) under ``--release-gate``; the test itself still passes or fails on
its own assertions.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, final

import pytest

from ...model import UsageError
from ...session import observe
from . import manifest as mf
from . import rules as rules_mod

MARKER: Final = "integrity_clean"
OBSERVATION: Final = "integrity"
FINDING: Final = "finding"


@final
@dataclass(frozen=True, slots=True)
class Change:
    kind: str  # modified, added, removed, mode changed, unreadable, changed while hashed, finding
    path: str  # relative to the watched root, with "/"
    detail: str = ""
    rule: str | None = None  # for findings

    def __str__(self) -> str:
        if self.rule:
            return f"new {self.rule} finding: {mf.display(self.path)}: {self.detail}"
        return f"{self.kind}: {mf.display(self.path)}" + (f" ({self.detail})" if self.detail else "")

    def to_json(self, root: str) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "path": self.path, "detail": self.detail, "root": root}
        if self.rule:
            out["rule"] = self.rule
        return out


@final
class Changes(list[Change]):
    """What a watched block changed, filled in when the block ends."""

    def _of(self, kind: str) -> list[str]:
        return [c.path for c in self if c.kind == kind]

    @property
    def modified(self) -> list[str]:
        return self._of(mf.MODIFIED)

    @property
    def added(self) -> list[str]:
        return self._of(mf.ADDED)

    @property
    def removed(self) -> list[str]:
        return self._of(mf.REMOVED)

    @property
    def mode_changed(self) -> list[str]:
        return self._of(mf.MODE_CHANGED)

    @property
    def findings(self) -> list[Change]:
        return [c for c in self if c.kind == FINDING]

    @property
    def paths(self) -> list[str]:
        return sorted({c.path for c in self})

    def __str__(self) -> str:
        return "\n".join(map(str, self)) if self else "no changes"


@final
class IntegrityWatcher:
    """The fixture object: ``integrity.watch(root, patterns=[...], ...)``."""

    __slots__ = ("_item",)

    def __init__(self, item: pytest.Item) -> None:
        self._item = item

    @contextmanager
    def watch(
        self,
        root: str | os.PathLike[str],
        patterns: Iterable[str] = ("*",),
        *,
        excludes: Iterable[str] = (),
        rules: Iterable[str] = (),
        require_clean: bool | None = None,
    ) -> Iterator[Changes]:
        """Snapshot ``root`` (files ``patterns`` select, hashed; findings of ``rules``), run the block, diff.

        Bad arguments fail the test with one line (never a traceback into the plugin).
        """
        base = Path(root)
        pats, excl, wanted = tuple(patterns), tuple(excludes), tuple(rules)
        if isinstance(patterns, str) or isinstance(excludes, str) or isinstance(rules, str):
            pytest.fail("invalid integrity.watch(): patterns, excludes and rules are lists of strings, not one string",
                        pytrace=False)
        unknown = [r for r in wanted if r not in rules_mod.ALL_RULES]
        if unknown:
            pytest.fail(f"invalid integrity.watch(): unknown rule {unknown[0]!r} (one of "
                        f"{', '.join(rules_mod.ALL_RULES)})", pytrace=False)
        if not base.is_dir():
            pytest.fail(f"invalid integrity.watch(): root {base} is not a folder", pytrace=False)
        try:
            before = mf.build(str(base), pats, excl)
        except UsageError as exc:
            pytest.fail(f"invalid integrity.watch(): {exc}", pytrace=False)
        assert before.manifest is not None
        found_before = self._scan(base, before.listing.files, wanted)
        changes = Changes()
        yield changes
        after = mf.verify(str(base), before.manifest)
        changes.extend(Change(d.kind, d.path, d.detail) for d in after.differences)
        # Files that were unreadable or moving at the start are compared by presence only.
        for d in before.differences:
            changes[:] = [c for c in changes if not (c.path == d.path and c.kind == mf.ADDED)]
        if wanted:
            scan = rules_mod.scan_tree(str(base), after.listing.files, wanted)
            new, _stale = rules_mod.compare_counts(scan.counts(), found_before)
            first = scan.first()
            for ident, _count, _was in new:
                f = first[ident]
                where = f"line {f.line}: " if f.line else ""
                changes.append(Change(FINDING, f.path, f"{where}{f.preview}", f.rule))
        clean = require_clean if require_clean is not None else self._item.get_closest_marker(MARKER) is not None
        if clean and changes:
            for c in changes:
                observe(self._item, OBSERVATION, c.to_json(str(base)))

    @staticmethod
    def _scan(base: Path, files: list[str], wanted: tuple[str, ...]) -> Any:
        if not wanted:
            return {}
        return rules_mod.scan_tree(str(base), files, wanted).counts()
