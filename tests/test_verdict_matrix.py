"""SPEC's decision matrix, row by row, through real pytest runs."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.usefixtures("pytester")

#: Inner runs go in-process (conftest ``run_gate``): pass/fail/skip outcomes only. A ``KeyboardInterrupt``
#: and an ``os._exit`` would end this process too: those two run in a subprocess, and every ``-n`` run does.
RUN_GATE_INLINE = True


def test_every_gate_passes_deploys(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyfile("def test_a(): pass\ndef test_b(): pass\n")
    run = run_gate()
    assert run.ret == 0
    assert run.level == "deploy"
    v = run.verdict
    assert v["schema"] == "pytest-release-gates/verdict/1"
    assert v["complete"] is True
    assert v["reasons"] == []
    assert v["tests"] == {
        "collected": 2,
        "passed": 2,
        "failed": 0,
        "errors": 0,
        "skipped": 0,
        "xfailed": 0,
        "xpassed": 0,
    }
    run.result.stdout.fnmatch_lines(["*release gate: DEPLOY*"])


def test_failed_test_holds_with_pytest_status(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyfile("def test_ok(): pass\ndef test_bad(): assert 1 == 2\n")
    run = run_gate()
    assert run.ret == 1
    assert run.level == "hold"
    (gate,) = run.gates("tests", "fail")
    assert gate["subject"] == "test_failed_test_holds_with_pytest_status.py::test_bad"
    assert gate["level"] == "hold"
    assert "assert 1 == 2" in gate["message"]
    assert any("test_bad" in r for r in run.verdict["reasons"])


def test_error_in_setup_holds(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyfile("""
        import pytest
        @pytest.fixture
        def broken():
            raise RuntimeError("db down")
        def test_x(broken): pass
    """)
    run = run_gate()
    assert run.level == "hold"
    (gate,) = run.gates("tests", "fail")
    assert "errored in setup" in gate["message"]
    assert run.verdict["tests"]["errors"] == 1


def test_critical_failure_rolls_back(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyfile("""
        import pytest
        @pytest.mark.gate(severity="critical")
        def test_payments(): assert False
        def test_other(): assert False
    """)
    run = run_gate()
    assert run.level == "rollback"
    assert run.ret == 1
    levels = {g["subject"].split("::")[1]: g["level"] for g in run.gates("tests", "fail")}
    assert levels == {"test_payments": "rollback", "test_other": "hold"}
    assert "test_payments" in run.verdict["reasons"][0]  # worst first


def test_minor_failure_only_warns_and_exits_zero(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyfile("""
        import pytest
        @pytest.mark.gate(severity="minor")
        def test_cosmetic(): assert False
        def test_ok(): pass
    """)
    run = run_gate()
    assert run.level == "deploy"
    assert run.ret == 0  # a failed minor test does not fail the job
    (gate,) = run.gates("tests")
    assert gate["status"] == "warn"
    run.result.stdout.fnmatch_lines(["*warn*test_cosmetic*failed (minor)*"])


def test_invalid_severity_is_a_one_line_error_naming_the_test(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyfile("""
        import pytest
        @pytest.mark.gate(severity="blocker")
        def test_x(): pass
    """)
    run = run_gate()
    assert run.level == "hold"
    run.result.stdout.fnmatch_lines(["*invalid @pytest.mark.gate: severity must be one of*'blocker'*"])
    assert "Traceback" not in run.stdout


def test_xfail_is_fine_strict_xpass_is_a_failure(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyfile("""
        import pytest
        @pytest.mark.xfail(reason="known")
        def test_known(): assert False
        def test_ok(): pass
    """)
    assert run_gate().level == "deploy"
    pytester.makepyfile("""
        import pytest
        @pytest.mark.xfail(strict=True)
        def test_fixed(): pass
    """)
    run = run_gate()
    assert run.level == "hold"
    assert run.verdict["tests"]["failed"] == 1


@pytest.mark.parametrize("variant", ["error", "import"])
def test_collection_error_holds(pytester: pytest.Pytester, run_gate, variant: str) -> None:
    pytester.makepyfile(test_ok="def test_ok(): pass\n")
    body = "def test_x(:\n" if variant == "error" else "import not_a_module_anywhere\n"
    pytester.makepyfile(test_broken=body)
    run = run_gate()
    assert run.level == "hold"
    assert run.ret == 2  # pytest's own status is kept
    (gate,) = run.gates("run", "fail")
    assert gate["subject"] == "collection-error" and gate["message"].startswith("in test_broken.py")


def test_keyboard_interrupt_holds(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyfile("""
        def test_a(): pass
        def test_b(): raise KeyboardInterrupt
        def test_c(): pass
    """)
    run = run_gate(subprocess=True)  # the interrupt would stop this process's own run
    assert run.ret == 2
    assert run.level == "hold"
    assert run.verdict["complete"] is True  # the run ended and says why it holds
    assert any(g["subject"] == "interrupted" for g in run.gates("run", "fail"))


def test_exitfirst_stop_holds(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyfile("""
        import pytest
        @pytest.mark.gate(severity="minor")
        def test_a(): assert False
        def test_b(): pass
    """)
    run = run_gate("-x")
    assert run.level == "hold"  # the minor failure alone would deploy; the early stop does not
    assert any(g["subject"] == "stopped" for g in run.gates("run", "fail"))


@pytest.mark.parametrize(
    "body",
    [
        "import pytest\n@pytest.mark.skip\ndef test_a(): pass\n",
        "import pytest\npytestmark = pytest.mark.skip('later')\ndef test_a(): pass\ndef test_b(): pass\n",
    ],
)
def test_all_skipped_counts_as_nothing_executed(pytester: pytest.Pytester, run_gate, body: str) -> None:
    pytester.makepyfile(body)
    run = run_gate()
    assert run.level == "hold"
    assert run.ret == 1
    (gate,) = run.gates("run", "fail")
    assert gate["subject"] == "nothing-executed"


def test_no_tests_collected_holds_with_pytest_status(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyfile("x = 1\n")
    run = run_gate()
    assert run.ret == 5
    assert run.level == "hold"


def test_partial_selection_holds_by_default(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyfile("def test_a(): pass\ndef test_b(): pass\n")
    run = run_gate("-k", "test_a")
    assert run.level == "hold"
    (gate,) = run.gates("run", "fail")
    assert gate["subject"] == "selection" and "-k 'test_a'" in gate["message"]
    assert run.verdict["reasons"] == [
        "selection narrowed (-k 'test_a'): the verdict covers only the selected tests"  # said once, not twice
    ]
    pytester.makepyprojecttoml('[tool.release_gates]\npartial_run = "warn"\n')
    run = run_gate("-k", "test_a")
    assert run.level == "deploy"
    assert run.gates("run", "warn")


def test_node_id_selection_is_partial(pytester: pytest.Pytester, run_gate) -> None:
    p = pytester.makepyfile("def test_a(): pass\ndef test_b(): pass\n")
    assert run_gate(f"{p.name}::test_a").level == "hold"
    assert run_gate(p.name).level == "hold"  # one file of the rootdir (no testpaths) is part of the suite
    assert run_gate(".").level == "deploy"


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["tests/test_one.py"], ""),  # one file of testpaths
        (["--ignore=tests/test_two.py"], ""),
        ([], "-k one"),  # PYTEST_ADDOPTS counts as the command line
        (["--splits", "2", "--group", "1"], ""),  # a split that does not declare itself a shard
    ],
)
def test_selection_narrowed_on_the_command_line_holds(
    pytester: pytest.Pytester, run_gate, monkeypatch: pytest.MonkeyPatch, args: list[str], env: str
) -> None:
    if "--splits" in args:
        pytest.importorskip("pytest_split")
    pytester.makepyprojecttoml('[tool.pytest.ini_options]\ntestpaths = ["tests"]\naddopts = ["-k", "not slow"]\n')
    pytester.mkdir("tests")
    pytester.makepyfile(**{"tests/test_one": "def test_one(): pass\n", "tests/test_two": "def test_two(): pass\n"})
    assert run_gate().level == "deploy"  # the project's own addopts define its suite
    monkeypatch.setenv("PYTEST_ADDOPTS", env)
    run = run_gate(*args)
    assert run.level == "hold" and run.ret == 1
    assert [g["subject"] for g in run.gates("run", "fail")] == ["selection"]


def test_incomplete_set_of_shards_never_merges(pytester: pytest.Pytester, run_gate, run_cli) -> None:
    pytester.makepyfile(test_one="def test_one(): pass\n", test_two="def test_two(): pass\n")
    shard = run_gate("test_one.py", "--gate-shard=1/2")
    assert shard.level == "deploy"  # a declared shard is not held as partial: merge decides
    r = run_cli("merge", ".release-gates/verdict.json", "-o", "merged.json")
    assert r.ret == 2 and "shard 2 of 2 missing" in r.stderr.str()
    assert not (pytester.path / "merged.json").exists()


def test_separate_gate_value_that_moves_the_rootdir_is_refused(
    pytester: pytest.Pytester, run_gate, monkeypatch: pytest.MonkeyPatch
) -> None:
    proj = pytester.mkdir("proj")
    (proj / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    (proj / "test_a.py").write_text("def test_a(): pass\n")
    (pytester.path / "verdict.json").write_text("{}")  # as $RUNNER_TEMP/verdict.json from an earlier step
    monkeypatch.chdir(proj)
    run = run_gate("--gate-verdict", "../verdict.json")
    assert run.ret == 4
    assert "write it as --gate-verdict=../verdict.json" in run.result.stderr.str()
    assert not (pytester.path / ".release-gates").exists()


def test_killed_process_leaves_provisional_hold(pytester: pytest.Pytester, run_gate, run_cli) -> None:
    pytester.makepyfile(test_prev="def test_ok(): pass\n")
    assert run_gate().level == "deploy"
    pytester.makepyfile(test_zz="import os\ndef test_dies(): os._exit(9)\n")
    run = run_gate(subprocess=True)  # os._exit ends the process it runs in
    assert run.ret == 9
    v = run.verdict
    assert v["verdict"] == "hold" and v["complete"] is False  # never the earlier deploy
    status = run_cli("status")
    assert status.ret == 1
    status.stdout.fnmatch_lines(["HOLD*", "*did not finish*"])
    assert status.stdout.str().count("did not finish") == 1  # said once, not by status and the reason both


def _usage_hold_reason(run) -> str:
    """The ERROR line pytest printed, checked to be the only reason of the hold that replaced the verdict."""
    err = run.result.stderr.str()
    assert run.ret == 4 and "Traceback" not in err + run.stdout
    (line,) = [ln.removeprefix("ERROR: ") for ln in err.splitlines() if ln.startswith("ERROR: ")]
    v = run.verdict
    assert (v["verdict"], v["complete"], v["reasons"]) == ("hold", False, [line])
    assert [(g["kind"], g["subject"], g["status"]) for g in v["gates"]] == [("run", "usage-error", "fail")]
    return line


def test_config_usage_error_replaces_an_earlier_deploy(pytester: pytest.Pytester, run_gate, run_cli) -> None:
    pytester.makepyfile("def test_a(): pass\n")
    assert run_gate().level == "deploy"
    pytester.makepyprojecttoml("[tool.release_gates]\nregresion_tolerance = 0.3\n")
    line = _usage_hold_reason(run_gate())
    assert "unknown key 'regresion_tolerance'" in line
    status = run_cli("status")
    assert status.ret == 1
    status.stdout.fnmatch_lines(["HOLD*", f"  - {line}"])
    assert "provisional" not in status.stdout.str()  # no "written when it started": it never started


def test_path_argument_not_found_replaces_an_earlier_deploy(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyfile("def test_a(): pass\n")
    assert run_gate().level == "deploy"
    run = run_gate("tests_that_moved/")
    line = _usage_hold_reason(run)
    assert line == "file or directory not found: tests_that_moved/"
    run.result.stdout.fnmatch_lines([f"ERROR: {line}"])  # the release-gate section says the same


def test_conftest_import_error_replaces_an_earlier_deploy(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyfile("def test_a(): pass\n")
    assert run_gate().level == "deploy"
    pytester.makeconftest("import a_module_that_was_removed\n")
    run = run_gate()
    assert run.ret == 4
    v = run.verdict
    assert (v["verdict"], v["complete"]) == ("hold", False)
    (reason,) = v["reasons"]
    assert reason.startswith("ImportError while loading conftest") and "a_module_that_was_removed" in reason


def test_provisional_verdict_exists_while_tests_run(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyfile("""
        import json, pathlib
        def test_sees_provisional():
            v = json.loads(pathlib.Path(".release-gates/verdict.json").read_text())
            assert v["verdict"] == "hold" and v["complete"] is False
    """)
    assert run_gate().level == "deploy"


def test_pytest_failure_status_without_failing_test_holds(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makeconftest("""
        import pytest
        @pytest.hookimpl(wrapper=True)
        def pytest_runtestloop(session):
            result = yield
            session.testsfailed = 1  # as a plugin that fails the session itself would
            return result
    """)
    pytester.makepyfile("def test_a(): pass\n")
    run = run_gate()
    assert run.level == "hold"
    assert any(g["subject"] == "exit-status" for g in run.gates("run", "fail"))


def test_verdict_matches_under_xdist(pytester: pytest.Pytester, run_gate) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile("""
        import pytest
        @pytest.mark.gate(severity="critical")
        def test_crit(): assert False
        @pytest.mark.gate(severity="minor")
        def test_minor(): assert False
        @pytest.mark.parametrize("i", range(6))
        def test_many(i): pass
        @pytest.mark.skip
        def test_skipped(): pass
    """)
    serial = run_gate()
    parallel = run_gate("-n", "2")
    assert serial.level == parallel.level == "rollback"
    assert serial.verdict["tests"] == parallel.verdict["tests"]
    strip = lambda gs: sorted(json.dumps(g, sort_keys=True) for g in gs)  # noqa: E731
    assert strip(serial.verdict["gates"]) == strip(parallel.verdict["gates"])
    assert parallel.verdict["run"]["xdist_workers"] == 2


def test_xdist_all_pass_deploys(pytester: pytest.Pytester, run_gate) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile("import pytest\n@pytest.mark.parametrize('i', range(10))\ndef test_i(i): pass\n")
    run = run_gate("-n", "2")
    assert run.level == "deploy" and run.ret == 0
    assert run.verdict["tests"]["collected"] == 10
    assert not list(pytester.path.glob("**/verdict.json.*"))  # no stray temp files from workers


def test_malformed_baseline_entry_holds_and_the_file_is_kept(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyfile("def test_a(): pass\n")
    path = pytester.path / "release-gates.baseline.json"
    content = json.dumps({"schema": "pytest-release-gates/baseline/1",
                          "error_types": {"KeyError": {"count": "many", "kind": "error", "origin": "",
                                                       "type": "KeyError"}}}).encode()
    path.write_bytes(content)
    for args in ((), ("--gate-update-baseline",)):
        run = run_gate(*args)
        assert run.level == "hold" and run.ret == 1
        (gate,) = run.gates("run", "fail")
        assert gate["subject"] == "baseline" and "error_types entry 'KeyError'" in gate["message"]
        assert str(path) in gate["message"]
        assert path.read_bytes() == content  # byte for byte, with or without --gate-update-baseline


def test_accepted_run_whose_baseline_cannot_be_written_holds(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyfile("def test_a(gate_metric): gate_metric('m', 1)\n")
    (pytester.path / ".release-gates" / "release-gates.baseline.json.lock").mkdir(parents=True)  # no lock to be had
    run = run_gate("--gate-update-baseline")
    assert run.level == "hold" and run.ret == 1
    (gate,) = run.gates("run", "fail")
    assert gate["message"].startswith("update not written: ") and "lock" in gate["message"]
    assert "baseline updated" not in run.stdout
    assert not (pytester.path / "release-gates.baseline.json").exists()
