"""The ``integrity`` gate and fixture in real ``pytest --release-gate`` runs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import NO_HYPOTHESIS

#: Inner runs go in-process (conftest ``run_gate``): hashing and scanning files is no global
#: state. git clones and every ``-n`` run stay subprocesses.
RUN_GATE_INLINE = True

PASSING = "def test_ok():\n    assert True\n"


def rg(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest_release_gates", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, check=False)


def config(pytester: pytest.Pytester, body: str) -> None:
    pytester.makepyprojecttoml("[tool.release_gates.integrity]\n" + body)


def failing(run: Any) -> list[dict[str, Any]]:
    return [g for g in run.gates("integrity", "fail")]


def test_seed_workflow_holds_with_the_path(pytester: pytest.Pytester, run_gate: Callable[..., Any]) -> None:
    pytester.makepyfile(test_app=PASSING)
    (pytester.path / "src").mkdir()
    (pytester.path / "src" / "app.py").write_text("print('v1')\n")
    config(pytester, 'patterns = ["*.py"]\n')
    gen = rg(pytester.path, "integrity", "generate", "--patterns", "*.py")
    assert gen.returncode == 0, gen.stderr
    clean = run_gate()
    assert clean.ret == 0, clean.stdout
    assert clean.level == "deploy"
    assert [g["message"] for g in clean.gates("integrity", "pass")] == ["2 files match the manifest"]

    (pytester.path / "src" / "app.py").write_text("print('v2')\n")
    held = run_gate()
    assert held.ret != 0 and held.level == "hold"
    assert [(g["subject"], g["change"]) for g in failing(held)] == [("src/app.py", "modified")]
    assert any("src/app.py" in r and "modified" in r for r in held.verdict["reasons"])
    assert "src/app.py" in held.stdout


def test_missing_manifest_holds_with_the_command(pytester: pytest.Pytester, run_gate: Callable[..., Any]) -> None:
    pytester.makepyfile(test_app=PASSING)
    config(pytester, 'patterns = ["*.py"]\n')
    run = run_gate()
    assert run.level == "hold"
    [gate] = failing(run)
    assert gate["subject"] == "release-gates.integrity.json"
    assert f"release-gate integrity generate --root {pytester.path}" in gate["message"]
    # the command it names works and clears the hold
    cmd = gate["message"].split("`")[1].split()
    assert subprocess.run([sys.executable, "-m", "pytest_release_gates", *cmd[1:]], check=False).returncode == 0
    assert run_gate().level == "deploy"


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_fresh_clone_has_the_manifest(pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The default manifest is committed beside the baseline: a fresh clone (a CI job) finds it."""
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    pytester.makepyfile(test_app=PASSING)
    (pytester.path / ".gitignore").write_text(".release-gates/\n__pycache__/\n")
    config(pytester, 'patterns = ["*.py"]\n')
    assert rg(pytester.path, "integrity", "generate").returncode == 0
    assert (pytester.path / "release-gates.integrity.json").is_file()
    first = subprocess.run([sys.executable, "-m", "pytest", "--release-gate", "--gate-update-baseline",
                            "-p", "no:cacheprovider", *NO_HYPOTHESIS], cwd=pytester.path, capture_output=True,
                           text=True, check=False)
    assert first.returncode == 0, first.stdout
    assert not list(pytester.path.glob("*.bak"))  # backups are machine files, under .release-gates/
    subprocess.run(["git", "init", "-q", str(pytester.path)], check=True)
    subprocess.run([*git, "add", "-A"], cwd=pytester.path, check=True)
    subprocess.run([*git, "commit", "-qm", "seed"], cwd=pytester.path, check=True)
    clone = tmp_path_factory.mktemp("clone") / "project"
    subprocess.run(["git", "clone", "-q", str(pytester.path), str(clone)], check=True)
    assert not (clone / ".release-gates").exists()
    run = subprocess.run([sys.executable, "-m", "pytest", "--release-gate", "-p", "no:cacheprovider", *NO_HYPOTHESIS],
                         cwd=clone, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout
    verdict = json.loads((clone / ".release-gates" / "verdict.json").read_text())
    assert verdict["verdict"] == "deploy"
    (gate,) = [g for g in verdict["gates"] if g["kind"] == "integrity"]
    assert gate["status"] == "pass" and gate["subject"] == "release-gates.integrity.json", gate


def test_the_old_default_manifest_is_read_with_a_warning(pytester: pytest.Pytester,
                                                         run_gate: Callable[..., Any]) -> None:
    pytester.makepyfile(test_app=PASSING)
    config(pytester, 'patterns = ["*.py"]\n')
    old = pytester.path / ".release-gates" / "integrity.json"
    assert rg(pytester.path, "integrity", "generate", "--manifest", str(old)).returncode == 0
    run = run_gate()
    assert run.level == "deploy", run.stdout
    (warn,) = run.gates("integrity", "warn")
    assert warn["subject"] == ".release-gates/integrity.json"
    assert "`mv .release-gates/integrity.json release-gates.integrity.json`" in warn["message"]
    assert "git mv" in warn["message"]
    assert len([line for line in run.stdout.splitlines() if "old default location" in line]) == 1
    # it is still what the tree is verified against
    (pytester.path / "test_app.py").write_text(PASSING + "\n")
    assert [g["subject"] for g in failing(run_gate())] == ["test_app.py"]
    # the CLI reads it the same way
    verify = rg(pytester.path, "integrity", "verify")
    assert verify.returncode == 1 and "modified: test_app.py" in verify.stdout
    assert "old default location" in verify.stderr and "release-gates.integrity.json" in verify.stderr
    # accepting the run writes the new default, and the warning is gone
    accepted = run_gate("--gate-update-baseline")
    assert accepted.level == "deploy", accepted.stdout
    assert "in place of the old default" in accepted.stdout
    assert (pytester.path / "release-gates.integrity.json").is_file()
    assert not run_gate().gates("integrity", "warn")


def test_update_baseline_regenerates_the_manifest(pytester: pytest.Pytester, run_gate: Callable[..., Any]) -> None:
    pytester.makepyfile(test_app=PASSING)
    (pytester.path / "tool.py").write_text("A = 1\n")
    config(pytester, 'patterns = ["*.py"]\nmanifest = "integrity/files.json"\n')
    first = run_gate("--gate-update-baseline")
    assert first.level == "deploy", first.stdout
    assert "integrity: created manifest" in first.stdout
    assert (pytester.path / "integrity" / "files.json").exists()
    (pytester.path / "tool.py").write_text("A = 2\n")
    assert run_gate().level == "hold"
    accepted = run_gate("--gate-update-baseline")
    assert accepted.level == "deploy"
    assert "accepted 1 modified into manifest" in accepted.stdout and "modified: tool.py" in accepted.stdout
    assert run_gate().level == "deploy"


def test_config_patterns_changed_since_the_manifest(pytester: pytest.Pytester,
                                                    run_gate: Callable[..., Any]) -> None:
    pytester.makepyfile(test_app=PASSING)
    config(pytester, 'patterns = ["*.py", "*.md"]\n')
    assert rg(pytester.path, "integrity", "generate", "--patterns", "*.py").returncode == 0
    run = run_gate()
    assert run.level == "hold"
    assert any("was built from patterns" in g["message"] for g in failing(run))


CONFLICT = "def f():\n    return 1\n<<<<<<< HEAD\n"


def test_content_findings_against_the_baseline(pytester: pytest.Pytester, run_gate: Callable[..., Any]) -> None:
    pytester.makepyfile(test_app=PASSING)
    (pytester.path / "mod.py").write_text(CONFLICT)
    config(pytester, 'patterns = ["*.py"]\nmanifest = false\nrules = ["conflict-markers", "secrets"]\n')
    new = run_gate()
    assert new.level == "hold"
    [gate] = failing(new)
    assert gate["subject"] == "mod.py" and "new conflict-markers finding: line 3" in gate["message"]

    accept = run_gate("--gate-update-baseline")
    assert accept.level == "deploy", accept.stdout
    assert "accepted finding conflict-markers: mod.py:3" in accept.stdout
    section = json.loads((pytester.path / "release-gates.baseline.json").read_text())["integrity"]
    assert list(section["findings"]["conflict-markers"]) == ["mod.py"]
    assert run_gate().level == "deploy"

    # moving the finding down does not churn the key
    (pytester.path / "mod.py").write_text("import os\n\n" + CONFLICT)
    assert run_gate().level == "deploy"
    # a second copy of an accepted finding is a count going up
    (pytester.path / "mod.py").write_text(CONFLICT + CONFLICT.replace("return 1", "return 2"))
    more = run_gate()
    assert more.level == "hold"
    assert "2 occurrences, 1 accepted" in failing(more)[0]["message"]
    # gone: stale, reported but not holding
    (pytester.path / "mod.py").write_text("def f():\n    return 1\n")
    stale = run_gate()
    assert stale.level == "deploy"
    assert [g["subject"] for g in stale.gates("integrity", "warn")] == ["mod.py"]
    assert "stale" in stale.gates("integrity", "warn")[0]["message"]


def test_secret_is_never_printed(pytester: pytest.Pytester, run_gate: Callable[..., Any]) -> None:
    secret = "Zx81kQp0aLm3Vn7TyR2wEe9s"
    pytester.makepyfile(test_app=PASSING)
    (pytester.path / "settings.py").write_text(f'API_TOKEN = "{secret}"\n')
    config(pytester, 'patterns = ["*.py"]\nmanifest = false\nrules = ["secrets"]\n')
    run = run_gate("--gate-update-baseline")
    run2 = run_gate()
    run3 = run_gate("-v")
    (pytester.path / "settings.py").write_text(f'API_TOKEN = "{secret}"\nOTHER_SECRET = "{secret[::-1]}"\n')
    run4 = run_gate("-v")
    assert run4.level == "hold"
    for r in (run, run2, run3, run4):
        blob = r.stdout + json.dumps(r.verdict) + (pytester.path / "release-gates.baseline.json").read_text()
        assert secret not in blob and secret[::-1] not in blob


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_gitignored_and_permissions_rules(pytester: pytest.Pytester, run_gate: Callable[..., Any]) -> None:
    subprocess.run(["git", "init", "-q", str(pytester.path)], check=True)
    pytester.makepyfile(test_app=PASSING)
    (pytester.path / ".gitignore").write_text("status.json\n.release-gates/\n")
    (pytester.path / "status.json").write_text("{}\n")
    (pytester.path / "poetry.lock").write_text("x\n")
    (pytester.path / "run.py").write_text("print()\n")
    (pytester.path / "run.py").chmod(0o755)
    config(pytester, 'patterns = ["*.py"]\nmanifest = false\nrules = ["gitignored", "permissions"]\n'
                     'must_be_ignored = ["status.json", "*.lock", ".release-gates/"]\n')
    run = run_gate()
    assert run.level == "hold"
    got = sorted((g["subject"], g["rule"]) for g in failing(run))
    assert got == [("poetry.lock", "gitignored"), ("run.py", "permissions")]


def test_under_xdist(pytester: pytest.Pytester, run_gate: Callable[..., Any]) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(test_a=PASSING, test_b=PASSING.replace("test_ok", "test_ok2"))
    (pytester.path / "data.txt").write_text("v1\n")
    config(pytester, 'patterns = ["*.txt", "*.py"]\n')
    assert rg(pytester.path, "integrity", "generate").returncode == 0
    assert run_gate("-n", "2").level == "deploy"
    (pytester.path / "data.txt").write_text("v2\n")
    run = run_gate("-n", "2")
    assert run.level == "hold"
    assert [g["subject"] for g in failing(run)] == ["data.txt"]  # checked once, on the controller


WATCH_TESTS = '''
import pytest

def tool(root):
    (root / "guide.md").write_text("a\\nb\\nc\\na\\nb\\nc\\n")
    (root / "extra.md").write_text("new\\n")

def test_lists_changes(integrity, tmp_path):
    (tmp_path / "guide.md").write_text("a\\nb\\nc\\n")
    (tmp_path / "keep.md").write_text("k\\n")
    with integrity.watch(tmp_path, patterns=["*.md"], rules=["duplicate-lines"]) as changes:
        tool(tmp_path)
    assert changes.modified == ["guide.md"]
    assert changes.added == ["extra.md"]
    assert changes.removed == []
    assert [(c.rule, c.path) for c in changes.findings] == [("duplicate-lines", "guide.md")]

def test_clean_block(integrity, tmp_path):
    (tmp_path / "guide.md").write_text("a\\n")
    with integrity.watch(tmp_path, patterns=["*.md"], require_clean=True) as changes:
        (tmp_path / "other.txt").write_text("not selected\\n")
    assert not changes

@pytest.mark.integrity_clean
def test_marked(integrity, tmp_path):
    (tmp_path / "guide.md").write_text("a\\n")
    with integrity.watch(tmp_path, patterns=["*.md"]):
        tool(tmp_path)
'''


def test_fixture_watch(pytester: pytest.Pytester, run_gate: Callable[..., Any]) -> None:
    pytester.makepyfile(test_watch=WATCH_TESTS)
    plain = pytester.runpytest_subprocess("-p", "no:cacheprovider", *NO_HYPOTHESIS)
    plain.assert_outcomes(passed=3)
    run = run_gate()
    assert run.level == "hold"
    got = sorted((g["subject"], g["change"], g["test"].split("::")[1]) for g in failing(run))
    assert got == [("extra.md", "added", "test_marked"), ("guide.md", "modified", "test_marked")]
    if pytest.importorskip("xdist"):
        spread = run_gate("-n", "2")
        assert spread.level == "hold"
        assert sorted(g["subject"] for g in failing(spread)) == ["extra.md", "guide.md"]


def test_fixture_bad_arguments(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_bad='''
def test_rule(integrity, tmp_path):
    with integrity.watch(tmp_path, rules=["nope"]):
        pass

def test_string(integrity, tmp_path):
    with integrity.watch(tmp_path, patterns="*.py"):
        pass

def test_root(integrity, tmp_path):
    with integrity.watch(tmp_path / "missing"):
        pass
''')
    res = pytester.runpytest_subprocess("-p", "no:cacheprovider", *NO_HYPOTHESIS)
    res.assert_outcomes(failed=3)
    out = res.stdout.str()
    assert "invalid integrity.watch(): unknown rule 'nope'" in out
    assert "not one string" in out and "is not a folder" in out
    assert "Traceback" not in out
