"""``release-gate baseline show`` and ``release-gate baseline diff``: the baseline file for humans.

``show`` prints a readable table of one file; ``diff OLD NEW`` says what
changed between two versions of it (for a pull-request comment) and exits 1
when something got worse: a metric's median moved in its worse direction
(for calibrated ``perf`` entries, after scaling by the machine's speed),
coverage dropped, or a new error type or finding was accepted. Bad input is
one line and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from .. import baseline as baseline_mod
from .. import calibration, gates
from .. import machine as machine_mod
from ..gates.regression.debt import DEBT_KEYS, debt_of
from ..model import UsageError

DEFAULT_FILE: Final = "release-gates.baseline.json"
EXIT_WORSE: Final = 1
#: Kinds whose entries are measurements; in any other section an added entry is newly accepted debt.
_MEASURED: Final = ("regression", "coverage")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="baseline_command", required=True)
    show = sub.add_parser("show", help="print the baseline file as a readable table")
    show.add_argument(
        "--kind",
        metavar="KIND",
        default=None,
        help="only this section (regression, coverage, new_error_type, integrity, ...)",
    )
    show.add_argument(
        "file",
        nargs="?",
        default=DEFAULT_FILE,
        metavar="FILE",
        help=f"baseline file (default: {DEFAULT_FILE} in the current folder)",
    )
    show.set_defaults(baseline_func=cmd_show)
    diff = sub.add_parser("diff", help="what changed between two baseline files; exit 1 when something got worse")
    diff.add_argument("old", metavar="OLD")
    diff.add_argument("new", metavar="NEW")
    diff.add_argument("--kind", metavar="KIND", default=None, help="only this section")
    diff.add_argument(
        "--tolerance",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="a metric counts as worse when its median moved more than this (default 0)",
    )
    diff.set_defaults(baseline_func=cmd_diff)


def run(args: argparse.Namespace) -> int:
    return int(args.baseline_func(args))


def _load(name: str) -> baseline_mod.Baseline:
    path = Path(name)
    if not path.exists() and not path.is_symlink():
        raise UsageError(f"{path}: no such baseline file")

    return baseline_mod.load(path, validators=gates.installed().validators())


# --------------------------------------------------------------------- show


def cmd_show(args: argparse.Namespace) -> int:
    b = _load(args.file)
    kinds = sorted(b.sections) if args.kind is None else [args.kind]
    print(f"{b.path}  ({baseline_mod.SCHEMA})")
    meta = b.meta
    facts = [f"{k} {meta[k]}" for k in ("project_version", "python", "plugin_version") if meta.get(k)]
    if facts:
        print("  recorded with " + ", ".join(f.replace("_", " ") for f in facts))
    machines = meta.get("machines")
    if isinstance(machines, dict):
        for mid, desc in sorted(machines.items()):
            print(f"  machine {mid}: {machine_mod.describe_machine(desc if isinstance(desc, dict) else None)}")
    envs = meta.get("count_envs")  # where counted (instruction) entries were counted
    if isinstance(envs, dict):
        for eid, env in sorted(envs.items()):
            if isinstance(env, dict):
                what = ", ".join(str(env[k]) for k in ("python_build", "cpu", "libc") if env.get(k))
                print(f"  counted {eid}: Python {env.get('python', '?')}, Valgrind {env.get('valgrind', '?')}, {what}")
    for kind in kinds:
        sec = b.get(kind)
        print()
        if kind == "regression":
            _show_regression(sec)
        elif kind == "coverage":
            total = sec.get("total")
            print("coverage")
            print(f"  total  {total:.2f}%" if isinstance(total, (int, float)) else "  (nothing recorded)")
        else:
            print(f"{kind}  ({len(sec)} entries)")
            for key in sorted(sec):
                print(f"  {key}  {_compact(sec[key])}")
            if not sec:
                print("  (nothing recorded)")
    return 0


def _show_regression(sec: Mapping[str, Any]) -> None:
    from ..gates.regression.compare import fmt_value  # on use: ~140 ms (-X importtime), other commands skip it

    print(f"regression  ({len(sec)} metrics)")
    if not sec:
        print("  (nothing recorded)")
        return
    rows = [("metric", "median", "spread", "n", "better", "debt")]
    for key in sorted(sec):
        e = sec[key]
        unit = str(e.get("unit", "s"))
        spread = e.get("spread")
        debt = debt_of(e, where=key)
        debt_text = ""
        if debt is not None:
            debt_text = f"until {debt.expires}" if debt.expires else "accepted"
            if debt.owner:
                debt_text += f" ({debt.owner})"
        rows.append(
            (
                key,
                fmt_value(float(e["median"]), unit),
                fmt_value(float(spread), unit) if isinstance(spread, (int, float)) else "",
                str(e.get("count", 1)),
                e.get("direction", "lower"),
                debt_text,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print(
            "  "
            + "  ".join(
                c.ljust(w) if i in (0, 4, 5) else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
            ).rstrip()
        )


def _compact(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= 100 else text[:97] + "..."


# --------------------------------------------------------------------- diff


def cmd_diff(args: argparse.Namespace) -> int:
    if args.tolerance < 0 or not math.isfinite(args.tolerance):
        raise UsageError(f"--tolerance must be a non-negative number, got {args.tolerance!r}")
    old, new = _load(args.old), _load(args.new)
    lines, worse = diff(old, new, kind=args.kind, tolerance=args.tolerance)
    for line in lines:
        print(line)
    if not lines:
        print("no changes")
    print(f"{worse} worse" if worse else "nothing got worse")
    return EXIT_WORSE if worse else 0


def diff(
    old: baseline_mod.Baseline, new: baseline_mod.Baseline, *, kind: str | None = None, tolerance: float = 0.0
) -> tuple[list[str], int]:
    """(lines describing the changes, number of changes for the worse)."""
    lines: list[str] = []
    worse = 0
    for k in ("project_version", "python", "plugin_version"):
        if old.meta.get(k) != new.meta.get(k) and kind is None:
            lines.append(f"meta: {k.replace('_', ' ')} {old.meta.get(k)} -> {new.meta.get(k)}")
    kinds = sorted(set(old.sections) | set(new.sections)) if kind is None else [kind]
    for k in kinds:
        a, b = old.get(k), new.get(k)
        if k == "regression":
            got, w = _diff_regression(a, b, tolerance)
        elif k == "coverage":
            got, w = _diff_coverage(a, b)
        else:
            got, w = _diff_generic(k, a, b)
        lines.extend(got)
        worse += w
    return lines, worse


def _diff_regression(a: Mapping[str, Any], b: Mapping[str, Any], tolerance: float) -> tuple[list[str], int]:
    from ..gates.regression.compare import fmt_ratio, fmt_value, worse_ratio

    lines: list[str] = []
    worse = 0
    for key in sorted(set(a) | set(b)):
        ea, eb = a.get(key), b.get(key)
        if ea is None and eb is not None:
            lines.append(f"regression: + {key}: {fmt_value(float(eb['median']), str(eb.get('unit', 's')))} (new)")
            continue
        if eb is None and ea is not None:
            lines.append(f"regression: - {key} (removed)")
            continue
        assert ea is not None and eb is not None
        unit = str(eb.get("unit", "s"))
        hib = eb.get("direction", "lower") == "higher"
        scaled = calibration.scaling(calibration.Calibration.from_entry(eb), ea)
        factor = scaled.factor if scaled is not None and abs(scaled.factor - 1) > 0.005 else 1.0
        ratio = worse_ratio(float(eb["median"]), float(ea["median"]) * factor, hib)
        notes = []
        if scaled is not None and factor != 1.0:  # the figures shown are the ones compared: the old one scaled
            notes.append(f"calibrated: the old median {fmt_value(float(ea['median']), unit)} scaled "
                         f"{scaled.factor:.2f}x, as the machine's reference took {scaled.speed:.2f}x the old time")
        if ea.get("direction") != eb.get("direction"):
            notes.append(f"direction {ea.get('direction', 'lower')} -> {eb.get('direction', 'lower')}")
        for field in DEBT_KEYS:
            if ea.get(field) != eb.get(field):
                notes.append(f"{field} {ea.get(field)!r} -> {eb.get(field)!r}")
        if ea["median"] != eb["median"] or factor != 1.0:  # the same median at another speed moved too
            tag = ""
            if ratio > (1 + tolerance) * (1 + 1e-9):
                tag = "  WORSE"
                worse += 1
            elif ratio < 1:
                tag = "  better"
            lines.append(
                f"regression: ~ {key}: {fmt_value(float(ea['median']) * factor, unit)} -> "
                f"{fmt_value(float(eb['median']), unit)} ({fmt_ratio(ratio)}){tag}"
                + (f"; {', '.join(notes)}" if notes else "")
            )
        elif notes:
            lines.append(f"regression: ~ {key}: {', '.join(notes)}")
    return lines, worse


def _diff_coverage(a: Mapping[str, Any], b: Mapping[str, Any]) -> tuple[list[str], int]:
    ta, tb = a.get("total"), b.get("total")
    if ta == tb:
        return [], 0
    if isinstance(ta, (int, float)) and isinstance(tb, (int, float)):
        down = tb < ta
        return [f"coverage: total {ta:.2f}% -> {tb:.2f}% ({tb - ta:+.2f} points){'  WORSE' if down else ''}"], int(down)
    return [f"coverage: total {ta} -> {tb}"], int(tb is None)


def _diff_generic(kind: str, a: Mapping[str, Any], b: Mapping[str, Any]) -> tuple[list[str], int]:
    lines: list[str] = []
    worse = 0
    for key in sorted(set(a) | set(b)):
        if key not in a:
            lines.append(f"{kind}: + {key}: {_compact(b[key])}  WORSE (newly accepted)")
            worse += kind not in _MEASURED
        elif key not in b:
            lines.append(f"{kind}: - {key} (removed)")
        elif a[key] != b[key]:
            lines.append(f"{kind}: ~ {key}: {_compact(a[key])} -> {_compact(b[key])}")
    return lines, worse


SUBCOMMAND: Final = (
    "baseline",
    "show a baseline file, or diff two of them (exit 1 when something got worse)",
    add_arguments,
    run,
)
