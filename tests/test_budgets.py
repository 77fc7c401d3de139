"""Budgets end to end: wall time, memory, percentiles (perf and pytest-benchmark), config table, xdist."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from pytest_release_gates.fmt import fmt_ratio, fmt_seconds, fmt_wall
from pytest_release_gates.gates.budgets import gate as budgets
from pytest_release_gates.limits import ConfigBudgets, budget

RunGate = Callable[..., Any]

SLOW_AND_FAST = """
    import time
    import pytest

    @pytest.mark.budget(0.05)
    def test_slow():
        time.sleep(0.3)

    @pytest.mark.budget(seconds=30)
    def test_fast():
        pass
"""

# A conftest that dumps the tracked metrics the run published, to check what the regression gate receives.
DUMP_METRICS = """
    import json
    from pytest_release_gates import metrics

    def pytest_release_gates_collect(context):
        rows = [{"key": m.key, "n": len(m.values), "sampled": m.sampled, "source": m.source}
                for m in metrics.collect(context)]
        (context.rootdir / "metrics.json").write_text(json.dumps(rows))
        return []
"""


def _gate(run: Any, subject: str, metric: str | None = None) -> dict[str, Any]:
    found = [g for g in run.gates("budget")
             if g["subject"] == subject and (metric is None or g.get("metric") == metric)]
    assert len(found) == 1, (subject, metric, run.gates("budget"))
    return found[0]


# ------------------------------------------------------------------ wall time


def test_over_budget_holds_and_fails_the_test_report(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    pytester.makepyfile(test_a=SLOW_AND_FAST)
    run = run_gate("--junitxml=junit.xml", "-rf")
    assert run.level == "hold"
    assert run.ret == 1
    slow = _gate(run, "test_a.py::test_slow", "seconds")
    assert (slow["status"], slow["level"], slow["limit"]) == ("fail", "hold", 0.05)
    assert slow["value"] >= 0.3
    assert slow["message"].startswith("took ") and ", budget 0.050 s (" in slow["message"]
    fast = _gate(run, "test_a.py::test_fast", "seconds")
    assert fast["status"] == "pass"
    # the test's own report failed, with one line where it happened
    run.result.stdout.fnmatch_lines(["FAILED test_a.py::test_slow - call took 0.3* s, budget 0.050 s"])
    assert "Traceback" not in run.stdout
    junit = (pytester.path / "junit.xml").read_text()
    assert "call took" in junit and 'failures="1"' in junit


def test_summary_shows_value_limit_ratio_sorted_by_ratio(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    pytester.makepyfile(test_a="""
        import time
        import pytest

        @pytest.mark.budget(0.1)
        def test_twice():
            time.sleep(0.2)

        @pytest.mark.budget(0.05)
        def test_much_more():
            time.sleep(0.3)
    """)
    run = run_gate()
    lines = [ln.strip() for ln in run.stdout.splitlines() if ln.strip().startswith("FAIL test_a.py::")]
    budget_lines = [ln for ln in lines if " budget " in ln and "failed:" not in ln]
    assert [ln.split()[1] for ln in budget_lines] == ["test_a.py::test_much_more", "test_a.py::test_twice"]
    assert budget_lines[0].endswith("x) -> hold")
    ratio = _gate(run, "test_a.py::test_much_more")
    assert ratio["value"] / ratio["limit"] > 5


def test_within_budget_deploys(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    pytester.makepyfile(test_a="""
        import pytest

        @pytest.mark.budget(30)
        def test_quick():
            pass
    """)
    run = run_gate("-v")
    assert (run.ret, run.level) == (0, "deploy")
    gate = _gate(run, "test_a.py::test_quick")
    assert gate["status"] == "pass" and gate["limit"] == 30
    run.result.stdout.fnmatch_lines(["*pass test_a.py::test_quick took 0.0* s, budget 30.00 s (<0.01x)"])  # never 0.00


def test_close_to_budget_warns(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    pytester.makepyprojecttoml("[tool.release_gates]\nwarn_fraction = 0.001\n")
    pytester.makepyfile(test_a="""
        import time
        import pytest

        @pytest.mark.budget(30)
        def test_near():
            time.sleep(0.05)
    """)
    run = run_gate()
    assert run.level == "deploy"
    gate = _gate(run, "test_a.py::test_near")
    assert gate["status"] == "warn"
    assert gate["message"].startswith("close to budget: took ")
    run.result.stdout.fnmatch_lines(["*warn test_a.py::test_near close to budget: took *, budget 30.00 s*"])


def test_budgets_are_inert_without_release_gate(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    pytester.makepyfile(test_a=SLOW_AND_FAST)
    run = run_gate(gate=False)
    assert run.ret == 0
    run.result.assert_outcomes(passed=2)
    assert not (pytester.path / ".release-gates").exists()


def test_budget_on_skipped_or_failed_test_is_never_a_pass(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    pytester.makepyfile(test_a="""
        import pytest

        @pytest.mark.budget(30)
        @pytest.mark.skip(reason="not today")
        def test_skipped():
            pass

        @pytest.mark.budget(30)
        def test_failing():
            assert False

        @pytest.mark.budget(30)
        @pytest.mark.xfail(reason="known", strict=True)
        def test_xfail():
            assert False

        def test_other():
            pass
    """)
    for args in [(), ("-p", "no:timeout")]:  # with pytest-timeout budgets are resolved at collection, else at setup
        run = run_gate(*args)
        for name, why in [("test_skipped", "was skipped"), ("test_failing", "failed"), ("test_xfail", "xfailed")]:
            gate = _gate(run, f"test_a.py::{name}")
            assert gate["status"] == "warn", gate
            assert f"budget not checked: the test {why}" in gate["message"]
        assert not run.gates("budget", "pass")


# ------------------------------------------------------------------ config table


def test_config_budgets_exact_and_glob(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    pytester.makepyprojecttoml("""
        [tool.release_gates.budgets]
        "test_api.py::test_exact" = {seconds = 0.05}
        "test_api.py::test_param[*]" = {seconds = 0.04}
        "test_api.py::*" = {seconds = 30}
    """)
    pytester.makepyfile(test_api="""
        import time
        import pytest

        def test_exact():
            time.sleep(0.2)

        @pytest.mark.parametrize("n", [1, 2])
        def test_param(n):
            time.sleep(0.2)

        def test_other():
            pass
    """)
    run = run_gate()
    assert run.level == "hold"
    assert _gate(run, "test_api.py::test_exact")["status"] == "fail"
    assert _gate(run, "test_api.py::test_param[1]")["limit"] == 0.04
    assert _gate(run, "test_api.py::test_param[2]")["status"] == "fail"
    other = _gate(run, "test_api.py::test_other")
    assert (other["status"], other["limit"], other["source"]) == ("pass", 30, "[budgets] 'test_api.py::*'")
    run.result.stdout.fnmatch_lines(["FAILED test_api.py::test_exact - call took *, budget 0.050 s"])


def test_marker_wins_over_config_and_verbose_says_so(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    pytester.makepyprojecttoml("""
        [tool.release_gates.budgets]
        "test_a.py::*" = {seconds = 0.01, memory_mb = 500}
    """)
    pytester.makepyfile(test_a="""
        import time
        import pytest

        @pytest.mark.budget(30)
        def test_marked():
            time.sleep(0.1)
    """)
    run = run_gate("-v")
    assert run.level == "deploy", run.stdout
    seconds = _gate(run, "test_a.py::test_marked", "seconds")
    assert (seconds["status"], seconds["limit"], seconds["source"]) == ("pass", 30, "marker")
    assert seconds["overrides"] == "[budgets] 'test_a.py::*' 0.010 s"
    memory = _gate(run, "test_a.py::test_marked", "memory_mb")  # limits the marker does not give still apply
    assert memory["limit"] == 500 and memory["source"] == "[budgets] 'test_a.py::*'"
    assert "  test_a.py::test_marked: seconds: marker 30.00 s overrides [budgets] 'test_a.py::*' 0.010 s" in run.stdout
    quiet = run_gate()
    assert "overrides" not in quiet.stdout


def test_config_key_matching_nothing_warns(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    pytester.makepyprojecttoml("""
        [tool.release_gates.budgets]
        "test_a.py::test_typo" = {seconds = 1}
        "tests/other/*" = {seconds = 1}
        "test_a.py::test_real" = {seconds = 30}
    """)
    pytester.makepyfile(test_a="def test_real():\n    pass\n")
    for args in [(), ("-n", "2")]:
        run = run_gate(*args)
        assert run.level == "deploy"
        warned = {g["subject"]: g["message"] for g in run.gates("budget", "warn")}
        assert set(warned) == {"test_a.py::test_typo", "tests/other/*"}, args
        assert "matches no collected test" in warned["test_a.py::test_typo"]
        assert "[tool.release_gates] budgets" in warned["tests/other/*"]


@pytest.mark.parametrize(("entry", "message"), [
    ('"t.py::x" = {seconds = -1}', "seconds: must be greater than 0"),
    ('"t.py::x" = {seconds = 0}', "seconds: must be greater than 0"),
    ('"t.py::x" = {seconds = "1"}', "seconds: expected a number"),
    ('"t.py::x" = {seconds = nan}', "seconds: expected a finite number"),
    ('"t.py::x" = {secs = 1}', "secs: unknown budget key"),
])
def test_bad_config_budget_is_a_usage_error(pytester: pytest.Pytester, run_gate: RunGate, entry: str,
                                            message: str) -> None:
    pytester.makepyprojecttoml(f"[tool.release_gates.budgets]\n{entry}\n")
    pytester.makepyfile(test_a="def test_a():\n    pass\n")
    run = run_gate()
    assert run.ret == 4
    assert message in run.result.stderr.str()
    assert "Traceback" not in run.result.stderr.str()


@pytest.mark.parametrize(("args", "message"), [
    ("-1", "seconds must be a positive, finite number, got -1"),
    ("0", "seconds must be a positive, finite number, got 0"),
    ("float('nan')", "seconds must be a positive, finite number, got nan"),
    ("'fast'", "seconds must be a number, got 'fast'"),
    ("memory_mb=True", "memory_mb must be a number, got True"),
    ("secs=1", "unexpected keyword argument 'secs'"),
    ("", "give at least one limit"),
])
def test_bad_marker_fails_the_test_with_one_line(pytester: pytest.Pytester, run_gate: RunGate, args: str,
                                                 message: str) -> None:
    pytester.makepyfile(test_a=f"""
        import pytest

        @pytest.mark.budget({args})
        def test_marked():
            pass
    """)
    run = run_gate()
    assert run.level == "hold"
    run.result.stdout.fnmatch_lines([f"invalid @pytest.mark.budget on test_a.py::test_marked: *{message}*"])
    assert "Traceback" not in run.stdout and "budgets.py" not in run.stdout


# ------------------------------------------------------------------ memory


def test_memory_budget_measures_100mb_within_10_percent(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    pytester.makepyfile(test_m="""
        import pytest

        HELD = []

        @pytest.mark.budget(memory_mb=50)
        def test_over():
            HELD.append(bytearray(100 * 2**20))

        @pytest.mark.budget(memory_mb=1000)
        def test_under():
            data = bytearray(100 * 2**20)
            assert len(data) == 100 * 2**20
    """)
    run = run_gate()
    over = _gate(run, "test_m.py::test_over", "memory_mb")
    assert over["status"] == "fail" and over["level"] == "hold"
    assert 90 <= over["value"] <= 110, over
    under = _gate(run, "test_m.py::test_under", "memory_mb")
    assert under["status"] == "pass" and 90 <= under["value"] <= 110, under
    run.result.stdout.fnmatch_lines(["call peaked at * MB above its start, budget 50.0 MB"])


@pytest.mark.parametrize("method", ["tracemalloc", "rss-sampled"])
def test_memory_methods_agree_on_100mb(pytester: pytest.Pytester, run_gate: RunGate,
                                       monkeypatch: pytest.MonkeyPatch, method: str) -> None:
    monkeypatch.setenv("PYTEST_RELEASE_GATES_MEMORY", method)
    pytester.makepyfile(test_m="""
        import pytest

        HELD = []

        @pytest.mark.budget(memory_mb=1000)
        def test_hold():
            HELD.append(bytearray(100 * 2**20))  # held past the call: the sampler may not run during it
    """)
    run = run_gate()
    gate = _gate(run, "test_m.py::test_hold", "memory_mb")
    assert 90 <= gate["value"] <= 110, (method, gate)


def test_memory_is_measured_only_for_tests_with_a_memory_budget(pytester: pytest.Pytester,
                                                                run_gate: RunGate) -> None:
    pytester.makeconftest("""
        import pytest
        from pytest_release_gates import memory

        CALLS = []

        @pytest.fixture(autouse=True)
        def spy(monkeypatch):
            real = memory.tracker
            monkeypatch.setattr(memory, "tracker", lambda *a: CALLS.append(1) or real(*a))
            yield

        def pytest_sessionfinish(session):
            (session.config.rootpath / "trackers.txt").write_text(str(len(CALLS)))
    """)
    pytester.makepyfile(test_m="""
        import pytest

        @pytest.mark.budget(memory_mb=100)
        def test_mem():
            pass

        @pytest.mark.budget(30)
        def test_time():
            pass

        def test_plain():
            pass
    """)
    run = run_gate()
    assert run.level == "deploy"
    assert (pytester.path / "trackers.txt").read_text() == "1"


@pytest.mark.parametrize("xdist", [False, True])
def test_memory_bracket_joins_at_the_first_memory_budget(pytester: pytest.Pytester, run_gate: RunGate,
                                                         xdist: bool) -> None:
    """The call wrapper is registered only once a test with a memory budget (here from config) sets up."""
    pytester.makepyprojecttoml("""
        [tool.release_gates.budgets]
        "test_m.py::test_mem" = {memory_mb = 50}
    """)
    pytester.makeconftest("""
        def pytest_sessionfinish(session):
            name = "worker" if hasattr(session.config, "workerinput") else "main"
            registered = session.config.pluginmanager.has_plugin("release-gates-budget-memory")
            (session.config.rootpath / f"bracket-{name}.txt").write_text(str(registered))
    """)
    pytester.makepyfile(test_m="""
        import pytest

        def test_plain():
            pass

        @pytest.mark.budget(30)
        def test_time():
            pass

        def test_mem():
            data = bytearray(100 * 2**20)
            assert data
    """)
    xargs = ("-n", "1") if xdist else ()  # one worker: it runs test_mem after the others, in file order
    run = run_gate(*xargs)
    gate = _gate(run, "test_m.py::test_mem", "memory_mb")
    assert gate["status"] == "fail" and 90 <= gate["value"] <= 110, gate
    where = "worker" if xdist else "main"
    assert (pytester.path / f"bracket-{where}.txt").read_text() == "True"
    pytester.makepyprojecttoml("""
        [tool.release_gates.budgets]
        "test_m.py::test_mem" = {seconds = 30}
    """)
    without = run_gate(*xargs)
    assert without.level == "deploy", without.stdout
    assert (pytester.path / f"bracket-{where}.txt").read_text() == "False"


# ------------------------------------------------------------------ percentiles


def test_marker_percentiles_apply_to_perf(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    pytester.makepyfile(test_p="""
        import pytest

        @pytest.mark.budget(p50=1e-9, p99=10)
        def test_perf(perf):
            perf.measure(sum, range(50), rounds=20, name="sum50")
            perf.measure(len, "abc", rounds=20, p50=10)  # its own limit beats the marker's

        @pytest.mark.budget(p95=1)
        def test_no_samples():
            pass
    """)
    run = run_gate("-p", "no:benchmark")
    assert _gate(run, "test_p.py::test_perf::sum50", "p50")["status"] == "fail"
    assert _gate(run, "test_p.py::test_perf::sum50", "p99")["status"] == "pass"
    own = _gate(run, "test_p.py::test_perf::len", "p50")
    assert (own["status"], own["limit"], own["source"]) == ("pass", 10, "perf.measure")
    assert _gate(run, "test_p.py::test_perf::len", "p99")["status"] == "pass"
    none = _gate(run, "test_p.py::test_no_samples", "p95")
    assert none["status"] == "warn"
    assert "no perf.measure or benchmark samples" in none["message"]
    assert "pytest-benchmark is not active" in none["message"]
    run.result.stdout.fnmatch_lines(["FAILED test_p.py::test_perf - perf 'sum50' p50 *, budget 1.00 ns"])


BENCH = """
    import pytest

    @pytest.mark.budget(p50=10, p95=10, p99=10)
    def test_fast(benchmark):
        benchmark.pedantic(sum, args=(range(10),), rounds=50)

    @pytest.mark.budget(p95=1e-9)
    def test_slow(benchmark):
        benchmark(sum, range(100))
"""


def test_benchmark_percentiles_from_pytest_benchmark(pytester: pytest.Pytester, run_gate: RunGate,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # pytest-benchmark disables itself when it believes it runs in an xdist worker (our own suite under -n)
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    pytester.makeconftest(DUMP_METRICS)
    pytester.makepyfile(test_b=BENCH)
    run = run_gate()
    for p in ("p50", "p95", "p99"):
        gate = _gate(run, "test_b.py::test_fast::benchmark", p)
        assert gate["status"] == "pass" and gate["value"] < 10
    slow = _gate(run, "test_b.py::test_slow::benchmark", "p95")
    assert slow["status"] == "fail"
    assert run.level == "hold"
    run.result.stdout.fnmatch_lines(["FAILED test_b.py::test_slow - benchmark p95 *, budget 1.00 ns"])
    rows = {r["key"]: r for r in json.loads((pytester.path / "metrics.json").read_text())}
    fast = rows["test_b.py::test_fast::benchmark"]
    assert (fast["n"], fast["sampled"], fast["source"]) == (50, True, "benchmark")


def test_budgets_under_pytest_rerunfailures(pytester: pytest.Pytester, run_gate: RunGate,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """With --reruns, reports are logged after teardown: the benchmark's rounds are read before, and a
    budget overrun (applied where reports are logged) is a failure that is not rerun."""
    pytest.importorskip("pytest_rerunfailures")
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    pytester.makepyfile(test_b=BENCH + """
    import time

    @pytest.mark.budget(0.05)
    def test_over_time():
        time.sleep(0.2)
    """)
    run = run_gate("--reruns", "1", "-rfR")
    for p in ("p50", "p95", "p99"):
        gate = _gate(run, "test_b.py::test_fast::benchmark", p)
        assert gate["status"] == "pass" and gate["value"] < 10, gate
    assert _gate(run, "test_b.py::test_slow::benchmark", "p95")["status"] == "fail"
    assert _gate(run, "test_b.py::test_over_time", "seconds")["status"] == "fail"
    assert run.level == "hold"
    run.result.stdout.fnmatch_lines(["FAILED test_b.py::test_over_time - call took *, budget 0.050 s"])
    assert run.result.parseoutcomes().get("rerun", 0) == 0, run.stdout
    assert run.verdict["tests"]["failed"] == 2


@pytest.mark.parametrize("flag", ["--benchmark-disable", "--benchmark-skip"])
def test_benchmark_without_data_warns(pytester: pytest.Pytester, run_gate: RunGate, flag: str) -> None:
    pytester.makepyfile(test_b=BENCH)
    run = run_gate(flag)
    assert not run.gates("budget", "pass")
    assert not run.gates("budget", "fail")
    warned = run.gates("budget", "warn")
    assert warned
    text = " ".join(g["message"] for g in warned)
    assert ("--benchmark-disable" in text) if flag == "--benchmark-disable" else ("was skipped" in text)


def test_without_pytest_benchmark_percentiles_apply_to_perf_only(pytester: pytest.Pytester,
                                                                 run_gate: RunGate) -> None:
    pytester.makepyfile(test_p="""
        import pytest

        @pytest.mark.budget(p95=10)
        def test_perf(perf):
            perf.measure(sum, range(10), rounds=10)
    """)
    run = run_gate("-p", "no:benchmark")
    assert run.level == "deploy"
    (gate,) = run.gates("budget")
    assert gate["subject"] == "test_p.py::test_perf::sum" and gate["status"] == "pass"


# ------------------------------------------------------------------ xdist


def test_every_budget_from_every_worker_reaches_the_verdict(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    pytester.makepyfile(test_x="""
        import time
        import pytest

        @pytest.mark.parametrize("i", range(6))
        @pytest.mark.budget(30)
        def test_ok(i):
            pass

        @pytest.mark.budget(0.05)
        def test_slow():
            time.sleep(0.3)

        @pytest.mark.budget(memory_mb=50)
        def test_mem():
            data = bytearray(100 * 2**20)

        def test_perf(perf):
            perf.measure(sum, range(10), rounds=10, p99=10)
    """)
    run = run_gate("-n", "2", "-p", "no:benchmark")
    assert run.verdict["run"]["xdist_workers"] == 2
    subjects = {(g["subject"], g.get("metric")): g["status"] for g in run.gates("budget")}
    for i in range(6):
        assert subjects[(f"test_x.py::test_ok[{i}]", "seconds")] == "pass"
    assert subjects[("test_x.py::test_slow", "seconds")] == "fail"
    assert subjects[("test_x.py::test_mem", "memory_mb")] == "fail"
    assert subjects[("test_x.py::test_perf::sum", "p99")] == "pass"
    assert run.level == "hold"
    run.result.stdout.fnmatch_lines(["*FAILED test_x.py::test_slow - call took *"])


# ------------------------------------------------------------------ units


def test_marker_signature() -> None:
    assert budget(1) == {"seconds": 1.0}
    assert budget(memory_mb=2, p99=0.5) == {"memory_mb": 2.0, "p99": 0.5}
    with pytest.raises(TypeError, match="unexpected keyword"):
        budget(p90=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="positional"):
        budget(1, 2)  # type: ignore[misc]
    for bad in (0, -1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="positive, finite"):
            budget(bad)


def test_config_globs() -> None:
    table = ConfigBudgets({
        "tests/test_api.py::test_a[1]": {"seconds": 1.0},
        "tests/test_api.py::*": {"seconds": 2.0},
        "tests/*": {"seconds": 3.0},
        "tests/test_?.py::t": {"seconds": 4.0},
    })
    assert table.match("tests/test_api.py::test_a[1]") == ("tests/test_api.py::test_a[1]", {"seconds": 1.0})
    assert table.match("tests/test_api.py::test_a[2]") == ("tests/test_api.py::*", {"seconds": 2.0})
    assert table.match("tests/sub/test_b.py::C::t") == ("tests/*", {"seconds": 3.0})  # * crosses / and ::
    assert table.match("tests/test_x.py::t") == ("tests/*", {"seconds": 3.0})  # the first glob in the file wins
    assert table.match("other/test_b.py::t") is None
    assert table.unmatched(["tests/test_x.py::t"]) == ["tests/test_api.py::test_a[1]", "tests/test_api.py::*"]
    # brackets in keys are literal
    assert ConfigBudgets({"t.py::x[a*]": {"seconds": 1.0}}).match("t.py::x[ab]") is not None
    assert ConfigBudgets({"t.py::x[a*]": {"seconds": 1.0}}).match("t.py::xa") is None


def test_formatting() -> None:
    assert fmt_seconds(1.42) == "1.42 s"
    assert fmt_seconds(0.05) == "50.0 ms"
    assert fmt_seconds(0.00002) == "20.0 µs"  # one spelling of the unit everywhere (regression, trends)
    assert fmt_seconds(0.3, like=0.05) == "300 ms"
    assert fmt_wall(0.3, like=0.05) == "0.300 s"
    assert fmt_wall(1.42, like=1.0) == "1.42 s"
    assert fmt_wall(0.0004, like=0.001) == "0.0004 s"
    assert fmt_wall(0.0023, like=1.0) == "0.002 s"  # far under the limit: never "0.00 s"
    assert fmt_ratio(1.42) == "1.42x"  # the regression gate's format too
    assert fmt_ratio(0.851) == "0.85x"
    assert fmt_ratio(23.4) == "23.4x"
    assert fmt_ratio(0.002) == fmt_ratio(0.0) == "<0.01x"  # a passing budget is not "(0.00x)"
    over = budgets.BudgetCheck("seconds", 1.42, 1.0, "marker")
    assert budgets._report_line(over) == "call took 1.42 s, budget 1.00 s"


def test_many_passing_budgets_are_summed_up(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    pytester.makepyfile(test_many="""
        import pytest

        @pytest.mark.parametrize("i", range(130))
        @pytest.mark.budget(30)
        def test_ok(i):
            pass

        @pytest.mark.budget(0.05)
        def test_slow():
            import time
            time.sleep(0.2)
    """)
    run = run_gate()
    passed = run.gates("budget", "pass")
    assert len(passed) == budgets.MAX_LISTED_PASSES + 1
    summary = [g for g in passed if g["subject"] == ""]
    assert summary[0]["budgets_met"] == 30 and summary[0]["message"].startswith("30 more budgets met")
    assert [g["subject"] for g in run.gates("budget", "fail")] == ["test_many.py::test_slow"]


def test_exitfirst_stops_at_the_test_over_budget(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    pytester.makepyfile(test_a="""
        import time
        import pytest

        @pytest.mark.budget(0.05)
        def test_1_slow():
            time.sleep(0.2)

        def test_2_never_runs():
            pass
    """)
    run = run_gate("-x")
    run.result.assert_outcomes(failed=1)
    assert run.level == "hold"
    assert _gate(run, "test_a.py::test_1_slow")["status"] == "fail"
