"""The ``budget`` gate: wall time, peak memory and percentile budgets per test.

Where the limits come from: ``@pytest.mark.budget(...)`` and the ``[budgets]``
config table, keyed by a node id or a glob over node ids (``*`` matches any
characters, ``/`` and ``::`` included; ``?`` one character; brackets are
literal, so parametrised ids need no escaping). An exact key beats a glob;
among globs the first one in the file wins. When a marker and a config entry
both give the same limit, the marker's wins (``-v`` says so); limits the
marker does not give still come from the config.

Where the values come from, on the process that runs the test (an xdist
worker or the only process): the call-phase duration pytest itself put on the
report (no second run), the peak memory of the call (``memory.py``, measured
only for tests with a memory budget), the test's ``perf.measure`` results and
pytest-benchmark's own per-round data (``benchmark.stats.stats.data``).

An exceeded budget fails the test's own call report there and then, with one
line (``call took 1.42 s, budget 1.00 s``), where the report is logged and
before anything else reads it, so JUnit XML, ``-x`` and every dashboard see it
where it happened (pytest-rerunfailures has decided on reruns by then: an
overrun is not rerun). The checks ship to the controller as
observations; it turns them into gate results. A budget on a test that did
not pass never passes: it is a warning that it was not checked.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from collections.abc import Set as AbstractSet
from typing import Final, final

import pytest

from ... import fmt, memory, metrics, perf, tracing
from ...config import Settings
from ...limits import NONE, PERCENTILES, Resolved, config_budgets, resolve, resolved_key
from ...model import BUDGET, GateResult, Level, Status
from ...session import GateContext, observe, own_failure
from .observation import KIND, BudgetCheck, BudgetObservation

#: Passing budgets listed one by one in the verdict; the rest are summed up in one gate.
MAX_LISTED_PASSES: Final = 100
_peak_key: Final = pytest.StashKey[int | str]()
_bench_key: Final = pytest.StashKey[tuple[bool, list[float] | None, str]]()
_NO_BENCH: Final[tuple[bool, list[float] | None, str]] = (False, None, "")
_WHY: Final = {"skipped": "was skipped", "xfailed": "xfailed", "failed": "failed",
               "errored in setup": "errored in setup"}


def _check(metric: str, subject: str | None, value: float | None, limit: float, source: str,
           note: str = "", measure: str | None = None, traced: str | None = None,
           method: str | None = None) -> BudgetCheck:
    """One checked limit; ``subject`` None: the test itself."""
    return BudgetCheck(metric, value, limit, source, subject, note, measure, traced, method)


def _report_line(c: BudgetCheck) -> str:
    """One line for the failed test report (``c`` is over its limit: it has a value)."""
    metric, value, limit = c.metric, c.value or 0.0, c.limit
    if metric == "seconds":
        return f"call took {fmt.limit(metric, value, limit)}, budget {fmt.limit(metric, limit)}"
    if metric == "memory_mb":
        return f"call peaked at {fmt.limit(metric, value)} above its start, budget {fmt.limit(metric, limit)}"
    what = f"perf {c.measure!r}" if c.measure else "benchmark"
    return f"{what} {metric} {fmt.limit(metric, value, limit)}, budget {fmt.limit(metric, limit)}"


# ------------------------------------------------------------------ pytest-benchmark bridge


def benchmark_data(item: pytest.Item) -> tuple[bool, list[float] | None, str]:
    """(uses pytest-benchmark, its per-round seconds or None, why there are none)."""
    funcargs = getattr(item, "funcargs", None)
    fixture = funcargs.get("benchmark") if funcargs else None
    if fixture is None or not type(fixture).__module__.startswith("pytest_benchmark"):
        return False, None, ""
    if getattr(fixture, "disabled", False):
        return True, None, "pytest-benchmark is disabled (--benchmark-disable): no samples"
    data = getattr(getattr(getattr(fixture, "stats", None), "stats", None), "data", None)
    if not data:
        return True, None, "the benchmark fixture recorded no rounds"
    return True, [float(x) for x in data], ""


# ------------------------------------------------------------------ the gate




@final
class MemoryBracket:
    """Measures the peak memory of the call of tests with a ``memory_mb`` budget.

    A ``pytest_runtest_call`` wrapper costs a generator on every test, so the
    budget gate registers this only when a test with a memory budget is about
    to run (most suites have none).
    """

    __slots__ = ()

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, object, object]:
        res = item.stash[resolved_key] if resolved_key in item.stash else NONE  # noqa: SIM401 (a miss raises)
        if "memory_mb" not in res.limits:
            return (yield)
        tracker = memory.tracker()
        try:
            tracker.start()
        except OSError as exc:
            item.stash[_peak_key] = f"memory could not be measured ({tracker.method}: {exc})"
            return (yield)
        try:
            return (yield)
        finally:
            try:
                item.stash[_peak_key] = tracker.stop()
            except OSError as exc:
                item.stash[_peak_key] = f"memory could not be measured ({tracker.method}: {exc})"


MEMORY_PLUGIN: Final = "release-gates-budget-memory"


@final
class Gate:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.warn_fraction = settings.warn_fraction
        self._bracket: MemoryBracket | None = None
        #: Without a ``[budgets]`` table only a ``budget`` marker gives a test limits (pertest.py).
        self.setup_markers: frozenset[str] | None = None if settings.budgets else frozenset({"budget"})

    def on_setup(self, item: pytest.Item, marked: AbstractSet[str]) -> None:
        res = resolve(item, self.settings, marked)
        if res.error:
            pytest.fail(res.error, pytrace=False)
        if self._bracket is None and "memory_mb" in res.limits:
            # Registered before this test's call phase, and from then on; pluggy picks it up at once.
            self._bracket = MemoryBracket()
            item.config.pluginmanager.register(self._bracket, MEMORY_PLUGIN)

    def on_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> None:
        # pytest-benchmark's rounds are read here: with pytest-rerunfailures the report is logged
        # only after the test's teardown, when pytest has dropped the test's fixtures.
        if call.when == "call":
            funcargs = getattr(item, "funcargs", None)
            if funcargs and "benchmark" in funcargs:
                item.stash[_bench_key] = benchmark_data(item)

    def on_report(self, item: pytest.Item, report: pytest.TestReport) -> None:
        if report.when == "call":
            self._after_call(item, report)
        elif report.when == "setup" and not report.passed:
            res = resolve(item, self.settings)  # a skip mark may have stopped setup before our hook ran
            if res.limits:
                why = "errored in setup" if report.failed else "skipped"
                observe(item, KIND, BudgetObservation(False, res.limits, why).to_json())

    def _after_call(self, item: pytest.Item, report: pytest.TestReport) -> None:
        # Not stash.get: a test without a budget marker may have no entry (setup_markers), and a miss raises.
        res = item.stash[resolved_key] if resolved_key in item.stash else NONE  # noqa: SIM401
        measured = perf.measurements(item)
        # Not stash.get: for the many tests without pytest-benchmark, its miss raises and catches a KeyError.
        uses_bench, bench, bench_why = item.stash[_bench_key] if _bench_key in item.stash else _NO_BENCH  # noqa: SIM401
        if bench:
            metrics.observe_metric(item, "benchmark", bench, sampled=True, source="benchmark",
                                   traced=tracing.benchmark_state())
        limits = res.limits
        if not limits and not any(m.limits for m in measured):
            return
        if not report.passed:
            why = "xfailed" if report.skipped and hasattr(report, "wasxfail") else \
                "skipped" if report.skipped else "failed"
            observe(item, KIND, BudgetObservation(False, limits, why).to_json())
            return
        checks = self._checks(item, report, res, measured, uses_bench, bench, bench_why)
        # An overrun measured under a tracer (coverage) is not the code's: it warns, never fails the report.
        over = [c for c in checks if c.over]
        if over:
            report.outcome = "failed"
            report.longrepr = "; ".join(_report_line(c) for c in over)
            own_failure(item, KIND)
        observe(item, KIND, BudgetObservation.checked_json(limits, checks, res.overrides))

    def _checks(self, item: pytest.Item, report: pytest.TestReport, res: Resolved,
                measured: list[perf.Measurement], uses_bench: bool, bench: list[float] | None,
                bench_why: str) -> list[BudgetCheck]:
        nodeid, limits, sources = item.nodeid, res.limits, res.sources
        checks: list[BudgetCheck] = []
        if "seconds" in limits:  # the traced test itself: what traces it is recorded with the value
            checks.append(_check("seconds", None, report.duration, limits["seconds"], sources["seconds"],
                                 traced=tracing.state(item)))
        if "memory_mb" in limits:
            peak = item.stash.get(_peak_key, "memory was not measured")
            if isinstance(peak, int):
                checks.append(_check("memory_mb", None, peak / memory.MB, limits["memory_mb"], sources["memory_mb"],
                                     method=memory.default_method()))
            else:
                checks.append(_check("memory_mb", None, None, limits["memory_mb"], sources["memory_mb"], peak))
        wanted = [k for k in PERCENTILES if k in limits]
        for m in measured:
            subject = f"{nodeid}::{m.name}"
            for key in perf.LIMITS:
                if key in m.limits:
                    checks.append(_check(key, subject, getattr(m.stats, key), m.limits[key], "perf.measure",
                                         measure=m.name, traced=m.traced))
                elif key in wanted and m.counter != perf.TIME:  # instructions: a seconds limit means nothing
                    checks.append(_check(key, subject, None, limits[key], sources[key],
                                         "counted in instructions (counter='instructions'), not timed", m.name))
                elif key in wanted:
                    checks.append(_check(key, subject, getattr(m.stats, key), limits[key], sources[key],
                                         measure=m.name, traced=m.traced))
        if wanted and uses_bench:
            subject = f"{nodeid}::benchmark"
            if bench:
                ordered = sorted(bench)
                traced = tracing.benchmark_state()
                for key in wanted:
                    value = perf.percentile(ordered, float(key[1:]))
                    checks.append(_check(key, subject, value, limits[key], sources[key], traced=traced))
            else:
                checks.extend(_check(k, subject, None, limits[k], sources[k], bench_why) for k in wanted)
        elif wanted and not measured:
            active = item.config.pluginmanager.has_plugin("benchmark")
            why = "no perf.measure or benchmark samples in this test" + (
                "" if active else " (pytest-benchmark is not active)")
            checks.extend(_check(k, None, None, limits[k], sources[k], why) for k in wanted)
        return checks

    # -------------------------------------------------------------- controller

    def pytest_release_gates_collect(self, context: GateContext) -> Iterable[GateResult]:
        latest: dict[str, BudgetObservation] = {}
        for obs in context.observations(KIND):
            latest[obs.nodeid] = BudgetObservation.from_json(obs.data)  # a rerun replaces the earlier attempt
        timed_out = {o.nodeid for o in context.observations("timeout")}
        verbose = int(context.config.getoption("verbose", 0)) > 0
        passed: list[tuple[float, str, BudgetCheck, BudgetObservation]] = []
        for nodeid, data in latest.items():
            if not data.checked:
                why = "timed out" if nodeid in timed_out else _WHY.get(data.why, "did not pass")
                limits = ", ".join(f"{k} {fmt.limit(k, v)}" for k, v in data.limits.items())
                yield GateResult(BUDGET, nodeid, Status.WARN, Level.HOLD,
                                 f"budget not checked: the test {why}" + (f" ({limits})" if limits else ""))
                continue
            for c in data.checks:
                if c.value is not None and c.value < self.warn_fraction * c.limit:
                    passed.append((c.value / c.limit, nodeid, c, data))
                else:
                    yield self._result(nodeid, c, data)
            if verbose:
                context.messages.extend(f"{nodeid}: {line}" for line in data.overrides)
        yield from self._passes(passed)
        yield from self._unmatched(context)

    def _passes(self, passed: list[tuple[float, str, BudgetCheck, BudgetObservation]],
                ) -> Iterable[GateResult]:
        """Met budgets: each one up to ``MAX_LISTED_PASSES`` (closest to its limit first), then one summary.

        A 5,000-test suite with a budget on every test would otherwise write
        5,000 pass entries into every verdict; failing and warning budgets
        are always listed one by one.
        """
        passed.sort(key=lambda p: (-p[0], p[1]))
        for _ratio, nodeid, c, data in passed[:MAX_LISTED_PASSES]:
            yield self._result(nodeid, c, data)
        rest = passed[MAX_LISTED_PASSES:]
        if rest:
            yield GateResult(BUDGET, "", Status.PASS, Level.HOLD,
                             f"{len(rest)} more budgets met, each within {fmt.fmt_ratio(rest[0][0])} of its limit",
                             extra={"budgets_met": len(rest)})

    def _result(self, nodeid: str, c: BudgetCheck, data: BudgetObservation) -> GateResult:
        metric, value, limit = c.metric, c.value, c.limit
        extra: dict[str, object] = {"unit": fmt.LIMIT_UNITS.get(metric, "s"), "source": c.source}
        if c.method:
            extra["method"] = c.method
        if c.measure:
            extra["measure"] = c.measure
        traced = c.traced
        if traced:
            extra["traced"] = traced
        overrides = [o for o in data.overrides if o.startswith(f"{metric}:")]
        if overrides:
            extra["overrides"] = overrides[0].split(" overrides ", 1)[1]
        subject = c.subject or nodeid
        label = "took" if metric == "seconds" else "peak memory" if metric == "memory_mb" else metric
        if value is None:
            return GateResult(BUDGET, subject, Status.WARN, Level.HOLD,
                              f"{label} not checked, budget {fmt.limit(metric, limit)}: {c.note or 'no data'}",
                              metric=metric, limit=limit, extra=extra)
        ratio = value / limit
        text = f"{label} {fmt.limit(metric, value, limit)}, budget {fmt.limit(metric, limit)} ({fmt.fmt_ratio(ratio)})"
        if value > limit and traced:
            status = Status.WARN
            text = (f"measured under {tracing.describe(traced)}: {text}: a tracer slows the code it times, so "
                    "an overrun only warns (run without it to check the budget)")
        elif value > limit:
            status = Status.FAIL
        elif value >= self.warn_fraction * limit:
            status, text = Status.WARN, f"close to budget: {text}"
        else:
            status = Status.PASS
        return GateResult(BUDGET, subject, status, Level.HOLD, text, metric=metric, value=value, limit=limit,
                          extra=extra)

    def _unmatched(self, context: GateContext) -> Iterable[GateResult]:
        """A ``[budgets]`` key that matches no test is a typo until proven otherwise."""
        if not self.settings.budgets or context.partial is not None:
            return
        table = config_budgets(context.config, self.settings)
        where = self.settings.describe("budgets")
        for key in table.unmatched(context.records):
            yield GateResult(BUDGET, key, Status.WARN, Level.HOLD,
                             f"{where}: key matches no collected test, so it checks nothing (a typo?)",
                             extra={"config_key": key})
