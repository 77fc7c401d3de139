"""The flaky gate: repeated failures over the run history are caught, reruns count as failures."""

from __future__ import annotations

import json
import time

import pytest

#: Inner runs go in-process (conftest ``run_gate``): the history is a file, reruns a plugin of the
#: inner config. Every ``-n`` run stays a subprocess.
RUN_GATE_INLINE = True


# The test fails while a file named FAIL exists next to it: each run decides by touching or removing it.
FLIPPY = """
import pathlib

def test_flippy():
    assert not (pathlib.Path(__file__).parent / "FAIL").exists(), "told to fail"

def test_steady():
    pass
"""


@pytest.fixture(autouse=True)
def _no_ci_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_ACTIONS", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)


def runs(pytester: pytest.Pytester, run_gate, pattern: str, *args: str):
    """One run per character of ``pattern``: F fails test_flippy, . passes it. Returns the last run."""
    result = None
    for ch in pattern:
        fail = pytester.path / "FAIL"
        if ch == "F":
            fail.write_text("")
        elif fail.exists():
            fail.unlink()
        result = run_gate(*args)
    return result


def test_repeated_failure_is_flagged_even_when_the_test_passes_now(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyfile(test_x=FLIPPY)
    r = runs(pytester, run_gate, "F.F.")
    assert r.level == "deploy"  # default level: warn
    (gate,) = r.gates("flaky", "warn")
    assert gate["subject"] == "test_x.py::test_flippy"
    assert "failed in 2 of the last 4 runs (passes now)" in gate["message"]
    assert gate["value"] == 2 and gate["limit"] == 2
    assert "flaky:" in r.stdout and "repeated failure" in r.stdout


def test_one_failure_is_not_flaky(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyfile(test_x=FLIPPY)
    r = runs(pytester, run_gate, "F..")
    assert r.gates("flaky", "warn") == []
    (ok,) = r.gates("flaky", "pass")
    assert "last 3 runs" in ok["message"]


def test_hold_level_halts_deployment(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyprojecttoml('[tool.release_gates]\nflaky_level = "hold"\n')
    pytester.makepyfile(test_x=FLIPPY)
    r = runs(pytester, run_gate, "FF.")
    assert r.level == "hold" and r.ret == 1
    (gate,) = r.gates("flaky", "fail")
    assert gate["level"] == "hold"
    assert any("repeated failure" in reason for reason in r.verdict["reasons"])


def test_off_checks_nothing(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyprojecttoml('[tool.release_gates]\nflaky_level = "off"\n')
    pytester.makepyfile(test_x=FLIPPY)
    r = runs(pytester, run_gate, "FF.")
    assert r.gates("flaky") == [] and r.level == "deploy"


def test_window_and_threshold_are_configurable(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyprojecttoml("[tool.release_gates]\nflaky_window = 3\nflaky_min_failures = 2\n")
    pytester.makepyfile(test_x=FLIPPY)
    r = runs(pytester, run_gate, "FF..")  # failures fell out of the 3-run window
    assert r.gates("flaky", "warn") == []
    fail = pytester.path / "FAIL"
    fail.write_text("")
    r = run_gate()  # window: . . F -> one failure
    assert r.gates("flaky", "warn") == []
    r = run_gate()  # window: . F F
    assert [g["subject"] for g in r.gates("flaky", "warn")] == ["test_x.py::test_flippy"]


def test_history_is_read_before_this_run_is_appended(pytester: pytest.Pytester, run_gate) -> None:
    """A test failing now with one failure on record is two failures, not three."""
    pytester.makepyfile(test_x=FLIPPY)
    r = runs(pytester, run_gate, "FF")
    (gate,) = r.gates("flaky", "warn")
    assert "failed in 2 of the last 2 runs (failed now)" in gate["message"]


def test_deleted_tests_in_history_are_not_flagged(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyfile("def test_ok(): pass\n")
    (pytester.path / ".release-gates").mkdir()
    now = time.time()
    gone = {"v": 1, "verdict": "hold", "failed": ["test_gone.py::test_old"]}
    (pytester.path / ".release-gates/history.jsonl").write_text(
        "".join(json.dumps({**gone, "time": now - i}) + "\n" for i in (3, 2, 1)), encoding="utf-8")
    r = run_gate()
    assert r.gates("flaky", "warn") == [] and r.level == "deploy"


RERUN_CONFTEST = """
import pytest
from _pytest.reports import TestReport

@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    # What pytest-rerunfailures does before a retry: log the failed attempt with outcome "rerun".
    if item.name == "test_retried":
        item.ihook.pytest_runtest_logreport(report=TestReport(
            item.nodeid, item.location, {}, "rerun", None, "call"))
"""


@pytest.mark.parametrize("xdist", [False, True], ids=["serial", "xdist"])
def test_reruns_count_as_failures(pytester: pytest.Pytester, run_gate, xdist: bool) -> None:
    if xdist:
        pytest.importorskip("xdist")
    pytester.makeconftest(RERUN_CONFTEST)
    pytester.makepyfile(test_r="def test_retried(): pass\ndef test_plain(): pass\n")
    args = ("-n", "2") if xdist else ()
    run_gate(*args)
    r = run_gate(*args)
    assert r.level == "deploy"
    (gate,) = r.gates("flaky", "warn")
    assert gate["subject"] == "test_r.py::test_retried"
    assert "needed 1 rerun(s) now" in gate["message"]
    history = [json.loads(x) for x in (pytester.path / ".release-gates/history.jsonl").read_text().splitlines()]
    assert [h["failed"] for h in history] == [["test_r.py::test_retried"]] * 2


def test_real_pytest_rerunfailures(pytester: pytest.Pytester, run_gate) -> None:
    pytest.importorskip("pytest_rerunfailures")
    pytester.makepyfile(
        test_r="""
        import pathlib
        def test_once_broken():
            marker = pathlib.Path(__file__).parent / "attempted"
            if not marker.exists():
                marker.write_text("")
                raise AssertionError("first attempt fails")
        """
    )
    for _ in range(2):
        (pytester.path / "attempted").unlink(missing_ok=True)
        r = run_gate("--reruns", "1")
    assert r.verdict["tests"]["passed"] == 1  # the retry passed...
    (gate,) = r.gates("flaky", "warn")  # ...but twice needing a retry is a repeated failure
    assert gate["subject"] == "test_r.py::test_once_broken"
