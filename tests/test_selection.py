"""Partial runs are decided by the command line, not the project's config (SPEC v3 "Trust rules"),
and a separate ``--gate-* VALUE`` that moves the rootdir is refused."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from conftest import NO_HYPOTHESIS, GateRun

#: Inner runs go in-process (conftest ``run_gate``): the selection is read from the command line and the
#: config, no global state. ``-n`` runs, the cache-based ones and the rootdir/audit-hook checks stay subprocesses.
RUN_GATE_INLINE = True

PYPROJECT = """
[project]
name = "demo"
version = "1.0"

[tool.pytest.ini_options]
testpaths = ["tests"]
addopts = ["-m", "not slow"]
markers = ["slow: opt-in"]
"""

TEST_A = """
import pytest

def test_a(): pass

def test_a2(): pass

@pytest.mark.slow
def test_slow(): pass
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> Path:
    """pypa/packaging's shape: ``-m "not ..."`` in its own addopts, tests under ``tests``."""
    pytester.makepyprojecttoml(PYPROJECT)
    tests = pytester.mkdir("tests")
    (tests / "test_a.py").write_text(TEST_A)
    (tests / "test_b.py").write_text("def test_b(): pass\n")
    return pytester.path


def _run(pytester: pytest.Pytester, *args: str, cache: bool = False) -> GateRun:
    full = ["--release-gate", *([] if cache else ["-p", "no:cacheprovider", *NO_HYPOTHESIS]), *args]
    return GateRun(pytester.runpytest_subprocess(*full), pytester.path / ".release-gates" / "verdict.json")


def _selection_gate(run: GateRun) -> dict[str, object]:
    (gate,) = [g for g in run.gates("run") if g["subject"] == "selection"]
    return gate


def test_config_addopts_selection_defines_the_suite(project: Path, run_gate) -> None:
    run = run_gate()
    assert run.level == "deploy", run.stdout
    assert run.verdict["run"]["partial"] is None
    assert run.verdict["run"]["selection"] == {"config": ["-m 'not slow'"], "command_line": []}
    assert run.verdict["tests"]["passed"] == 3


def test_config_addopts_selection_under_xdist(project: Path, run_gate) -> None:
    pytest.importorskip("xdist")
    run = run_gate("-n", "2")
    assert run.level == "deploy", run.stdout
    assert run.verdict["run"]["xdist_workers"] == 2
    assert run.verdict["run"]["selection"]["config"] == ["-m 'not slow'"]


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (["-k", "test_a"], "-k 'test_a'"),
        (["-ktest_a"], "-k 'test_a'"),
        (["-m", "slow"], "-m 'slow'"),
        (["-m=slow"], "-m 'slow'"),
        (["--deselect=tests/test_b.py::test_b"], "--deselect tests/test_b.py::test_b"),
        (["--deselect", "tests/test_b.py::test_b"], "--deselect tests/test_b.py::test_b"),
        (["--ignore=tests/test_b.py"], "--ignore tests/test_b.py"),
        (["--ignore-glob", "*_b.py"], "--ignore-glob *_b.py"),
        (["tests/test_a.py"], "tests/test_a.py, not all of testpaths tests"),
        (["tests/test_a.py::test_a"], "node ids tests/test_a.py::test_a"),
        (["-o", "testpaths=tests/test_a.py"], "-o testpaths=tests/test_a.py"),
        (["-o", "addopts=-m slow"], "-m 'slow'"),
    ],
)
def test_command_line_selection_is_partial(project: Path, run_gate, args: list[str], shown: str) -> None:
    run = run_gate(*args)
    assert run.level == "hold", run.stdout
    gate = _selection_gate(run)
    assert gate["status"] == "fail"
    assert run.verdict["reasons"] == [f"selection narrowed ({shown}): the verdict covers only the selected tests"]
    selection = run.verdict["run"]["selection"]
    assert selection["command_line"] == [shown.split(",")[0].removeprefix("node ids ")]
    assert selection["config"] == ([] if "addopts=-m slow" in args else ["-m 'not slow'"])


@pytest.mark.parametrize("args", [["--lf"], ["--sw"], ["--stepwise"]])
def test_cache_based_selection_is_partial(project: Path, pytester: pytest.Pytester, args: list[str]) -> None:
    run = _run(pytester, *args, cache=True)
    assert run.level == "hold", run.stdout
    assert "--lf" in str(_selection_gate(run)["message"]) or "--sw" in str(_selection_gate(run)["message"])


@pytest.mark.parametrize("args", [["--ff"], ["--nf"]])
def test_reordering_is_not_partial(project: Path, pytester: pytest.Pytester, args: list[str]) -> None:
    assert _run(pytester, *args, cache=True).level == "deploy"


def test_pytest_addopts_counts_as_the_command_line(
    project: Path, run_gate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_ADDOPTS", "-k 'test_a or test_b'")
    run = run_gate()
    assert run.level == "hold"
    assert run.verdict["run"]["selection"] == {"config": ["-m 'not slow'"], "command_line": ["-k 'test_a or test_b'"]}


@pytest.mark.parametrize(
    ("args", "level"),
    [
        ([], "deploy"),
        (["tests"], "deploy"),
        (["tests/"], "deploy"),
        (["."], "deploy"),
        (["tests/test_a.py"], "hold"),
        (["tests/test_a.py", "tests/test_b.py"], "hold"),  # every file but not the folder: a new one is left out
    ],
)
def test_paths_must_cover_testpaths(project: Path, run_gate, args: list[str], level: str) -> None:
    assert run_gate(*args).level == level


def test_paths_cover_every_testpaths_entry_and_glob(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyprojecttoml('[tool.pytest.ini_options]\ntestpaths = ["pkg*/tests", "docs"]\n')
    for folder in ("pkg1/tests", "pkg2/tests", "docs"):
        (pytester.path / folder).mkdir(parents=True)
        (pytester.path / folder / f"test_{folder.replace('/', '_')}.py").write_text("def test_x(): pass\n")
    assert run_gate("pkg1/tests", "pkg2/tests", "docs").level == "deploy"
    assert run_gate("pkg2/tests", str(pytester.path / "pkg1"), "docs").level == "deploy"  # absolute, a parent
    run = run_gate("pkg1/tests", "docs")
    assert run.level == "hold"
    assert "pkg1/tests docs, not all of testpaths pkg*/tests docs" in str(_selection_gate(run)["message"])


def test_paths_without_testpaths_must_cover_the_rootdir(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyfile(test_cache="def test_c(): pass\n", test_other="def test_o(): pass\n")
    run = run_gate("test_cache.py")
    assert run.level == "hold"
    assert "test_cache.py, not all of the rootdir" in str(_selection_gate(run)["message"])
    assert run_gate().level == "deploy"


def test_run_in_a_subfolder(project: Path, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """pytest collects the current folder when started below the rootdir without paths."""
    monkeypatch.chdir(project / "tests")
    assert _run(pytester).level == "deploy"  # tests/ is the whole of testpaths
    sub = project / "tests" / "sub"
    sub.mkdir()
    (sub / "test_s.py").write_text("def test_s(): pass\n")
    monkeypatch.chdir(sub)
    run = _run(pytester)
    assert run.level == "hold"
    assert "run in tests/sub/, not all of testpaths tests" in str(_selection_gate(run)["message"])


def test_partial_run_warn_setting_still_applies(project: Path, run_gate) -> None:
    (project / "pyproject.toml").write_text(PYPROJECT + '\n[tool.release_gates]\npartial_run = "warn"\n')
    run = run_gate("tests/test_a.py")
    assert run.level == "deploy"
    assert _selection_gate(run)["status"] == "warn"


# ------------------------------------------------------------------ rootdir guard


@pytest.fixture
def nested(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project in ``proj/`` (the cwd) and a CI folder ``out/`` beside it, as ``$RUNNER_TEMP`` is."""
    proj = pytester.mkdir("proj")
    (proj / "pyproject.toml").write_text(PYPROJECT)
    (proj / "tests").mkdir()
    (proj / "tests" / "test_a.py").write_text(TEST_A)
    pytester.mkdir("out")
    monkeypatch.chdir(proj)
    return proj


def _refused(result: pytest.RunResult, option: str, value: str) -> None:
    assert result.ret == 4, result.stdout.str()
    err = [line for line in result.stderr.str().splitlines() if line.strip()]
    assert len(err) == 1 and "Traceback" not in result.stderr.str(), err
    assert err[0].startswith(f"ERROR: {option} {value}: ") and f"write it as {option}={value}" in err[0]


def test_separate_verdict_value_that_moves_the_rootdir_is_refused(nested: Path, pytester: pytest.Pytester) -> None:
    args = ["--release-gate", "-p", "no:cacheprovider", *NO_HYPOTHESIS, "--gate-verdict", "../out/verdict.json"]
    first = pytester.runpytest_subprocess(*args)  # no such file yet: it cannot move anything
    assert first.ret == 0, first.stdout.str()
    verdict = json.loads((nested.parent / "out" / "verdict.json").read_text())
    assert verdict["run"]["rootdir"] == str(nested)
    second = pytester.runpytest_subprocess(*args)
    _refused(second, "--gate-verdict", "../out/verdict.json")
    assert "the rootdir became" in second.stderr.str()
    assert not (nested.parent / ".release-gates").exists()  # nothing of ours beside the verdict
    assert not (nested.parent / "release-gates.baseline.json").exists()
    joined = pytester.runpytest_subprocess("--release-gate", "-p", "no:cacheprovider", *NO_HYPOTHESIS,
                                           "--gate-verdict=../out/verdict.json")
    assert joined.ret == 0, joined.stdout.str()


def test_separate_value_in_pytest_addopts_is_refused(
    nested: Path, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    (nested.parent / "out" / "verdict.json").write_text("{}")
    monkeypatch.setenv("PYTEST_ADDOPTS", "--gate-verdict ../out/verdict.json")
    _refused(pytester.runpytest_subprocess("--release-gate", "-p", "no:cacheprovider", *NO_HYPOTHESIS),
             "--gate-verdict", "../out/verdict.json")


@pytest.mark.parametrize("option", ["--gate-baseline", "--gate-report", "--gate-sarif", "--gate-dotenv"])
def test_every_path_option_is_guarded(nested: Path, pytester: pytest.Pytester, option: str) -> None:
    (nested.parent / "out" / "file").write_text("{}")
    _refused(pytester.runpytest_subprocess("--release-gate", "-p", "no:cacheprovider", *NO_HYPOTHESIS, option,
                                           "../out/file"),
             option, "../out/file")


def test_separate_value_that_changes_nothing_is_accepted(nested: Path, pytester: pytest.Pytester) -> None:
    """Inside the project the rootdir search ends at the same config: provably harmless."""
    args = ["--release-gate", "-p", "no:cacheprovider", *NO_HYPOTHESIS, "--gate-verdict", ".release-gates/verdict.json"]
    assert pytester.runpytest_subprocess(*args).ret == 0
    again = pytester.runpytest_subprocess(*args)
    assert again.ret == 0, again.stderr.str()


def test_every_value_option_is_known_to_the_guard(pytester: pytest.Pytester) -> None:
    """A new ``--gate-*`` option taking a value is guarded without a list to keep up to date."""
    from pytest_release_gates import selection

    parser = pytester.parseconfig().stash[selection.PARSER_KEY]
    args = ["--gate-verdict", "x", "--release-gate", "y", "--gate-shard", "1/2", "--gate-report", "r",
            "--gate-update-baseline", "z", "--gate-sarif=s"]
    found = {opt for _, opt, _ in selection._separate_values(parser, args)}
    assert found == {"--gate-verdict", "--gate-shard", "--gate-report"}


# ------------------------------------------------------ machine files follow the rootdir

AUDIT_HOOK = '''
import json, os, sys

_ROOTS = {"open", "os.rename", "os.mkdir", "os.remove", "os.rmdir", "shutil.copyfile", "shutil.move",
          "tempfile.mkstemp", "os.truncate"}
_events = []


def _ours():
    frame = sys._getframe(2)
    while frame is not None:
        if "pytest_release_gates" in frame.f_code.co_filename:
            return True
        frame = frame.f_back
    return False


def _hook(event, args):
    if event not in _ROOTS:
        return
    paths = [a for a in args[:2] if isinstance(a, (str, bytes, os.PathLike))]
    if event == "open":
        paths = paths[:1]
    if paths and _ours():
        _events.append([event, [os.path.abspath(os.fsdecode(p)) for p in paths]])


sys.addaudithook(_hook)


def _dump():
    out = os.environ["AUDIT_OUT"]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, f"{os.getpid()}.json"), "w") as fh:
        json.dump(_events, fh)


def pytest_sessionfinish(session):  # an xdist worker may end before its unconfigure
    _dump()


def pytest_unconfigure(config):
    _dump()
'''

PROJECT_TEST = """
import os
import pytest

def work():
    return sum(range(100))

@pytest.mark.regression
def test_timed(): work()

def test_perf(perf):
    perf.measure(work, rounds=5, warmup=1)

def test_metric(gate_metric):
    gate_metric("size", float(os.environ.get("SIZE", "1")))

def test_logs():
    import warnings
    warnings.warn("deprecated thing", DeprecationWarning)
"""


def test_machine_files_stay_under_the_rootdir(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every file the plugin opens, writes, renames or creates by default is under the project's
    rootdir: from a subfolder, under xdist, across baseline updates (backups), with history and
    the integrity gate; a separate ``--gate-verdict VALUE`` that would move it is refused."""
    import pytest_release_gates

    hook_dir, audit = pytester.mkdir("hook"), pytester.path / "audit"
    (hook_dir / "audit_hook.py").write_text(AUDIT_HOOK)
    monkeypatch.setenv("PYTHONPATH", str(hook_dir))
    monkeypatch.setenv("AUDIT_OUT", str(audit))
    proj = pytester.mkdir("proj")
    (proj / "pyproject.toml").write_text(PYPROJECT + '\n[tool.release_gates]\nintegrity = {patterns = ["*.py"]}\n')
    (proj / "tests").mkdir()
    (proj / "tests" / "test_app.py").write_text(PROJECT_TEST)
    out = pytester.mkdir("out")
    monkeypatch.chdir(proj / "tests")

    def run(*args: str, size: str = "1") -> pytest.RunResult:
        monkeypatch.setenv("SIZE", size)
        return pytester.runpytest_subprocess("--release-gate", "-p", "audit_hook", "-p", "no:cacheprovider",
                                             *NO_HYPOTHESIS, *args)

    assert run("--gate-update-baseline").ret == 0
    assert run("--gate-update-baseline", size="2").ret == 0  # the baseline changes: a backup is kept
    assert run("-n", "2").ret in (0, 1)
    assert run("--gate-verdict", "../../out/verdict.json").ret in (0, 1)  # no such file yet: harmless
    assert run("--gate-verdict", "../../out/verdict.json").ret == 4  # now it would move the rootdir
    explicit = out / "verdict.json"

    allowed = [proj, Path(sys.prefix), Path(sys.base_prefix), Path(pytest_release_gates.__file__).parent,
               Path("/proc"), Path("/dev"), Path("/sys")]

    def fine(event: str, path: Path) -> bool:
        if any(path == root or root in path.parents for root in allowed):
            return True
        if path == explicit or (path.parent == out and path.name.startswith(f".{explicit.name}.")):
            return True  # the verdict file asked for on the command line, and its temp file
        return event == "os.mkdir" and path in explicit.parents

    events = [e for f in sorted(audit.glob("*.json")) for e in json.loads(f.read_text())]
    assert len(list(audit.glob("*.json"))) == 7  # every run (5), and both xdist workers, reported
    touched = {(event, Path(p)) for event, paths in events for p in paths}
    outside = sorted((e, str(p)) for e, p in touched if not fine(e, p))
    assert outside == []
    seen = {p.relative_to(proj).as_posix() for _, p in touched if proj in p.parents}
    assert {"release-gates.baseline.json", ".release-gates/release-gates.baseline.json.bak",
            ".release-gates/verdict.json", ".release-gates/history.jsonl"} <= seen, sorted(seen)
    assert (proj / ".release-gates" / "verdict.json").is_file()
    assert not (pytester.path / ".release-gates").exists() and not (pytester.path / "out" / ".release-gates").exists()
    assert sorted(os.listdir(out)) == ["verdict.json"]
