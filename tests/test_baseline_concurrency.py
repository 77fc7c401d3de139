"""Two ``--gate-update-baseline`` runs at once: both entries land, or the run that could not apply its
update holds and says so. Never "baseline updated" for an update that was not written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import NO_HYPOTHESIS

BASELINE = "release-gates.baseline.json"

TESTS = """
import os

def test_a(gate_metric):
    gate_metric("a", float(os.environ.get("VAL_A", "1")))

def test_b(gate_metric):
    gate_metric("b", float(os.environ.get("VAL_B", "2")))

def test_c(gate_metric):
    gate_metric("c", 3.0)
"""

#: Holds each run between loading the baseline and saving it until the other one has loaded it too,
#: so the two read-modify-write cycles always overlap (without it they overlap only by luck).
BARRIER = """
import os, pathlib, time

def pytest_release_gates_update_baseline(context, baseline):
    folder = os.environ.get("BARRIER")
    if folder:
        here = pathlib.Path(folder)
        (here / os.environ["RUN_NAME"]).write_text("loaded")
        deadline = time.monotonic() + 120
        while len(list(here.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    return []
"""


def seed(path: Path, **values: float) -> None:
    entries = {f"test_m.py::test_{k}::{k}": {"count": 1, "direction": "lower", "median": v, "source": "metric"}
               for k, v in values.items()}
    path.write_text(json.dumps({"schema": "pytest-release-gates/baseline/1", "regression": entries}))


def start(cwd: Path, name: str, *args: str, barrier: Path | None, **env: str) -> subprocess.Popen[str]:
    environ = {**os.environ, "RUN_NAME": name, **env}
    if barrier is not None:
        environ["BARRIER"] = str(barrier)
    cmd = [sys.executable, "-m", "pytest", "--release-gate", "--gate-update-baseline", "-p", "no:cacheprovider",
           *NO_HYPOTHESIS, f"--gate-verdict=.release-gates/{name}.json", *args]
    return subprocess.Popen(cmd, cwd=cwd, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def together(cwd: Path, *runs: tuple[str, list[str], dict[str, str]], barrier: bool) -> list[tuple[int, str]]:
    folder = None
    if barrier:
        folder = cwd / f"barrier-{len(list(cwd.glob('barrier-*')))}"
        folder.mkdir()
    procs = [start(cwd, name, *args, barrier=folder, **env) for name, args, env in runs]
    return [(p.wait(timeout=600), p.communicate()[0]) for p in procs]


def regression(cwd: Path) -> dict[str, Any]:
    return json.loads((cwd / BASELINE).read_text())["regression"]  # type: ignore[no-any-return]


@pytest.fixture
def project(pytester: pytest.Pytester) -> Path:
    pytester.makepyfile(test_m=TESTS)
    pytester.makeconftest(BARRIER)
    pytester.makepyprojecttoml('[tool.release_gates]\npartial_run = "warn"\n')
    return pytester.path


@pytest.mark.parametrize(
    ("trial", "barrier", "seeded", "xdist"),
    [(0, True, False, False), (1, True, True, True), (2, False, True, False), (3, False, False, False)],
)
def test_two_updates_of_different_metrics_both_land(project: Path, trial: int, barrier: bool, seeded: bool,
                                                    xdist: bool) -> None:
    if xdist:
        pytest.importorskip("xdist")
    if seeded:
        seed(project / BASELINE, c=3.0)
    runs = together(project, ("one", ["-k", "test_a", *(["-n", "2"] if xdist else [])], {}),
                    ("two", ["-k", "test_b"], {}), barrier=barrier)
    for ret, out in runs:
        assert ret == 0, out
        assert "baseline updated: " in out, out
    entries = regression(project)
    assert {"test_m.py::test_a::a", "test_m.py::test_b::b"} <= set(entries), entries
    if seeded:
        assert "test_m.py::test_c::c" in entries
    assert not (project / (BASELINE + ".bak")).exists()  # backups are machine files
    assert (project / ".release-gates" / (BASELINE + ".bak")).exists() or not seeded


def test_two_updates_of_the_same_entry_one_holds_and_says_so(project: Path) -> None:
    seed(project / BASELINE, a=1.0)
    values = {"one": 5.0, "two": 7.0}
    runs = dict(zip(values, together(project, *((n, ["-k", "test_a"], {"VAL_A": str(v)}) for n, v in values.items()),
                                     barrier=True), strict=True))
    (won,) = [n for n, (ret, _) in runs.items() if ret == 0]
    (lost,) = [n for n, (ret, _) in runs.items() if ret != 0]
    assert "baseline updated: " in runs[won][1]
    out = runs[lost][1]
    assert "release gate: HOLD" in out
    assert "baseline updated" not in out and "baseline unchanged" not in out  # never claims a write
    line = next(x for x in out.splitlines() if "another run changed" in x)
    assert "baseline update not written" in line and BASELINE in line
    assert "regression entry 'test_m.py::test_a::a'" in line
    assert regression(project)["test_m.py::test_a::a"]["median"] == values[won]  # the loser wrote nothing
    verdict = json.loads((project / ".release-gates" / f"{lost}.json").read_text())
    assert verdict["verdict"] == "hold"
    assert any("another run changed" in r for r in verdict["reasons"])
