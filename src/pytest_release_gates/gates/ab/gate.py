"""The A/B gate: regression gates of performance-tracking tests, measured against a git revision.

When ``--gate-compare-ref=REV`` (or ``[tool.release_gates.compare] ref``) is
set, at the end of the run this gate takes the tests that passed and track
performance (``perf.measure``, pytest-benchmark, ``regression``-marked
durations), runs them again against the code at REV and against the
working tree in interleaved rounds (see ``runner.py``), and decides each
metric exactly as the committed-baseline regression gate would (the same
ratio of medians, tolerance, ``rollback_ratio`` and Mann-Whitney test),
only against a base measured on this machine, now. The metrics it decides
are handed to the committed-baseline regression gate through ``GateSession.ab``
(``decided``, computed once whichever gate asks first), so it leaves them alone.

Fail closed: when the comparison cannot be made at all (not a git checkout,
unknown revision, shallow clone, base code that does not import, a side that
crashes) a failing ``regression`` gate holds the release with a one-line
reason. A test that does not exist or fails at REV warns: no base to compare.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import signal
import statistics
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, final

import pytest

from ... import metrics
from ...config import Settings
from ...model import REGRESSION, RUN, GateResult, Level, Status
from ...project import project_facts
from ...session import SESSION_KEY, GateContext
from ..regression import compare as rc
from ..regression import gate as regression
from . import git, runner

#: Metric sources that measure speed and so take part in the A/B (``gate_metric`` values do not).
#: ("regression": the call duration of a ``regression``-marked test.)
SOURCES: Final = frozenset({"perf", "benchmark", "regression"})
SUMMARY: Final = "compare"
REGRESSION_PLUGIN: Final = "release-gates-regression"
_SKIP_NAMES: Final = frozenset({"conftest", "setup", "noxfile", "tests", "test"})


# ---------------------------------------------------------------- adapter to the regression gate


def _compare(current: Sequence[float], base: Sequence[float], sampled: bool, tolerance: float,
             rollback_ratio: float, counted: bool = False) -> rc.Comparison:
    """The regression gate's own comparison, with the base side as its "baseline entry"."""
    entry = {"median": statistics.median(base), "samples": list(base) if sampled else []}
    result: rc.Comparison = rc.compare(current, sampled, False, entry, tolerance, rollback_ratio,
                                                          None, counted)
    return result


# ---------------------------------------------------------------- where the code under test is


def code_paths(settings: Settings) -> list[str]:
    """``compare.paths``, else ``src`` when it exists, else the package folder named after ``[project] name``."""
    root = settings.rootdir
    if settings.compare.paths:
        for p in settings.compare.paths:
            if not (root / p).exists():
                raise git.CompareError(f"{settings.describe('compare.paths')}: {p!r} does not exist in {root}")
        return list(settings.compare.paths)
    if (root / "src").is_dir():
        return ["src"]
    name = project_facts(root)[0].get("name")
    if isinstance(name, str):
        module = name.lower().replace("-", "_").replace(".", "_")
        if (root / module).is_dir():
            return [module]
        if (root / f"{module}.py").is_file():
            return [f"{module}.py"]
    raise git.CompareError(
        "cannot tell which folder holds the code under test (no src/ folder, no folder named after "
        "[project] name): set paths in [tool.release_gates.compare], e.g. paths = [\"mypackage\"]")


def _module_name(p: Path) -> str | None:
    if p.is_dir():
        name = p.name
    elif p.suffix in (".py", ".so", ".pyd"):
        name = p.name.split(".", 1)[0]
    else:
        return None
    return name if name.isidentifier() and name not in _SKIP_NAMES else None


def layout(side_root: Path, paths: Sequence[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """(import roots, [(top-level module, its root)]) of ``paths`` under ``side_root``.

    A path that is itself a package or a module is imported from its parent
    (flat layout); any other folder is an import root (``src`` layout).
    """
    roots: list[str] = []
    modules: list[tuple[str, str]] = []
    for p in paths:
        loc = side_root / p
        if (loc.is_dir() and (loc / "__init__.py").is_file()) or (loc.is_file() and loc.suffix == ".py"):
            root, children = loc.parent, [loc]
        elif loc.is_dir():
            root, children = loc, sorted(loc.iterdir())
        else:
            continue
        if str(root) not in roots:
            roots.append(str(root))
        for child in children:
            name = _module_name(child)
            if name is None or any(m == name for m, _ in modules):
                continue
            if child.is_dir() and not (child / "__init__.py").is_file() and not any(child.rglob("*.py")):
                continue
            modules.append((name, str(root)))
    return roots, modules


def _path_map(rootdir: Path, base_root: Path, cur_roots: Sequence[str], base_roots: Sequence[str],
              ) -> tuple[tuple[str, str], ...]:
    """Each working-tree import root paired with the same folder of the base revision, where it has one."""
    pairs = []
    for root in cur_roots:
        try:
            twin = str(base_root / Path(root).relative_to(rootdir))
        except ValueError:
            continue
        if twin in base_roots:
            pairs.append((root, twin))
    return tuple(pairs)


# ---------------------------------------------------------------- the gate


class _Terminated(KeyboardInterrupt):
    """SIGTERM during the A/B: unwind like Ctrl-C (subprocesses killed, checkout removed), then die of it."""


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous not in (signal.SIG_DFL, None):  # someone else handles it: leave it to them
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise _Terminated()

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _fmt_ratio(r: float) -> str:
    return str(rc.fmt_ratio(r))


def _fmt(x: float, unit: str) -> str:
    return str(rc.fmt_value(x, unit))


@final
class Gate:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.interrupted: str | None = None
        self._outcome: list[GateResult] | None = None
        self._decided: frozenset[str] = frozenset()
        self._failed = False

    @property
    def ref(self) -> str | None:
        return self.settings.compare_ref or self.settings.compare.ref

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.interrupted:  # after the core set its status from the verdict: Ctrl-C reads as Ctrl-C
            session.exitstatus = pytest.ExitCode.INTERRUPTED

    def pytest_configure(self, config: pytest.Config) -> None:
        state = config.stash.get(SESSION_KEY, None)
        if state is not None:
            state.ab = self  # the regression gate asks `decided`

    def decided(self, context: GateContext) -> frozenset[str]:
        """The metric keys this A/B decides (none when it could not compare); measures once."""
        if not self._failed:
            self._run(context)
        return self._decided

    @pytest.hookimpl(tryfirst=True)  # a crash while measuring is reported as this gate's
    def pytest_release_gates_collect(self, context: GateContext) -> Iterable[GateResult]:
        return self._run(context)

    def _run(self, context: GateContext) -> list[GateResult]:
        if self._outcome is None:
            self._failed = True  # until it returns: a crash is reported once, by the caller
            self._outcome = list(self._compare_all(context))
            self._failed = False
        return self._outcome

    def _compare_all(self, context: GateContext) -> Iterable[GateResult]:
        ref = self.ref
        if not ref:
            return []
        extra = {"compare_ref": ref}
        if context.exitstatus in (2, 3, 4):
            return [GateResult(REGRESSION, SUMMARY, Status.WARN, Level.HOLD,
                               f"A/B against {ref} skipped: the run did not complete", extra=extra)]
        selected = self._select(context)
        if not selected:
            return [GateResult(REGRESSION, SUMMARY, Status.PASS, Level.HOLD,
                               f"A/B against {ref}: no passing test tracks performance (perf.measure, "
                               "pytest-benchmark, @pytest.mark.regression): nothing to compare", extra=extra)]
        started = time.monotonic()
        terminated = False
        try:
            with _sigterm_unwinds():
                rev, results, notes = self._measure(context, ref, selected)
        except git.CompareError as exc:
            return [GateResult(REGRESSION, SUMMARY, Status.FAIL, Level.HOLD,
                               f"cannot compare against {ref}: {exc}", extra=extra)]
        except KeyboardInterrupt as exc:
            terminated = isinstance(exc, _Terminated)
            self.interrupted = ref
            if not terminated:
                return [GateResult(RUN, "interrupted", Status.FAIL, Level.HOLD,
                                   f"interrupted during the A/B against {ref}: performance not compared",
                                   extra=extra)]
        if terminated:  # everything is cleaned up: now die of SIGTERM as asked (the provisional hold stays)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
            raise SystemExit(143)
        return self._results(context, rev, results, selected, notes, time.monotonic() - started)

    # ------------------------------------------------------------ selecting and measuring

    def _select(self, context: GateContext) -> dict[str, metrics.Metric]:
        passing, _other = regression.gather(context)
        return {k: m for k, m in passing.items() if m.source in SOURCES}

    def _measure(self, context: GateContext, ref: str, selected: Mapping[str, metrics.Metric],
                 ) -> tuple[git.Revision, dict[str, runner.SideResult], list[str]]:
        settings = self.settings
        rootdir = settings.rootdir
        rev = git.resolve(rootdir, ref)
        paths = code_paths(settings)
        rel = git.relative_paths(rootdir, rev.toplevel, paths)
        notes: list[str] = []
        git.sweep_stale()
        with git.scratch() as tmp:
            base_dir = tmp / "base"
            present = git.materialize(rev, rel, base_dir)
            missing = [p for p, r in zip(paths, rel, strict=True) if r not in present]
            if missing:
                notes.append(f"{', '.join(missing)} did not exist at {ref}")
            base_root = base_dir / rootdir.resolve().relative_to(rev.toplevel.resolve())
            cur_roots, cur_modules = layout(rootdir, paths)
            base_roots, base_modules = layout(base_root, paths)
            if not cur_modules:
                raise git.CompareError(f"no importable module found under {', '.join(paths)} in {rootdir}: "
                                       "set paths in [tool.release_gates.compare]")
            base_names = {m for m, _ in base_modules}
            block = tuple(m for m, _ in cur_modules if m not in base_names)
            where = f"{ref} ({rev.short})"
            sides = [
                runner.Side(runner.BASE, where, tuple(base_roots or [str(base_root)]), tuple(base_modules), block,
                            _path_map(rootdir, base_root, cur_roots, base_roots)),
                runner.Side(runner.CURRENT, "the working tree", tuple(cur_roots), tuple(cur_modules)),
            ]
            nodeids = list(dict.fromkeys(m.nodeid for m in selected.values()))
            main_time = sum((context.records[n].duration or 0.0) for n in nodeids if n in context.records)
            results = runner.run(
                sides, nodeids, self._invocation(context.config), tmp,
                rounds=settings.compare.rounds,
                ready_timeout=max(300.0, 5 * main_time),
                round_timeout=max(300.0, 20 * main_time),
            )
        for result in results.values():  # the checkout is gone: name its files as the repository does
            _scrub(result, str(base_root) + os.sep)
        return rev, results, notes

    def _invocation(self, config: pytest.Config) -> runner.Invocation:
        args = runner.passthrough([str(a) for a in config.invocation_params.args])
        if config.pluginmanager.hasplugin("xdist"):
            args.append("-n0")  # measuring sides never spread over workers (and -n in addopts is overridden)
        if config.pluginmanager.hasplugin("pytest_cov"):
            args.append("--no-cov")
        return runner.Invocation(
            rootdir=config.rootpath,
            inifile=config.inipath,
            cwd=config.invocation_params.dir,
            args=tuple(args),
        )

    # ------------------------------------------------------------ deciding

    def _results(self, context: GateContext, rev: git.Revision, results: Mapping[str, runner.SideResult],
                 selected: Mapping[str, metrics.Metric], notes: list[str], took: float) -> list[GateResult]:
        ref, settings = rev.ref, self.settings
        extra: dict[str, Any] = {"compare_ref": ref, "compare_commit": rev.commit}
        base, cur = results[runner.BASE], results[runner.CURRENT]
        where = f"{ref} ({rev.short})"
        fatal = None
        if cur.import_error or cur.failure:
            fatal = f"the current code could not be measured: {cur.import_error or cur.failure}"
        elif base.import_error:
            fatal = (f"{base.import_error} (a dependency the base revision needs that is not installed? "
                     "compare against another revision, or run without --gate-compare-ref)")
        elif base.failure and not base.rounds:
            fatal = f"the base code could not be measured: {base.failure}"
        if fatal:
            return [GateResult(REGRESSION, SUMMARY, Status.FAIL, Level.HOLD,
                               f"cannot compare against {where}: {fatal}", extra=extra)]
        out: list[GateResult] = []
        for key in sorted(selected):
            out.append(self._decide(key, selected[key], base, cur, where, extra))
        self._decided = frozenset(selected)
        tests = len({m.nodeid for m in selected.values()})
        rounds = settings.compare.rounds
        n = len(selected)
        summary = (f"A/B against {where} on this machine: {n} metric{'s' * (n != 1)} of {tests} "
                   f"test{'s' * (tests != 1)}, {rounds} interleaved round{'s' * (rounds != 1)} a side, {took:.1f} s")
        if rev.dirty:
            summary += "; uncommitted changes in the working tree are part of the current side"
        if notes:
            summary += "; " + "; ".join(notes)
        context.messages.append(summary)
        out.append(GateResult(REGRESSION, SUMMARY, Status.PASS, Level.HOLD, summary,
                              extra={**extra, "rounds": rounds, "seconds": round(took, 3), "dirty": rev.dirty}))
        return out

    def _decide(self, key: str, m: metrics.Metric, base: runner.SideResult, cur: runner.SideResult, where: str,
                extra: Mapping[str, Any]) -> GateResult:
        cur_rounds, why = _per_round(cur, m)
        if why is not None:
            return GateResult(REGRESSION, key, Status.FAIL, Level.HOLD,
                              f"not measured on the current code in the A/B: {why} (it passed in this run; a test "
                              "that depends on other tests cannot be measured alone)", metric=m.name,
                              extra=dict(extra))
        base_rounds, why = _per_round(base, m)
        if why is not None:
            return GateResult(REGRESSION, key, Status.WARN, Level.HOLD,
                              f"no base to compare: at {where} {why}", metric=m.name, extra=dict(extra))
        cur_values = [v for r in cur_rounds for v in r]
        base_values = [v for r in base_rounds for v in r]
        if m.counted:  # every round repeats a side's one count: one round's batches are the samples
            cur_values, base_values = list(cur_rounds[0]), list(base_rounds[0])
        tol = regression.metric_tolerance(m)
        if tol is None and m.counted:  # both sides counted in this job, by the same interpreter and Valgrind
            tol = self.settings.counter_tolerance
        if tol is None:
            tol = self.settings.compare.tolerance
        if tol is None:
            tol = self.settings.regression_tolerance
        c = _compare(cur_values, base_values, m.sampled, tol, self.settings.rollback_ratio, m.counted)
        uneven, slower_in = None, _slower_rounds(cur_rounds, base_rounds)
        if m.sampled and c.outcome == rc.REGRESSED:
            uneven = _uneven(slower_in)
            if uneven:
                c = dataclasses.replace(c, outcome=rc.NOISE, rollback=False)
        desc = (f"{_fmt(c.current, m.unit)} vs {_fmt(c.baseline, m.unit)} per call" if m.counted
                else f"median {_fmt(c.current, m.unit)} vs {_fmt(c.baseline, m.unit)}")
        if c.p is not None:
            desc += f", p={c.p:.2g}"
        if c.note:
            desc += f"; {c.note}"
        if m.counted:  # counted once a side (the probe keeps a side's counts for its later rounds)
            desc += f"; {len(cur_rounds[0])} vs {len(base_rounds[0])} batches, counted under Valgrind"
        else:
            desc += f"; {len(cur_values)} vs {len(base_values)} {'samples' if m.sampled else 'runs'}"
        worse = "more instructions" if m.counted else "slower" if m.unit == "s" else "worse"
        ratio = rc.fmt_ratio(c.ratio, 3) if m.counted else _fmt_ratio(c.ratio)
        tol_text = rc.fmt_tolerance(tol) if m.counted else f"{tol:.0%}"
        status, level = Status.PASS, Level.HOLD
        if c.outcome == rc.REGRESSED:
            status = Status.FAIL
            level = Level.ROLLBACK if c.rollback else Level.HOLD
            what = f"{ratio} {worse} vs {where} ({desc}; tolerance {tol_text}"
            what += f", rollback at {self.settings.rollback_ratio:g}x)" if c.rollback else ")"
        elif uneven:
            what = f"{ratio} vs {where} but {uneven}: within noise ({desc})"
        elif c.outcome == rc.NOISE:
            what = f"{ratio} vs {where} but not significant: within noise ({desc})"
        elif c.outcome == rc.IMPROVED:
            what = (f"{ratio} vs {where}: fewer instructions than the base ({desc})" if m.counted
                    else f"{ratio} vs {where}: faster than the base ({desc})")
        else:
            what = f"{ratio} vs {where}, within tolerance {tol_text} ({desc})"
        data: dict[str, Any] = {
            **extra,
            "current": _round(c.current),
            "baseline": _round(c.baseline),
            "unit": m.unit,
            "source": m.source,
            "samples": [len(cur_values), len(base_values)],
        }
        if c.p is not None:
            data["p_value"] = _round(c.p)
        data["rounds_slower"] = list(slower_in)
        return GateResult(REGRESSION, key, status, level, what, metric="ratio",
                          value=c.ratio if math.isfinite(c.ratio) else None, limit=1 + tol, extra=data)


def _scrub(result: runner.SideResult, prefix: str) -> None:
    def clean(text: str | None) -> str | None:
        return text.replace(prefix, "") if text else text

    result.import_error = clean(result.import_error)
    result.failure = clean(result.failure)
    result.collection_errors = {k: clean(v) or "" for k, v in result.collection_errors.items()}
    for rnd in result.rounds:
        for entry in rnd.values():
            if isinstance(entry, dict) and isinstance(entry.get("message"), str):
                entry["message"] = clean(entry["message"])


def _round(x: float) -> float | None:
    return float(f"{x:.6g}") if math.isfinite(x) else None


def _slower_rounds(cur_rounds: Sequence[Sequence[float]], base_rounds: Sequence[Sequence[float]]) -> tuple[int, int]:
    """(rounds in which the current side's median was the slower, rounds with both sides measured)."""
    pairs = [(cr, br) for cr, br in zip(cur_rounds, base_rounds, strict=False) if cr and br]
    return sum(statistics.median(cr) > statistics.median(br) for cr, br in pairs), len(pairs)


def _uneven(slower_in: tuple[int, int]) -> str | None:
    """Why a significant slowdown is not believed (it was not slower in every round), or None.

    The rank test takes the pooled samples as independent, but the samples of
    one round share that round's machine state: a burst of load over the two
    back-to-back current rounds of ABBA (the end of round 1, the start of
    round 2) moves most of the current side at once and reads as significant.
    A real slowdown shows in every round; a burst does not.
    """
    slower, rounds = slower_in
    return None if slower == rounds else f"slower in only {slower} of {rounds} rounds"


def _per_round(side: runner.SideResult, m: metrics.Metric) -> tuple[list[list[float]], str | None]:
    """One side's values of ``m``, round by round, or why there are none."""
    nodeid = m.nodeid
    if side.collected is not None and nodeid not in side.collected:
        errors = [f"{where or 'collection'}: {msg}" for where, msg in side.collection_errors.items()
                  if not where or nodeid.startswith(where)]
        return [], "the test is not collected" + (f" ({errors[0]})" if errors else "")
    if side.failure and not side.rounds:
        return [], side.failure
    per_round: list[list[float]] = []
    for i, rnd in enumerate(side.rounds, 1):
        values: list[float] = []
        per_round.append(values)
        entry = rnd.get(nodeid)
        if not isinstance(entry, dict):
            return [], f"the test did not run in round {i}"
        outcome = entry.get("outcome")
        if outcome != "passed":
            verb = {"failed": "fails", "error": "errors", "skipped": "is skipped"}.get(str(outcome), "does not pass")
            msg = entry.get("message")
            return [], f"the test {verb}" + (f" ({msg})" if msg else "")
        if m.source == "regression":
            d = entry.get("duration")
            if isinstance(d, (int, float)):
                values.append(float(d))
            continue
        found = (entry.get("metrics") or {}).get(m.name)
        if not isinstance(found, dict) or not found.get("values"):
            return [], f"the test does not measure {m.name!r}"
        values.extend(float(v) for v in found["values"] if isinstance(v, (int, float)) and math.isfinite(v))
    if side.failure:
        return [], side.failure
    if not any(per_round):
        return [], "nothing was measured"
    return per_round, None
