"""Coverage does not move timings (SPEC "Trust rules"): ``--cov`` on or off never fails a budget or a regression.

End to end with real pytest-cov runs, on coverage.py's C tracer and (Python 3.12+) its ``sys.monitoring``
core; units for :mod:`pytest_release_gates.tracing`.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import pytest
from conftest import GateRun

from pytest_release_gates import tracing

pytest.importorskip("pytest_cov")

RunGate = Callable[..., GateRun]
BASELINE = "release-gates.baseline.json"

# Many trivial lines per iteration: coverage.py's C tracer pays per line, so traced it runs several times slower.
MYAPP = """
def work(n):
    total = 0
    for i in range(n):
        a = i
        b = a
        c = b
        total += c
    return total


def run_measured(perf):
    stats = perf.measure(work, 3000, rounds=30, warmup=2, name="work")
    after = stats.rounds          # lines after perf.measure in the same frame: traced again
    after -= 29
    return after
"""

TESTS = """
import pytest
import myapp

def test_perf(perf):
    assert myapp.run_measured(perf) == 1

@pytest.mark.regression
@pytest.mark.budget(seconds=30)
def test_timed():
    assert myapp.work(20000) > 0
"""

CORES = [
    "ctrace",
    pytest.param("sysmon", marks=pytest.mark.skipif(sys.version_info < (3, 12),
                                                    reason="coverage.py's sys.monitoring core needs Python 3.12+")),
]

BENCH = """
import myapp

def test_bench(benchmark):
    benchmark(myapp.work, 3000)
"""

PERF_KEY = "test_app.py::test_perf::work"
DURATION_KEY = "test_app.py::test_timed::duration"
BENCH_KEY = "test_bench.py::test_bench::benchmark"


@pytest.fixture(params=CORES)
def project(request: pytest.FixtureRequest, pytester: pytest.Pytester,
            monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("COVERAGE_CORE", request.param)
    pytester.makepyfile(myapp=MYAPP, test_app=TESTS)
    if _has_bench():  # it pauses sys.settrace hooks around its rounds itself: compared normally too
        pytester.makepyfile(test_bench=BENCH)
    # Wide margins: on a shared VM the same code's speed swings 2x between runs; traced, it runs 3-10x slower.
    pytester.makepyprojecttoml("[tool.release_gates]\nregression_tolerance = 1.5\nrollback_ratio = 4.0\n")
    return pytester


def entries(p: pytest.Pytester) -> dict[str, Any]:
    return json.loads((p.path / BASELINE).read_text(encoding="utf-8"))["regression"]  # type: ignore[no-any-return]


def by_subject(r: GateRun, kind: str) -> dict[str, dict[str, Any]]:
    return {g["subject"]: g for g in r.gates(kind)}


def myapp_coverage(p: pytest.Pytester, report: str) -> tuple[float, list[int]]:
    data = json.loads((p.path / report).read_text(encoding="utf-8"))
    (name,) = [f for f in data["files"] if f.endswith("myapp.py")]
    return data["files"][name]["summary"]["percent_covered"], data["files"][name]["missing_lines"]


def assert_nothing_fails(r: GateRun) -> None:
    failing = [g for g in r.verdict["gates"] if g["kind"] in ("budget", "regression") and g["status"] == "fail"]
    assert not failing, r.stdout
    assert r.level == "deploy" and r.ret == 0, r.stdout


def assert_compared_normally(r: GateRun, xdist: bool = False) -> None:
    """perf.measure and pytest-benchmark rounds ran with the tracer paused: no tracer note, whichever side had
    coverage (pytest-benchmark disables itself under xdist)."""
    keys = [PERF_KEY] + ([BENCH_KEY] if not xdist and _has_bench() else [])
    for key in keys:
        g = by_subject(r, "regression")[key]
        assert g["status"] in ("pass", "warn") and "measured under" not in g["message"], g
        assert "traced" not in g and "baseline_traced" not in g, g


def _has_bench() -> bool:
    try:
        import pytest_benchmark  # noqa: F401
    except ImportError:
        return False
    return True


# pytest-rerunfailures starts a server thread (with pytest-xdist installed) that coverage traces: on Python
# 3.12+ that keeps code instrumented on every thread (test_a_traced_thread_makes_the_pause_partial).
NO_THREAD = ("-p", "no:rerunfailures")


@pytest.mark.timing
def test_baseline_without_cov_then_run_with_cov(project: pytest.Pytester, run_gate: RunGate) -> None:
    rec = run_gate("--gate-update-baseline", *NO_THREAD)
    assert_nothing_fails(rec)
    assert not any("traced" in e for e in entries(project).values())
    for xdist in ((), ("-n", "2")):
        r = run_gate("--cov=myapp", "--cov-report=json:cov.json", *NO_THREAD, *xdist)
        assert_nothing_fails(r)
        assert_compared_normally(r, xdist=bool(xdist))
        g = by_subject(r, "regression")[DURATION_KEY]  # the traced test itself: a warning that says why
        assert g["status"] == "warn", g
        assert g["message"].startswith("measured under coverage (--cov), the baseline without: "), g
        assert (g["traced"], g["baseline_traced"]) == ("coverage", None)
        assert myapp_coverage(project, "cov.json") == (100.0, []), xdist


@pytest.mark.timing
def test_baseline_with_cov_then_run_without_cov(project: pytest.Pytester, run_gate: RunGate) -> None:
    rec = run_gate("--gate-update-baseline", "--cov=myapp", "--cov-report=json:cov.json", *NO_THREAD)
    assert_nothing_fails(rec)
    assert myapp_coverage(project, "cov.json") == (100.0, [])
    recorded = entries(project)
    assert "traced" not in recorded[PERF_KEY]  # timed with coverage paused: recorded as untraced
    assert not _has_bench() or "traced" not in recorded[BENCH_KEY]
    assert recorded[DURATION_KEY]["traced"] == "coverage"
    r = run_gate(*NO_THREAD)
    assert_nothing_fails(r)
    assert_compared_normally(r)
    g = by_subject(r, "regression")[DURATION_KEY]
    assert g["status"] == "warn" and g["message"].startswith(
        "baseline recorded under coverage (--cov), this run without: "), g
    # Accepting a run without coverage re-records the traced entry and says why.
    again = run_gate("--gate-update-baseline", *NO_THREAD)
    assert f"changed {DURATION_KEY}" in again.stdout and "(now measured without a tracer)" in again.stdout
    assert "traced" not in entries(project)[DURATION_KEY]


def test_coverage_of_the_measured_code_is_the_same_with_and_without_the_gate(
    project: pytest.Pytester, run_gate: RunGate
) -> None:
    plain = run_gate("--cov=myapp", "--cov-report=json:plain.json", gate=False)
    assert plain.result.ret == 0, plain.stdout
    gated = run_gate("--cov=myapp", "--cov-report=json:gated.json", "--cov-branch")
    branch_plain = run_gate("--cov=myapp", "--cov-report=json:bplain.json", "--cov-branch", gate=False)
    assert myapp_coverage(project, "plain.json") == (100.0, [])
    assert myapp_coverage(project, "gated.json") == myapp_coverage(project, "bplain.json")
    data = json.loads((project.path / "gated.json").read_text(encoding="utf-8"))
    (name,) = [f for f in data["files"] if f.endswith("myapp.py")]
    assert data["files"][name]["summary"]["missing_branches"] == 0
    assert branch_plain.result.ret == 0 and gated.ret == 0


ROUNDS_ONLY = """
calls = [0]

def f():
    calls[0] += 1
    if calls[0] > 1:
        return "round"   # reached only by the timed rounds: the first call is the untimed, traced one
    return "first"

def measure(perf):
    stats = perf.measure(f, rounds=5, warmup=1)
    done = stats.rounds   # the tracer is back for the rest of this frame
    return done
"""


def test_the_rounds_run_with_coverage_paused(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    pytester.makepyfile(rounds_only=ROUNDS_ONLY,
                        test_r="import rounds_only\n\ndef test_r(perf):\n    assert rounds_only.measure(perf) == 5\n")
    r = run_gate("--cov=rounds_only", "--cov-report=json:cov.json")
    assert r.ret == 0, r.stdout
    data = json.loads((pytester.path / "cov.json").read_text(encoding="utf-8"))
    (name,) = [f for f in data["files"] if f.endswith("rounds_only.py")]
    lines = (pytester.path / "rounds_only.py").read_text(encoding="utf-8").splitlines()
    (only_rounds,) = [n for n, line in enumerate(lines, 1) if 'return "round"' in line]
    assert data["files"][name]["missing_lines"] == [only_rounds]  # the line after perf.measure is covered


THREAD_CONFTEST = """
import threading

stop = threading.Event()

def pytest_configure(config):  # after pytest-cov started coverage: the thread is traced
    threading.Thread(target=stop.wait, daemon=True).start()

def pytest_unconfigure(config):
    stop.set()
"""


@pytest.mark.timing
@pytest.mark.skipif(sys.version_info < (3, 12), reason="Python 3.12+ instruments code for every thread")
def test_a_traced_thread_makes_the_pause_partial_and_says_so(
    pytester: pytest.Pytester, run_gate: RunGate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COVERAGE_CORE", "ctrace")
    pytester.makepyfile(myapp=MYAPP, test_app=TESTS)
    pytester.makeconftest(THREAD_CONFTEST)
    pytester.makepyprojecttoml("[tool.release_gates]\nregression_tolerance = 1.5\nrollback_ratio = 4.0\n")
    run_gate("--gate-update-baseline", *NO_THREAD)
    r = run_gate("--cov=myapp", *NO_THREAD)
    assert_nothing_fails(r)
    g = by_subject(r, "regression")[PERF_KEY]  # the rounds kept part of the tracer's cost: named, warns
    assert g["status"] == "warn" and g["traced"] == "coverage", g
    assert g["message"].startswith("measured under coverage (--cov), the baseline without: "), g


# ------------------------------------------------------------------ overruns under a tracer warn

OVERRUNS = """
import sys
import time
import pytest

def work():
    return sum(range(100))

@pytest.mark.timeout(60)  # its own limit: no hang protection at 10x the budget
@pytest.mark.budget(seconds=0.001)
def test_slow():
    time.sleep(0.02)

@pytest.mark.timeout(60)
@pytest.mark.no_cover
@pytest.mark.budget(seconds=0.001)
def test_slow_not_covered():
    time.sleep(0.02)

def test_warmup_zero(perf):
    perf.measure(work, rounds=5, warmup=0, max=1e-9)

def test_under_a_profiler(perf):
    sys.setprofile(lambda *a: None)   # a profiler cannot be paused: the rounds run under it
    try:
        perf.measure(work, rounds=5, warmup=1, name="profiled", max=1e-9)
    finally:
        sys.setprofile(None)
"""


def test_overruns_under_a_tracer_warn_and_do_not_fail_the_report(
    pytester: pytest.Pytester, run_gate: RunGate
) -> None:
    pytester.makepyfile(test_over=OVERRUNS)
    r = run_gate("--cov=test_over", "-rA", "--gate-update-baseline", *NO_THREAD)
    budget = by_subject(r, "budget")
    slow = budget["test_over.py::test_slow"]
    assert slow["status"] == "warn" and slow["traced"] == "coverage", slow
    assert slow["message"].startswith("measured under coverage (--cov): took "), slow
    assert "an overrun only warns" in slow["message"]
    # pytest-cov pauses coverage for a no_cover test's call: timed untraced, its overrun fails.
    assert budget["test_over.py::test_slow_not_covered"]["status"] == "fail"
    # warmup=0 leaves no untimed call to trace, so the rounds ran traced (and cover the function).
    zero = budget["test_over.py::test_warmup_zero::work"]
    assert zero["status"] == "warn" and zero["traced"] == "coverage", zero
    prof = budget["test_over.py::test_under_a_profiler::profiled"]
    assert prof["status"] == "warn" and prof["message"].startswith("measured under test_over: max "), prof
    outcomes = r.stdout
    assert "PASSED test_over.py::test_slow\n" in outcomes or "PASSED test_over.py::test_slow " in outcomes
    assert "FAILED test_over.py::test_slow_not_covered" in outcomes
    assert "FAILED test_over.py::test_slow " not in outcomes and "FAILED test_over.py::test_slow\n" not in outcomes
    recorded = entries(pytester)
    assert recorded["test_over.py::test_warmup_zero::work"]["traced"] == "coverage"
    assert recorded["test_over.py::test_under_a_profiler::profiled"]["traced"] == "test_over"
    # Without coverage the same overrun fails the report and holds, as before.
    plain = run_gate(*NO_THREAD)
    assert by_subject(plain, "budget")["test_over.py::test_slow"]["status"] == "fail"
    assert plain.level != "deploy"


# ------------------------------------------------------------------ units: tracing


HERE = __name__.split(".", 1)[0]  # the name a hook defined in this module goes by


class Recorder:
    """A Python-level tracer (a bound method, as pdb's) that records the lines it sees in ``work``."""

    def __init__(self) -> None:
        self.lines: list[int] = []

    def trace(self, frame: FrameType, event: str, arg: Any) -> Any:
        if frame.f_code.co_name == "work" and event == "line":
            self.lines.append(frame.f_lineno)
        return self.trace


def work(fail: bool = False) -> int:
    if fail:
        raise ValueError("boom")
    return 1


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    before, before_threads = sys.gettrace(), threading.gettrace()
    rec = Recorder()
    sys.settrace(rec.trace)
    try:
        yield rec
    finally:
        sys.settrace(before)
        threading.settrace(before_threads)  # type: ignore[arg-type]


def test_pause_stops_a_python_tracer_and_restores_it_exactly(recorder: Recorder) -> None:
    pause = tracing.Pause()
    assert pause.can_pause and pause.pausable == HERE
    with pause:
        assert sys.gettrace() is None
        work()
    assert sys.gettrace() == recorder.trace and recorder.lines == []
    work()
    assert recorder.lines  # traced again


def test_pause_restores_the_tracer_when_the_function_raises(recorder: Recorder) -> None:
    hook = Recorder().trace
    threading.settrace(hook)
    with pytest.raises(ValueError, match="boom"), tracing.Pause():
        assert sys.gettrace() is None and threading.gettrace() is None
        work(fail=True)
    assert sys.gettrace() == recorder.trace and threading.gettrace() is hook


def test_pause_is_partial_on_python_312_while_another_thread_is_traced(recorder: Recorder) -> None:
    stop, started = threading.Event(), threading.Event()

    def traced_thread() -> None:
        sys.settrace(Recorder().trace)
        started.set()
        stop.wait()

    t = threading.Thread(target=traced_thread)
    t.start()
    started.wait()
    try:
        with tracing.Pause() as pause:
            pass
    finally:
        stop.set()
        t.join()
    assert pause.partial is (sys.version_info >= (3, 12))
    assert pause.traced == (HERE if pause.partial else None)


def test_state_names_every_tool_and_profilers_are_never_paused() -> None:
    def hook(*args: Any) -> None:
        return None

    sys.setprofile(hook)
    try:
        assert HERE in (tracing.state() or "").split(", ")
        pause = tracing.Pause()
        assert HERE in (pause.traced or "").split(", ")
        with pause:
            assert sys.getprofile() is hook
    finally:
        sys.setprofile(None)


@pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring is Python 3.12+")
def test_monitoring_tools_are_named_not_paused() -> None:
    mon = sys.monitoring
    free = [i for i in range(6) if mon.get_tool(i) is None]
    if not free:
        pytest.skip("every sys.monitoring tool id is taken")
    mon.use_tool_id(free[0], "mytool")
    try:
        assert "mytool" in (tracing.state() or "") and "mytool" in (tracing.Pause().traced or "")
        assert "mytool" in (tracing.benchmark_state() or "")
    finally:
        mon.free_tool_id(free[0])


def test_names_and_notes() -> None:
    assert tracing.describe("coverage") == "coverage (--cov)"
    assert tracing.describe("cProfile, coverage") == "cProfile, coverage (--cov)"
    assert tracing.join(None, "coverage", "cProfile, coverage") == "cProfile, coverage"
    assert tracing.join(None, None) is None
    from pytest_release_gates.gates.regression.gate import tracer_note

    assert tracer_note(None, None) == "" and tracer_note("coverage", "coverage") == ""
    assert tracer_note("coverage", None) == "measured under coverage (--cov), the baseline without"
    assert tracer_note(None, "pdb") == "baseline recorded under pdb, this run without"
    assert tracer_note("pdb", "coverage") == "measured under pdb, the baseline under coverage (--cov)"
