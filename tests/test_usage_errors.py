"""SPEC v3 "No stale deploy": a `--release-gate` run that stops with a usage error (exit 4) replaces the
verdict file it would have written with a hold naming the error, so an earlier deploy never stays readable."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import GateRun

RunGate = Callable[..., GateRun]
TYPO = "regresion_tolerance = 0.3\n"


def _error_line(r: GateRun) -> str:
    """The one ERROR line pytest printed (the message after ``ERROR: ``)."""
    err = r.result.stderr.str()
    assert "Traceback" not in err + r.stdout
    (line,) = [ln.removeprefix("ERROR: ") for ln in err.splitlines() if ln.startswith("ERROR: ")]
    return line


def _assert_usage_hold(path: Path, line: str) -> None:
    v = json.loads(path.read_text(encoding="utf-8"))
    assert (v["verdict"], v["complete"], v["reasons"]) == ("hold", False, [line])
    assert v["gates"] == [{"kind": "run", "subject": "usage-error", "status": "fail", "level": "hold",
                           "message": line}]
    assert v["tests"]["passed"] == 0 and v["run"]["usage_error"] is True


def _deploy_then_typo(pytester: pytest.Pytester, run_gate: RunGate, table: str, *args: str,
                      verdict: str = ".release-gates/verdict.json") -> GateRun:
    pytester.makepyfile("def test_a(): pass\n")
    pytester.makepyprojecttoml(f"[tool.release_gates]\n{table}")
    assert run_gate(*args).ret == 0
    assert json.loads((pytester.path / verdict).read_text())["verdict"] == "deploy"
    pytester.makepyprojecttoml(f"[tool.release_gates]\n{table}{TYPO}")
    r = run_gate(*args)
    assert r.ret == 4
    return r


def test_gate_verdict_option_gets_the_hold(pytester: pytest.Pytester, run_gate: RunGate, run_cli) -> None:
    r = _deploy_then_typo(pytester, run_gate, "", "--gate-verdict=out/v.json", verdict="out/v.json")
    _assert_usage_hold(pytester.path / "out" / "v.json", _error_line(r))
    assert not (pytester.path / ".release-gates" / "verdict.json").exists()
    assert run_cli("status", "out/v.json").ret == 1


def test_typo_next_to_verdict_file_key(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    """A typo in one key must not hide the verdict_file of another."""
    r = _deploy_then_typo(pytester, run_gate, 'verdict_file = "custom/verdict.json"\n', verdict="custom/verdict.json")
    _assert_usage_hold(pytester.path / "custom" / "verdict.json", _error_line(r))
    assert not (pytester.path / ".release-gates" / "verdict.json").exists()


def test_unparsable_config_holds_at_the_default_path(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    """(A broken pyproject.toml stops pytest itself, before any plugin is loaded: only release-gates.toml here.)"""
    pytester.makepyfile("def test_a(): pass\n")
    assert run_gate().level == "deploy"
    (pytester.path / "release-gates.toml").write_text('verdict_file = "custom/v.json"\nrollback_ratio = \n')
    r = run_gate()
    assert r.ret == 4
    line = _error_line(r)
    assert "release-gates.toml: not valid TOML" in line
    _assert_usage_hold(r.path, line)
    assert not (pytester.path / "custom").exists()


def test_unusable_verdict_path_writes_nothing(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    pytester.makepyfile("def test_a(): pass\n")
    (pytester.path / "blocker").write_text("a file where the verdict's folder should be")
    pytester.makepyprojecttoml(f'[tool.release_gates]\nverdict_file = "blocker/v.json"\n{TYPO}')
    r = run_gate()
    assert r.ret == 4
    assert [ln for ln in r.result.stderr.str().splitlines() if ln.strip()] == [f"ERROR: {_error_line(r)}"]
    assert (pytester.path / "blocker").read_text() == "a file where the verdict's folder should be"
    assert not (pytester.path / ".release-gates").exists()


def test_verdict_path_unwritable_at_session_end(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    """The final write fails (exit 4, one line); the hold cannot be written there either, and nothing crashes."""
    pytester.makepyfile("""
        import os
        def test_a():
            os.remove(".release-gates/verdict.json")
            os.mkdir(".release-gates/verdict.json")  # the provisional verdict's path is now a folder
    """)
    r = run_gate()
    assert r.ret == 4
    assert "Traceback" not in r.stdout + r.result.stderr.str()
    r.result.stdout.fnmatch_lines(["ERROR: *verdict.json: is a directory*"])
    assert r.path.is_dir() and not any(r.path.iterdir())


def test_bad_option_value_of_another_plugin(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    pytester.makepyfile("def test_a(): pass\n")
    assert run_gate().level == "deploy"
    r = run_gate("--log-level=NOPE")
    assert r.ret == 4
    line = _error_line(r)
    assert "NOPE" in line
    _assert_usage_hold(r.path, line)


def test_under_xdist_the_controller_writes_the_hold(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    pytest.importorskip("xdist")
    r = _deploy_then_typo(pytester, run_gate, "", "-n", "2")
    _assert_usage_hold(r.path, _error_line(r))
    assert not list(pytester.path.glob("**/.verdict.json.*"))  # no stray temp file


def test_without_release_gate_a_usage_error_writes_nothing(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    pytester.makepyfile("def test_a(): pass\n")
    pytester.makepyprojecttoml(f"[tool.release_gates]\n{TYPO}")
    r = run_gate("--log-level=NOPE", gate=False)
    assert r.ret == 4
    assert not (pytester.path / ".release-gates").exists()
