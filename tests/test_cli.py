"""`release-gate status` and `release-gate merge`: every exit status SPEC fixes."""

from __future__ import annotations

import json
import os
import threading
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


def _without(key: str) -> dict[str, object]:
    doc = _verdict("deploy")
    del doc[key]
    return doc


def _with(path: str, value: object) -> dict[str, object]:
    doc: dict[str, object] = _verdict("deploy")
    *parents, last = path.split(".")
    target: object = doc
    for p in parents:
        target = target[int(p)] if isinstance(target, list) else target[p]  # type: ignore[index]
    target[int(last) if isinstance(target, list) else last] = value  # type: ignore[index]
    return doc


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ({"schema": "pytest-release-gates/verdict/1", "verdict": "deploy"}, "'complete' is missing"),
        (_without("complete"), "'complete' is missing"),
        (_without("tests"), "'tests' is missing"),
        (_without("gates"), "'gates' is missing"),
        (_with("verdict", "DEPLOY"), "'verdict' must be deploy, hold or rollback"),
        (_with("complete", "yes"), "'complete' must be true or false"),
        (_with("complete", None), "'complete' must be true or false"),
        (_with("reasons", "a reason"), "'reasons' must be a list of strings"),
        (_with("reasons", [1]), "'reasons' must be a list of strings"),
        (_with("gates", {}), "'gates' must be a list"),
        (_with("gates.0", "tests"), "gates[0] is not a valid gate (expected an object"),
        (_with("gates.0.kind", ""), "gates[0] is not a valid gate ('kind'"),
        (_with("gates.0.status", "ok"), "gates[0] is not a valid gate ('status'"),
        (_with("gates.0.level", "block"), "gates[0] is not a valid gate ('level'"),
        (_with("gates.0.message", ["x"]), "gates[0] is not a valid gate ('message'"),
        (_with("gates.0.value", "1.5"), "gates[0] is not a valid gate ('value'"),
        (_with("tests", [2]), "'tests' must map"),
        (_with("tests.passed", -1), "'tests.passed' must be a whole number"),
        (_with("tests.failed", 0.5), "'tests.failed' must be a whole number"),
        (_with("tests.errors", True), "'tests.errors' must be a whole number"),
    ],
)
def test_status_incomplete_document_is_invalid(pytester: pytest.Pytester, run_cli, doc: dict, needle: str) -> None:
    """A hand-written ``{"schema": ..., "verdict": "deploy"}`` is no deploy: every field status relies on is checked."""
    _write(pytester.path / "v.json", doc)
    r = run_cli("status", "v.json")
    assert r.ret == 4 and r.stdout.str() == ""
    (line,) = r.stderr.str().strip().splitlines()
    assert line.startswith("release-gate: v.json: ") and needle in line, line
    # merge reads through the same validator
    _write(pytester.path / "ok.json", _verdict("deploy"))
    m = run_cli("merge", "ok.json", "v.json", "-o", "m.json")
    assert m.ret == 2 and needle in m.stderr.str() and not (pytester.path / "m.json").exists()


def test_status_json_size_cap(pytester: pytest.Pytester, run_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = _verdict("deploy", reasons=["x" * 4000])  # a valid verdict of about 4.5 KiB
    _write(pytester.path / "v.json", doc)
    assert run_cli("status", "v.json").ret == 0
    monkeypatch.setenv("RELEASE_GATES_MAX_FILE_MB", "0.001")  # 1 KiB (1048 bytes)
    r = run_cli("status", "v.json")
    assert r.ret == 4
    (line,) = r.stderr.str().strip().splitlines()
    assert line.startswith("release-gate: v.json: verdict file is 4.") and "over the 1 KiB cap" in line
    assert "RELEASE_GATES_MAX_FILE_MB" in line
    for bad in ("abc", "0", "-1", "nan", "inf"):
        monkeypatch.setenv("RELEASE_GATES_MAX_FILE_MB", bad)
        r = run_cli("status", "v.json")
        assert r.ret == 4
        (line,) = r.stderr.str().strip().splitlines()
        assert f"RELEASE_GATES_MAX_FILE_MB={bad!r}: expected a positive number of MiB" in line


def test_status_refuses_a_gigabyte_without_reading_it(pytester: pytest.Pytester, run_cli) -> None:
    path = pytester.path / "v.json"
    with path.open("wb") as fh:  # sparse: a 1 GiB file that takes no disk (and would take seconds to parse)
        fh.truncate(1 << 30)
    r = run_cli("status", "v.json")
    assert r.ret == 4
    (line,) = r.stderr.str().strip().splitlines()
    assert line == (
        "release-gate: v.json: verdict file is 1 GiB, over the 256 MiB cap (RELEASE_GATES_MAX_FILE_MB); not read"
    )


def test_read_json_never_reads_past_the_cap(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file whose size ``stat`` does not tell (a device, a FIFO, a file still growing) is cut at cap+1 bytes."""
    from pytest_release_gates import atomic
    from pytest_release_gates.model import UsageError

    monkeypatch.setenv("RELEASE_GATES_MAX_FILE_MB", "0.001")
    with pytest.raises(UsageError, match=r"/dev/zero: baseline is over the 1 KiB cap"):
        atomic.read_json(Path("/dev/zero"), what="baseline")
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    writer = threading.Thread(target=_feed, args=(fifo,), daemon=True)
    writer.start()
    with pytest.raises(UsageError, match=r"fifo.json: verdict file is over the 1 KiB cap"):
        atomic.read_json(fifo, what="verdict file")
    writer.join(timeout=30)


def _feed(fifo: Path) -> None:
    try:
        with fifo.open("wb") as fh:
            for _ in range(10_000):  # far more than the cap; stops when the reader closes its end
                fh.write(b"[" * 1024)
    except BrokenPipeError:
        pass


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
