"""A baseline the plugin cannot read: one line naming the file, never deploy, the file byte for byte unchanged."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from conftest import GateRun

RunGate = Callable[..., GateRun]
BASELINE = "release-gates.baseline.json"

BAD_FILES = {
    "corrupt": (b'{"schema": "pytest-release-gates/baseline/1", "regression": {', "not valid JSON"),
    "truncated": (b'{"schema": "pytest-release-gates/baseline/1", "regr', "not valid JSON"),
    "empty": (b"", "baseline is empty"),
    "future-schema": (
        json.dumps({"schema": "pytest-release-gates/baseline/2", "meta": {"plugin_version": "3.0.0"}}).encode(),
        "written by pytest-release-gates 3.0.0",
    ),
    "string-metric": (
        json.dumps(
            {
                "schema": "pytest-release-gates/baseline/1",
                "regression": {"test_x.py::test_m::m": {"median": "12", "count": 1}},
            }
        ).encode(),
        "regression entry 'test_x.py::test_m::m': 'median' must be a number",
    ),
    "not-an-object": (b"[1, 2]", "must be a JSON object"),
    "binary": (b"\xff\xfe\x00garbage", "not UTF-8"),
}


@pytest.mark.parametrize("update", [False, True], ids=["compare", "update"])
@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_unreadable_baseline_is_kept_and_never_deploys(
    pytester: pytest.Pytester, run_gate: RunGate, name: str, update: bool
) -> None:
    content, message = BAD_FILES[name]
    pytester.makepyfile(test_x="def test_m(gate_metric):\n    gate_metric('m', 1)\n")
    path = pytester.path / BASELINE
    path.write_bytes(content)
    r = run_gate(*(["--gate-update-baseline"] if update else []))
    assert r.level != "deploy" and r.ret != 0
    assert path.read_bytes() == content
    assert not (pytester.path / (BASELINE + ".bak")).exists()
    assert "Traceback" not in r.stdout
    fails = [g for g in r.verdict["gates"] if g["status"] == "fail"]
    assert any(message in g["message"] and BASELINE in g["message"] for g in fails), fails
    assert all("\n" not in g["message"] for g in fails)


def test_a_directory_where_the_baseline_should_be(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    pytester.makepyfile(test_x="def test_m(gate_metric):\n    gate_metric('m', 1)\n")
    (pytester.path / BASELINE).mkdir()
    (pytester.path / BASELINE / "keep.txt").write_text("mine")
    r = run_gate("--gate-update-baseline")
    assert r.level == "hold" and "Traceback" not in r.stdout
    assert any("is a directory" in g["message"] for g in r.gates(status="fail"))
    assert (pytester.path / BASELINE / "keep.txt").read_text() == "mine"


def test_bad_baseline_under_xdist(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    pytester.makepyfile(test_x="def test_m(gate_metric):\n    gate_metric('m', 1)\n")
    content = b'{"schema": "pytest-release-gates/baseline/1", "regression": {"a": {"median": 1, "expires": 5}}}'
    (pytester.path / BASELINE).write_bytes(content)
    r = run_gate("--gate-update-baseline", "-n", "2")
    assert r.level == "hold"
    assert (pytester.path / BASELINE).read_bytes() == content
    assert any("'expires' must be a date" in g["message"] for g in r.gates(status="fail"))


@pytest.mark.parametrize("update", [False, True], ids=["compare", "update"])
def test_baseline_over_the_size_cap_is_refused_unread(
    pytester: pytest.Pytester, run_gate: RunGate, monkeypatch: pytest.MonkeyPatch, update: bool
) -> None:
    """Sparse (no disk used): a 1 GiB baseline, then a small one over a cap set low with RELEASE_GATES_MAX_FILE_MB."""
    pytester.makepyfile(test_x="def test_m(gate_metric):\n    gate_metric('m', 1)\n")
    path = pytester.path / BASELINE
    with path.open("wb") as fh:
        fh.truncate(1 << 30)
    args = ["--gate-update-baseline"] if update else []
    r = run_gate(*args)
    assert r.level == "hold" and "Traceback" not in r.stdout
    assert any(f"{BASELINE}: baseline is 1 GiB, over the 256 MiB cap (RELEASE_GATES_MAX_FILE_MB); not read"
               in g["message"] for g in r.gates(status="fail"))
    assert path.stat().st_size == 1 << 30  # untouched
    content = json.dumps({"schema": "pytest-release-gates/baseline/1", "meta": {"note": "x" * 2000}}).encode()
    path.write_bytes(content)
    assert run_gate().level == "deploy"
    monkeypatch.setenv("RELEASE_GATES_MAX_FILE_MB", "0.001")
    r = run_gate(*args)
    assert r.level == "hold"
    assert any("baseline is 2 KiB, over the 1 KiB cap" in g["message"] for g in r.gates(status="fail"))
    assert path.read_bytes() == content
