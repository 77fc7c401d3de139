"""Same-job A/B (``--gate-compare-ref``): end to end in scratch git repositories made here.

Each scratch project has ``src/slowpkg`` (the code under test: ``work()`` loops
``LOOPS`` times) and tests that track its speed. Slowdowns are large (2x-3x) so
the tests hold on a loaded machine; the accuracy at 1.2x is the benchmark's job
(``benchmarks/regression_accuracy.py --part e2e``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import NO_HYPOTHESIS

from pytest_release_gates.config import CompareSettings, Settings
from pytest_release_gates.gates.ab import git as cgit
from pytest_release_gates.gates.ab import runner
from pytest_release_gates.gates.ab.gate import code_paths, layout

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false",
       "-c", "init.defaultBranch=main"]

PYPROJECT = """
[project]
name = "slowpkg"
version = "1.0"

[tool.pytest.ini_options]
pythonpath = ["src"]

[tool.release_gates]
rollback_ratio = 10.0
{extra}
"""

PKG = """
LOOPS = {loops}

def work():
    total = 0
    for i in range(LOOPS):
        total += i * i
    return total
"""

PERF_TEST = """
import pytest
from slowpkg import work

def test_work(perf):
    perf.measure(work, rounds=60, warmup=2)
"""


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run([*GIT, *args], cwd=cwd, capture_output=True, text=True, check=True)
    return proc.stdout


@dataclass
class Run:
    ret: int
    out: str
    verdict: dict[str, Any]

    def gates(self, kind: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
        return [g for g in self.verdict["gates"] if (kind is None or g["kind"] == kind)
                and (status is None or g["status"] == status)]

    def gate(self, subject_end: str) -> dict[str, Any]:
        found = [g for g in self.verdict["gates"] if g["subject"].endswith(subject_end)]
        assert len(found) == 1, (subject_end, self.out)
        return found[0]


@pytest.fixture
def tmpdir_env(tmp_path: Path) -> Path:
    """Where the A/B may put its checkout (TMPDIR of the run): checked empty afterwards."""
    d = tmp_path / "systmp"
    d.mkdir()
    return d


def run_ab(cwd: Path, tmpdir_env: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    full_env = {**os.environ, "TMPDIR": str(tmpdir_env), **(env or {})}
    full_env.pop("PYTEST_ADDOPTS", None)
    proc = subprocess.run([sys.executable, "-m", "pytest", "--release-gate", "-p", "no:cacheprovider",
                           *NO_HYPOTHESIS, *args], cwd=cwd, capture_output=True, text=True, env=full_env, timeout=600)
    out = proc.stdout + proc.stderr
    path = cwd / ".release-gates" / "verdict.json"
    verdict = json.loads(path.read_text()) if path.exists() else {}
    return Run(proc.returncode, out, verdict)


def leftovers(tmpdir_env: Path) -> list[str]:
    return [p.name for p in tmpdir_env.iterdir() if p.name.startswith(cgit.PREFIX)]


def make_project(root: Path, *, loops: list[int], tests: dict[str, str] | None = None, extra: str = "",
                 pkg: list[str] | None = None) -> Path:
    """A git repository with one commit per entry of ``loops`` (the code's speed at that commit)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "src" / "slowpkg").mkdir(parents=True, exist_ok=True)
    (root / "tests").mkdir(exist_ok=True)
    (root / "pyproject.toml").write_text(PYPROJECT.format(extra=extra))
    (root / ".gitignore").write_text(".release-gates/\n__pycache__/\n")
    for name, text in (tests or {"test_perf.py": PERF_TEST}).items():
        (root / "tests" / name).write_text(text)
    git(root, "init", "-q")
    for i, n in enumerate(loops):
        text = pkg[i] if pkg else PKG.format(loops=n)
        (root / "src" / "slowpkg" / "__init__.py").write_text(text)
        git(root, "add", "-A")
        git(root, "commit", "-q", "--allow-empty", "-m", f"commit {i}")
    return root


def repo_state(root: Path) -> tuple[str, str, str, str]:
    """What the A/B must never change: status, index, stash, worktrees."""
    return (git(root, "status", "--porcelain", "--untracked-files=all"), git(root, "diff", "--cached", "--stat"),
            git(root, "stash", "list"), git(root, "worktree", "list", "--porcelain"))


# ------------------------------------------------------------------ end to end


BENCH_AND_DURATION = PERF_TEST + """
@pytest.mark.regression
def test_duration():
    for _ in range(40):
        work()

def test_bench(benchmark):
    benchmark(work)
"""


@pytest.mark.timing
@pytest.mark.parametrize("xdist", [False, True], ids=["serial", "xdist"])
def test_slower_revision_holds(tmp_path: Path, tmpdir_env: Path, xdist: bool) -> None:
    root = make_project(tmp_path / "proj", loops=[3000, 9000], tests={"test_perf.py": BENCH_AND_DURATION})
    before = repo_state(root)
    args = ["--gate-compare-ref=HEAD~1", "--benchmark-max-time=0.3"] + (["-n", "2"] if xdist else [])
    run = run_ab(root, tmpdir_env, *args)
    assert run.verdict["verdict"] == "hold", run.out
    assert run.ret == 1
    short = git(root, "rev-parse", "--short", "HEAD~1").strip()
    commit = git(root, "rev-parse", "HEAD~1").strip()
    # (pytest-benchmark switches itself off under xdist: no benchmark metric in that run to compare)
    subjects = ["test_work::work", "test_duration::duration"] + ([] if xdist else ["test_bench::benchmark"])
    for subject in subjects:
        g = run.gate(subject)
        assert g["kind"] == "regression" and g["status"] == "fail" and g["level"] == "hold", g
        assert f"slower vs HEAD~1 ({short})" in g["message"]
        assert g["compare_ref"] == "HEAD~1" and g["compare_commit"] == commit
        assert g["value"] > 1.2
    assert run.gate("test_work::work")["samples"] == [30, 30]  # 60 rounds split over 3 A/B rounds a side
    summary = run.gate("compare")
    assert summary["status"] == "pass" and "3 interleaved rounds" in summary["message"]
    # One verdict line per metric: the committed-baseline gate left the A/B's metrics alone.
    assert not [g for g in run.gates("regression") if "new metric" in g["message"]]
    assert "Traceback" not in run.out
    assert repo_state(root) == before
    assert leftovers(tmpdir_env) == []


@pytest.mark.timing
def test_unchanged_revision_deploys(tmp_path: Path, tmpdir_env: Path) -> None:
    # Tolerance 200%: this test checks the machinery, not the noise floor of a shared machine (whose speed
    # can swing 2x within a second, while the other xdist worker competes for the same two cores).
    root = make_project(tmp_path / "proj", loops=[3000, 3000], extra="regression_tolerance = 2.0")
    run = run_ab(root, tmpdir_env, "--gate-compare-ref=HEAD~1")
    assert run.verdict["verdict"] == "deploy", run.out
    assert run.ret == 0
    g = run.gate("test_work::work")
    assert g["status"] == "pass" and "vs HEAD~1" in g["message"] and g["compare_ref"] == "HEAD~1"
    assert "on this machine: 1 metric of 1 test, 3 interleaved rounds a side" in run.gate("compare")["message"]
    assert leftovers(tmpdir_env) == []


@pytest.mark.timing
def test_config_ref_and_dirty_working_tree_is_the_current_side(tmp_path: Path, tmpdir_env: Path) -> None:
    root = make_project(tmp_path / "proj", loops=[3000], extra='[tool.release_gates.compare]\nref = "HEAD"')
    # An uncommitted 3x slowdown, as in the other A/B tests here: what this test is about is which side the
    # dirty tree is on. (At 2x it read deploy twice on 2026-11-29: once beside valgrind, once in CI.)
    (root / "src" / "slowpkg" / "__init__.py").write_text(PKG.format(loops=9000))
    before = repo_state(root)
    run = run_ab(root, tmpdir_env)
    assert run.verdict["verdict"] == "hold", run.out
    assert run.gate("test_work::work")["status"] == "fail"
    assert "uncommitted changes" in run.gate("compare")["message"]
    assert repo_state(root) == before  # the uncommitted change is still there, nothing staged or stashed
    assert leftovers(tmpdir_env) == []


@pytest.mark.timing
def test_compare_tolerance_replaces_regression_tolerance_for_the_ab(tmp_path: Path, tmpdir_env: Path) -> None:
    # A committed-baseline tolerance this loose would let a 3x slowdown through; the A/B's own is tight.
    root = make_project(tmp_path / "proj", loops=[3000, 9000],
                        extra="regression_tolerance = 4.0\n[tool.release_gates.compare]\ntolerance = 0.25")
    run = run_ab(root, tmpdir_env, "--gate-compare-ref=HEAD~1")
    assert run.verdict["verdict"] == "hold", run.out
    g = run.gate("test_work::work")
    assert g["status"] == "fail" and "tolerance 25%" in g["message"] and g["limit"] == 1.25, g


def test_session_fixtures_are_torn_down_on_both_sides(tmp_path: Path, tmpdir_env: Path) -> None:
    # The measuring processes exit without pytest's session end: every round must already have torn
    # everything down, session-scoped fixtures (a server, a database) included.
    log = tmp_path / "fixture.log"
    conftest = f"""
import pytest

@pytest.fixture(scope="session")
def server():
    yield
    with open({str(log)!r}, "a") as fh:
        fh.write("down\\n")
"""
    test = PERF_TEST + "\n\ndef test_uses_server(server, perf):\n    perf.measure(work, rounds=30)\n"
    root = make_project(tmp_path / "proj", loops=[3000, 3000], tests={"test_perf.py": test, "conftest.py": conftest},
                        extra="regression_tolerance = 2.0")
    run = run_ab(root, tmpdir_env, "--gate-compare-ref=HEAD~1")
    assert run.gate("test_uses_server::work")["status"] == "pass", run.out
    assert log.read_text().splitlines() == ["down"] * (1 + 2 * 3)  # the run itself, then 3 rounds a side


def test_cli_overrides_config_ref(tmp_path: Path, tmpdir_env: Path) -> None:
    root = make_project(tmp_path / "proj", loops=[3000], extra='[tool.release_gates.compare]\nref = "no-such-ref"')
    run = run_ab(root, tmpdir_env, "--gate-compare-ref=HEAD")
    assert run.gate("test_work::work")["compare_ref"] == "HEAD", run.out


def test_flat_layout_found_from_project_name(tmp_path: Path, tmpdir_env: Path) -> None:
    root = tmp_path / "flat"
    (root / "slowpkg").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pyproject.toml").write_text('[project]\nname = "slowpkg"\nversion = "1"\n'
                                         '[tool.pytest.ini_options]\npythonpath = ["."]\n'
                                         '[tool.release_gates]\nrollback_ratio = 10.0\n')
    (root / "tests" / "test_perf.py").write_text(PERF_TEST)
    git(root, "init", "-q")
    for loops in (3000, 9000):  # 3x, like the other A/B detection tests: 2x was missed under CI load
        (root / "slowpkg" / "__init__.py").write_text(PKG.format(loops=loops))
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "c")
    run = run_ab(root, tmpdir_env, "--gate-compare-ref=HEAD~1")
    assert run.gate("test_work::work")["status"] == "fail", run.out
    assert run.verdict["verdict"] == "hold"


# ------------------------------------------------------------------ edge cases


@pytest.mark.parametrize(
    ("setup", "ref", "expected"),
    [
        ("nogit", "HEAD~1", "is not a git checkout"),
        ("repo", "no-such-branch", "unknown revision 'no-such-branch'"),
        ("shallow", "HEAD~1", "fetch-depth: 0"),
        ("shallow", "origin/main", "git fetch --depth=1000 origin main"),
    ],
)
def test_revision_problems_hold_with_one_line(tmp_path: Path, tmpdir_env: Path, setup: str, ref: str,
                                              expected: str) -> None:
    root = make_project(tmp_path / "proj", loops=[3000, 3000])
    if setup == "nogit":
        subprocess.run(["rm", "-rf", str(root / ".git")], check=True)
    elif setup == "shallow":
        clone = tmp_path / "clone"
        subprocess.run([*GIT, "clone", "-q", "--depth", "1", "--single-branch", "--no-tags",
                        f"file://{root}", str(clone)], check=True, capture_output=True)
        git(clone, "update-ref", "-d", "refs/remotes/origin/main")  # as actions/checkout leaves a PR clone
        root = clone
    run = run_ab(root, tmpdir_env, f"--gate-compare-ref={ref}")
    g = run.gate("compare")
    assert g["status"] == "fail" and g["level"] == "hold", run.out
    assert expected in g["message"] and "\n" not in g["message"]
    assert run.verdict["verdict"] == "hold" and run.ret == 1
    assert "Traceback" not in run.out
    assert leftovers(tmpdir_env) == []


NEW_AND_CHANGED = PERF_TEST + """
def test_value(perf):
    from slowpkg import work
    assert work() == VALUE
    perf.measure(work, rounds=30, name="checked")
"""


def test_missing_or_failing_at_base_warns_no_base(tmp_path: Path, tmpdir_env: Path) -> None:
    base = PKG.format(loops=3000)
    head = PKG.format(loops=3001) + "\ndef added():\n    return 1\n"
    value = sum(i * i for i in range(3001))
    tests = {
        "test_perf.py": NEW_AND_CHANGED.replace("VALUE", str(value)),
        "test_new.py": "from slowpkg import added\n\ndef test_added(perf):\n    perf.measure(added, rounds=30)\n",
    }
    root = make_project(tmp_path / "proj", loops=[0, 0], pkg=[base, head], tests=tests,
                        extra="regression_tolerance = 2.0")
    run = run_ab(root, tmpdir_env, "--gate-compare-ref=HEAD~1")
    new = run.gate("test_new.py::test_added::added")
    assert new["status"] == "warn" and new["message"].startswith("no base to compare: at HEAD~1"), run.out
    assert "not collected" in new["message"] and "ImportError" in new["message"]
    changed = run.gate("test_value::checked")
    assert changed["status"] == "warn" and "the test fails" in changed["message"], run.out
    assert run.gate("test_work::work")["status"] == "pass"
    assert run.verdict["verdict"] == "deploy"  # warnings: visible, and nothing here regressed
    assert leftovers(tmpdir_env) == []


def test_base_code_that_does_not_import_holds(tmp_path: Path, tmpdir_env: Path) -> None:
    broken = "import a_dependency_nobody_installed\n" + PKG.format(loops=3000)
    root = make_project(tmp_path / "proj", loops=[0, 0], pkg=[broken, PKG.format(loops=3000)])
    run = run_ab(root, tmpdir_env, "--gate-compare-ref=HEAD~1")
    g = run.gate("compare")
    assert g["status"] == "fail" and g["level"] == "hold", run.out
    assert "does not import" in g["message"] and "a_dependency_nobody_installed" in g["message"]
    assert run.verdict["verdict"] == "hold" and "Traceback" not in run.out
    assert leftovers(tmpdir_env) == []


def test_missing_code_folder_holds(tmp_path: Path, tmpdir_env: Path) -> None:
    root = make_project(tmp_path / "proj", loops=[3000], extra='[tool.release_gates.compare]\npaths = ["lib"]')
    run = run_ab(root, tmpdir_env, "--gate-compare-ref=HEAD")
    g = run.gate("compare")
    assert g["status"] == "fail" and "'lib' does not exist" in g["message"], run.out


def test_no_tracking_tests_is_a_pass(tmp_path: Path, tmpdir_env: Path) -> None:
    root = make_project(tmp_path / "proj", loops=[3000], tests={"test_plain.py": "def test_x():\n    pass\n"})
    run = run_ab(root, tmpdir_env, "--gate-compare-ref=HEAD")
    g = run.gate("compare")
    assert g["status"] == "pass" and "nothing to compare" in g["message"]
    assert run.verdict["verdict"] == "deploy"


INTERRUPTING = PERF_TEST + """
import os, signal

def test_interrupt(perf):
    perf.measure(work, rounds=10)
    if os.environ.get("RELEASE_GATES_COMPARE"):  # only inside the A/B's subprocesses
        os.kill(os.getppid(), signal.{sig})
"""


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_interrupt_cleans_up(tmp_path: Path, tmpdir_env: Path, sig: str) -> None:
    root = make_project(tmp_path / "proj", loops=[3000, 3000], tests={"test_perf.py": INTERRUPTING.format(sig=sig)})
    before = repo_state(root)
    run = run_ab(root, tmpdir_env, "--gate-compare-ref=HEAD~1")
    assert leftovers(tmpdir_env) == [], run.out
    assert repo_state(root) == before
    if sig == "SIGINT":
        assert run.ret == 2, run.out  # Ctrl-C reads as Ctrl-C
        assert run.verdict["verdict"] == "hold"
        assert run.gate("interrupted")["kind"] == "run"
        assert "Traceback" not in run.out
    else:  # killed as asked, after cleaning up: the provisional hold stands
        assert run.ret == -15, run.out
        assert run.verdict["verdict"] == "hold" and run.verdict["complete"] is False


def test_stale_checkout_of_a_killed_run_is_swept(tmp_path: Path, tmpdir_env: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmpdir_env / f"{cgit.PREFIX}{int(dead.stdout)}-abc"
    (stale / "base").mkdir(parents=True)
    mine = tmpdir_env / f"{cgit.PREFIX}{os.getpid()}-abc"
    mine.mkdir()
    assert cgit.sweep_stale(tmpdir_env) == 1
    assert not stale.exists() and mine.exists()


# ------------------------------------------------------------------ units


def _side(*rounds: list[float]) -> runner.SideResult:
    nodeid = "tests/test_perf.py::test_work"
    return runner.SideResult(collected={nodeid}, rounds=[
        {nodeid: {"outcome": "passed", "metrics": {"work": {"values": r}}}} for r in rounds])


@pytest.mark.parametrize(
    ("current", "status", "needle"),
    [
        # 20% slower in every round: a regression.
        ([[1.2] * 20, [1.2] * 20, [1.2] * 20], "fail", "1.20x slower vs HEAD~1 (abc1234)"),
        # 50% slower in two back-to-back current rounds, unchanged in the third: pooled, significant,
        # but a burst of load, not a slowdown.
        ([[1.5] * 20, [1.5] * 20, [0.99] * 20], "pass", "but slower in only 2 of 3 rounds: within noise"),
    ],
)
def test_ab_regression_must_show_in_every_round(current: list[list[float]], status: str, needle: str) -> None:
    from pytest_release_gates.gates.ab.gate import Gate
    from pytest_release_gates.metrics import Metric

    base = _side([1.0] * 10 + [1.01] * 10, [1.0] * 10 + [1.01] * 10, [1.0] * 10 + [1.01] * 10)
    cur = _side(*[[v + 0.001 * i for i, v in enumerate(r)] for r in current])
    m = Metric("tests/test_perf.py::test_work", "work", (1.0,), sampled=True, source="perf")
    gate = Gate(Settings(rootdir=Path("."), regression_tolerance=0.1))
    result = gate._decide(m.key, m, base, cur, "HEAD~1 (abc1234)", {})
    assert result.status.value == status, result.message
    assert needle in result.message
    assert (result.extra or {}).get("p_value", 1) < 0.002  # pooled, both are significant


def test_passthrough_keeps_only_run_shaping_options() -> None:
    args = ["--release-gate", "-p", "myplugin", "-pother", "-n", "2", "--import-mode=importlib", "-o", "x=1",
            "--gate-compare-ref=main", "tests/test_a.py::t", "--benchmark-max-time", "0.5", "-k", "fast",
            "--noconftest", "-Werror"]
    assert runner.passthrough(args) == ["-p", "myplugin", "-pother", "--import-mode=importlib", "-o", "x=1",
                                        "--benchmark-max-time", "0.5", "--noconftest", "-Werror"]


def test_layout_src_and_flat(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "__init__.py").write_text("")
    (src / "ns" / "sub").mkdir(parents=True)
    (src / "ns" / "sub" / "m.py").write_text("")
    (src / "single.py").write_text("")
    (src / "pkg.egg-info").mkdir()
    (src / "conftest.py").write_text("")
    roots, modules = layout(tmp_path, ["src"])
    assert roots == [str(src)]
    assert [m for m, _ in modules] == ["ns", "pkg", "single"]
    roots, modules = layout(tmp_path, ["src/pkg"])
    assert roots == [str(src)] and modules == [("pkg", str(src))]


def test_code_paths_defaults(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "My-Pkg"\n')
    with pytest.raises(cgit.CompareError, match="cannot tell which folder"):
        code_paths(Settings(rootdir=tmp_path))
    (tmp_path / "my_pkg").mkdir()
    assert code_paths(Settings(rootdir=tmp_path)) == ["my_pkg"]
    (tmp_path / "src").mkdir()
    assert code_paths(Settings(rootdir=tmp_path)) == ["src"]
    assert code_paths(Settings(rootdir=tmp_path, compare=CompareSettings(paths=("my_pkg",)))) == ["my_pkg"]


def test_materialize_writes_exact_bytes_of_the_revision(tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj", loops=[1, 2])
    (root / ".gitattributes").write_text("src/** export-ignore\n")
    (root / "src" / "slowpkg" / "_version.py").write_text("v = 1\n")  # generated, ignored
    (root / ".gitignore").write_text("_version.py\n")
    rev = cgit.resolve(root, "HEAD~1")
    dest = tmp_path / "out"
    assert cgit.materialize(rev, ["src", "missing"], dest) == ["src"]
    assert (dest / "src" / "slowpkg" / "__init__.py").read_text() == PKG.format(loops=1)
    assert (dest / "src" / "slowpkg" / "_version.py").read_text() == "v = 1\n"
    assert not (dest / "tests").exists()
