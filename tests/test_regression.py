"""The regression baseline cycle end to end: record, compare, regress, roll back, improve, accept, prune."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import PERF_SQUARES, GateRun

RunGate = Callable[..., GateRun]
BASELINE = "release-gates.baseline.json"

#: Inner runs go in-process (conftest ``run_gate``): metrics from ``gate_metric`` and sleeps are data, not
#: global state. Measured CPU work (perf, pytest-benchmark) and every ``-n`` run stay in a subprocess.
RUN_GATE_INLINE = True

METRICS = """
import os
F = float(os.environ.get("F", "1"))

def test_size(gate_metric):
    gate_metric("size", 100 * F)

def test_accuracy(gate_metric):
    gate_metric("acc", 0.9 / F, higher_is_better=True)
"""


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CI", "F", "RELEASE_GATES_MACHINE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyprojecttoml('[project]\nname = "demo"\nversion = "1.0.0"\n\n[tool.release_gates]\n')
    pytester.makepyfile(test_metrics=METRICS)
    return pytester


def read(p: pytest.Pytester) -> dict[str, Any]:
    return json.loads((p.path / BASELINE).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def write(p: pytest.Pytester, doc: dict[str, Any]) -> None:
    (p.path / BASELINE).write_text(json.dumps(doc, indent=2), encoding="utf-8")


def gate(run: GateRun, subject: str) -> dict[str, Any]:
    found = [g for g in run.gates("regression") if g["subject"] == subject]
    assert len(found) == 1, (subject, run.gates("regression"))
    return found[0]


def test_no_baseline_every_metric_is_new_and_warns(project: pytest.Pytester, run_gate: RunGate) -> None:
    r = run_gate()
    assert r.level == "deploy" and r.ret == 0
    g = gate(r, "test_metrics.py::test_size::size")
    assert g["status"] == "warn" and "new metric, not in baseline" in g["message"]
    assert not (project.path / BASELINE).exists()


def test_record_compare_and_identical_rewrite(project: pytest.Pytester, run_gate: RunGate) -> None:
    r = run_gate("--gate-update-baseline")
    assert r.level == "deploy", r.stdout
    assert "2 added, 0 changed, 0 removed" in r.stdout
    doc = read(project)
    assert doc["schema"] == "pytest-release-gates/baseline/1"
    assert doc["regression"]["test_metrics.py::test_size::size"]["median"] == 100
    assert doc["regression"]["test_metrics.py::test_accuracy::acc"]["direction"] == "higher"
    assert doc["meta"]["project_version"] == "1.0.0" and doc["meta"]["python"]
    first = (project.path / BASELINE).read_bytes()

    again = run_gate("--gate-update-baseline")
    assert "baseline unchanged" in again.stdout
    assert (project.path / BASELINE).read_bytes() == first

    cmp = run_gate()
    assert cmp.level == "deploy"
    assert gate(cmp, "test_metrics.py::test_size::size")["status"] == "pass"
    summary = gate(cmp, "baseline")
    assert summary["baseline_version"] == "1.0.0" and summary["project_version"] == "1.0.0"


@pytest.mark.parametrize(
    ("factor", "level", "ratio"), [(1.3, "hold", 1.3), (1.6, "rollback", 1.6), (1.19, "deploy", 1.19)]
)
def test_regression_by_ratio(
    project: pytest.Pytester,
    run_gate: RunGate,
    monkeypatch: pytest.MonkeyPatch,
    factor: float,
    level: str,
    ratio: float,
) -> None:
    run_gate("--gate-update-baseline")
    monkeypatch.setenv("F", str(factor))
    r = run_gate()
    assert r.level == level, r.stdout
    for subject in ("test_metrics.py::test_size::size", "test_metrics.py::test_accuracy::acc"):
        g = gate(r, subject)
        assert g["value"] == pytest.approx(ratio, rel=1e-4)
        assert g["status"] == ("pass" if level == "deploy" else "fail")
        if level != "deploy":
            assert g["level"] == level and "worse than baseline" in g["message"]
    assert r.ret == (0 if level == "deploy" else 1)


def test_improvement_is_a_stale_baseline_warning(
    project: pytest.Pytester, run_gate: RunGate, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_gate("--gate-update-baseline")
    monkeypatch.setenv("F", "0.5")
    r = run_gate()
    assert r.level == "deploy"
    g = gate(r, "test_metrics.py::test_size::size")
    assert g["status"] == "warn" and "stale baseline: consider --gate-update-baseline" in g["message"]


def test_per_metric_tolerance_replaces_the_configured_one(
    pytester: pytest.Pytester, run_gate: RunGate, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyprojecttoml("[tool.release_gates]\nregression_tolerance = 0.05\n")
    pytester.makepyfile("""
        import os
        F = float(os.environ.get("F", "1"))
        def test_m(gate_metric):
            gate_metric("loose", 10 * F, tolerance=0.4)
            gate_metric("tight", 10 * F)
    """)
    run_gate("--gate-update-baseline")
    monkeypatch.setenv("F", "1.3")
    r = run_gate()
    assert gate(r, "test_per_metric_tolerance_replaces_the_configured_one.py::test_m::loose")["status"] == "pass"
    tight = gate(r, "test_per_metric_tolerance_replaces_the_configured_one.py::test_m::tight")
    assert tight["status"] == "fail" and tight["limit"] == pytest.approx(1.05)
    assert r.level == "hold"


def test_regression_marker_tracks_call_duration(
    pytester: pytest.Pytester, run_gate: RunGate, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile("""
        import os, time, pytest
        @pytest.mark.regression(tolerance=0.5)
        def test_slow():
            time.sleep(0.06 * float(os.environ.get("F", "1")))
    """)
    r = run_gate("--gate-update-baseline")
    key = "test_regression_marker_tracks_call_duration.py::test_slow::duration"
    entry = read(pytester)["regression"][key]
    assert entry["unit"] == "s" and 0.05 < entry["median"] < 1.0 and entry["source"] == "regression"
    monkeypatch.setenv("F", "4")
    r = run_gate()
    g = gate(r, key)
    assert r.level == "rollback" and g["status"] == "fail" and "slower than baseline" in g["message"]


def test_update_accepts_a_regression_and_keeps_a_backup(
    project: pytest.Pytester, run_gate: RunGate, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_gate("--gate-update-baseline")
    before = (project.path / BASELINE).read_bytes()
    monkeypatch.setenv("F", "1.6")
    r = run_gate("--gate-update-baseline")
    assert r.level == "deploy", r.stdout
    assert "changed test_metrics.py::test_size::size: 100 -> 160, accepted 1.60x worse" in r.stdout
    assert (project.path / ".release-gates" / (BASELINE + ".bak")).read_bytes() == before  # a machine file
    assert read(project)["regression"]["test_metrics.py::test_size::size"]["median"] == 160
    assert run_gate().level == "deploy"


def test_metrics_of_failing_tests_are_not_recorded(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    pytester.makepyfile("""
        def test_ok(gate_metric):
            gate_metric("good", 1)
        def test_bad(gate_metric):
            gate_metric("bad", 1)
            assert False
    """)
    r = run_gate("--gate-update-baseline")
    assert r.level == "hold"
    keys = set(read(pytester)["regression"])
    assert keys == {"test_metrics_of_failing_tests_are_not_recorded.py::test_ok::good"}
    assert "not recorded: 1 metrics of tests that did not pass" in r.stdout


def test_prune_only_after_a_complete_run(project: pytest.Pytester, run_gate: RunGate) -> None:
    project.makepyfile(test_other="def test_o(gate_metric):\n    gate_metric('n', 3)\n")
    run_gate("--gate-update-baseline")
    assert "test_other.py::test_o::n" in read(project)["regression"]
    (project.path / "test_other.py").unlink()
    partial = run_gate("--gate-update-baseline", "-k", "size")
    assert "test_other.py::test_o::n" in read(project)["regression"]
    assert "kept 2 entries of tests not in this run (partial run: -k 'size')" in partial.stdout
    full = run_gate("--gate-update-baseline")
    assert "removed test_other.py::test_o::n: the test no longer exists" in full.stdout
    assert set(read(project)["regression"]) == {
        "test_metrics.py::test_size::size",
        "test_metrics.py::test_accuracy::acc",
    }


def test_prune_a_metric_the_test_no_longer_measures(project: pytest.Pytester, run_gate: RunGate) -> None:
    run_gate("--gate-update-baseline")
    project.makepyfile(
        test_metrics="def test_size(gate_metric):\n    gate_metric('size', 100)\ndef test_accuracy():\n    pass\n"
    )
    r = run_gate("--gate-update-baseline")
    assert "removed test_metrics.py::test_accuracy::acc: the test no longer measures it" in r.stdout


def test_cycle_under_xdist(project: pytest.Pytester, run_gate: RunGate, monkeypatch: pytest.MonkeyPatch) -> None:
    project.makepyfile(
        test_more="""
        import os
        def test_a(gate_metric):
            gate_metric("a", 5 * float(os.environ.get("F", "1")))
        def test_b(gate_metric):
            gate_metric("b", 7)
    """
    )
    rec = run_gate("--gate-update-baseline", "-n", "2")
    assert rec.level == "deploy", rec.stdout
    assert len(read(project)["regression"]) == 4
    monkeypatch.setenv("F", "1.3")
    r = run_gate("-n", "2")
    assert r.level == "hold"
    failing = {g["subject"] for g in r.gates("regression", "fail")}
    assert failing == {
        "test_more.py::test_a::a",
        "test_metrics.py::test_size::size",
        "test_metrics.py::test_accuracy::acc",
    }
    assert gate(r, "test_more.py::test_b::b")["status"] == "pass"


def _with_debt(p: pytest.Pytester, **debt: str) -> None:
    doc = read(p)
    doc["regression"]["test_metrics.py::test_size::size"].update(debt)
    write(p, doc)


def test_expired_debt_holds_again_naming_the_owner(project: pytest.Pytester, run_gate: RunGate) -> None:
    run_gate("--gate-update-baseline")
    _with_debt(project, reason="new parser", owner="alice", expires="2020-01-31")
    r = run_gate()
    assert r.level == "hold"
    g = gate(r, "test_metrics.py::test_size::size")
    assert g["status"] == "fail" and "expired on 2020-01-31" in g["message"] and "owner: alice" in g["message"]


def test_debt_expiring_soon_is_listed(project: pytest.Pytester, run_gate: RunGate) -> None:
    run_gate("--gate-update-baseline")
    soon = (dt.date.today() + dt.timedelta(days=5)).isoformat()
    _with_debt(project, owner="bob", expires=soon)
    r = run_gate()
    assert r.level == "deploy"
    g = gate(r, "test_metrics.py::test_size::size")
    assert g["status"] == "warn" and f"expires on {soon} (in 5 days; owner: bob)" in g["message"]
    later = (dt.date.today() + dt.timedelta(days=60)).isoformat()
    _with_debt(project, owner="bob", expires=later)
    assert gate(run_gate(), "test_metrics.py::test_size::size")["status"] == "pass"


def test_debt_survives_rerecording_and_is_dropped_once_paid(
    project: pytest.Pytester, run_gate: RunGate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("F", "1.6")
    run_gate("--gate-update-baseline")
    later = (dt.date.today() + dt.timedelta(days=60)).isoformat()
    _with_debt(project, owner="bob", reason="accepted for 1.1", expires=later)
    monkeypatch.setenv("F", "2.0")
    r = run_gate("--gate-update-baseline")
    assert "still carries accepted debt (owner: bob" in r.stdout
    assert read(project)["regression"]["test_metrics.py::test_size::size"]["owner"] == "bob"
    monkeypatch.setenv("F", "1")
    r = run_gate("--gate-update-baseline")
    assert "accepted debt paid off" in r.stdout
    assert "owner" not in read(project)["regression"]["test_metrics.py::test_size::size"]


@pytest.mark.timing  # timed sleeps compared against hold and rollback thresholds: a busy machine stretches them
def test_other_machine_regressions_only_warn_unless_strict(
    project: pytest.Pytester, run_gate: RunGate, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.makepyfile(test_timed="""
        import os, time
        import pytest

        @pytest.mark.regression
        def test_wait():
            time.sleep(0.1 * float(os.environ.get("T", "1")))
    """)
    monkeypatch.setenv("RELEASE_GATES_MACHINE", "laptop")
    run_gate("--gate-update-baseline")
    monkeypatch.setenv("RELEASE_GATES_MACHINE", "ci-runner")
    monkeypatch.setenv("T", "3")  # a timing, 3x slower on another machine: only a warning, even past rollback_ratio
    r = run_gate()
    assert r.level == "deploy", r.stdout
    g = gate(r, "test_timed.py::test_wait::duration")
    # Beside a DEPLOY, the machine comes first, then the figure, and the rollback is what it would be.
    assert g["status"] == "warn" and g["message"].startswith(
        "baseline recorded on another machine, so a warning only (strict_machine = false): "), g["message"]
    assert "on the same machine this would roll back at 1.5x" in g["message"] and ", rollback at" not in g["message"]
    assert "baseline from another machine (machine 'laptop'" in r.stdout and "strict_machine = true" in r.stdout
    monkeypatch.setenv("T", "1.35")
    monkeypatch.setenv("F", "1.3")  # a size is the same on any machine: still a failure
    r = run_gate()
    assert r.level == "hold"
    assert gate(r, "test_metrics.py::test_size::size")["status"] == "fail"
    monkeypatch.delenv("F")
    project.makepyprojecttoml("[tool.release_gates]\nstrict_machine = true\n")
    assert run_gate().level == "hold"


def test_ci_update_warns_but_still_updates(
    project: pytest.Pytester, run_gate: RunGate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    r = run_gate("--gate-update-baseline")
    assert "baselines are normally accepted locally and committed" in r.stdout
    assert (project.path / BASELINE).exists()


def test_older_project_version_warns(project: pytest.Pytester, run_gate: RunGate) -> None:
    run_gate("--gate-update-baseline")
    project.makepyprojecttoml('[project]\nname = "demo"\nversion = "0.9.0"\n')
    r = run_gate()
    assert r.level == "deploy"
    g = gate(r, "project version")
    assert g["status"] == "warn" and "0.9.0 is older than the baseline's 1.0.0" in g["message"]
    assert gate(r, "baseline")["baseline_version"] == "1.0.0"


BAD_CALLS = [
    ('gate_metric("m", float("nan"))', "value must be a finite number, got nan"),
    ('gate_metric("m", "12")', "value must be a number, got '12'"),
    ('gate_metric("m", 1); gate_metric("m", 2)', "metric 'm' recorded twice"),
    ('gate_metric("m", 1, tolerance=-0.1)', "tolerance must not be negative"),
    ('gate_metric("m", True)', "value must be a number, got True"),
]


@pytest.mark.parametrize(("call", "message"), BAD_CALLS)
def test_bad_gate_metric_calls_fail_the_test_in_one_line(
    pytester: pytest.Pytester, run_gate: RunGate, call: str, message: str
) -> None:
    pytester.makepyfile(f"def test_it(gate_metric):\n    {call}\n")
    r = run_gate()
    assert r.level == "hold"
    assert "Traceback" not in r.stdout
    r.result.stdout.fnmatch_lines([f"*invalid gate_metric in *::test_it: *{message}*"])


def test_bad_regression_marker_fails_in_one_line(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    pytester.makepyfile("""
        import pytest
        @pytest.mark.regression(tolerance=-1)
        def test_it():
            pass
        @pytest.mark.regression(tol=0.1)
        def test_typo():
            pass
    """)
    r = run_gate()
    assert r.level == "hold" and "Traceback" not in r.stdout
    r.result.stdout.fnmatch_lines(["*invalid @pytest.mark.regression in *::test_it: tolerance must not be negative*"])
    r.result.stdout.fnmatch_lines(["*invalid @pytest.mark.regression in *::test_typo: *unexpected keyword*"])


def test_without_release_gate_nothing_is_written(project: pytest.Pytester, run_gate: RunGate) -> None:
    r = run_gate("--gate-update-baseline", gate=False)
    assert r.ret == 4  # the core refuses the option without --release-gate
    assert not (project.path / BASELINE).exists()


PERF = PERF_SQUARES


@pytest.mark.timing
def test_perf_samples_regress_only_when_significant(
    pytester: pytest.Pytester, run_gate: RunGate, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Wide margins: on a shared VM the same code's speed can swing 2x between runs a second apart.
    pytester.makepyprojecttoml("[tool.release_gates]\nregression_tolerance = 1.5\nrollback_ratio = 4.0\n")
    pytester.makepyfile(test_p=PERF)
    run_gate("--gate-update-baseline", subprocess=True)  # timed work: in a process of its own
    entry = read(pytester)["regression"]["test_p.py::test_perf::squares"]
    assert entry["count"] == 30 and len(entry["samples"]) == 30 and entry["source"] == "perf"
    same = run_gate(subprocess=True)
    g = gate(same, "test_p.py::test_perf::squares")
    assert g["status"] in ("pass", "warn") and "p=" in g["message"]  # noisy machine: never a failure
    monkeypatch.setenv("F", "12")
    slow = run_gate(subprocess=True)
    g = gate(slow, "test_p.py::test_perf::squares")
    assert g["status"] == "fail" and g["level"] == "rollback" and g["p_value"] < 0.002, g


def test_baseline_path_option_and_section_of_others_survive(project: pytest.Pytester, run_gate: RunGate) -> None:
    other: dict[str, Any] = {"schema": "pytest-release-gates/baseline/1", "my_plugin_kind": {"thing": {"count": 1}}}
    (project.path / "custom.json").write_text(json.dumps(other), encoding="utf-8")
    r = run_gate("--gate-update-baseline", "--gate-baseline=custom.json")
    assert r.level in ("deploy", "hold")
    doc = json.loads((project.path / "custom.json").read_text(encoding="utf-8"))
    assert doc["my_plugin_kind"] == {"thing": {"count": 1}}
    assert "test_metrics.py::test_size::size" in doc["regression"]
    assert not Path(project.path / BASELINE).exists()


@pytest.mark.timing
def test_pytest_benchmark_samples_are_tracked(
    pytester: pytest.Pytester, run_gate: RunGate, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("pytest_benchmark")
    pytester.makepyprojecttoml("[tool.release_gates]\nregression_tolerance = 0.5\nrollback_ratio = 2.5\n")
    pytester.makepyfile(
        test_b="""
        import os
        F = float(os.environ.get("F", "1"))

        def work():
            return sum(i * i for i in range(int(20000 * F)))

        def test_bench(benchmark):
            benchmark.pedantic(work, rounds=30, iterations=1)
        """
    )
    run_gate("--gate-update-baseline", subprocess=True)  # pytest-benchmark keeps state of its own
    entries = read(pytester)["regression"]
    (key,) = [k for k in entries if k.startswith("test_b.py::test_bench::")]
    assert entries[key]["source"] == "benchmark" and entries[key]["count"] == 30
    monkeypatch.setenv("F", "4")
    r = run_gate(subprocess=True)
    g = gate(r, key)
    assert g["status"] == "fail" and g["level"] == "rollback" and g["p_value"] < 0.002, g


def test_the_ab_gate_decides_once_whichever_gate_asks_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """The regression gate asks ``session.ab.decided``: no reliance on the order of the collect hooks."""
    ab = pytest.importorskip("pytest_release_gates.gates.ab.gate")
    from pytest_release_gates.config import Settings
    from pytest_release_gates.model import REGRESSION, GateResult, Status

    gate = ab.Gate(Settings(compare_ref="HEAD~1"))
    calls: list[int] = []

    def compare_all(context: object) -> list[GateResult]:
        calls.append(1)
        gate._decided = frozenset({"t.py::test_a::perf"})
        return [GateResult(REGRESSION, "compare", Status.PASS)]

    monkeypatch.setattr(gate, "_compare_all", compare_all)
    context: Any = object()
    assert gate.decided(context) == {"t.py::test_a::perf"}  # the regression gate asked first
    assert [g.subject for g in gate.pytest_release_gates_collect(context)] == ["compare"]
    assert gate.decided(context) == {"t.py::test_a::perf"}
    assert calls == [1]
