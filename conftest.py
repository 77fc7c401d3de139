"""Shared helpers for the test suite: run a real pytest with --release-gate and read its verdict."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _isolated_ci_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inner pytest runs must not write to a real CI's outputs (this suite may itself run on GitHub)
    or a developer's history store, nor think they are xdist workers when this suite runs under ``-n``
    (pytest-benchmark would turn itself off)."""
    for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ACTIONS", "CI", "RELEASE_GATES_MACHINE",
                 "PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID",
                 "RELEASE_GATES_HISTORY_URL"):
        monkeypatch.delenv(name, raising=False)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """The ``valgrind`` tier: skipped where Valgrind is missing, a failure where it must be there (``CI`` set).

    A hook, not a fixture: it reads ``CI`` before ``_isolated_ci_environment`` removes it for the inner runs.
    """
    if item.get_closest_marker("valgrind") is None:
        return
    import os
    import shutil

    if shutil.which("valgrind") is None:
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail("CI is set and valgrind is not installed: the valgrind tier must run in CI "
                        "(apt-get install valgrind; .ci/run does)", pytrace=False)
        pytest.skip("valgrind is not installed (apt-get install valgrind)")


#: A test module timing a function with ``perf`` as metric ``squares``; env ``F`` scales its work.
PERF_SQUARES = """
import os
F = float(os.environ.get("F", "1"))

def work(n):
    total = 0
    for i in range(n):
        total += i * i
    return total

def test_perf(perf):
    perf.measure(work, int(20000 * F), rounds=30, warmup=2, name="squares")
"""


#: Inner pytest runs leave out Hypothesis's pytest plugin: none of them uses it, and it imports all of Hypothesis
#: in its terminal summary (about 0.7 s of CPU per run, half a small run's cost). The plugin under test does not
#: touch Hypothesis; tests/test_examples.py and tests/test_tutorial.py still run with every installed plugin.
NO_HYPOTHESIS = ("-p", "no:hypothesispytest")


class GateRun:
    """A finished ``pytest --release-gate`` run inside pytester, with its verdict file."""

    def __init__(self, result: pytest.RunResult, path: Path) -> None:
        self.result = result
        self.path = path

    @property
    def ret(self) -> int:
        return int(self.result.ret)

    @property
    def verdict(self) -> dict[str, Any]:
        return json.loads(self.path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]

    @property
    def level(self) -> str:
        return str(self.verdict["verdict"])

    def gates(self, kind: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
        return [
            g
            for g in self.verdict["gates"]
            if (kind is None or g["kind"] == kind) and (status is None or g["status"] == status)
        ]

    @property
    def stdout(self) -> str:
        return str(self.result.stdout.str())


@pytest.fixture
def run_gate(pytester: pytest.Pytester, request: pytest.FixtureRequest) -> Callable[..., GateRun]:
    """Run pytest --release-gate in a subprocess (global state, signals, xdist stay isolated).

    A module that sets ``RUN_GATE_INLINE = True`` runs it in this process instead (``pytester.runpytest``,
    about half the CPU of a new interpreter), except under ``-n`` (xdist's worker processes); its tests that
    involve signals, threads, ``os._exit``, measured memory or other global state pass ``subprocess=True``.
    """
    inline = bool(getattr(request.module, "RUN_GATE_INLINE", False))

    def run(*args: str, subprocess: bool | None = None, gate: bool = True) -> GateRun:
        full = (["--release-gate"] if gate else []) + ["-p", "no:cacheprovider", *NO_HYPOTHESIS, *args]
        if subprocess is None:
            subprocess = not inline or any(a == "-n" or a.startswith(("-n", "--numprocesses")) for a in args)
        result = pytester.runpytest_subprocess(*full) if subprocess else pytester.runpytest(*full)
        verdict = pytester.path / ".release-gates" / "verdict.json"
        for a in args:
            if a.startswith("--gate-verdict="):
                verdict = pytester.path / a.split("=", 1)[1]
        return GateRun(result, verdict)

    return run


@pytest.fixture
def run_cli(pytester: pytest.Pytester) -> Callable[..., pytest.RunResult]:
    """Run the ``release-gate`` command (as ``python -m pytest_release_gates``) in pytester.path."""
    import sys

    def run(*args: str) -> pytest.RunResult:
        return pytester.run(sys.executable, "-m", "pytest_release_gates", *args)

    return run
