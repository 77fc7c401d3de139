"""The ``perf`` fixture: repeated timing of a callable, with percentile budgets.

How it measures (the choices pyperf and ``timeit`` make):

* ``warmup`` untimed calls first, so caches, lazy imports and specialised
  bytecode are in place before anything is timed;
* the garbage collector is *disabled* during the timed rounds and re-enabled
  afterwards only if it was enabled before (``timeit``'s choice), so a
  collection triggered by garbage from elsewhere does not land in a random
  round. No ``gc.collect()`` first: with collection off no round can pay for
  it anyway, and inside a test process a full collection costs milliseconds;
* each round is timed on its own with ``time.perf_counter_ns`` (integer
  nanoseconds, no float drift), samples are reported in seconds;
* under ``--release-gate`` the rounds are *spread* over at least
  ``perf_spread_seconds`` (default 1 s) in up to 100 short bursts with pauses
  between them; a burst that follows a pause starts with one untimed call
  (none with ``warmup=0``). A shared machine's speed
  swings from one fraction of a second to the next; 100 back-to-back rounds
  of a fast function land in one fast or slow stretch and the baseline
  compares two such stretches. Spread out, a measurement samples many of them
  (``benchmarks/regression_accuracy.py`` measures the difference). Rounds
  that take longer than the span on their own are never paused. A test
  whose own wall time is gated (a ``seconds`` budget, the ``regression``
  marker) is measured back to back, so pauses never count against it (and
  under a pytest-timeout limit the span is at most a tenth of it); so
  is every measurement under ``--gate-compare-ref`` (without
  ``--gate-update-baseline``): the A/B's interleaved rounds, in their own
  processes, are what gets compared.

* under ``--release-gate`` each burst also times a fixed *reference* (a
  short pure-Python loop, ``calibration.time_reference``) before its rounds,
  and the CPU time of its rounds, unless ``perf_calibration = false``. The
  tracked metric's samples are then each round's time adjusted to the
  measurement's median machine speed, and the metric carries the median
  reference time and the CPU fraction, so the regression gate can compare
  two measurements taken at different machine speeds (``calibration.py``).
  Budgets (``p95=`` and the rest) always see the raw times.

* under a tracer (``--cov``: coverage.py's tracer makes pure-Python code several
  times slower) the first warmup call runs traced, so the function's lines
  count as covered, and everything after it, reference included, runs with
  the tracer paused (``tracing.Pause``); with ``warmup=0`` there is no untimed
  call to trace, so nothing is paused and the samples say what traced them.

With ``counter="instructions"`` (or config ``perf_counter``) under
``--release-gate`` the function is not timed: its instructions per call are
counted in a separate process under Valgrind (``measure/instructions.py``),
and the stats are instruction counts; without ``--release-gate`` it is timed
as usual, so the test runs anywhere.

Percentiles use linear interpolation between closest ranks (Hyndman & Fan
type 7: numpy's default and ``statistics.quantiles(method="inclusive")``), so
``p50`` equals ``median`` and every percentile lies between ``min`` and ``max``.

Limits passed to :meth:`Perf.measure` (``p50``, ``p95``, ``p99``, ``max``) become
``budget`` gates under ``--release-gate``; without it they are inert, like the
``budget`` marker. The samples are published as a tracked metric (for the
regression gate) under the measurement's name.

This module is the fixture and its policy (span, counter, limits, what is
published); the timing loop is ``measure/timing.py``, the statistics
``measure/stats.py``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, NoReturn, final

import pytest

from . import calibration, limits, metrics, tracing
from .measure import timing
from .measure.stats import TIME, PerfStats, percentile
from .measure.timing import MAX_BURSTS
from .session import SESSION_KEY

__all__ = [
    "COUNTERS",
    "INSTRUCTIONS",
    "LIMITS",
    "MAX_BURSTS",
    "TIME",
    "Measurement",
    "Perf",
    "PerfStats",
    "measurements",
    "percentile",
]

#: Limits ``measure`` accepts, in the order they are reported.
LIMITS: Final = ("p50", "p95", "p99", "max")
#: What ``measure`` can count (``counter=``, config ``perf_counter``).
INSTRUCTIONS: Final = "instructions"
COUNTERS: Final = (TIME, INSTRUCTIONS)
#: The timing loop, looked up here at each measurement: the A/B probe replaces it (``gates/ab/probe.py``).
_run = timing.run


@final
@dataclass(frozen=True, slots=True)
class Measurement:
    """What the budget gate needs from one measure call (kept on the item)."""

    name: str
    stats: PerfStats
    limits: dict[str, float]
    traced: str | None = None  # tools that still traced the rounds (``tracing.Pause``); None: none did
    counter: str = TIME  # "instructions": the stats are counts, seconds limits do not apply


_measurements_key: Final = pytest.StashKey[list[Measurement]]()
_NO_MEASUREMENTS: Final[list[Measurement]] = []  # shared, never appended to


def measurements(item: pytest.Item) -> list[Measurement]:
    """The ``perf.measure`` results of this test so far (empty when it used none)."""
    # Not stash.get: for the many tests without perf.measure, its miss raises and catches a KeyError.
    return item.stash[_measurements_key] if _measurements_key in item.stash else _NO_MEASUREMENTS  # noqa: SIM401


def _fail(item: pytest.Item, what: str) -> NoReturn:
    """A one-line test failure naming the test (no traceback into this module)."""
    pytest.fail(f"invalid perf.measure in {item.nodeid}: {what}", pytrace=False)


def _limit(item: pytest.Item, key: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(item, f"{key} must be a number of seconds, got {value!r}")
    x = float(value)
    if not math.isfinite(x) or x <= 0:
        _fail(item, f"{key} must be a positive, finite number of seconds, got {value!r}")
    return x


@final
class Perf:
    """The object behind the ``perf`` fixture (one per test)."""

    __slots__ = ("_item",)

    def __init__(self, item: pytest.Item) -> None:
        self._item = item

    def measure(
        self,
        func: Callable[..., Any],
        *args: Any,
        rounds: int = 100,
        warmup: int = 5,
        name: str | None = None,
        p50: float | None = None,
        p95: float | None = None,
        p99: float | None = None,
        max: float | None = None,  # SPEC names it so; shadows the builtin only here
        counter: str | None = None,
        **kwargs: Any,
    ) -> PerfStats:
        """Call ``func(*args, **kwargs)`` ``warmup`` times untimed, then ``rounds`` times timed (or counted)."""
        item = self._item
        if not callable(func):
            _fail(item, f"func must be callable, got {type(func).__name__} {func!r}")
        if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
            _fail(item, f"rounds must be a whole number of at least 1, got {rounds!r}")
        if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
            _fail(item, f"warmup must be a whole number of at least 0, got {warmup!r}")
        if name is None:
            name = getattr(func, "__name__", None) or type(func).__name__
        elif not isinstance(name, str) or not name:
            _fail(item, f"name must be a non-empty string, got {name!r}")
        given = {"p50": p50, "p95": p95, "p99": p99, "max": max}
        limits = {k: v for k, v in ((k, _limit(item, k, v)) for k, v in given.items()) if v is not None}
        done = item.stash.setdefault(_measurements_key, [])
        if any(m.name == name for m in done):
            _fail(item, f"the name {name!r} is measured twice in this test; give each call its own name=")

        state = item.config.stash.get(SESSION_KEY, None)  # only --release-gate keeps data
        if _counter(item, counter, state, limits) == INSTRUCTIONS:
            from .measure import instructions

            try:  # checked with or without --release-gate: such a call can never be counted
                call: bytes | str = instructions.prepare(
                    func, args, kwargs, importlib_mode=str(item.config.getoption("importmode", "")) == "importlib")
            except instructions.NotCountable as exc:
                call = str(exc)
            if isinstance(call, str):  # failed outside the except block: one line, no chained traceback
                _fail(item, f"counter='instructions': {call}")
            cache = item.config.stash.get(instructions.PROBE_CACHE_KEY, None)
            if state is not None or cache is not None:
                return _count(item, name, call, rounds, warmup, done, state is not None, cache,
                              lambda: _run(func, args, kwargs, rounds, warmup))
        recorder = calibration.Recorder() if state is not None and state.settings.perf_calibration else None
        span = _span(item)
        pause = tracing.Pause()
        if pause.can_pause and warmup:  # a tracer (coverage): the first untimed call runs traced, the rest not
            func(*args, **kwargs)  # so the function's lines count as covered
            with pause:
                samples = _run(func, args, kwargs, rounds, warmup, span=span, calibrate=recorder, warmed=1)
            traced = pause.traced
        else:  # nothing to pause, or warmup=0: no untimed call to trace, so the rounds run traced
            samples = _run(func, args, kwargs, rounds, warmup, span=span, calibrate=recorder)
            traced = tracing.join(pause.traced, pause.pausable)
        stats = PerfStats.from_samples(name, samples)
        done.append(Measurement(name, stats, limits, traced))
        if state is not None:
            calibrated = recorder.result(samples) if recorder is not None else None
            if calibrated is not None:
                metrics.observe_metric(item, name, calibrated[0], sampled=True, source="perf",
                                       calibration=calibrated[1], traced=traced)
            else:
                metrics.observe_metric(item, name, samples, sampled=True, source="perf", traced=traced)
        return stats


def _counter(item: pytest.Item, given: Any, state: Any, limits: dict[str, float]) -> str:
    """The counter of this measurement: the argument, else config ``perf_counter`` (under --release-gate)."""
    if given is not None and given not in COUNTERS:
        _fail(item, f"counter must be one of {', '.join(repr(c) for c in COUNTERS)}, got {given!r}")
    counter = given or (state.settings.perf_counter if state is not None else TIME)
    if counter == INSTRUCTIONS and limits:
        names = ", ".join(f"{k}=" for k in limits)
        why = "" if given else f" ({state.settings.describe('perf_counter')} = 'instructions')"
        _fail(item, f"{names} {'is a limit' if len(limits) == 1 else 'are limits'} in seconds, and this "
                    f"measurement counts instructions{why}: drop the limit (the regression gate compares counts "
                    "with the baseline) or time this measurement with counter='time'")
    return str(counter)


def _count(item: pytest.Item, name: str, call: bytes, rounds: int, warmup: int, done: list[Measurement],
           gate: bool, cache: dict[Any, Any] | None, timed: Callable[[], list[float]]) -> PerfStats:
    """Count instructions per call under Valgrind; without it, time as usual and file the metric as not measured
    (under --release-gate its regression gate then holds, saying how to get Valgrind)."""
    from .measure import instructions  # on use: ~13 ms (-X importtime), only instruction counting needs it

    why = instructions.unavailable()
    if why is not None:
        if not gate:  # the A/B probe: this side cannot be counted, so the test cannot be compared
            _fail(item, f"{name!r} not counted: {why}")
        stats = PerfStats.from_samples(name, timed())
        done.append(Measurement(name, stats, {}))
        metrics.observe_unmeasured(item, name, why, unit=INSTRUCTIONS)
        return stats
    key = (item.nodeid, name)
    counted = cache.get(key) if cache is not None else None
    if counted is None:
        try:
            rename = item.config.stash.get(instructions.PROBE_PATH_MAP_KEY, ())
            counted = instructions.count(call, calls=rounds, warmup=warmup, cwd=os.getcwd(),
                                         path=instructions.child_path(sys.path, rename))
        except instructions.CountFailed as exc:
            failed = str(exc)
        else:
            failed = ""
        if counted is None:
            _fail(item, f"counter='instructions': {failed}")
        if cache is not None:
            cache[key] = counted
    stats = dataclasses.replace(PerfStats.from_samples(name, counted.per_call), rounds=rounds, counter=INSTRUCTIONS)
    done.append(Measurement(name, stats, {}, counter=INSTRUCTIONS))
    if gate:
        metrics.observe_metric(item, name, counted.per_call, sampled=True, source="perf", unit=INSTRUCTIONS,
                               count_env=instructions.environment())
    return stats


def _span(item: pytest.Item) -> float:
    """Seconds to spread this measurement over: 0 (back to back) without ``--release-gate``, under the
    A/B (its interleaved rounds measure instead) unless it also updates the baseline, and in a test
    whose call-phase wall time is itself gated; at most a tenth of a pytest-timeout limit."""
    state = item.config.stash.get(SESSION_KEY, None)
    if state is None:
        return 0.0
    settings = state.settings
    if settings.perf_spread_seconds <= 0:
        return 0.0
    if (settings.compare_ref or settings.compare.ref) and not settings.update_baseline:
        return 0.0
    if item.get_closest_marker("regression") is not None:
        return 0.0
    if "seconds" in limits.resolve(item, settings).limits:  # resolved at setup, cached on the item
        return 0.0
    limit = limits.item_timeout(item)  # pytest-timeout's limit: stay well inside it
    return settings.perf_spread_seconds if limit is None else min(settings.perf_spread_seconds, limit / 10)

