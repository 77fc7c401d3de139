"""The coverage gate with real pytest-cov runs: minimum, ratchet against the baseline, fail closed."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from conftest import GateRun

pytest.importorskip("pytest_cov")

RunGate = Callable[..., GateRun]
BASELINE = "release-gates.baseline.json"

# Six statements in f and g; the tests below cover f only, or both.
PKG = """
def f(x):
    if x:
        return 1
    return 2

def g(x):
    y = x * 2
    return y
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(mypkg=PKG)
    pytester.makepyfile(
        test_f="import mypkg\n\ndef test_f():\n    assert mypkg.f(1) == 1\n    assert mypkg.f(0) == 2\n"
    )
    pytester.makepyfile(test_g="import mypkg\n\ndef test_g():\n    assert mypkg.g(2) == 4\n")
    return pytester


def config(p: pytest.Pytester, **keys: float) -> None:
    body = "\n".join(f"{k} = {v}" for k, v in keys.items())
    p.makepyprojecttoml(f"[tool.release_gates]\n{body}\n")


def cov_gates(r: GateRun) -> dict[str, dict[str, object]]:
    return {g["subject"]: g for g in r.gates("coverage")}


def test_coverage_min_passes_and_fails(project: pytest.Pytester, run_gate: RunGate) -> None:
    config(project, coverage_min=100)
    r = run_gate("--cov=mypkg")
    assert r.level == "deploy", r.stdout
    assert cov_gates(r)["total"]["status"] == "pass" and cov_gates(r)["total"]["value"] == 100.0
    (project.path / "test_g.py").write_text("def test_nothing():\n    pass\n")
    r = run_gate("--cov=mypkg", "--cov-report=")  # no report: the gate still gets the total
    g = cov_gates(r)["total"]
    assert r.level == "hold" and g["status"] == "fail" and "under coverage_min 100%" in str(g["message"])
    assert g["value"] < 100


def test_ratchet_records_total_and_holds_on_a_drop(project: pytest.Pytester, run_gate: RunGate) -> None:
    config(project, coverage_max_drop=1.0)
    first = run_gate("--cov=mypkg")
    assert cov_gates(first)["drop"]["status"] == "warn"  # nothing recorded yet
    rec = run_gate("--cov=mypkg", "--gate-update-baseline")
    assert "coverage: recorded total 100.00%" in rec.stdout
    assert json.loads((project.path / BASELINE).read_text())["coverage"]["total"] == 100.0
    (project.path / "test_g.py").write_text("def test_nothing():\n    pass\n")
    r = run_gate("--cov=mypkg")
    g = cov_gates(r)["drop"]
    assert r.level == "hold" and g["status"] == "fail"
    assert "points in coverage" in str(g["message"]) and "from 100.00%" in str(g["message"])


def test_partial_run_only_warns(project: pytest.Pytester, run_gate: RunGate) -> None:
    config(project, coverage_min=100)
    r = run_gate("--cov=mypkg", "-k", "test_f")
    g = cov_gates(r)["total"]
    assert g["status"] == "warn" and "partial run" in str(g["message"])
    rec = run_gate("--cov=mypkg", "-k", "test_f", "--gate-update-baseline")
    assert "not recorded: a partial run" in rec.stdout
    assert not (project.path / BASELINE).exists() or "coverage" not in json.loads((project.path / BASELINE).read_text())


@pytest.mark.parametrize("args", [(), ("--cov=mypkg", "--no-cov")], ids=["no-cov-option", "no-cov"])
def test_configured_but_not_measured_fails_closed(
    project: pytest.Pytester, run_gate: RunGate, args: tuple[str, ...]
) -> None:
    config(project, coverage_min=10)
    r = run_gate(*args)
    g = cov_gates(r)["total"]
    assert r.level == "hold" and g["status"] == "fail"
    assert "coverage could not be measured" in str(g["message"])


def test_not_configured_no_gate(project: pytest.Pytester, run_gate: RunGate) -> None:
    r = run_gate()
    assert r.level == "deploy" and cov_gates(r) == {}


def test_works_under_xdist(project: pytest.Pytester, run_gate: RunGate) -> None:
    config(project, coverage_min=100, coverage_max_drop=0.5)
    rec = run_gate("--cov=mypkg", "-n", "2", "--gate-update-baseline")
    assert rec.level == "deploy", rec.stdout
    assert json.loads((project.path / BASELINE).read_text())["coverage"]["total"] == 100.0
    (project.path / "test_g.py").write_text("def test_nothing():\n    pass\n")
    r = run_gate("--cov=mypkg", "-n", "2")
    gates = cov_gates(r)
    assert r.level == "hold"
    assert gates["total"]["status"] == "fail" and gates["drop"]["status"] == "fail"
