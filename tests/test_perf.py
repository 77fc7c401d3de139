"""The ``perf`` fixture: measurement, statistics, percentile method, limits as budget gates, bad input."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from conftest import NO_HYPOTHESIS
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_release_gates.perf import PerfStats, percentile

RunGate = Callable[..., Any]

samples_st = st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False),
                      min_size=1, max_size=300)


def reference_percentile(data: Sequence[float], q: float) -> float:
    """Hyndman & Fan type 7, written out independently of the implementation under test."""
    xs = sorted(data)
    if len(xs) == 1:
        return xs[0]
    pos = (len(xs) - 1) * q / 100
    below = int(pos)
    if below + 1 >= len(xs):
        return xs[-1]
    return xs[below] * (1 - (pos - below)) + xs[below + 1] * (pos - below)


@given(samples_st)
@settings(max_examples=300, deadline=None)
def test_percentiles_are_ordered_and_bounded(samples: list[float]) -> None:
    s = PerfStats.from_samples("f", samples)
    assert s.min <= s.p50 <= s.p95 <= s.p99 <= s.max
    assert s.median == s.p50
    assert s.rounds == len(samples)
    assert s.min == min(samples) and s.max == max(samples)
    if len(samples) > 1:
        assert math.isclose(s.stdev, statistics.stdev(samples), rel_tol=1e-7, abs_tol=1e-6)


@given(samples_st, st.sampled_from([0, 1, 5, 25, 50, 75, 90, 95, 99, 99.9, 100]))
@settings(max_examples=300, deadline=None)
def test_percentile_matches_reference(samples: list[float], q: float) -> None:
    got = percentile(sorted(samples), q)
    assert math.isclose(got, reference_percentile(samples, q), rel_tol=1e-9, abs_tol=1e-9)


@given(st.lists(st.floats(min_value=0, max_value=1e3, allow_nan=False), min_size=2, max_size=200))
@settings(max_examples=200, deadline=None)
def test_percentiles_match_statistics_quantiles_inclusive(samples: list[float]) -> None:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")  # cuts[k - 1] is the k-th percentile
    s = PerfStats.from_samples("f", samples)
    for q, value in ((50, s.p50), (95, s.p95), (99, s.p99)):
        assert math.isclose(value, cuts[q - 1], rel_tol=1e-9, abs_tol=1e-9)
    assert math.isclose(s.median, statistics.median(samples), rel_tol=1e-9, abs_tol=1e-9)


def test_stats_of_known_samples() -> None:
    s = PerfStats.from_samples("f", [4.0, 1.0, 3.0, 2.0, 5.0])
    assert (s.min, s.max, s.mean, s.median, s.rounds) == (1.0, 5.0, 3.0, 3.0, 5)
    assert s.p95 == pytest.approx(4.8)
    assert s.stdev == pytest.approx(statistics.stdev([1, 2, 3, 4, 5]))
    assert PerfStats.from_samples("one", [2.0]).stdev == 0.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_measure_without_release_gate(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_p="""
        import gc

        def test_measure(perf):
            calls = []
            gc_during = []

            def work(x, *, y):
                calls.append((x, y))
                gc_during.append(gc.isenabled())

            stats = perf.measure(work, 1, y=2, rounds=20, warmup=3)
            assert stats.rounds == 20 and len(stats.samples) == 20
            assert len(calls) == 23 and calls[0] == (1, 2)
            assert gc_during[:3] == [True] * 3 and gc_during[3:] == [False] * 20  # off only while timed
            assert gc.isenabled()
            for attr in ("min", "max", "mean", "median", "p50", "p95", "p99", "stdev"):
                assert isinstance(getattr(stats, attr), float)
            assert 0 < stats.min <= stats.p50 <= stats.p99 <= stats.max < 1
            other = perf.measure(len, "abc", rounds=5, warmup=0, p95=1e-12)  # limits are inert here
            assert other.name == "len"

        def test_gc_stays_off_if_it_was(perf):
            gc.disable()
            try:
                perf.measure(len, "x", rounds=3)
                assert not gc.isenabled()
            finally:
                gc.enable()
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *NO_HYPOTHESIS)
    result.assert_outcomes(passed=2)
    assert not (pytester.path / ".release-gates").exists()


def test_limits_become_budget_gates_and_samples_a_metric(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    pytester.makeconftest("""
        import json
        from pytest_release_gates import metrics

        def pytest_release_gates_collect(context):
            rows = [{"key": m.key, "n": len(m.values), "sampled": m.sampled, "source": m.source}
                    for m in metrics.collect(context)]
            (context.rootdir / "metrics.json").write_text(json.dumps(rows))
            return []
    """)
    pytester.makepyfile(test_p="""
        def test_two_measures(perf):
            perf.measure(sum, range(100), rounds=30, name="sum100", p50=10, p95=10, p99=10, max=10)
            perf.measure(sorted, [3, 1, 2], rounds=40, max=1e-12)
    """)
    run = run_gate("-p", "no:benchmark")
    gates = {(g["subject"], g["metric"]): g for g in run.gates("budget")}
    for p in ("p50", "p95", "p99", "max"):
        assert gates[("test_p.py::test_two_measures::sum100", p)]["status"] == "pass"
        assert gates[("test_p.py::test_two_measures::sum100", p)]["limit"] == 10
    over = gates[("test_p.py::test_two_measures::sorted", "max")]
    assert over["status"] == "fail" and over["level"] == "hold" and over["measure"] == "sorted"
    assert run.level == "hold"
    run.result.stdout.fnmatch_lines(["FAILED test_p.py::test_two_measures - perf 'sorted' max *"])
    rows = {r["key"]: r for r in json.loads((pytester.path / "metrics.json").read_text())}
    assert rows["test_p.py::test_two_measures::sum100"] == {
        "key": "test_p.py::test_two_measures::sum100", "n": 30, "sampled": True, "source": "perf"}
    assert rows["test_p.py::test_two_measures::sorted"]["n"] == 40


@pytest.mark.parametrize(("call", "message"), [
    ("perf.measure(len, 'x', rounds=0)", "rounds must be a whole number of at least 1, got 0"),
    ("perf.measure(len, 'x', rounds=2.5)", "rounds must be a whole number of at least 1, got 2.5"),
    ("perf.measure(len, 'x', warmup=-1)", "warmup must be a whole number of at least 0, got -1"),
    ("perf.measure(42)", "func must be callable, got int 42"),
    ("perf.measure(len, 'x', p95=-1)", "p95 must be a positive, finite number of seconds, got -1"),
    ("perf.measure(len, 'x', p50=float('nan'))", "p50 must be a positive, finite number of seconds, got nan"),
    ("perf.measure(len, 'x', max='1')", "max must be a number of seconds, got '1'"),
    ("perf.measure(len, 'x', name='')", "name must be a non-empty string, got ''"),
    ("perf.measure(len, 'x', rounds=2); perf.measure(len, 'y', rounds=2)",
     "the name 'len' is measured twice in this test; give each call its own name="),
])
def test_bad_input_is_one_line_naming_the_test(pytester: pytest.Pytester, call: str, message: str) -> None:
    pytester.makepyfile(test_p=f"def test_bad(perf):\n    {call}\n")
    for args in ([], ["--release-gate"]):
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *NO_HYPOTHESIS, *args)
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines([f"invalid perf.measure in test_p.py::test_bad: {message}"])
        assert "Traceback" not in result.stdout.str() and "perf.py" not in result.stdout.str()


def test_measure_under_xdist(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    pytester.makepyfile(test_p="""
        import pytest

        @pytest.mark.parametrize("n", range(4))
        def test_m(perf, n):
            perf.measure(sum, range(n), rounds=10, name=f"sum{n}", p99=10)
    """)
    run = run_gate("-n", "2", "-p", "no:benchmark")
    assert run.level == "deploy"
    assert sorted(g["subject"] for g in run.gates("budget", "pass")) == [
        f"test_p.py::test_m[{n}]::sum{n}" for n in range(4)]


# ---------------------------------------------------------------- spreading the rounds over time

SPREAD_TESTS = """
import json
import time
from pathlib import Path

import pytest

def _record(name, took, calls, stats):  # a file per test: xdist workers never write the same one
    row = {"took": took, "calls": calls, "median": stats.median, "rounds": stats.rounds}
    Path(f"spread-{name}.json").write_text(json.dumps(row))

def _measure(perf, name, func_sleep=0.0, **kw):
    calls = []
    def func():
        calls.append(1)
        if func_sleep:
            time.sleep(func_sleep)
    t0 = time.perf_counter()
    stats = perf.measure(func, name=name, **kw)
    _record(name, time.perf_counter() - t0, len(calls), stats)

def test_fast(perf):
    _measure(perf, "fast", rounds=10)

def test_fast_no_warmup(perf):
    _measure(perf, "no_warmup", rounds=10, warmup=0)

def test_slow(perf):
    _measure(perf, "slow", func_sleep=0.05, rounds=10)

@pytest.mark.budget(seconds=100)
def test_wall_time_budget(perf):
    _measure(perf, "budgeted", rounds=10)

@pytest.mark.regression
def test_regression_marked(perf):
    _measure(perf, "marked", rounds=10)
"""


def _spread_rows(pytester: pytest.Pytester) -> dict[str, dict[str, float]]:
    return {p.stem.removeprefix("spread-"): json.loads(p.read_text()) for p in pytester.path.glob("spread-*.json")}


@pytest.mark.timing
def test_rounds_are_spread_under_release_gate(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    pytester.makepyprojecttoml("[tool.release_gates]\nperf_spread_seconds = 0.3\n")
    pytester.makepyfile(test_s=SPREAD_TESTS)
    run = run_gate("-p", "no:benchmark")
    run.result.assert_outcomes(passed=5)
    rows = _spread_rows(pytester)
    # 10 bursts of one round, the last starting 0.27 s after the first; one untimed call after each pause,
    # and one after the first burst's calibration reference.
    assert rows["fast"]["took"] >= 0.27 and rows["fast"]["rounds"] == 10
    assert 5 + 10 + 1 < rows["fast"]["calls"] <= 5 + 10 + 1 + 9
    assert rows["fast"]["median"] < 0.01  # the pauses are not in the samples
    assert rows["no_warmup"]["took"] >= 0.27 and rows["no_warmup"]["calls"] == 10  # warmup=0: no untimed call
    assert rows["slow"]["calls"] == 5 + 10 + 1  # always late: never paused, one call after the first reference
    for gated in ("budgeted", "marked"):  # the test's own wall time is gated: back to back
        assert rows[gated]["took"] < 0.25 and rows[gated]["calls"] == 16, gated
    assert rows["fast"]["took"] > 1.3 * rows["budgeted"]["took"]


@pytest.mark.timing
@pytest.mark.parametrize("how", ["plain pytest", "perf_spread_seconds = 0"])
def test_rounds_back_to_back(pytester: pytest.Pytester, run_gate: RunGate, how: str) -> None:
    if how == "plain pytest":
        pytester.makepyprojecttoml("[tool.release_gates]\nperf_spread_seconds = 5\n")
    else:
        pytester.makepyprojecttoml("[tool.release_gates]\nperf_spread_seconds = 0\n")
    pytester.makepyfile(test_s=SPREAD_TESTS)
    run = run_gate("-p", "no:benchmark", "-k", "fast or slow", gate=how != "plain pytest")
    run.result.assert_outcomes(passed=3, deselected=2)
    rows = _spread_rows(pytester)
    extra = 0 if how == "plain pytest" else 1  # --release-gate: one untimed call after the reference
    assert rows["fast"]["took"] < 1.0 and rows["fast"]["calls"] == 15 + extra  # spread, it would take 4.5 s
    assert rows["no_warmup"]["calls"] == 10 and rows["slow"]["calls"] == 15 + extra


@pytest.mark.timing
def test_spread_stays_within_a_tenth_of_a_pytest_timeout(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    pytest.importorskip("pytest_timeout")
    pytester.makepyfile(test_s=SPREAD_TESTS + """
@pytest.mark.timeout(2)
def test_marker(perf):
    _measure(perf, "marker_limit", rounds=10)

@pytest.mark.timeout(0)
def test_no_limit(perf):
    _measure(perf, "no_limit", rounds=10)
""")
    # --timeout=3 caps the spread at a tenth of it, 0.3 s; a test's own marker replaces the global limit.
    run = run_gate("-p", "no:benchmark", "--timeout=3", "-k", "fast or marker or no_limit")
    run.result.assert_outcomes(passed=4)
    rows = _spread_rows(pytester)
    assert 0.27 <= rows["fast"]["took"] < 0.9, rows["fast"]  # --timeout=3: at most 0.3 s
    assert 0.18 <= rows["marker_limit"]["took"] < 0.6, rows["marker_limit"]  # its marker's 2 s: 0.2 s
    assert rows["no_limit"]["took"] >= 0.9  # timeout(0) is no limit: the full second


def test_default_spread_is_one_second_and_works_under_xdist(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    pytester.makepyfile(test_s=SPREAD_TESTS)
    run = run_gate("-p", "no:benchmark", "-n", "2", "-k", "fast")
    run.result.assert_outcomes(passed=2)
    rows = _spread_rows(pytester)
    assert rows["fast"]["took"] >= 0.9 and rows["no_warmup"]["took"] >= 0.9 and rows["fast"]["rounds"] == 10


class _FakeItem:
    """Just what ``perf._span`` reads from an item."""

    def __init__(self, settings: Any, marker: str | None = None) -> None:
        from pytest_release_gates.session import SESSION_KEY, GateSession

        self.nodeid = "t.py::test_x"
        self.stash = pytest.Stash()
        plugins = type("P", (), {"has_plugin": staticmethod(lambda name: False)})()  # no pytest-timeout
        self.config = type("C", (), {"stash": pytest.Stash(), "pluginmanager": plugins})()
        if settings is not None:
            self.config.stash[SESSION_KEY] = GateSession(settings, is_worker=False)
        self._marker = marker
        self.parent = None  # what limits.closest_marker walks
        self.own_markers = [m for m in (self.get_closest_marker(n) for n in ("budget", "regression")) if m]

    def get_closest_marker(self, name: str) -> Any:
        return pytest.mark.budget(seconds=1).mark if name == self._marker == "budget" else (
            pytest.mark.regression.mark if name == self._marker == "regression" else None)


@pytest.mark.parametrize(("cli", "marker", "expected"), [
    ({}, None, 1.0),
    ({"perf_spread_seconds": 0.25}, None, 0.25),
    ({"perf_spread_seconds": 0.0}, None, 0.0),
    ({"compare_ref": "main"}, None, 0.0),  # the A/B's own rounds measure; the main run's samples go unused
    ({"compare_ref": "main", "update_baseline": True}, None, 1.0),  # ...unless they are recorded
    ({}, "budget", 0.0),
    ({}, "regression", 0.0),
])
def test_span_rules(cli: dict[str, Any], marker: str | None, expected: float) -> None:
    from pathlib import Path

    from pytest_release_gates import config, perf

    assert perf._span(_FakeItem(config.Settings(rootdir=Path("."), **cli), marker)) == expected  # type: ignore[arg-type]
    assert perf._span(_FakeItem(None)) == 0.0  # type: ignore[arg-type]  # no --release-gate


def test_span_from_config_compare_ref() -> None:
    from pathlib import Path

    from pytest_release_gates import config, perf

    settings = config.Settings(rootdir=Path("."), compare=config.CompareSettings(ref="main"))
    assert perf._span(_FakeItem(settings)) == 0.0  # type: ignore[arg-type]


@given(st.integers(min_value=1, max_value=400), st.integers(min_value=0, max_value=3),
       st.sampled_from([0.0, 0.002]))
@settings(max_examples=60, deadline=None)
def test_every_round_is_timed_exactly_once(rounds: int, warmup: int, span: float) -> None:
    from pytest_release_gates import perf

    calls: list[int] = []
    samples = perf._run(lambda: calls.append(1), (), {}, rounds, warmup, span=span)
    assert len(samples) == rounds and all(s > 0 for s in samples)  # no round left untimed (0)
    pauses = len(calls) - warmup - rounds  # one untimed call after each pause, only when warming up
    assert 0 <= pauses <= (min(rounds, perf.MAX_BURSTS) - 1 if span and warmup else 0)


@given(st.integers(min_value=1, max_value=400), st.integers(min_value=0, max_value=3),
       st.sampled_from([0.0, 0.002]))
@settings(max_examples=60, deadline=None)
def test_calibrated_runs_give_every_round_its_burst_reference(rounds: int, warmup: int, span: float) -> None:
    from pytest_release_gates import calibration, perf

    calls: list[int] = []
    rec = calibration.Recorder()
    samples = perf._run(lambda: calls.append(1), (), {}, rounds, warmup, span=span, calibrate=rec)
    assert len(samples) == rounds and all(s > 0 for s in samples)
    assert len(rec.references) == rounds and all(r > 0 for r in rec.references)
    bursts = min(rounds, perf.MAX_BURSTS) if span else 1
    assert len(set(rec.references)) <= bursts  # one reference per burst, shared by its rounds
    assert abs(rec.wall_ns - sum(round(s * 1e9) for s in samples)) <= rounds  # the timed rounds' wall time
    extra = len(calls) - warmup - rounds  # after each pause, and after the first burst's reference
    assert 0 <= extra <= (bursts if warmup else 0)
    result = rec.result(samples)
    assert result is not None and len(result[0]) == rounds and 0 <= result[1].cpu <= 1
