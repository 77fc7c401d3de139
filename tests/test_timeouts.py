"""The ``timeout`` gate: pytest-timeout stops, hang protection for budgets, pytest-timeout absent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

RunGate = Callable[..., Any]


def _timeouts(run: Any) -> dict[str, dict[str, Any]]:
    return {g["subject"]: g for g in run.gates("timeout")}


def test_own_timeout_hit_holds_with_its_limit(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    pytester.makepyfile(test_t="""
        import time
        import pytest

        @pytest.mark.timeout(0.3)
        def test_stuck():
            time.sleep(5)

        def test_ok():
            pass
    """)
    run = run_gate()
    assert run.level == "hold"
    gate = _timeouts(run)["test_t.py::test_stuck"]
    assert (gate["status"], gate["level"], gate["limit"], gate["hang_protection"]) == ("fail", "hold", 0.3, False)
    assert gate["message"] == "timed out: stopped by pytest-timeout after 0.30 s"
    assert set(_timeouts(run)) == {"test_t.py::test_stuck"}


@pytest.mark.timing
def test_hang_protection_stops_a_budgeted_test(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    pytester.makepyprojecttoml("[tool.release_gates]\nhang_factor = 4\n")
    pytester.makepyfile(test_t="""
        import time
        import pytest

        @pytest.mark.budget(0.1)
        def test_hangs():
            time.sleep(30)
    """)
    for args in [(), ("-n", "2")]:
        run = run_gate(*args)
        assert run.level == "hold"
        assert run.result.duration < 25, args  # stopped at 0.4 s, not after 30 s
        gate = _timeouts(run)["test_t.py::test_hangs"]
        assert gate["limit"] == pytest.approx(0.4) and gate["hang_protection"] is True
        assert gate["message"] == "hung: stopped after 0.40 s, hang protection at 4x its 0.10 s budget (pytest-timeout)"
        (budget,) = run.gates("budget")
        assert budget["status"] == "warn" and "the test timed out" in budget["message"]


def test_own_timeout_marker_and_tighter_global_timeout_are_kept(pytester: pytest.Pytester,
                                                                run_gate: RunGate) -> None:
    pytester.makepyfile(test_t="""
        import time
        import pytest

        @pytest.mark.budget(0.01)
        @pytest.mark.timeout(0.5)
        def test_own():
            time.sleep(5)

        @pytest.mark.budget(1)
        def test_global():
            time.sleep(5)
    """)
    run = run_gate("--timeout=0.6")
    gates = _timeouts(run)
    assert gates["test_t.py::test_own"]["limit"] == 0.5  # not 10 x 0.01
    assert gates["test_t.py::test_global"]["limit"] == 0.6  # the global 0.6 s is tighter than 10 x 1 s
    assert not any(g["hang_protection"] for g in gates.values())


def test_a_hang_factor_tighter_than_the_global_timeout_wins(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    pytester.makepyfile(test_t="""
        import time
        import pytest

        @pytest.mark.budget(0.03)
        def test_hangs():
            time.sleep(5)
    """)
    run = run_gate("--timeout=60")
    gate = _timeouts(run)["test_t.py::test_hangs"]
    assert gate["limit"] == pytest.approx(0.3) and gate["hang_protection"] is True


def test_without_pytest_timeout_budgets_work_and_summary_says_so(pytester: pytest.Pytester,
                                                                 run_gate: RunGate) -> None:
    pytester.makepyfile(test_t="""
        import time
        import pytest

        @pytest.mark.budget(0.02)
        def test_slow():
            time.sleep(0.5)

        @pytest.mark.budget(30)
        def test_fast():
            pass
    """)
    run = run_gate("-p", "no:timeout")
    assert "timeout-" not in run.stdout.split("rootdir")[1].split("\n")[1]  # the plugin really is off
    assert not run.gates("timeout")
    slow = [g for g in run.gates("budget") if g["subject"] == "test_t.py::test_slow"]
    assert slow[0]["status"] == "fail" and slow[0]["value"] >= 0.5  # ran 25x its budget, nothing stopped it
    run.result.stdout.fnmatch_lines([
        "*hang protection for 2 tests with a seconds budget needs pytest-timeout (pip install pytest-timeout)*"])


def test_no_message_when_pytest_timeout_is_present(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    pytester.makepyfile(test_t="""
        import pytest

        @pytest.mark.budget(30)
        def test_fast():
            pass
    """)
    run = run_gate()
    assert run.level == "deploy"
    assert "hang protection" not in run.stdout
    assert not run.gates("timeout")
