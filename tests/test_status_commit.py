"""`release-gate status --commit REV`: a verdict speaks only for the clean commit it was written at."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

import pytest
from conftest import GateRun

#: Inner runs go in-process (conftest ``run_gate``): the commit is read with git, no global state.
RUN_GATE_INLINE = True

RunGate = Callable[..., GateRun]


def _git(pytester: pytest.Pytester, *args: str) -> str:
    out = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false", *args],
        cwd=pytester.path, capture_output=True, text=True, check=True, timeout=60,
    )
    return out.stdout.strip()


@pytest.fixture
def repo(pytester: pytest.Pytester) -> pytest.Pytester:
    """A git repository with one committed passing test (machine files ignored, as the README says)."""
    _git(pytester, "init", "-q")
    pytester.makepyfile(test_app="def test_a(): pass\n")
    (pytester.path / ".gitignore").write_text(".release-gates/\n__pycache__/\n")
    _git(pytester, "add", "-A")
    _git(pytester, "commit", "-q", "-m", "one")
    return pytester


def test_deploy_for_the_commit_asked_exits_0(repo: pytest.Pytester, run_gate: RunGate, run_cli) -> None:
    assert run_gate().level == "deploy"
    head = _git(repo, "rev-parse", "HEAD")
    for rev in ("HEAD", head, head.upper(), head[:10]):
        r = run_cli("status", "--commit", rev)
        assert r.ret == 0, (rev, r.stdout.str(), r.stderr.str())
        r.stdout.fnmatch_lines(["DEPLOY*"])


def test_verdict_of_another_commit_is_stale(repo: pytest.Pytester, run_gate: RunGate, run_cli) -> None:
    assert run_gate().level == "deploy"
    old = _git(repo, "rev-parse", "HEAD")
    repo.makepyfile(test_more="def test_b(): pass\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "two")
    new = _git(repo, "rev-parse", "HEAD")
    r = run_cli("status", "--commit", "HEAD")
    assert r.ret == 1
    r.stdout.fnmatch_lines([f"STALE  *verdict.json: verdict is for commit {old}, not {new} (HEAD)",
                            "*says DEPLOY about other code*clean checkout*"])
    assert run_cli("status", "--commit", new).ret == 1
    assert run_cli("status", "--commit", old).ret == 0
    assert run_cli("status").ret == 0  # without --commit, unchanged


def test_verdict_from_a_dirty_tree_is_stale(repo: pytest.Pytester, run_gate: RunGate, run_cli) -> None:
    repo.makepyfile(test_app="def test_a(): assert 1 + 1 == 2\n")  # modified, not committed
    run = run_gate()
    assert run.level == "deploy" and run.verdict["git"]["dirty"] is True
    r = run_cli("status", "--commit", "HEAD")
    assert r.ret == 1
    r.stdout.fnmatch_lines(["STALE  *uncommitted changes*"])


@pytest.mark.parametrize(("body", "level", "code"), [
    ("def test_a(): assert 0\n", "hold", 1),
    ("import pytest\n@pytest.mark.gate(severity='critical')\ndef test_a(): assert 0\n", "rollback", 2),
])
def test_hold_and_rollback_for_the_commit_asked_keep_their_status(
    repo: pytest.Pytester, run_gate: RunGate, run_cli, body: str, level: str, code: int
) -> None:
    repo.makepyfile(test_app=body)
    _git(repo, "commit", "-q", "-am", "bad")
    assert run_gate().level == level
    r = run_cli("status", "--commit", "HEAD")
    assert r.ret == code
    r.stdout.fnmatch_lines([f"{level.upper()}*"])


def test_verdict_without_git_is_stale(pytester: pytest.Pytester, run_gate: RunGate, run_cli) -> None:
    pytester.makepyfile("def test_a(): pass\n")
    assert run_gate().verdict["git"] is None  # pytester's folder is no git checkout
    r = run_cli("status", "--commit", "a" * 40)  # a full hash needs no git
    assert r.ret == 1
    r.stdout.fnmatch_lines([f"STALE  *records no git commit*asked for {'a' * 40}"])


@pytest.mark.parametrize("rev", ["no-such-branch", "HEAD~5", "-x", "deadbeef"])
def test_unresolvable_rev_is_a_usage_error(repo: pytest.Pytester, run_gate: RunGate, run_cli, rev: str) -> None:
    assert run_gate().level == "deploy"
    r = run_cli("status", f"--commit={rev}")
    assert r.ret == 4
    err = r.stderr.str().strip().splitlines()
    assert len(err) == 1 and f"--commit {rev!r}" in err[0] and "Traceback" not in r.stderr.str()
    assert r.stdout.str() == ""


def test_rev_without_git_on_path_is_a_usage_error(
    pytester: pytest.Pytester, run_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    (pytester.path / ".release-gates").mkdir()
    (pytester.path / ".release-gates" / "verdict.json").write_text(json.dumps({
        "schema": "pytest-release-gates/verdict/1", "verdict": "deploy", "complete": True, "reasons": [],
        "gates": [], "tests": {"passed": 1}, "git": {"commit": "b" * 40, "dirty": False},
    }))
    empty = pytester.mkdir("empty-bin")
    monkeypatch.setenv("PATH", str(empty))
    r = run_cli("status", "--commit", "HEAD")
    assert r.ret == 4
    (line,) = r.stderr.str().strip().splitlines()
    assert "--commit 'HEAD'" in line and "full commit id" in line
    assert run_cli("status", "--commit", "b" * 40).ret == 0  # a full hash is compared as is
