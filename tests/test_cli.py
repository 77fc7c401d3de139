"""`release-gate status` and `release-gate merge`: every exit status SPEC fixes."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest


def _verdict(
    level: str, *, complete: bool = True, counts: dict[str, int] | None = None, reasons: list[str] | None = None
) -> dict[str, object]:
    tests = {"collected": 2, "passed": 2, "failed": 0, "errors": 0, "skipped": 0, "xfailed": 0, "xpassed": 0}
    tests.update(counts or {})
    return {
        "schema": "pytest-release-gates/verdict/1",
        "verdict": level,
        "complete": complete,
        "reasons": reasons or [],
        "gates": [{"kind": "tests", "subject": "t.py::a", "status": "pass", "level": "hold", "message": "ok"}],
        "tests": tests,
        "project": {"name": "demo", "version": "1.0", "prerelease": False},
        "created": "2026-11-22T01:25:29Z",
        "duration_s": 1.5,
        "run_id": uuid.uuid4().hex,
        "git": {"commit": "0" * 40, "dirty": False},
    }


def _write(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


@pytest.mark.parametrize(("level", "code"), [("deploy", 0), ("hold", 1), ("rollback", 2)])
def test_status_exit_follows_verdict(pytester: pytest.Pytester, run_cli, level: str, code: int) -> None:
    _write(pytester.path / ".release-gates" / "verdict.json", _verdict(level, reasons=["x.py::t took 2 s"]))
    r = run_cli("status")
    assert r.ret == code
    r.stdout.fnmatch_lines([f"{level.upper()}*demo 1.0*"])
    if level != "deploy":
        r.stdout.fnmatch_lines(["  - x.py::t took 2 s"])


def test_status_incomplete_is_hold(pytester: pytest.Pytester, run_cli) -> None:
    _write(pytester.path / "v.json", _verdict("hold", complete=False))
    r = run_cli("status", "v.json")
    assert r.ret == 1
    r.stdout.fnmatch_lines(["HOLD*", "*did not finish*"])


def test_status_missing_file_is_3(pytester: pytest.Pytester, run_cli) -> None:
    r = run_cli("status")
    assert r.ret == 3
    assert "verdict.json: no verdict file" in r.stderr.str()


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "",
        "[]",
        '{"schema": "something/else", "verdict": "deploy"}',
        '{"schema": "pytest-release-gates/verdict/2", "verdict": "deploy"}',
        '{"schema": "pytest-release-gates/verdict/1", "verdict": "ship"}',
        '{"schema": "pytest-release-gates/verdict/1", "verdict": "deploy", "gates": [{"kind": 1}]}',
        '{"schema": "pytest-release-gates/verdict/1", "verdict": "deploy", "tests": {"passed": "2"}}',
        b"\xff\xfe".decode("latin-1"),
    ],
)
def test_status_invalid_file_is_4(pytester: pytest.Pytester, run_cli, content: str) -> None:
    path = _write(pytester.path / "v.json", content)
    before = path.read_bytes()
    r = run_cli("status", "v.json")
    assert r.ret == 4
    err = r.stderr.str().strip()
    assert "v.json" in err and len(err.splitlines()) == 1
    assert "Traceback" not in err
    assert path.read_bytes() == before


def test_status_directory_is_4(pytester: pytest.Pytester, run_cli) -> None:
    (pytester.path / "v.json").mkdir()
    r = run_cli("status", "v.json")
    assert r.ret == 4
    assert "is a directory" in r.stderr.str()


def test_status_bad_arguments_exit_4(pytester: pytest.Pytester, run_cli) -> None:
    assert run_cli("status", "a", "b").ret == 4


def test_merge_takes_worst_and_adds_counts(pytester: pytest.Pytester, run_cli) -> None:
    a = _write(pytester.path / "a.json", _verdict("deploy"))
    _write(
        pytester.path / "b.json", _verdict("hold", counts={"failed": 1, "passed": 1}, reasons=["t.py::b failed"])
    )
    r = run_cli("merge", str(a), "b.json", "-o", "out/deep/merged.json")
    assert r.ret == 0
    merged = json.loads((pytester.path / "out" / "deep" / "merged.json").read_text())
    assert merged["verdict"] == "hold"
    assert merged["reasons"] == ["t.py::b failed"]
    assert merged["tests"]["passed"] == 3 and merged["tests"]["failed"] == 1 and merged["tests"]["collected"] == 4
    assert len(merged["gates"]) == 2
    assert run_cli("status", "out/deep/merged.json").ret == 1


def test_merge_incomplete_shard_is_never_deploy(pytester: pytest.Pytester, run_cli) -> None:
    _write(pytester.path / "a.json", _verdict("deploy"))
    _write(pytester.path / "b.json", _verdict("deploy", complete=False))
    assert run_cli("merge", "a.json", "b.json", "-o", "m.json").ret == 0
    merged = json.loads((pytester.path / "m.json").read_text())
    assert merged["verdict"] == "hold" and merged["complete"] is False


@pytest.mark.parametrize("bad", ["missing.json", "corrupt.json"])
def test_merge_bad_input_exit_2_nothing_written(pytester: pytest.Pytester, run_cli, bad: str) -> None:
    _write(pytester.path / "a.json", _verdict("deploy"))
    _write(pytester.path / "corrupt.json", "{")
    out = _write(pytester.path / "m.json", "previous")
    r = run_cli("merge", "a.json", bad, "-o", "m.json")
    assert r.ret == 2
    assert bad in r.stderr.str() and "Traceback" not in r.stderr.str()
    assert out.read_text() == "previous"


def test_merge_output_is_directory(pytester: pytest.Pytester, run_cli) -> None:
    _write(pytester.path / "a.json", _verdict("deploy"))
    (pytester.path / "m.json").mkdir()
    r = run_cli("merge", "a.json", "-o", "m.json")
    assert r.ret == 2 and "is a directory" in r.stderr.str()


def test_merge_real_shards(pytester: pytest.Pytester, run_gate, run_cli) -> None:
    pytester.makepyfile(test_one="def test_a(): pass\n", test_two="def test_b(): assert 0\n")
    run_gate("test_one.py", "--gate-shard=1/2", "--gate-verdict=s1.json")
    run_gate("test_two.py", "--gate-shard=2/2", "--gate-verdict=s2.json")
    assert run_cli("merge", "s1.json", "s2.json", "-o", "all.json").ret == 0
    r = run_cli("status", "all.json")
    assert r.ret == 1
    r.stdout.fnmatch_lines(["HOLD*1 passed, 1 failed*", "*test_two.py::test_b*"])


def test_console_script_is_installed() -> None:
    from importlib.metadata import entry_points

    scripts = {e.name: e.value for e in entry_points(group="console_scripts")}
    assert scripts.get("release-gate") == "pytest_release_gates.cli:main"
    plugins = {e.name: e.value for e in entry_points(group="pytest11")}
    assert plugins.get("release_gates") == "pytest_release_gates.plugin"
