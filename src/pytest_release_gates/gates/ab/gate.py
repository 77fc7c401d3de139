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

This module runs the A/B and words its summary; ``layout.py`` finds the code
under test on each side, ``git.py`` checks the base out, ``runner.py`` and
``probe.py`` measure, ``decide.py`` decides each metric.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final, final

import pytest

from ... import metrics
from ...config import Settings
from ...model import REGRESSION, RUN, GateResult, Level, Status
from ...session import SESSION_KEY, GateContext
from ..regression import gate as regression
from . import git, runner
from .decide import decide
from .layout import code_paths, layout, path_map

#: Metric sources that measure speed and so take part in the A/B (``gate_metric`` values do not).
#: ("regression": the call duration of a ``regression``-marked test.)
SOURCES: Final = frozenset({"perf", "benchmark", "regression"})
SUMMARY: Final = "compare"
REGRESSION_PLUGIN: Final = "release-gates-regression"


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
                            path_map(rootdir, base_root, cur_roots, base_roots)),
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
        """One metric's result (``decide.py``); a method so a caller holding the gate needs nothing else."""
        return decide(self.settings, key, m, base, cur, where, extra)


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


__all__ = ["REGRESSION_PLUGIN", "SOURCES", "SUMMARY", "Gate", "code_paths", "layout"]
