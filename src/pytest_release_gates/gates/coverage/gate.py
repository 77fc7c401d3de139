"""The ``coverage`` gate: ``coverage_min`` and ``coverage_max_drop`` from pytest-cov's own total.

The total is the one pytest-cov computed and printed (``CovPlugin.cov_total``
on the controller, combined across xdist workers), so the gate and the
report the user reads never disagree. Fail closed: a configured coverage
gate without a measurement (pytest-cov not installed, not enabled with
``--cov``, or ``--no-cov``) fails and says why. A partial run (``-k``,
node ids) only warns: a subset never reaches the whole suite's coverage.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final, final

import pytest

from ... import baseline as baseline_mod
from ...baseline import Baseline
from ...config import Settings
from ...model import COVERAGE, GateResult, Level, Status, UsageError
from ...session import GateContext

SECTION: Final = "coverage"
#: Percentage points below which two totals count as equal (float noise of coverage's arithmetic).
_EPS: Final = 1e-9


def validate_section(path: Path, section: dict[str, Any]) -> None:
    """Baseline validator of the ``coverage`` section: ``total``, a percentage, and nothing else."""
    for key in sorted(section):
        if key != "total":
            raise UsageError(f"{path}: coverage entry {key!r}: unknown key (the section holds 'total' only)")
    if "total" in section:
        total = section["total"]
        if not (baseline_mod.is_number(total) and 0 <= total <= 100):
            raise UsageError(f"{path}: coverage entry 'total' must be a percentage (0 to 100), "
                             f"got {baseline_mod.short(total)}")


def measured_total(config: pytest.Config) -> tuple[float | None, str]:
    """(total percent, "") or (None, why it could not be measured)."""
    plugin: Any = config.pluginmanager.getplugin("_cov")
    if plugin is None:
        try:
            import pytest_cov  # noqa: F401
        except ImportError:
            return None, "pytest-cov is not installed (pip install pytest-cov, then run with --cov=YOUR_PACKAGE)"
        return None, "pytest-cov is not enabled: run with --cov=YOUR_PACKAGE"
    if getattr(plugin, "_disabled", False) or getattr(getattr(plugin, "options", None), "no_cov", False):
        return None, "coverage is disabled (--no-cov)"
    total = getattr(plugin, "cov_total", None)
    if total is None:  # pytest-cov skips its summary without reports or with --no-cov-on-fail
        controller = getattr(plugin, "cov_controller", None)
        cov = getattr(controller, "cov", None)
        if cov is not None:
            try:
                total = cov.report(file=io.StringIO())
            except Exception as exc:  # coverage's own "no data" and the like
                return None, f"pytest-cov produced no total ({type(exc).__name__}: {exc})"
    if total is None or isinstance(total, bool) or not isinstance(total, (int, float)) or not math.isfinite(total):
        return None, "pytest-cov produced no total"
    return float(total), ""


@final
class Gate:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def configured(self) -> bool:
        return self.settings.coverage_min is not None or self.settings.coverage_max_drop is not None

    def pytest_release_gates_update_baseline(self, context: GateContext, baseline: Baseline) -> Iterable[str]:
        total, why = measured_total(context.config)
        if total is None:
            return [f"coverage: not recorded ({why})"] if self.configured else []
        if not context.complete:
            reason = context.partial or "the run did not complete"
            return [f"coverage: {total:.2f}% not recorded: a partial run ({reason}) does not measure the suite"]
        counts = context.counts()
        if counts.failed or counts.errors:
            return [f"coverage: {total:.2f}% not recorded: {counts.failed + counts.errors} tests did not pass"]
        section = baseline.section(SECTION)
        old = section.get("total")
        section["total"] = total
        if isinstance(old, (int, float)) and abs(float(old) - total) < 5e-7 * max(1.0, total):
            return []
        was = f" (was {float(old):.2f}%)" if isinstance(old, (int, float)) else ""
        return [f"coverage: recorded total {total:.2f}%{was}"]

    def pytest_release_gates_collect(self, context: GateContext) -> Iterable[GateResult]:
        if not self.configured:
            return
        s = self.settings
        total, why = measured_total(context.config)
        if total is None:
            yield GateResult(
                COVERAGE,
                "total",
                Status.FAIL,
                Level.HOLD,
                f"coverage could not be measured: {why}; coverage_min/coverage_max_drop are set in "
                f"{s.source or 'the config'}",
            )
            return
        if context.partial:
            yield GateResult(
                COVERAGE,
                "total",
                Status.WARN,
                Level.HOLD,
                f"{total:.2f}% on a partial run ({context.partial}): not compared, a subset never "
                "reaches the whole suite's coverage",
                metric="percent",
                value=total,
            )
            return
        if s.coverage_min is not None:
            if total < s.coverage_min - _EPS:
                yield GateResult(
                    COVERAGE,
                    "total",
                    Status.FAIL,
                    Level.HOLD,
                    f"coverage {total:.2f}% is under coverage_min {s.coverage_min:g}%",  # subject "total" reads first
                    metric="percent",
                    value=total,
                    limit=s.coverage_min,
                )
            else:
                yield GateResult(
                    COVERAGE,
                    "total",
                    Status.PASS,
                    Level.HOLD,
                    f"coverage {total:.2f}% (coverage_min {s.coverage_min:g}%)",
                    metric="percent",
                    value=total,
                    limit=s.coverage_min,
                )
        if s.coverage_max_drop is not None:
            yield self._drop(context, total, s.coverage_max_drop)

    def _drop(self, context: GateContext, total: float, max_drop: float) -> GateResult:
        baseline = context.baseline
        recorded = baseline.get(SECTION).get("total") if baseline is not None else None
        if not isinstance(recorded, (int, float)) or isinstance(recorded, bool):
            how = ("the baseline could not be read: fix the file named in the run gate" if baseline is None
                   else "record it with --gate-update-baseline")
            return GateResult(
                COVERAGE,
                "drop",
                Status.WARN,
                Level.HOLD,
                f"no coverage recorded in the baseline to compare {total:.2f}% with: {how}",
                metric="percent",
                value=total,
            )
        drop = float(recorded) - total
        floor = float(recorded) - max_drop
        if drop > max_drop + _EPS:
            return GateResult(
                COVERAGE,
                "drop",
                Status.FAIL,
                Level.HOLD,
                f"of {drop:.2f} points in coverage (from {float(recorded):.2f}% to {total:.2f}%), "
                f"more than coverage_max_drop {max_drop:g}",  # subject "drop" reads first
                metric="percent",
                value=total,
                limit=floor,
                extra={"baseline": recorded},
            )
        change = f"{-drop:+.2f} points" if abs(drop) > _EPS else "unchanged"
        return GateResult(
            COVERAGE,
            "drop",
            Status.PASS,
            Level.HOLD,
            f"{total:.2f}% vs baseline {float(recorded):.2f}% ({change}; coverage_max_drop {max_drop:g})",
            metric="percent",
            value=total,
            limit=floor,
            extra={"baseline": recorded},
        )
