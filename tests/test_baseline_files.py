"""A baseline the plugin cannot read: one line naming the file, never deploy, the file byte for byte unchanged."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from conftest import GateRun

#: Inner runs go in-process (conftest ``run_gate``): baseline files are read and written
#: through the run's config, no global state. The coverage run (a tracer) and every ``-n`` run stay subprocesses.
RUN_GATE_INLINE = True

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


def _doc(**sections: object) -> bytes:
    return json.dumps({"schema": "pytest-release-gates/baseline/1", **sections}).encode()


#: Entries of the wrong shape, one per section a gate keeps: each names the file, the section and the entry.
BAD_ENTRIES = {
    "error-types-count-many": (
        _doc(error_types={"KeyError": {"count": "many", "kind": "error", "origin": "", "type": "KeyError"}}),
        "error_types entry 'KeyError': 'count' must be a whole number of at least 1, got \"many\"",
    ),
    "error-types-garbage": (_doc(error_types={"KeyError": "garbage"}),
                            "error_types entry 'KeyError' must be an object"),
    "error-types-empty": (_doc(error_types={"KeyError": {}}), "error_types entry 'KeyError': 'count', 'kind', 'type'"),
    "error-types-key": (
        _doc(error_types={"ValueError": {"count": 1, "kind": "error", "origin": "", "type": "KeyError"}}),
        "error_types entry 'ValueError': the key must be 'KeyError'",
    ),
    "regression-not-an-object": (_doc(regression={"test_x.py::test_m::m": 4}),
                                 "regression entry 'test_x.py::test_m::m' must be an object"),
    "coverage-not-a-percentage": (_doc(coverage={"total": "high"}), "coverage entry 'total' must be a percentage"),
    "coverage-unknown-key": (_doc(coverage={"totl": 80}), "coverage entry 'totl': unknown key"),
    "integrity-count": (_doc(integrity={"findings": {"secrets": {"a.py": {"k": "x"}}}}),
                        "integrity.findings['secrets']['a.py']['k']: count must be a positive whole number"),
    "integrity-rule": (_doc(integrity={"findings": {"no-such-rule": {}}}),
                       "integrity.findings: unknown rule 'no-such-rule'"),
    "section-not-an-object": (_doc(error_types=["KeyError"]), "section 'error_types' must be an object"),
    "meta-machine": (_doc(meta={"machines": {"abc": "fast"}}), "meta machine 'abc' must be an object"),
}
BAD_FILES.update(BAD_ENTRIES)


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
    assert not (pytester.path / ".release-gates" / (BASELINE + ".bak")).exists()
    assert "Traceback" not in r.stdout
    fails = [g for g in r.verdict["gates"] if g["status"] == "fail"]
    assert any(message in g["message"] and BASELINE in g["message"] for g in fails), fails
    assert all("\n" not in g["message"] for g in fails)
    (gate,) = [g for g in fails if g["subject"] == "baseline"]
    assert gate["kind"] == "run" and gate["message"].startswith("unreadable: ")  # not "baseline unreadable baseline"
    assert "fix the file" in gate["message"]


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


ERRORS = """
import logging

def test_logs(gate_metric):
    logging.getLogger("app").error("disk full")
"""


def test_unreadable_baseline_says_fix_it_not_accept(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    pytester.makepyfile(test_x=ERRORS)
    pytester.makepyprojecttoml("[tool.release_gates]\ncoverage_max_drop = 1\n")
    (pytester.path / BASELINE).write_bytes(b"{ not json")
    r = run_gate("--cov=.", subprocess=True)  # coverage.py's tracer: in a process of its own
    assert r.level == "hold"
    new_type = r.gates("new_error_type", "fail")
    assert new_type and all("could not be read: fix the file" in g["message"] for g in new_type), new_type
    assert "--gate-update-baseline" not in " ".join(g["message"] for g in r.gates("new_error_type"))
    (drop,) = r.gates("coverage")
    assert "could not be read" in drop["message"] and "--gate-update-baseline" not in drop["message"]
    assert "accept them with --gate-update-baseline" not in r.stdout
    assert "unreadable baseline" not in r.stdout


def test_unknown_section_is_kept_as_it_is_and_named(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    pytester.makepyfile(test_x="def test_m(gate_metric):\n    gate_metric('m', 1)\n")
    path = pytester.path / BASELINE
    path.write_bytes(_doc(error_typos={"KeyError": {"anything": ["goes", 1]}}))
    r = run_gate("--gate-update-baseline")
    assert r.level == "deploy", r.stdout
    (warn,) = r.gates("run", "warn")
    assert warn["subject"] == "baseline" and "section 'error_typos'" in warn["message"]
    assert "kept as it is, not checked" in warn["message"]
    doc = json.loads(path.read_text())
    assert doc["error_typos"] == {"KeyError": {"anything": ["goes", 1]}}
    assert "test_x.py::test_m::m" in doc["regression"]


def test_a_plugin_declares_and_validates_its_own_section(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    pytester.makeconftest("""
        from pytest_release_gates import UsageError

        def check(path, section):
            for key, value in section.items():
                if not isinstance(value, int):
                    raise UsageError(f"{path}: licences entry {key!r} must be a count, got {value!r}")

        def pytest_release_gates_baseline_sections():
            return [("licences", check)]
    """)
    pytester.makepyfile(test_x="def test_m(): pass\n")
    path = pytester.path / BASELINE
    path.write_bytes(_doc(licences={"MIT": 3}))
    ok = run_gate()
    assert ok.level == "deploy" and not ok.gates("run", "warn"), ok.stdout
    bad = _doc(licences={"MIT": "three"})
    path.write_bytes(bad)
    held = run_gate("--gate-update-baseline")
    assert held.level == "hold"
    assert any("licences entry 'MIT' must be a count" in g["message"] for g in held.gates("run", "fail"))
    assert path.read_bytes() == bad
