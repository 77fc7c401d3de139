"""The ``integrity`` gate: files against their manifest, content findings against the baseline.

Runs on the controller only, at the end of the run (the tree is the same for
every xdist worker, so checking it once is both cheaper and the only place the
verdict is decided). With ``[integrity]`` configured:

* every difference between the files the manifest's patterns select and the
  manifest (modified, added, removed, mode changed, unreadable) is a failing
  gate whose subject is the path; a configured manifest that does not exist
  holds with the exact command that creates it; ``manifest = false`` checks
  content rules only;
* content findings are compared with the baseline's ``integrity`` section: a
  finding (or a count) beyond it holds, an accepted one passes, an accepted
  one no longer present is reported as stale (warning);
* ``--gate-update-baseline`` regenerates the manifest and records the findings,
  saying what it accepted.

Changes seen by ``integrity.watch(..., require_clean=True)`` in tests (or in
tests marked ``integrity_clean``) arrive as observations and become gates too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, final

from ... import fmt
from ...config import IntegritySettings, Settings
from ...model import INTEGRITY, GateResult, Level, Status, UsageError
from ...session import GateContext

# The file machinery (hashing, manifests, content rules) is imported where it is used, so a run
# without [integrity] never loads it: it is a third of the gates' import time (rules alone ~96 ms
# cumulative, `python -X importtime` on a loaded 2-core machine).
if TYPE_CHECKING:
    from ...baseline import Baseline
    from . import manifest as mf
    from . import rules as rules_mod

OBSERVATION: Final = "integrity"
SECTION: Final = "integrity"


def validate_section(path: Path, section: dict[str, Any]) -> None:
    """Baseline validator of the ``integrity`` section (accepted content findings); the rule
    machinery is imported only when a file has the section."""
    if section:
        from .rules import validate_section as check

        check(path, section)


@final
class Gate:
    __slots__ = ("_scan", "settings")

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._scan: rules_mod.ScanResult | None = None

    # ------------------------------------------------------------ helpers

    @property
    def root(self) -> Path:
        return Path(self.settings.rootdir)

    def _manifest_path(self, integ: IntegritySettings) -> Path | None:
        from .scope import config_manifest

        if integ.manifest is None:
            return None
        return config_manifest(self.root, integ.manifest, f"{self.settings.describe('integrity')}:")

    def _excluded(self, manifest: Path | None) -> list[str]:
        from .scope import DEFAULT_STAT_CACHE, auto_excluded

        return auto_excluded(self.root, manifest, self.root / DEFAULT_STAT_CACHE, self.settings.baseline_path,
                             self.settings.verdict_path)

    def _rule_files(self, integ: IntegritySettings, manifest: Path | None) -> list[str]:
        from .patterns import PatternSet, walk

        listing = walk(str(self.root), PatternSet(integ.patterns), PatternSet(integ.excludes),
                       exclude_paths=self._excluded(manifest))
        return listing.files

    def _scan_rules(self, integ: IntegritySettings, manifest: Path | None) -> rules_mod.ScanResult:
        from . import rules as rules_mod

        if self._scan is None:
            self._scan = rules_mod.scan_tree(str(self.root), self._rule_files(integ, manifest), integ.rules,
                                             must_be_ignored=integ.must_be_ignored)
        return self._scan

    # ------------------------------------------------------ accepting a run

    def pytest_release_gates_update_baseline(self, context: GateContext, baseline: Baseline) -> Iterable[str]:
        integ = self.settings.integrity
        if integ is None:
            return []
        from . import manifest as mf
        from . import rules as rules_mod

        lines: list[str] = []
        try:
            manifest = self._manifest_path(integ)
        except UsageError as exc:
            return [f"integrity: {exc}"]
        if manifest is not None and integ.patterns:
            lines.extend(self._regenerate(integ, manifest))
        if integ.rules and integ.patterns:
            scan = self._scan_rules(integ, manifest)
            section = baseline.section(SECTION)
            before = rules_mod.from_section(section)
            now = scan.counts()
            new, stale = rules_mod.compare_counts(now, before)
            section["findings"] = rules_mod.to_section(now)
            if not section["findings"]:
                del section["findings"]
            first = scan.first()
            for ident, count, was in new:
                lines.append(f"integrity: accepted finding {rules_mod.describe(first[ident])}"
                             + (f" (count {was} -> {count})" if was else ""))
            for (rule, path, _key), count, was in stale:
                lines.append(f"integrity: dropped stale {rule} finding in {mf.display(path)} (count {was} -> {count})")
        return lines

    def _regenerate(self, integ: IntegritySettings, manifest: Path) -> list[str]:
        from . import manifest as mf
        from .hashing import default_jobs
        from .scope import legacy_manifest

        previous: mf.Manifest | None = None
        old = legacy_manifest(self.root, manifest)  # read as the previous one; the new file is written
        if manifest.exists() or old is not None:
            try:
                previous = mf.load(old or manifest)
            except UsageError as exc:
                return [f"integrity: {exc}: not replaced (fix or delete it, then accept again)"]
        out = mf.build(str(self.root), integ.patterns, integ.excludes, exclude_paths=self._excluded(manifest),
                       jobs=default_jobs())
        assert out.manifest is not None
        if not out.manifest.files:
            return [f"integrity: patterns {list(integ.patterns)} select no file: {manifest} not written"]
        accepted = mf.diff_manifests(previous, out.manifest) if previous is not None else []
        if previous is not None and not accepted and old is None:
            return [f"integrity: manifest {manifest} unchanged ({fmt.plural(len(out.manifest.files), 'file')})"]
        try:
            mf.write(manifest, out.manifest)
        except UsageError as exc:
            return [f"integrity: could not write the manifest: {exc}"]
        if previous is None:
            lines = [f"integrity: created manifest {manifest} ({fmt.plural(len(out.manifest.files), 'file')})"]
        elif old is not None:
            lines = [f"integrity: wrote manifest {manifest} in place of the old default {old}, which is no "
                     f"longer read: commit {manifest.name}"]
            if accepted:
                lines.append(f"integrity: accepted {mf.summarize(accepted)} into it")
        else:
            lines = [f"integrity: accepted {mf.summarize(accepted)} into manifest {manifest}"]
            lines += [f"  {d.line}" for d in accepted[:50]]
            if len(accepted) > 50:
                lines.append(f"  ... and {len(accepted) - 50} more")
        lines += [f"integrity: not recorded: {d.line}" for d in out.differences]
        return lines

    # -------------------------------------------------------------- checking

    def pytest_release_gates_collect(self, context: GateContext) -> Iterable[GateResult]:
        yield from _watched(context)
        integ = self.settings.integrity
        if integ is None:
            return
        if not integ.patterns:
            yield GateResult(INTEGRITY, "patterns", Status.WARN, Level.HOLD,
                             f"{self.settings.describe('integrity')} has no patterns: no file is checked")
            return
        try:
            manifest = self._manifest_path(integ)
        except UsageError as exc:
            yield GateResult(INTEGRITY, "manifest", Status.FAIL, Level.HOLD, str(exc))
            return
        if manifest is not None:
            yield from self._verify(integ, manifest)
        if integ.rules:
            yield from self._findings(context, integ, manifest)

    def _subject(self, path: Path) -> str:
        from . import manifest as mf

        return mf.relative_inside(self.root, path) or str(path)

    def _verify(self, integ: IntegritySettings, manifest: Path) -> Iterator[GateResult]:
        from . import manifest as mf
        from .hashing import default_jobs
        from .scope import generate_command, legacy_manifest, move_hint

        old = legacy_manifest(self.root, manifest)
        if old is not None:
            manifest = old
            yield GateResult(INTEGRITY, self._subject(old), Status.WARN, Level.HOLD, move_hint())
        subject = self._subject(manifest)
        if not manifest.exists():
            yield GateResult(
                INTEGRITY, subject, Status.FAIL, Level.HOLD,
                f"integrity manifest does not exist: create it with `{generate_command(self.root, manifest)}` "
                "(or accept the current tree with `pytest --release-gate --gate-update-baseline`)",
            )
            return
        try:
            loaded = mf.load(manifest)
        except UsageError as exc:
            yield GateResult(INTEGRITY, subject, Status.FAIL, Level.HOLD, f"unreadable manifest: {exc}")
            return
        if loaded.patterns != tuple(integ.patterns) or loaded.excludes != tuple(integ.excludes):
            yield GateResult(
                INTEGRITY, subject, Status.FAIL, Level.HOLD,
                f"was built from patterns {list(loaded.patterns)} (excludes {list(loaded.excludes)}) but the config "
                f"says {list(integ.patterns)} (excludes {list(integ.excludes)}): regenerate it with "
                f"`{generate_command(self.root, manifest)}`",
            )
        out = mf.verify(str(self.root), loaded, exclude_paths=self._excluded(manifest), jobs=default_jobs())
        for d in out.differences:
            detail = f" ({d.detail})" if d.detail else ""
            yield GateResult(INTEGRITY, d.path, Status.FAIL, Level.HOLD, f"{d.kind} since the manifest{detail}",
                             extra={"change": d.kind, "manifest": subject})
        for path, why in out.listing.skipped:
            yield GateResult(INTEGRITY, path, Status.WARN, Level.HOLD, why, extra={"change": "skipped"})
        if not out.differences:
            verb = "matches" if out.checked == 1 else "match"
            yield GateResult(INTEGRITY, subject, Status.PASS, Level.HOLD,
                             f"{fmt.plural(out.checked, 'file')} {verb} the manifest", value=float(out.checked))

    def _findings(self, context: GateContext, integ: IntegritySettings, manifest: Path | None
                  ) -> Iterator[GateResult]:
        from . import rules as rules_mod

        scan = self._scan_rules(integ, manifest)
        baseline = context.baseline
        accepted: Counter[tuple[str, str, str]] = Counter()
        if baseline is not None:
            accepted = rules_mod.from_section(baseline.get(SECTION))
        new, stale = rules_mod.compare_counts(scan.counts(), accepted)
        first = scan.first()
        for ident, count, was in new:
            f = first[ident]
            where = f" line {f.line}:" if f.line else ""
            more = f" ({count} occurrences, {was} accepted)" if count > 1 or was else ""
            yield GateResult(INTEGRITY, f.path, Status.FAIL, Level.HOLD,
                             f"new {f.rule} finding:{where} {f.preview}{more}", metric=f.rule,
                             value=float(count), limit=float(was), extra={"rule": f.rule, "key": f.key})
        for (rule, path, key), count, was in stale:
            yield GateResult(INTEGRITY, path, Status.WARN, Level.HOLD,
                             f"stale accepted {rule} finding: accepted {was}, now {count} "
                             "(`--gate-update-baseline` drops it)", metric=rule, extra={"rule": rule, "key": key})
        for path, why in scan.unreadable:
            yield GateResult(INTEGRITY, path, Status.FAIL, Level.HOLD, f"unreadable: {why}",
                             extra={"change": "unreadable"})
        for note in scan.notes:
            yield GateResult(INTEGRITY, "rules", Status.WARN, Level.HOLD, note)
        if not new and not scan.unreadable:
            n = sum(scan.counts().values())
            yield GateResult(INTEGRITY, "rules", Status.PASS, Level.HOLD,
                             f"{', '.join(integ.rules)}: {n} finding(s), all accepted; {len(scan.binary)} binary "
                             "file(s) skipped")


def _watched(context: GateContext) -> Iterator[GateResult]:
    """Changes ``integrity.watch`` saw in tests that required none."""
    for obs in context.observations(OBSERVATION):
        data = obs.data
        if not isinstance(data, dict):
            continue
        path = str(data.get("path", ""))
        kind = str(data.get("kind", "changed"))
        detail = str(data.get("detail", ""))
        if data.get("rule"):
            what = f"new {data['rule']} finding ({detail})"
        else:
            what = kind + (f" ({detail})" if detail else "")
        yield GateResult(INTEGRITY, path, Status.FAIL, Level.HOLD, f"{what} during {obs.nodeid}",
                         extra={"change": kind, "test": obs.nodeid, "root": data.get("root", "")})
