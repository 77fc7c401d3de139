"""``release-gate integrity generate|verify``.

Settings: a command-line value wins; otherwise ``[integrity]`` of the
project config at ``--root`` (``pyproject.toml [tool.release_gates]`` or
``release-gates.toml``) gives ``patterns``, ``excludes``, ``manifest`` (relative
to the root), ``rules`` and ``must_be_ignored``. Command-line paths are relative
to the current folder. ``verify`` uses the patterns recorded in the manifest
(it is closed-world over what the manifest was built from) and never writes,
except the stat cache when ``--stat-cache`` asks for it.

Exit statuses: 0 written / no difference, 1 differences or new findings, 2 usage or input error.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, final

from .. import baseline as baseline_mod
from .. import config as config_mod
from .. import gates
from ..config import IntegritySettings
from ..gates.integrity import RULE_NAMES
from ..gates.integrity import manifest as mf
from ..gates.integrity import rules as rules_mod
from ..gates.integrity.hashing import StatCache
from ..gates.integrity.patterns import Listing, Pattern, PatternSet, explain, walk
from ..gates.integrity.scope import DEFAULT_STAT_CACHE, auto_excluded, config_manifest, legacy_manifest, move_hint
from ..model import UsageError

EXIT_OK: Final = 0
EXIT_DIFF: Final = 1
EXIT_USAGE: Final = 2


@final
@dataclass(slots=True)
class Resolved:
    root: Path
    integrity: IntegritySettings
    source: str
    manifest: Path | None
    baseline: Path


def _resolve(args: argparse.Namespace) -> Resolved:
    root = Path(args.root)
    if not root.exists():
        raise UsageError(f"{root}: root folder does not exist")
    if not root.is_dir():
        raise UsageError(f"{root}: root is not a folder")
    source, raw = config_mod.find_raw(root)
    where = f"{root / source}:" if source else "config:"
    values = config_mod.parse(raw, registry=gates.installed(), where=where)
    integrity = values.get("integrity") or IntegritySettings()
    if args.manifest is not None:
        manifest: Path | None = Path(args.manifest)
    elif integrity.manifest is None:
        manifest = None
    else:
        manifest = config_manifest(root, integrity.manifest, where)
    baseline = root / str(values.get("baseline_file", "release-gates.baseline.json"))
    return Resolved(root, integrity, str(root / source) if source else "", manifest, baseline)


def _rules(args: argparse.Namespace, res: Resolved) -> tuple[str, ...]:
    return tuple(args.rules) if args.rules is not None else res.integrity.rules


def _files(n: int) -> str:
    return f"{n} file" if n == 1 else f"{n} files"


def _warn(text: str) -> None:
    print(f"release-gate: {text}", file=sys.stderr)


def _report_skipped(listing: Listing) -> None:
    for path, why in listing.skipped:
        _warn(f"skipped {mf.display(path)}: {why}")


# ----------------------------------------------------------------- generate


def cmd_generate(args: argparse.Namespace) -> int:
    res = _resolve(args)
    patterns = tuple(args.patterns) if args.patterns else res.integrity.patterns
    if not patterns:
        where = f" or set [integrity] patterns in {res.source}" if res.source else ""
        raise UsageError(f"no patterns: pass --patterns GLOB{where}")
    excludes = tuple(args.exclude) if args.exclude else res.integrity.excludes
    PatternSet(patterns)  # validate before any work
    PatternSet(excludes)
    if res.manifest is None:
        raise UsageError(f"{res.source}: [integrity] manifest = false: pass --manifest PATH to write one")
    root, manifest_path = res.root, res.manifest
    excluded = auto_excluded(root, manifest_path, root / DEFAULT_STAT_CACHE, res.baseline)
    if args.list:
        return _list(root, patterns, excludes, excluded)
    previous: mf.Manifest | None = None
    old = legacy_manifest(root, manifest_path)  # compared with, then left in place: the new file is written
    if manifest_path.exists() or old is not None:
        try:
            previous = mf.load(old or manifest_path)
        except UsageError as exc:
            if old is None and not args.force:
                raise UsageError(f"{exc} (refusing to overwrite it: move it away or pass --force)") from None
    out = mf.build(str(root), patterns, excludes, exclude_paths=excluded, jobs=args.jobs)
    _report_skipped(out.listing)
    for d in out.differences:
        _warn(f"not recorded: {d.line}")
    new = out.manifest
    assert new is not None
    _warn_unmatched(patterns, out.listing.files)
    if not new.files and not args.allow_empty:
        raise UsageError(f"{manifest_path}: patterns {list(patterns)} select no file under {root}; "
                         "refusing to write an empty manifest (pass --allow-empty to write it anyway)")
    if old is not None:
        _warn(f"note: {old}, the old default, is no longer read now that {manifest_path} exists: commit the "
              "new file and delete the old one")
    if previous is not None:
        accepted = mf.diff_manifests(previous, new)
        if accepted:
            print(f"accepting {len(accepted)} change(s) against the previous {old or manifest_path}:")
            for d in accepted:
                print(f"  {d.line}")
        else:
            print(f"{manifest_path}: no file changed since the previous manifest")
    companion = mf.write(manifest_path, new, sha256sum=args.format == "sha256sum")
    print(f"wrote {manifest_path}: {_files(len(new.files))} selected by {', '.join(map(repr, patterns))}")
    if companion is not None:
        rel = mf.relative_inside(root, companion) or str(companion.resolve())
        print(f"wrote {companion}: check with `cd {root} && sha256sum -c {rel}`")
    rules = tuple(args.rules or ())  # generate scans only when asked: it records files, not findings
    if rules:
        scan = rules_mod.scan_tree(str(root), new.files, rules, must_be_ignored=res.integrity.must_be_ignored)
        _print_scan(scan, None)
    return EXIT_OK


def _warn_unmatched(patterns: Sequence[str], files: Sequence[str]) -> None:
    compiled = PatternSet(patterns).patterns
    for p in compiled:
        if p.negated:
            continue
        if not any(_matches_or_ancestor(p, f) for f in files):
            _warn(f"warning: pattern {p.text!r} selects nothing")


def _matches_or_ancestor(p: Pattern, path: str) -> bool:
    if p.matches(path, False):
        return True
    parts = path.split("/")
    return any(p.matches("/".join(parts[:i]), True) for i in range(1, len(parts)))


def _list(root: Path, patterns: Sequence[str], excludes: Sequence[str], excluded: Sequence[str]) -> int:
    ex = PatternSet(excludes)
    total: set[str] = set()
    for pattern, files in explain(str(root), patterns, ex, excluded):
        print(f"{pattern!r} selects {len(files)} file(s)" + (":" if files else " (nothing)"))
        for f in files:
            print(f"  {mf.display(f)}")
        total.update(files)
    if excludes:
        print(f"excluded by {', '.join(map(repr, excludes))}")
    print(f"automatically excluded: .git and cache folders, .release-gates/, {', '.join(excluded) or 'nothing else'}")
    print(f"{len(total)} file(s) in all (dry run: nothing written)")
    return EXIT_OK


# ------------------------------------------------------------------- verify


def cmd_verify(args: argparse.Namespace) -> int:
    res = _resolve(args)
    root = res.root
    rules = _rules(args, res)
    cache_path = None
    if args.stat_cache is not None:
        cache_path = Path(args.stat_cache) if args.stat_cache else root / DEFAULT_STAT_CACHE
    failed = False
    files: Sequence[str]
    if res.manifest is None:
        if not rules:
            raise UsageError(f"{res.source}: [integrity] manifest = false and no rules: nothing to verify")
        patterns = res.integrity.patterns
        if not patterns:
            raise UsageError(f"{res.source}: [integrity] has rules but no patterns to scan")
        listing = walk(str(root), PatternSet(patterns), PatternSet(res.integrity.excludes),
                       exclude_paths=auto_excluded(root, None, root / DEFAULT_STAT_CACHE, res.baseline))
        _report_skipped(listing)
        files = listing.files
    else:
        old = legacy_manifest(root, res.manifest)
        if old is not None:
            _warn(f"warning: manifest {mf.display(str(old))} {move_hint()}")
            res.manifest = old
        excluded = auto_excluded(root, res.manifest, root / DEFAULT_STAT_CACHE, res.baseline, cache_path)
        cache: StatCache | None = None
        if cache_path is not None:
            cache = StatCache.load(cache_path, str(root))
            out = mf.verify_cached(str(root), res.manifest, cache, exclude_paths=excluded, jobs=args.jobs)
        else:
            out = mf.verify(str(root), mf.load(res.manifest), exclude_paths=excluded, jobs=args.jobs)
        if out.manifest is not None:
            mpatterns = list(out.manifest.patterns)
        else:
            mpatterns = list(cache.patterns or ()) if cache is not None else []
        if res.integrity.patterns and list(res.integrity.patterns) != mpatterns:
            _warn(f"note: {res.source} [integrity] patterns {list(res.integrity.patterns)} differ from the "
                  f"manifest's {mpatterns}; verifying the manifest's (regenerate to adopt the config's)")
        _report_skipped(out.listing)
        for d in out.differences:
            print(d.line)
        if cache is not None:
            cache.save()
        files = out.listing.files
        if out.differences:
            failed = True
            print(f"integrity: {mf.summarize(out.differences)} against {res.manifest} ({_files(out.checked)} listed)")
        else:
            hits = f", {cache.hits} from the stat cache" if cache is not None else ""
            print(f"integrity: {_files(out.checked)} match {res.manifest}{hits}")
            if not out.checked:
                _warn(f"warning: patterns {mpatterns} select no file under {root}")
    if rules:

        baseline = baseline_mod.load(res.baseline, validators=gates.installed().validators())
        accepted = rules_mod.from_section(baseline.get("integrity"))
        scan = rules_mod.scan_tree(str(root), files, rules, must_be_ignored=res.integrity.must_be_ignored)
        failed = _print_scan(scan, accepted) or failed
    return EXIT_DIFF if failed else EXIT_OK


def _print_scan(scan: rules_mod.ScanResult, accepted: Counter[tuple[str, str, str]] | None) -> bool:
    """Print findings (only those beyond ``accepted``, the baseline's, when given); True when any is new."""
    for note in scan.notes:
        _warn(note)
    for path, why in scan.unreadable:
        print(f"unreadable: {mf.display(path)} ({why})")
    first = scan.first()
    if accepted is not None:
        new, stale = rules_mod.compare_counts(scan.counts(), accepted)
        for ident, now, before in new:
            extra = f" (count {now}, baseline {before})" if before or now > 1 else ""
            print(f"new finding: {rules_mod.describe(first[ident])}{extra}")
        for (rule, path, _key), now, before in stale:
            print(f"stale: {rule}: {mf.display(path)}: accepted {before}, now {now} (drop it with "
                  "`pytest --release-gate --gate-update-baseline`)")
        return bool(new) or bool(scan.unreadable)
    for f in scan.findings:
        print(f"finding: {rules_mod.describe(f)}")
    return bool(scan.findings)


# ---------------------------------------------------------------- argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="integrity_command", required=True, metavar="{generate,verify}",
                                parser_class=type(parser))
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", default=".", metavar="DIR", help="tree to check (default: the current folder)")
    common.add_argument("--manifest", default=None, metavar="PATH",
                        help="manifest file (default: config [integrity] manifest, else "
                             f"{mf.DEFAULT_MANIFEST} under the root)")
    common.add_argument("--rules", nargs="*", choices=RULE_NAMES, default=None, metavar="RULE",
                        help=f"content rules to apply ({', '.join(RULE_NAMES)}); verify defaults to config "
                             "[integrity] rules (give the option alone for none), generate scans only when given")
    common.add_argument("--jobs", type=_positive_int, default=None, metavar="N",
                        help="hashing threads (default: the CPUs available)")
    gen = sub.add_parser("generate", parents=[common], help="hash the selected files into the manifest")
    gen.add_argument("--patterns", nargs="+", metavar="GLOB", default=None,
                     help="files to select, .gitignore-like (default: config [integrity] patterns)")
    gen.add_argument("--exclude", nargs="+", metavar="GLOB", default=None, help="files to leave out")
    gen.add_argument("--format", choices=("json", "sha256sum"), default="json",
                     help="sha256sum: also write a .sha256 file that `sha256sum -c` accepts")
    gen.add_argument("--list", action="store_true", help="dry run: print what each pattern selects, write nothing")
    gen.add_argument("--allow-empty", action="store_true", help="write a manifest even when nothing is selected")
    gen.add_argument("--force", action="store_true", help="replace an existing manifest that cannot be read")
    gen.set_defaults(integrity_func=cmd_generate)
    ver = sub.add_parser("verify", parents=[common], help="compare the tree with the manifest (never writes)")
    ver.add_argument("--stat-cache", nargs="?", const="", default=None, metavar="PATH",
                     help="trust unchanged stat signatures from this local cache and update it "
                          f"(default {DEFAULT_STAT_CACHE} under the root)")
    ver.set_defaults(integrity_func=cmd_verify)


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def run(args: argparse.Namespace) -> int:
    return int(args.integrity_func(args))


SUBCOMMAND: Final = (
    "integrity",
    "file integrity: generate a manifest of selected files, verify the tree against it",
    add_arguments,
    run,
)
