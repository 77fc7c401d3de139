"""The ``regression`` gate: tracked metrics against the baseline, noise-aware.

Inputs: every tracked metric (``perf.measure`` and pytest-benchmark samples,
``gate_metric`` values, see ``metrics.py``) and the call duration of tests
marked ``@pytest.mark.regression(tolerance=None)``. Only passing tests count:
the timing of a test that failed says nothing about the code.

Comparison (SPEC "Regressions"): the ratio of medians in the worse
direction. One value per run regresses when the ratio exceeds
``1 + tolerance``. Samples regress when, in addition, a two-sided
Mann-Whitney U test says the difference is real (p < 0.002, as asv); with
too few samples for the test ever to get there, the ratio alone decides and
the message says so. At or past ``rollback_ratio``: rollback. Better beyond
tolerance: a warning that the baseline is stale. Recorded on another
machine: failures only warn unless ``strict_machine``. ``perf.measure``
samples carry the time of a calibration reference measured beside them; when
the entry has one too, the baseline is scaled to the machine's speed now
before anything is compared (``calibration.py``). Instruction counts
(``perf.measure(..., counter="instructions")``) compare against
``counter_tolerance``, with no significance test when each side's batches
counted exactly the same (else the rank test decides too, and the message
says how much they varied); an entry counted in another environment (another
Python build, Valgrind, or CPU as glibc sees it) only warns, saying what
differs.

Accepting (``--gate-update-baseline``): metrics of passing tests are
recorded; a timing still within noise of its entry keeps the entry as it was
(no churn in review, and slow drift keeps being measured against the same
reference); entries of tests that no longer exist are pruned only after a
complete, unfiltered run.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, Final, final

import pytest
from packaging.version import InvalidVersion, Version

from ... import baseline as baseline_mod
from ... import machine as machine_mod
from ... import metrics, tracing
from ...baseline import Baseline
from ...config import Settings
from ...model import REGRESSION, GateResult, Level, Status
from ...project import project_facts
from ...session import GateContext, observe
from ...significance import ALPHA
from .compare import (
    IMPROVED,
    NOISE,
    REGRESSED,
    Comparison,
    compare,
    describe,
    fmt_tolerance,
    fmt_value,
    ratio_text,
    worse_word,
)
from .debt import debt_of
from .entries import SECTION, count_env_differences
from .observed import MARKER_KIND, MarkerObservation, noisy, tolerance, tracer_of
from .observed import gather as gather
from .observed import metric_tolerance as metric_tolerance
from .observed import tracer_note as tracer_note


def regression(tolerance: float | None = None) -> float | None:
    """Signature of the ``regression`` marker: Python rejects unknown keywords."""
    if tolerance is None:
        return None
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not math.isfinite(tolerance):
        raise ValueError(f"tolerance must be a number, got {tolerance!r}")
    if tolerance < 0:
        raise ValueError(f"tolerance must not be negative, got {tolerance!r}")
    return float(tolerance)


# ---------------------------------------------------------------- the gate


def _worst(a: tuple[Status, Level], b: tuple[Status, Level]) -> tuple[Status, Level]:
    rank = {Status.PASS: 0, Status.WARN: 1, Status.FAIL: 2}
    if rank[a[0]] != rank[b[0]]:
        return a if rank[a[0]] > rank[b[0]] else b
    return (a[0], max(a[1], b[1]))


@final
class Gate:
    setup_markers: Final = frozenset({"regression"})  # on_setup has work only for these (pertest.py)

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    # -------------------------------------------------- on the test's process

    def on_setup(self, item: pytest.Item, marked: AbstractSet[str]) -> None:
        marker = item.get_closest_marker("regression") if "regression" in marked else None
        if marker is None:
            return
        try:
            tolerance = regression(*marker.args, **marker.kwargs)
        except (TypeError, ValueError) as exc:
            pytest.fail(f"invalid @pytest.mark.regression in {item.nodeid}: {exc}", pytrace=False)
        # The duration is the traced test itself: what traces it (coverage) is recorded with it.
        observe(item, MARKER_KIND, MarkerObservation(tolerance, tracing.state(item)).to_json())

    # -------------------------------------------------- on the controller

    def pytest_release_gates_update_baseline(self, context: GateContext, baseline: Baseline) -> Iterable[str]:
        # Imported here: only --gate-update-baseline records; it and measure.instructions cost every other run
        # ~25 M instructions of imports (valgrind, `python -c` importing the plugin, 2026-12-05).
        from . import record

        return record.update(self.settings, context, baseline)

    def _tolerance(self, m: metrics.Metric) -> float:
        return tolerance(self.settings, m)

    def pytest_release_gates_collect(self, context: GateContext) -> Iterable[GateResult]:
        baseline = context.baseline
        if baseline is None:  # unreadable: the core already holds, and nothing here can be trusted
            return []
        section = baseline.get(SECTION)
        passing, _other = gather(context)
        # Metrics the same-job A/B (--gate-compare-ref) already decided: one metric, one verdict line.
        ab = context.session.ab
        for key in ab.decided(context) if ab is not None else ():
            passing.pop(key, None)
        here = machine_mod.machine_id(machine_mod.machine_fingerprint())
        today = dt.date.today()
        strict = self.settings.strict_machine
        results: list[GateResult] = []
        foreign: dict[str, int] = {}
        elsewhere: dict[str, list[str]] = {}
        counts = {"compared": 0, "new": 0}
        for u in metrics.collect_unmeasured(context):
            if context.passed(u.nodeid):  # fail closed: asked for, not measured, never a silent pass
                results.append(GateResult(REGRESSION, u.key, Status.FAIL, Level.HOLD, f"not measured: {u.why}",
                                          metric=u.name, extra={"unit": u.unit, "source": "perf"}))
        for key in sorted(passing):
            m = passing[key]
            entry = section.get(key)
            if entry is None:
                counts["new"] += 1
                med = statistics.median(m.values)
                under = f" measured under {tracing.describe(m.traced)}" if m.traced else ""
                results.append(
                    GateResult(
                        REGRESSION,
                        key,
                        Status.WARN,
                        Level.HOLD,
                        f"new metric, not in baseline ({fmt_value(med, m.unit)}{under}; "
                        "record it with --gate-update-baseline)",
                        metric=m.name,
                        value=med,
                        extra={"source": m.source, "unit": m.unit, **({"traced": m.traced} if m.traced else {})},
                    )
                )
                continue
            counts["compared"] += 1
            differs = count_env_differences(baseline, entry, m) if m.counted else []
            if differs:
                elsewhere[key] = differs
            results.append(self._check(key, m, entry, here, today, strict, foreign, differs))
        for key in sorted(set(section) - set(passing)):
            debt_gate = self._debt_gate(key, section[key], None, today, unmeasured=True)
            if debt_gate is not None:
                results.append(debt_gate)
        if foreign:
            known = baseline.meta.get("machines")
            machines = known if isinstance(known, dict) else {}
            names = "; ".join(machine_mod.describe_machine(machines.get(mid)) for mid in sorted(foreign))
            n = sum(foreign.values())
            this = machine_mod.describe_machine(machine_mod.machine_fingerprint())
            if strict:
                context.messages.append(
                    f"regression: {n} metrics compared against a baseline from another machine "
                    f"({names}; this one: {this}); strict_machine = true, so they count in full"
                )
            else:
                context.messages.append(
                    f"regression: {n} metrics compared against a baseline from another machine "
                    f"({names}; this one: {this}): their regressions only warn "
                    "(set strict_machine = true to fail on them)"
                )
        if elsewhere:
            context.messages.append(
                f"regression: {len(elsewhere)} instruction-count metrics compared against counts taken in another "
                f"environment ({'; '.join(next(iter(elsewhere.values())))}): counts are exact only within one "
                "interpreter build, Valgrind version and CPU, so they only warn. Re-record the baseline where the "
                "gate runs (in CI: pytest --release-gate --gate-update-baseline in the same image, then commit it), "
                "or count both sides in one job with --gate-compare-ref")
        results.extend(self._version_gates(context, baseline, counts))
        return results

    def _check(
        self,
        key: str,
        m: metrics.Metric,
        entry: Mapping[str, Any],
        here: str,
        today: dt.date,
        strict: bool,
        foreign: dict[str, int],
        elsewhere: Sequence[str] = (),
    ) -> GateResult:
        tol = self._tolerance(m)
        hib = m.higher_is_better
        if entry.get("direction", "lower") != ("higher" if hib else "lower"):
            return GateResult(
                REGRESSION,
                key,
                Status.WARN,
                Level.HOLD,
                f"direction changed since the baseline (it says {entry.get('direction')} is better): "
                "record it again with --gate-update-baseline",
                metric=m.name,
            )
        if entry.get("unit", "s") != m.unit and "instructions" in (m.unit, entry.get("unit")):
            return GateResult(REGRESSION, key, Status.WARN, Level.HOLD,
                              f"measured in {m.unit} now, but the baseline holds {entry.get('unit', 's')}: "
                              "record it again with --gate-update-baseline", metric=m.name)
        c = compare(m.values, m.sampled, hib, entry, tol, self.settings.rollback_ratio, m.calibration, m.counted)
        desc = describe(c, m.unit, hib)
        tol_text = fmt_tolerance(tol) if m.counted else f"{tol:.0%}"
        ratio = ratio_text(c.ratio, m.unit)
        status, level = Status.PASS, Level.HOLD
        mid = entry.get("machine")
        other_machine = isinstance(mid, str) and mid != here and noisy(m)  # a size or a count is the same anywhere
        if other_machine:
            foreign[str(mid)] = foreign.get(str(mid), 0) + 1
        if c.outcome == REGRESSED:
            status = Status.FAIL
            level = Level.ROLLBACK if c.rollback else Level.HOLD
            what = f"{ratio} {worse_word(m.unit, hib)} than baseline ({desc}; tolerance {tol_text}"
            if other_machine and not strict:  # the machine first: it is why a big number sits beside a deploy
                status = Status.WARN
                rollback = f"; on the same machine this would roll back at {self.settings.rollback_ratio:g}x" \
                    if c.rollback else ""
                what = ("baseline recorded on another machine, so a warning only (strict_machine = false): "
                        f"{what}{rollback})")
            else:
                what += f", rollback at {self.settings.rollback_ratio:g}x)" if c.rollback else ")"
        elif c.outcome == NOISE:
            what = f"{ratio} but not significant (needs p < {ALPHA:g}): within noise ({desc})"  # p in desc
        elif c.outcome == IMPROVED:
            status = Status.WARN
            what = (
                f"{ratio}: better than baseline beyond tolerance ({desc}): "
                "stale baseline: consider --gate-update-baseline"
            )
        else:
            what = f"{ratio} of baseline, within tolerance {tol_text} ({desc})"
        if elsewhere:  # never a failure, never silent
            status = Status.WARN
            what += (f"; counted in another environment than the baseline ({'; '.join(elsewhere)}): warning only, "
                     "re-record the baseline where the gate runs, or use --gate-compare-ref")
        traced = tracer_note(m.traced, tracer_of(entry))
        if traced:  # the tracer's overhead is in one side only: the ratio is not the code's
            status = Status.WARN
            what = (f"{traced}: {what}; a tracer slows the measured code, so this comparison only warns "
                    "(compare runs measured alike)")
        outcome = (status, level)
        debt_gate = self._debt_gate(key, entry, c, today, unmeasured=False)
        if debt_gate is not None:
            outcome = _worst(outcome, (debt_gate.status, debt_gate.level))
            what += f"; {debt_gate.message}"
        extra: dict[str, Any] = {
            "current": baseline_mod.round_float(c.current),
            "baseline": baseline_mod.round_float(c.baseline),
            "unit": m.unit,
            "source": m.source,
            "samples": [len(m.values), len(entry.get("samples", ())) or int(entry.get("count", 1))],
        }
        if c.p is not None:
            extra["p_value"] = baseline_mod.round_float(c.p)
        if m.counted:
            extra["counter"] = "instructions"
            if elsewhere:
                extra["counted_elsewhere"] = list(elsewhere)
        if c.scaling is not None:
            extra["speed_factor"] = baseline_mod.round_float(c.scaling.speed)
            extra["baseline_scaled"] = baseline_mod.round_float(c.scaling.factor)
        if m.traced or tracer_of(entry):
            extra["traced"] = m.traced
            extra["baseline_traced"] = tracer_of(entry)
        return GateResult(
            REGRESSION,
            key,
            outcome[0],
            outcome[1],
            what,
            metric="ratio",
            value=c.ratio if math.isfinite(c.ratio) else None,
            limit=1 + tol,
            extra=extra,
        )

    def _debt_gate(
        self, key: str, entry: Any, c: Comparison | None, today: dt.date, *, unmeasured: bool
    ) -> GateResult | None:
        if not isinstance(entry, Mapping):
            return None
        debt = debt_of(entry, where=key)
        if debt is None or debt.expires is None:
            return None
        tail = "; not measured in this run" if unmeasured else ""
        if debt.expired(today):
            if c is not None and c.outcome == IMPROVED:
                return GateResult(
                    REGRESSION,
                    key,
                    Status.WARN,
                    Level.HOLD,
                    f"accepted debt expired on {debt.expires} ({debt.describe()}) but the metric is "
                    "now better than recorded: run --gate-update-baseline to clear it",
                )
            return GateResult(
                REGRESSION,
                key,
                Status.FAIL,
                Level.HOLD,
                f"accepted debt expired on {debt.expires} ({debt.describe()}): fix the regression, "
                f"or extend 'expires' in the baseline entry{tail}",
                extra={"owner": debt.owner, "expires": str(debt.expires)},
            )
        if debt.expires_soon(today):
            left = debt.days_left(today)
            return GateResult(
                REGRESSION,
                key,
                Status.WARN,
                Level.HOLD,
                f"accepted debt expires on {debt.expires} (in {left} days; {debt.describe()}){tail}",
                extra={"owner": debt.owner, "expires": str(debt.expires)},
            )
        return None

    def _version_gates(self, context: GateContext, baseline: Baseline, counts: Mapping[str, int]) -> list[GateResult]:
        if not baseline.exists and not counts["compared"] and not counts["new"]:
            return []
        facts, _problem = project_facts(self.settings.rootdir)
        current = facts.get("version")
        recorded = baseline.project_version
        out: list[GateResult] = []
        older = False
        if isinstance(current, str) and recorded:
            try:
                older = Version(current) < Version(recorded)
            except InvalidVersion:
                older = False
        if older:
            out.append(
                GateResult(
                    REGRESSION,
                    "project version",
                    Status.WARN,
                    Level.HOLD,
                    f"project version {current} is older than the baseline's {recorded}: "
                    "an old branch, or a baseline recorded ahead of this code?",
                    extra={"baseline_version": recorded, "project_version": current},
                )
            )
        where = baseline.path.name if baseline.exists else f"{baseline.path.name} (none yet)"
        msg = f"{counts['compared']} metrics compared with {where}"
        if counts["new"]:
            msg += f", {counts['new']} new"
        if recorded:
            msg += f"; baseline recorded at version {recorded}"
        if isinstance(baseline.meta.get("python"), str):
            msg += f" with Python {baseline.meta['python']}"
        out.append(
            GateResult(
                REGRESSION,
                "baseline",
                Status.PASS,
                Level.HOLD,
                msg,
                extra={
                    "baseline_file": str(baseline.path),
                    "baseline_version": recorded,
                    "project_version": current,
                    "baseline_python": baseline.meta.get("python"),
                },
            )
        )
        return out
