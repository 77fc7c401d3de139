"""``perf.measure(..., counter="instructions")``: instruction counts under Valgrind as tracked metrics.

Tests without the ``valgrind`` marker never start Valgrind (most hide it from PATH). The ``valgrind``
tier counts for real; each counted metric costs a few seconds, so it stays small, and ``.ci/run`` runs it
on its own (``-m valgrind``).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import platform
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_release_gates.gates.regression import compare as regression
from pytest_release_gates.measure import instructions

RunGate = Callable[..., Any]

WORKLOAD = """
import json

DOC = {"users": [{"id": i, "name": f"user{i}", "tags": ["a", "b"]} for i in range(8)]}
EXTRA = 0


def work(n):
    total = 0
    for i in range(n + EXTRA):
        total += i * i
    return total + len(json.dumps(DOC))
"""

COUNTED_TEST = """
from wl import work

def test_counted(perf):
    stats = perf.measure(work, 2000, rounds=20, warmup=2, counter="instructions")
    print("STATS", stats.counter, stats.rounds, len(stats.samples), round(stats.median))
"""


def test_child_path_names_each_folder_once_and_renames_roots() -> None:
    """Both A/B sides count with paths of one shape: the base side's extra working-tree root is renamed away."""
    base_side = ["/p/tests", "/b/src", "/p/src", "/p", "/b/src", "/usr/lib/python3"]
    current_side = ["/p/tests", "/p/src", "/p/src", "/p", "/p/src", "/usr/lib/python3"]
    expected_base = ["/p/tests", "/b/src", "/p", "/usr/lib/python3"]
    assert instructions.child_path(base_side, [("/p/src", "/b/src")]) == expected_base
    assert instructions.child_path(current_side) == ["/p/tests", "/p/src", "/p", "/usr/lib/python3"]
    assert instructions.child_path(["/p/src/x", "/p"], [("/p/src", "/b/src")]) == ["/p/src/x", "/p"]  # exact only


def test_base_side_path_map_pairs_roots_by_relative_folder(tmp_path: Path) -> None:
    from pytest_release_gates.gates.ab import layout

    root, base = tmp_path / "proj", tmp_path / "scratch" / "base"
    pairs = layout.path_map(root, base, [str(root / "src"), str(root / "lib"), "/elsewhere"],
                            [str(base / "src")])
    assert pairs == ((str(root / "src"), str(base / "src")),)


@pytest.fixture
def no_valgrind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PATH with no valgrind on it (the inner pytest is started by absolute path: it needs no PATH)."""
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


# ---------------------------------------------------------------- without Valgrind


def test_inert_without_release_gate(pytester: pytest.Pytester, no_valgrind: None) -> None:
    pytester.makepyfile(wl=WORKLOAD, test_c=COUNTED_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*STATS time 20 20 *"])  # timed as usual: seconds, one sample per round
    assert not (pytester.path / ".release-gates").exists()


def test_uncountable_calls_fail_with_one_line_with_or_without_the_gate(pytester: pytest.Pytester,
                                                                         no_valgrind: None) -> None:
    pytester.makepyfile(wl=WORKLOAD, test_bad="""
        import threading
        from wl import work

        def test_lambda(perf):
            perf.measure(lambda: work(10), counter="instructions")

        def test_closure(perf):
            def inner():
                return work(10)
            perf.measure(inner, counter="instructions")

        def test_unpicklable(perf):
            perf.measure(work, threading.Lock(), counter="instructions")

        def test_seconds_limit(perf):
            perf.measure(work, 10, p95=0.01, max=0.1, counter="instructions")

        def test_unknown_counter(perf):
            perf.measure(work, 10, counter="cycles")

        def test_fine(perf):
            perf.measure(work, 10, rounds=3, counter="time")
    """)
    for gate in ([], ["--release-gate"]):
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *gate)
        result.assert_outcomes(failed=5, passed=1)
        result.stdout.fnmatch_lines([
            "invalid perf.measure in test_bad.py::test_lambda: counter='instructions': a lambda cannot be imported "
            "by the counting process: define the function with def at module level*",
            "invalid perf.measure in test_bad.py::test_closure: counter='instructions': test_closure.<locals>.inner "
            "is defined inside a function and cannot be imported by the counting process: move it to module level*",
            "invalid perf.measure in test_bad.py::test_unpicklable: counter='instructions': the function and its "
            "arguments must pickle to reach the counting process: *lock*",
            "invalid perf.measure in test_bad.py::test_seconds_limit: p95=, max= are limits in seconds, and this "
            "measurement counts instructions: drop the limit*or time this measurement with counter='time'",
            "invalid perf.measure in test_bad.py::test_unknown_counter: counter must be one of 'time', "
            "'instructions', got 'cycles'",
        ])
        out = result.stdout.str()
        assert "Traceback" not in out and "During handling" not in out


def test_importlib_mode_test_module_names_what_to_change(pytester: pytest.Pytester, no_valgrind: None) -> None:
    # The project is a folder of its own: pytester puts its own folder on PYTHONPATH, and a module there would be
    # importable after all. Under --import-mode=importlib nothing puts the project's folder on sys.path.
    project = pytester.mkdir("proj")
    (project / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    (project / "test_here.py").write_text(
        "def work(n):\n    return sum(range(n))\n\n"
        "def test_here(perf):\n    perf.measure(work, 10, counter='instructions')\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--import-mode=importlib", "proj")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["invalid perf.measure in test_here.py::test_here: counter='instructions': work "
                                 "(module test_here) was imported by pytest with --import-mode=importlib and "
                                 "cannot be imported again in the counting process*use --import-mode=prepend"])
    # The default import mode (prepend) puts the test's folder on sys.path: the same function is countable.
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "proj").assert_outcomes(passed=1)


def test_missing_valgrind_holds_and_keeps_the_entry(pytester: pytest.Pytester, run_gate: RunGate,
                                                     no_valgrind: None) -> None:
    pytester.makepyprojecttoml('[tool.release_gates]\nperf_counter = "instructions"\n')
    pytester.makepyfile(wl=WORKLOAD, test_c=COUNTED_TEST.replace(', counter="instructions"', ""))
    entry = {"count": 10, "count_env": "0123456789ab", "direction": "lower", "median": 60000.0,
             "samples": [60000.0] * 10, "source": "perf", "spread": 0.0, "unit": "instructions"}
    text = json.dumps({"schema": "pytest-release-gates/baseline/1", "regression": {"test_c.py::test_counted::work":
                                                                                  entry}}, indent=2)
    baseline = pytester.path / "release-gates.baseline.json"
    baseline.write_text(text)
    for extra in ([], ["--gate-update-baseline"]):
        run = run_gate("-s", *extra)
        assert run.level == "hold" and run.ret == 1, run.stdout
        run.result.assert_outcomes(passed=1)  # the test ran (timed, as without --release-gate)
        run.result.stdout.fnmatch_lines(["*STATS time 20 20 *"])
        [gate] = run.gates("regression", "fail")
        assert gate["subject"] == "test_c.py::test_counted::work" and gate["level"] == "hold"
        assert gate["message"].startswith("not measured: counting instructions needs Valgrind, which is not "
                                          "installed here (no valgrind on PATH): install it (apt-get install "
                                          "valgrind")
        assert "\n" not in gate["message"]
        assert json.loads(baseline.read_text())["regression"]["test_c.py::test_counted::work"] == entry


def test_config_keys_are_validated(pytester: pytest.Pytester, run_gate: RunGate, no_valgrind: None) -> None:
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    for line, word in (('perf_counter = "cycles"', "perf_counter: expected one of 'time', 'instructions'"),
                       ("counter_tolerance = -0.1", "counter_tolerance: must be at least 0")):
        pytester.makepyprojecttoml(f"[tool.release_gates]\n{line}\n")
        run = run_gate()
        assert run.ret == 4
        assert word in run.result.stderr.str()
    pytester.makepyprojecttoml('[tool.release_gates]\nperf_counter = "instructions"\n')
    pytester.makepyfile(test_x="""
        from wl import work
        def test_x(perf):
            perf.measure(work, 10, p99=0.5)
    """, wl=WORKLOAD)
    run = run_gate()
    run.result.stdout.fnmatch_lines(["*p99= is a limit in seconds, and this measurement counts instructions "
                                     "(pyproject.toml [[]tool.release_gates] perf_counter = 'instructions'): *"])


# ---------------------------------------------------------------- units


def _entry(samples: list[float]) -> dict[str, Any]:
    return {"median": sorted(samples)[len(samples) // 2], "samples": samples}


def test_exact_repeats_need_no_significance_test() -> None:
    same = [1_511_210.0] * 10
    c = regression.compare(same, True, False, _entry(same), 0.01, 1.5, None, True)
    assert (c.outcome, c.ratio, c.p) == (regression.OK, 1.0, None)
    assert c.note == "counts repeat exactly: no significance test needed"
    c = regression.compare([1_557_985.0] * 10, True, False, _entry(same), 0.01, 1.5, None, True)
    assert c.outcome == regression.REGRESSED and c.p is None and round(c.ratio, 3) == 1.031
    assert regression.compare([1_518_000.0] * 10, True, False, _entry(same), 0.01, 1.5, None, True).outcome == \
        regression.OK  # 0.45%: within counter_tolerance
    # Without the counted flag the same exact samples go through the rank test, as timings do.
    assert regression.compare([1_557_985.0] * 10, True, False, _entry(same), 0.01, 1.5).p is not None


def test_counts_that_vary_fall_back_to_the_rank_test() -> None:
    base = [1000.0 + 60 * (i % 5) for i in range(10)]  # 21% apart: depends on something outside
    c = regression.compare([v * 1.03 for v in base[::-1]], True, False, _entry(base), 0.01, 1.5, None, True)
    assert c.outcome == regression.NOISE and c.p is not None and c.p >= 0.002
    assert "counts vary by up to 21.43% between batches (does the function depend on time, randomness" in c.note
    tight = [1000.0, 1000.5] * 5  # allocator bookkeeping: 0.05%
    c = regression.compare([2040.0, 2041.0] * 5, True, False, _entry(tight), 0.01, 1.5, None, True)
    assert c.outcome == regression.REGRESSED and c.p is not None and c.p < 0.002
    assert "counts vary by up to 0.05% between batches, so the rank test decides too" in c.note


def test_formatting_of_counts() -> None:
    assert regression.fmt_value(1_511_210.4, "instructions") == "1,511,210"
    assert regression.fmt_ratio(1.0309, 3) == "1.031x" and regression.fmt_tolerance(0.005) == "0.5%"


def test_environment_differences_name_what_changed() -> None:
    now = {"python": "3.11.7", "valgrind": "3.19.0", "cpu": "haswell", "method": instructions.METHOD}
    assert instructions.differences(dict(now), now) == []
    was = {**now, "python": "3.11.6", "valgrind": "3.18.1"}
    assert instructions.differences(was, now) == ["Python 3.11.7 (baseline: 3.11.6)",
                                                  "Valgrind 3.19.0 (baseline: 3.18.1)"]
    assert instructions.differences(None, now) == ["the baseline does not say where it was counted"]
    assert instructions.environment_id(was) != instructions.environment_id(now)


def _module_level(n: int) -> int:
    return n


class _Holder:
    def method(self, n: int) -> int:
        return n


def test_prepare_accepts_what_another_process_can_rebuild() -> None:
    for func, args in ((_module_level, (3,)), (functools.partial(_module_level, 3), ()), (sorted, ([2, 1],)),
                       (_Holder().method, (1,)), (os.path.join, ("a", "b"))):
        assert isinstance(instructions.prepare(func, args, {}), bytes)


def test_prepare_refuses_what_it_cannot(tmp_path: Path) -> None:
    with pytest.raises(instructions.NotCountable, match="a lambda"):
        instructions.prepare(lambda: 1, (), {})
    with pytest.raises(instructions.NotCountable, match="must pickle"):
        instructions.prepare(_module_level, (threading.Lock(),), {})
    with pytest.raises(instructions.NotCountable, match="must pickle"):
        instructions.prepare(_module_level, (), {"n": lambda: 2})
    # A module loaded from a file that is not on sys.path (what --import-mode=importlib does).
    path = tmp_path / "loose_module_xyz.py"
    path.write_text("def f(n):\n    return n\n")
    spec = importlib.util.spec_from_file_location("loose_module_xyz", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["loose_module_xyz"] = module
    try:
        spec.loader.exec_module(module)
        with pytest.raises(instructions.NotCountable, match=r"f \(module loose_module_xyz\) cannot be imported again"):
            instructions.prepare(module.f, (1,), {})
        with pytest.raises(instructions.NotCountable, match="--import-mode=importlib"):
            instructions.prepare(module.f, (1,), {}, importlib_mode=True)
    finally:
        del sys.modules["loose_module_xyz"]


def test_unavailable_says_how_to_get_valgrind(no_valgrind: None) -> None:
    why = instructions.unavailable()
    assert why is not None and "apt-get install valgrind" in why and "container" in why


# ---------------------------------------------------------------- with Valgrind


@pytest.mark.valgrind
def test_counted_metric_records_compares_and_warns_across_environments(pytester: pytest.Pytester,
                                                                      run_gate: RunGate, run_cli: RunGate) -> None:
    pytester.makepyfile(wl=WORKLOAD, test_c=COUNTED_TEST.replace('counter="instructions"', 'counter="time"'))
    key = "test_c.py::test_counted::work"
    assert run_gate("--gate-update-baseline").level == "deploy"  # timed first
    pytester.makepyfile(test_c=COUNTED_TEST)
    record = run_gate("--gate-update-baseline", "-s", "-n", "2")  # counted on an xdist worker
    assert record.level == "deploy", record.stdout
    baseline_path = pytester.path / "release-gates.baseline.json"
    doc = json.loads(baseline_path.read_text())
    entry = doc["regression"][key]
    assert entry["unit"] == "instructions" and len(entry["samples"]) == 10 and "machine" not in entry
    env = doc["meta"]["count_envs"][entry["count_env"]]
    assert env["python"] == platform.python_version() and env["valgrind"] and env["cpu_features"]
    assert env["pinned"].startswith("PYTHONHASHSEED=0 ")
    assert f"-> {regression.fmt_value(entry['median'], 'instructions')}, re-recorded in instructions (was s)" \
        in record.stdout
    run_cli("baseline", "show").stdout.fnmatch_lines([
        f"  counted {entry['count_env']}: Python {platform.python_version()}, Valgrind {env['valgrind']}, *"])

    same = run_gate("-s")
    assert same.level == "deploy", same.stdout
    same.result.stdout.fnmatch_lines(["*STATS instructions 20 10 *"])  # counts per call; rounds = calls counted
    [gate] = [g for g in same.gates("regression") if g["subject"] == key]
    assert gate["status"] == "pass" and gate["value"] == pytest.approx(1.0, abs=0.002), gate
    assert "of baseline, within tolerance 1% (" in gate["message"] and gate["counter"] == "instructions"

    (pytester.path / "wl.py").write_text(WORKLOAD.replace("EXTRA = 0", "EXTRA = 50"))  # 2.5% more loop work
    slower = run_gate()
    assert slower.level == "hold", slower.stdout
    [gate] = slower.gates("regression", "fail")
    assert gate["subject"] == key and 1.01 < gate["value"] < 1.04, gate
    assert f"{regression.fmt_ratio(gate['value'], 3)} more instructions than baseline (" in gate["message"]

    doc["meta"]["count_envs"][entry["count_env"]]["python"] = "3.0.1"  # as if counted under another patch release
    baseline_path.write_text(json.dumps(doc, indent=2))
    elsewhere = run_gate()
    assert elsewhere.level == "deploy" and elsewhere.ret == 0, elsewhere.stdout
    [gate] = [g for g in elsewhere.gates("regression") if g["subject"] == key]
    assert gate["status"] == "warn" and "more instructions than baseline" in gate["message"]
    assert f"counted in another environment than the baseline (Python {platform.python_version()} (baseline: " \
           "3.0.1)): warning only" in gate["message"]
    assert gate["counted_elsewhere"] == [f"Python {platform.python_version()} (baseline: 3.0.1)"]
    elsewhere.result.stdout.fnmatch_lines(["*1 instruction-count metrics compared against counts taken in another "
                                           "environment*Re-record the baseline where the gate runs (in CI: *"
                                           "--gate-compare-ref*"])


@pytest.mark.valgrind
def test_failure_in_the_counting_process_fails_the_test(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    pytester.makepyfile(wl="def boom(n):\n    return 1 // n\n", test_b="""
        from wl import boom

        def test_boom(perf):
            perf.measure(boom, 0, rounds=3, counter="instructions")
    """)
    run = run_gate()
    run.result.assert_outcomes(failed=1)
    run.result.stdout.fnmatch_lines(["*invalid perf.measure in test_b.py::test_boom: counter='instructions': the "
                                     "function raised in the counting process: ZeroDivisionError: *"])
    assert run.level == "hold"


GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]


@pytest.mark.valgrind
def test_compare_ref_counts_both_sides_in_the_same_job(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    (root / "src" / "wl").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pyproject.toml").write_text('[project]\nname = "wl"\nversion = "1.0"\n\n[tool.pytest.ini_options]\n'
                                         'pythonpath = ["src"]\n')
    (root / ".gitignore").write_text(".release-gates/\n__pycache__/\n")
    (root / "tests" / "test_c.py").write_text(COUNTED_TEST)
    for i, extra in enumerate((0, 100)):  # the working tree does 5% more loop work than HEAD~1
        (root / "src" / "wl" / "__init__.py").write_text(WORKLOAD.replace("EXTRA = 0", f"EXTRA = {extra}"))
        if i == 0:
            subprocess.run([*GIT, "init", "-q"], cwd=root, check=True)
        subprocess.run([*GIT, "add", "-A"], cwd=root, check=True)
        subprocess.run([*GIT, "commit", "-q", "-m", f"c{i}"], cwd=root, check=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "--release-gate", "-p", "no:cacheprovider",
                           "--gate-compare-ref=HEAD~1"], cwd=root, capture_output=True, text=True, env=env,
                          timeout=900)
    verdict = json.loads((root / ".release-gates" / "verdict.json").read_text())
    assert verdict["verdict"] == "hold", proc.stdout + proc.stderr
    [gate] = [g for g in verdict["gates"] if g["subject"] == "tests/test_c.py::test_counted::work"]
    assert gate["status"] == "fail" and gate["compare_ref"] == "HEAD~1", gate
    assert 1.02 < gate["value"] < 1.08
    assert " more instructions vs HEAD~1 (" in gate["message"]
    assert "; 10 vs 10 batches, counted under Valgrind; tolerance 1%)" in gate["message"]
    assert gate["samples"] == [10, 10] and gate["rounds_slower"] == [3, 3]
