"""Shards that belong together: ``--gate-shard=I/N``, ``run_id`` and what ``release-gate merge`` refuses."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import NO_HYPOTHESIS, GateRun

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false",
       "-c", "init.defaultBranch=main"]
ENV_311 = {"python": "3.11.7", "implementation": "cpython", "pytest": "9.0", "plugin": "0.1.0",
           "platform": "Linux-6.1.0-x86_64-with-glibc2.36", "machine": "x86_64"}


@pytest.fixture
def project(pytester: pytest.Pytester) -> Path:
    """Four tests in two folders, in a git checkout (so verdicts carry ``git.commit``)."""
    pytester.makepyprojecttoml('[project]\nname = "demo"\nversion = "1.0"\n\n'
                               '[tool.pytest.ini_options]\ntestpaths = ["tests"]\n')
    for name in ("a", "b"):
        folder = pytester.path / "tests" / name
        folder.mkdir(parents=True)
        (folder / f"test_{name}.py").write_text(f"def test_{name}1(): pass\ndef test_{name}2(): pass\n")
    (pytester.path / ".gitignore").write_text(".release-gates/\n*.json\n")
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "init"]):
        subprocess.run([*GIT, *cmd], cwd=pytester.path, check=True, capture_output=True)
    return pytester.path


def _doc(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema": "pytest-release-gates/verdict/1",
        "verdict": "deploy",
        "complete": True,
        "run_id": uuid.uuid4().hex,
        "reasons": [],
        "gates": [{"kind": "tests", "subject": "", "status": "pass", "level": "hold", "message": "2 passed"}],
        "tests": {"collected": 2, "passed": 2, "failed": 0, "errors": 0, "skipped": 0, "xfailed": 0, "xpassed": 0},
        "project": {"name": "demo", "version": "1.0", "prerelease": False},
        "created": "2026-11-22T01:25:29Z",
        "duration_s": 1.0,
        "environment": dict(ENV_311),
        "git": {"commit": "a" * 40, "dirty": False},
        "run": {"args": [], "partial": None},
    }
    doc.update(changes)
    return doc


def _write(root: Path, name: str, doc: dict[str, Any]) -> str:
    (root / name).write_text(json.dumps(doc))
    return name


def _refused(result: pytest.RunResult, *names: str) -> str:
    assert result.ret == 2, result.stdout.str() + result.stderr.str()
    err = result.stderr.str().strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for name in names:
        assert name in err
    return err


# ---------------------------------------------------------------- the option


@pytest.mark.parametrize("value", ["0/2", "3/2", "1/0", "a/b", "1", "1/2/3", "-1/2", "1.0/2"])
def test_bad_shard_is_a_one_line_usage_error(pytester: pytest.Pytester, run_gate, value: str) -> None:
    pytester.makepyfile("def test_a(): pass\n")
    run = run_gate(f"--gate-shard={value}")
    assert run.ret == 4
    err = [line for line in run.result.stderr.str().splitlines() if line.strip()]
    assert err == [f"ERROR: --gate-shard={value}: expected I/N, whole numbers with 1 <= I <= N (e.g. --gate-shard=1/4)"]


def test_shard_needs_release_gate(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyfile("def test_a(): pass\n")
    run = run_gate("--gate-shard=1/2", gate=False)
    assert run.ret == 4 and "--gate-shard needs --release-gate" in run.result.stderr.str()


def test_provisional_and_final_verdict_share_one_run_id(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyfile("""
        import json, pathlib
        def test_sees_provisional():
            v = json.loads(pathlib.Path(".release-gates/verdict.json").read_text())
            pathlib.Path("provisional.json").write_text(json.dumps(v))
    """)
    first = run_gate("--gate-shard=2/3").verdict
    provisional = json.loads((pytester.path / "provisional.json").read_text())
    assert provisional["complete"] is False and first["complete"] is True
    assert provisional["run_id"] == first["run_id"] and len(first["run_id"]) == 32
    assert provisional["shard"] == first["shard"] == {"index": 2, "count": 3}
    assert run_gate().verdict["run_id"] != first["run_id"]


# ------------------------------------------------------- shards of a real run


def _shard(pytester: pytest.Pytester, name: str, *args: str) -> GateRun:
    result = pytester.runpytest_subprocess("--release-gate", "-p", "no:cacheprovider", *NO_HYPOTHESIS,
                                           f"--gate-verdict={name}", *args)
    return GateRun(result, pytester.path / name)


def _merged_deploy(run_cli, root: Path, *names: str) -> dict[str, Any]:
    r = run_cli("merge", *names, "-o", "merged.json")
    assert r.ret == 0, r.stderr.str()
    merged: dict[str, Any] = json.loads((root / "merged.json").read_text())
    assert run_cli("status", "merged.json").ret == 0
    return merged


def test_pytest_split_shards_merge_into_a_deploy(project: Path, pytester: pytest.Pytester, run_cli) -> None:
    pytest.importorskip("pytest_split")
    s1 = _shard(pytester, "s1.json", "--splits", "2", "--group", "1", "--gate-shard=1/2")
    s2 = _shard(pytester, "s2.json", "--splits", "2", "--group", "2", "--gate-shard=2/2")
    for run in (s1, s2):
        assert run.level == "deploy", run.stdout  # a declared shard is not held as partial
        assert run.verdict["tests"]["passed"] == 2
        (gate,) = run.gates("run")
        assert gate["subject"] == "shard" and gate["status"] == "pass"
    assert s1.verdict["run"]["selection"]["command_line"] == ["--splits 2 --group 1"]
    merged = _merged_deploy(run_cli, project, "s1.json", "s2.json")
    assert merged["verdict"] == "deploy" and merged["tests"]["passed"] == 4
    assert merged["git"]["commit"] == s1.verdict["git"]["commit"] and merged["project"]["name"] == "demo"
    assert merged["run_id"] not in (s1.verdict["run_id"], s2.verdict["run_id"])
    assert isinstance(merged["run"], dict) and merged["run"]["partial"] is None
    assert merged["environment"] == s1.verdict["environment"]
    assert [(s["file"], s["run_id"], s["shard"]) for s in merged["shards"]] == [
        ("s1.json", s1.verdict["run_id"], {"index": 1, "count": 2}),
        ("s2.json", s2.verdict["run_id"], {"index": 2, "count": 2}),
    ]
    assert merged["shards"][0]["run"] == s1.verdict["run"]
    assert merged["shards"][0]["environment"] == s1.verdict["environment"]

    err = _refused(run_cli("merge", "s1.json", "-o", "one.json"), "s1.json")
    assert "shard 2 of 2 missing" in err
    err = _refused(run_cli("merge", "s1.json", "s1.json", "s2.json", "-o", "twice.json"), "s1.json")
    assert "are the same run" in err
    assert not (project / "one.json").exists() and not (project / "twice.json").exists()


def test_pytest_split_group_must_match_the_shard(project: Path, pytester: pytest.Pytester) -> None:
    pytest.importorskip("pytest_split")
    result = pytester.runpytest_subprocess("--release-gate", "--splits", "2", "--group", "1", "--gate-shard=2/2")
    assert result.ret == 4
    assert "--gate-shard=2/2 does not match --splits 2 --group 1: give --gate-shard=1/2" in result.stderr.str()


def test_pytest_split_without_gate_shard_is_partial(project: Path, pytester: pytest.Pytester) -> None:
    pytest.importorskip("pytest_split")
    run = _shard(pytester, "v.json", "--splits", "2", "--group", "1")
    assert run.level == "hold"
    assert "--splits 2 --group 1 without --gate-shard" in run.verdict["reasons"][0]


def test_path_list_shards_merge_into_a_deploy(project: Path, pytester: pytest.Pytester, run_cli) -> None:
    a = _shard(pytester, "a.json", "tests/a", "--gate-shard=1/2")
    b = _shard(pytester, "b.json", "tests/b", "--gate-shard=2/2", "-n", "2")
    assert a.level == b.level == "deploy", a.stdout + b.stdout
    assert b.verdict["run"]["xdist_workers"] == 2
    assert a.verdict["run"]["partial"] == "shard 1 of 2, tests/a, not all of testpaths tests"
    merged = _merged_deploy(run_cli, project, "a.json", "b.json")
    assert merged["tests"]["passed"] == 4
    err = _refused(run_cli("merge", "b.json", "-o", "m.json"), "b.json")
    assert "shard 1 of 2 missing" in err
    undeclared = _shard(pytester, "u.json", "tests/a")  # the same folder without --gate-shard holds
    assert undeclared.level == "hold"


def test_a_failing_shard_holds_the_merge(project: Path, pytester: pytest.Pytester, run_cli) -> None:
    (project / "tests" / "b" / "test_b.py").write_text("def test_b1(): assert 0\n")
    _shard(pytester, "a.json", "tests/a", "--gate-shard=1/2")
    _shard(pytester, "b.json", "tests/b", "--gate-shard=2/2")
    r = run_cli("merge", "a.json", "b.json", "-o", "m.json")
    assert r.ret == 0
    assert run_cli("status", "m.json").ret == 1


# ------------------------------------------------------ what merge refuses


def test_merge_refuses_an_input_without_run_id(pytester: pytest.Pytester, run_cli) -> None:
    doc = _doc()
    del doc["run_id"]
    a, b = _write(pytester.path, "a.json", _doc()), _write(pytester.path, "old.json", doc)
    assert "no run_id" in _refused(run_cli("merge", a, b, "-o", "m.json"), "old.json")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"project": {"name": "other", "version": "1.0"}}, "is project 'demo' and b.json is project 'other'"),
        ({"git": {"commit": "b" * 40, "dirty": False}}, f"is commit {'a' * 40} and b.json is commit {'b' * 40}"),
        ({"git": None}, "b.json is commit unknown (no git)"),
    ],
)
def test_merge_refuses_inputs_of_another_run(
    pytester: pytest.Pytester, run_cli, change: dict[str, Any], words: str
) -> None:
    a, b = _write(pytester.path, "a.json", _doc()), _write(pytester.path, "b.json", _doc(**change))
    assert words in _refused(run_cli("merge", a, b, "-o", "m.json"), "a.json", "b.json")
    assert not (pytester.path / "m.json").exists()


def test_merge_refuses_three_of_four_shards(pytester: pytest.Pytester, run_cli) -> None:
    names = [_write(pytester.path, f"s{i}.json", _doc(shard={"index": i, "count": 4})) for i in (1, 2, 4)]
    err = _refused(run_cli("merge", *names, "-o", "m.json"), *names)
    assert err.startswith("release-gate: shard 3 of 4 missing (cpython 3.11 on Linux x86_64)")
    names.append(_write(pytester.path, "s3.json", _doc(shard={"index": 3, "count": 4})))
    assert run_cli("merge", *names, "-o", "m.json").ret == 0


def test_merge_refuses_a_repeated_index_and_mixed_counts(pytester: pytest.Pytester, run_cli) -> None:
    one = _write(pytester.path, "one.json", _doc(shard={"index": 1, "count": 2}))
    again = _write(pytester.path, "again.json", _doc(shard={"index": 1, "count": 2}))
    two = _write(pytester.path, "two.json", _doc(shard={"index": 2, "count": 2}))
    assert "both shard 1 of 2" in _refused(run_cli("merge", one, again, two, "-o", "m.json"), one, again)
    three = _write(pytester.path, "three.json", _doc(shard={"index": 2, "count": 3}))
    assert "one run is split one way" in _refused(run_cli("merge", one, two, three, "-o", "m.json"), one, three)


@pytest.mark.parametrize("shard", [{"index": 0, "count": 2}, {"index": "1", "count": 2}, [1, 2], {"index": 1}])
def test_merge_refuses_a_malformed_shard(pytester: pytest.Pytester, run_cli, shard: object) -> None:
    bad = _write(pytester.path, "bad.json", _doc(shard=shard))
    assert "'shard' must be" in _refused(run_cli("merge", bad, "-o", "m.json"), "bad.json")


def test_python_matrix_of_shards_merges(pytester: pytest.Pytester, run_cli) -> None:
    """Shards group by interpreter, Python minor version, OS and machine: a kernel or patch
    release that differs between the runners of one job does not split a group."""
    env_312 = {**ENV_311, "python": "3.12.4"}
    names = [
        _write(pytester.path, "311-1.json", _doc(shard={"index": 1, "count": 2})),
        _write(pytester.path, "311-2.json", _doc(shard={"index": 2, "count": 2},
                                                 environment={**ENV_311, "python": "3.11.9",
                                                              "platform": "Linux-6.5.0-x86_64-with-glibc2.39"})),
        _write(pytester.path, "312-1.json", _doc(shard={"index": 1, "count": 2}, environment=env_312)),
        _write(pytester.path, "312-2.json", _doc(shard={"index": 2, "count": 2}, environment=env_312)),
        _write(pytester.path, "whole-313.json", _doc(environment={**ENV_311, "python": "3.13.0"})),
    ]
    r = run_cli("merge", *names, "-o", "m.json")
    assert r.ret == 0, r.stderr.str()
    merged = json.loads((pytester.path / "m.json").read_text())
    assert merged["tests"]["passed"] == 10 and merged["environment"] is None
    assert [s["environment"]["python"] for s in merged["shards"]] == ["3.11.7", "3.11.9", "3.12.4", "3.12.4", "3.13.0"]
    err = _refused(run_cli("merge", *names[:3], "-o", "m2.json"), "312-1.json")
    assert "shard 2 of 2 missing (cpython 3.12 on Linux x86_64)" in err


def test_merge_records_what_narrowed_an_input(pytester: pytest.Pytester, run_cli) -> None:
    a = _write(pytester.path, "a.json", _doc(shard={"index": 1, "count": 2},
                                             run={"partial": "shard 1 of 2, -k 'fast'"}))
    b = _write(pytester.path, "b.json", _doc(shard={"index": 2, "count": 2}, run={"partial": "shard 2 of 2"}))
    assert run_cli("merge", a, b, "-o", "m.json").ret == 0
    merged = json.loads((pytester.path / "m.json").read_text())
    assert merged["run"]["partial"] == "a.json: -k 'fast'"
    assert merged["git"] == {"commit": "a" * 40, "dirty": False}
