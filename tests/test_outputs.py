"""What the run prints and writes: terminal section, verdict fields, step summary."""

from __future__ import annotations

import re

import pytest

#: Inner runs go in-process (conftest ``run_gate``): verdict and report files only.
RUN_GATE_INLINE = True


def test_summary_lists_only_failing_gates_grouped_by_kind(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyfile("def test_ok(): pass\ndef test_bad(): assert 0\n")
    r = run_gate()
    out = r.stdout
    assert "release gate: HOLD" in out
    assert re.search(r"^  tests:$", out, re.M)
    r.result.stdout.fnmatch_lines(
        ["*release gate*", "release gate: HOLD*", "  tests:", "    FAIL *::test_bad failed*-> hold"]
    )
    assert "pass " not in out.split("release gate: HOLD")[1]  # passing gates hidden by default


def test_verbose_lists_passing_gates(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyfile("def test_ok(): pass\n")
    r = run_gate("-v")
    r.result.stdout.fnmatch_lines(["release gate: DEPLOY*", "  run:", "    pass complete 1 of 1 tests executed"])


def test_quiet_keeps_verdict_and_reasons(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyfile("def test_bad(): assert 0\n")
    r = run_gate("-q")
    r.result.stdout.fnmatch_lines(["release gate: HOLD*", "  - *::test_bad failed*"])
    assert "  tests:" not in r.stdout


def test_verdict_file_fields(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyprojecttoml('[project]\nname = "demo"\nversion = "1.0.3b1"\n')
    pytester.makepyfile("def test_ok(): pass\n")
    v = run_gate().verdict
    assert v["project"] == {"name": "demo", "version": "1.0.3b1", "prerelease": True}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", v["created"])
    assert isinstance(v["duration_s"], float)
    assert v["environment"]["pytest"] == pytest.__version__
    assert v["run"]["exit_status"] == 0
    for gate in v["gates"]:
        assert set(gate) >= {"kind", "subject", "status", "level", "message"}


def test_invalid_version_is_a_warning_gate(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyprojecttoml('[project]\nname = "demo"\nversion = "not.a.version!"\n')
    pytester.makepyfile("def test_ok(): pass\n")
    r = run_gate()
    assert r.level == "deploy"
    (gate,) = r.gates("run", "warn")
    assert "not a valid version" in gate["message"]
    assert r.verdict["project"]["prerelease"] is None


def test_git_facts_when_in_a_checkout(pytester: pytest.Pytester, run_gate) -> None:
    import shutil
    import subprocess

    if shutil.which("git") is None:
        pytest.skip("git not installed")
    pytester.makepyfile("def test_ok(): pass\n")
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e"}
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "x"]):
        subprocess.run(cmd, cwd=pytester.path, check=True, env={**__import__("os").environ, **env})
    v = run_gate().verdict
    assert re.fullmatch(r"[0-9a-f]{40}", v["git"]["commit"])
    assert v["git"]["dirty"] is False


def test_github_step_summary(pytester: pytest.Pytester, run_gate, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = pytester.path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    pytester.makepyfile("def test_bad(): assert 0\n")
    run_gate()
    text = summary.read_text()
    assert text.startswith("earlier step\n")
    assert "Release gate: **hold**" in text
    assert "| tests | test_github_step_summary.py::test_bad | fail | hold |" in text


def test_verdict_write_is_atomic_no_temp_files_left(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyfile("def test_ok(): pass\n")
    run_gate()
    run_gate()
    names = [p.name for p in (pytester.path / ".release-gates").iterdir()]
    assert "verdict.json" in names
    assert not [n for n in names if n.endswith(".tmp")], names
