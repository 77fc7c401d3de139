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

import math
import re
from collections.abc import Generator, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, Final, final

import pytest

from ... import memory, metrics, perf, tracing, units
from ...config import Settings
from ...model import BUDGET, GateResult, Level, Status
from ...session import GateContext, observe, own_failure

KIND: Final = "budget"
LIMIT_KEYS: Final = ("seconds", "memory_mb", "p50", "p95", "p99")
PERCENTILES: Final = ("p50", "p95", "p99")
_UNITS: Final = {"seconds": "s", "memory_mb": "MB"}
#: Passing budgets listed one by one in the verdict; the rest are summed up in one gate.
MAX_LISTED_PASSES: Final = 100
_WHY: Final = {"skipped": "was skipped", "xfailed": "xfailed", "failed": "failed",
               "errored in setup": "errored in setup"}


def budget(
    seconds: float | None = None,
    *,
    memory_mb: float | None = None,
    p50: float | None = None,
    p95: float | None = None,
    p99: float | None = None,
) -> dict[str, float]:
    """Signature of the ``budget`` marker: Python itself rejects unknown keywords."""
    given = {"seconds": seconds, "memory_mb": memory_mb, "p50": p50, "p95": p95, "p99": p99}
    out: dict[str, float] = {}
    for key, value in given.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{key} must be a number, got {value!r}")
        x = float(value)
        if not math.isfinite(x) or x <= 0:
            raise ValueError(f"{key} must be a positive, finite number, got {value!r}")
        out[key] = x
    if not out:
        raise ValueError(f"give at least one limit ({', '.join(LIMIT_KEYS)})")
    return out


# ------------------------------------------------------------------ resolution


def _glob(pattern: str) -> re.Pattern[str]:
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
    return re.compile("".join(parts) + r"\Z", re.DOTALL)


def is_glob(key: str) -> bool:
    return "*" in key or "?" in key


@final
class ConfigBudgets:
    """The ``[budgets]`` table, ready to match node ids."""

    __slots__ = ("exact", "globs")

    def __init__(self, table: Mapping[str, Mapping[str, float]]) -> None:
        self.exact: dict[str, Mapping[str, float]] = {}
        self.globs: list[tuple[str, re.Pattern[str], Mapping[str, float]]] = []
        for key, limits in table.items():
            if is_glob(key):
                self.globs.append((key, _glob(key), limits))
            else:
                self.exact[key] = limits

    def match(self, nodeid: str) -> tuple[str, Mapping[str, float]] | None:
        limits = self.exact.get(nodeid)
        if limits is not None:
            return nodeid, limits
        for key, rx, limits in self.globs:
            if rx.match(nodeid):
                return key, limits
        return None

    def unmatched(self, nodeids: Iterable[str]) -> list[str]:
        """Keys that match none of ``nodeids`` (in file order)."""
        ids = list(nodeids)
        known = set(ids)
        missing = [k for k in self.exact if k not in known]
        missing += [k for k, rx, _ in self.globs if not any(rx.match(n) for n in ids)]
        order = {k: i for i, k in enumerate([*self.exact, *(g[0] for g in self.globs)])}
        return sorted(missing, key=order.__getitem__)


@final
@dataclass(frozen=True, slots=True)
class Resolved:
    """The budget of one test: its limits, where each came from, and what the marker overrode."""

    limits: dict[str, float] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    overrides: tuple[str, ...] = ()
    error: str | None = None


_NONE: Final = Resolved()
_resolved_key: Final = pytest.StashKey[Resolved]()
_config_key: Final = pytest.StashKey[ConfigBudgets]()
_peak_key: Final = pytest.StashKey[int | str]()
_shared_key: Final = pytest.StashKey[dict[Any, Resolved]]()
_bench_key: Final = pytest.StashKey[tuple[bool, list[float] | None, str]]()
_NO_BENCH: Final[tuple[bool, list[float] | None, str]] = (False, None, "")


def config_budgets(config: pytest.Config, settings: Settings) -> ConfigBudgets:
    table = config.stash.get(_config_key, None)
    if table is None:
        table = config.stash[_config_key] = ConfigBudgets(settings.budgets)
    return table


def resolve(item: pytest.Item, settings: Settings, marked: AbstractSet[str] | None = None) -> Resolved:
    """This test's budget (cached on the item): marker limits over config limits.

    ``marked``, when given, names the markers the test carries: no ``budget`` in it spares the lookup.
    """
    if _resolved_key in item.stash:  # not stash.get: a miss raises and catches a KeyError, every test
        return item.stash[_resolved_key]
    table = config_budgets(item.config, settings)
    found = table.match(item.nodeid) if (table.exact or table.globs) else None
    marker = item.get_closest_marker("budget") if marked is None or "budget" in marked else None
    if found is None and marker is None:
        item.stash[_resolved_key] = _NONE
        return _NONE
    # Tests with the same marker and config entry share one (immutable) Resolved: a suite with a
    # budget on every test then allocates per distinct budget, not per test.
    shared = item.config.stash.setdefault(_shared_key, {})
    try:
        cache_key: Any = (found[0] if found else None, marker.args if marker else None,
                          tuple(sorted(marker.kwargs.items())) if marker and marker.kwargs else None)
        res = shared.get(cache_key)
    except TypeError:  # unhashable marker arguments: resolve this one on its own
        cache_key, res = None, None
    if res is None:
        res = _resolve(item, found, marker)
        if cache_key is not None and res.error is None:
            shared[cache_key] = res
    item.stash[_resolved_key] = res
    return res


def _resolve(item: pytest.Item, found: tuple[str, Mapping[str, float]] | None, marker: pytest.Mark | None,
             ) -> Resolved:
    limits: dict[str, float] = {}
    sources: dict[str, str] = {}
    overrides: list[str] = []
    if found is not None:
        key, cfg = found
        limits.update(cfg)
        sources.update(dict.fromkeys(cfg, f"[budgets] {key!r}"))
    if marker is not None:
        try:
            mine = budget(*marker.args, **marker.kwargs)
        except (TypeError, ValueError) as exc:
            return Resolved(error=f"invalid @pytest.mark.budget on {item.nodeid}: {exc}")
        for k, v in mine.items():
            if k in limits:
                overrides.append(f"{k}: marker {_fmt(k, v)} overrides {sources[k]} {_fmt(k, limits[k])}")
            limits[k] = v
            sources[k] = "marker"
    return Resolved(limits, sources, tuple(overrides))


# ------------------------------------------------------------------ formatting


def _three(x: float) -> str:
    """Three significant digits, never an exponent."""
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def fmt_seconds(v: float, like: float | None = None) -> str:
    """Seconds in a readable unit: the unit ``like`` (a limit) would get, so value and limit compare at a glance."""
    scale, unit = units.time_unit(v if like is None else like, smallest_in_s=0.1)
    return f"{v:.2f} s" if unit == "s" else f"{_three(v * scale)} {unit}"


def fmt_wall(v: float, like: float | None = None) -> str:
    """Wall time always in seconds (as SPEC writes ``took 1.42 s, budget 1.00 s``), with enough decimals
    for two significant digits of ``like`` (a limit): ``0.050 s``."""
    ref = v if like is None else like
    decimals = 2 if ref >= 0.1 or ref <= 0 else min(9, 1 - math.floor(math.log10(ref)))
    if like is not None and 0 < v < 0.1:  # far under its limit: one significant digit, never "0.00 s"
        decimals = max(decimals, min(9, -math.floor(math.log10(v))))
    return f"{v:.{decimals}f} s"


def _fmt(metric: str, v: float, like: float | None = None) -> str:
    if metric == "memory_mb":
        return f"{v:.1f} MB"
    return fmt_wall(v, like) if metric == "seconds" else fmt_seconds(v, like)


fmt_ratio: Final = units.fmt_ratio


def _check(metric: str, subject: str | None, value: float | None, limit: float, source: str,
           note: str = "", measure: str | None = None, traced: str | None = None) -> dict[str, Any]:
    """One checked limit, as shipped to the controller (plain JSON, compact: one per budgeted test).

    ``traced``: the tracers (coverage) the value was measured under; an overrun then only warns.
    """
    check: dict[str, Any] = {"metric": metric, "value": value, "limit": limit, "source": source}
    if subject is not None:  # None: the test itself
        check["subject"] = subject
    if note:
        check["note"] = note
    if measure is not None:
        check["measure"] = measure
    if traced:
        check["traced"] = traced
    return check


def _report_line(c: dict[str, Any]) -> str:
    """One line for the failed test report."""
    metric, value, limit = c["metric"], c["value"], c["limit"]
    if metric == "seconds":
        return f"call took {_fmt(metric, value, limit)}, budget {_fmt(metric, limit)}"
    if metric == "memory_mb":
        return f"call peaked at {_fmt(metric, value)} above its start, budget {_fmt(metric, limit)}"
    what = f"perf {c['measure']!r}" if c.get("measure") else "benchmark"
    return f"{what} {metric} {_fmt(metric, value, limit)}, budget {_fmt(metric, limit)}"


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
        res = item.stash.get(_resolved_key, _NONE)  # set at setup: a hit
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
                observe(item, KIND, {"checked": False, "why": why, "limits": res.limits})

    def _after_call(self, item: pytest.Item, report: pytest.TestReport) -> None:
        res = item.stash.get(_resolved_key, _NONE)
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
            observe(item, KIND, {"checked": False, "why": why, "limits": limits})
            return
        checks = self._checks(item, report, res, measured, uses_bench, bench, bench_why)
        # An overrun measured under a tracer (coverage) is not the code's: it warns, never fails the report.
        over = [c for c in checks if c["value"] is not None and c["value"] > c["limit"] and not c.get("traced")]
        if over:
            report.outcome = "failed"
            report.longrepr = "; ".join(_report_line(c) for c in over)
            own_failure(item, KIND)
        data: dict[str, Any] = {"checked": True, "checks": checks, "limits": limits}
        if res.overrides:
            data["overrides"] = res.overrides
        observe(item, KIND, data)

    def _checks(self, item: pytest.Item, report: pytest.TestReport, res: Resolved,
                measured: list[perf.Measurement], uses_bench: bool, bench: list[float] | None,
                bench_why: str) -> list[dict[str, Any]]:
        nodeid, limits, sources = item.nodeid, res.limits, res.sources
        checks: list[dict[str, Any]] = []
        if "seconds" in limits:  # the traced test itself: what traces it is recorded with the value
            checks.append(_check("seconds", None, report.duration, limits["seconds"], sources["seconds"],
                                 traced=tracing.state(item)))
        if "memory_mb" in limits:
            peak = item.stash.get(_peak_key, "memory was not measured")
            if isinstance(peak, int):
                check = _check("memory_mb", None, peak / memory.MB, limits["memory_mb"], sources["memory_mb"])
                check["method"] = memory.default_method()
                checks.append(check)
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
        latest: dict[str, dict[str, Any]] = {}
        for obs in context.observations(KIND):
            latest[obs.nodeid] = obs.data  # a rerun replaces the earlier attempt
        timed_out = {o.nodeid for o in context.observations("timeout")}
        verbose = int(context.config.getoption("verbose", 0)) > 0
        passed: list[tuple[float, str, Mapping[str, Any], Mapping[str, Any]]] = []
        for nodeid, data in latest.items():
            if not data.get("checked"):
                why = "timed out" if nodeid in timed_out else _WHY.get(str(data.get("why")), "did not pass")
                limits = ", ".join(f"{k} {_fmt(k, float(v))}" for k, v in dict(data.get("limits", {})).items())
                yield GateResult(BUDGET, nodeid, Status.WARN, Level.HOLD,
                                 f"budget not checked: the test {why}" + (f" ({limits})" if limits else ""))
                continue
            for c in data.get("checks", ()):
                value, limit = c.get("value"), float(c["limit"])
                if value is not None and value < self.warn_fraction * limit:
                    passed.append((value / limit, nodeid, c, data))
                else:
                    yield self._result(nodeid, c, data)
            if verbose:
                context.messages.extend(f"{nodeid}: {line}" for line in data.get("overrides", ()))
        yield from self._passes(passed)
        yield from self._unmatched(context)

    def _passes(self, passed: list[tuple[float, str, Mapping[str, Any], Mapping[str, Any]]],
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
                             f"{len(rest)} more budgets met, each within {fmt_ratio(rest[0][0])} of its limit",
                             extra={"budgets_met": len(rest)})

    def _result(self, nodeid: str, c: Mapping[str, Any], data: Mapping[str, Any]) -> GateResult:
        metric, value, limit = str(c["metric"]), c.get("value"), float(c["limit"])
        extra: dict[str, Any] = {"unit": _UNITS.get(metric, "s"), "source": c.get("source", "")}
        if c.get("method"):
            extra["method"] = c["method"]
        if c.get("measure"):
            extra["measure"] = c["measure"]
        traced = c.get("traced") if isinstance(c.get("traced"), str) else None
        if traced:
            extra["traced"] = traced
        overrides = [o for o in data.get("overrides", ()) if str(o).startswith(f"{metric}:")]
        if overrides:
            extra["overrides"] = overrides[0].split(" overrides ", 1)[1]
        subject = str(c.get("subject") or nodeid)
        label = "took" if metric == "seconds" else "peak memory" if metric == "memory_mb" else metric
        if value is None:
            return GateResult(BUDGET, subject, Status.WARN, Level.HOLD,
                              f"{label} not checked, budget {_fmt(metric, limit)}: {c.get('note', 'no data')}",
                              metric=metric, limit=limit, extra=extra)
        value = float(value)
        ratio = value / limit
        text = f"{label} {_fmt(metric, value, limit)}, budget {_fmt(metric, limit)} ({fmt_ratio(ratio)})"
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
