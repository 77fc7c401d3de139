"""The extension points: contribute gates, change the policy, and crash safely."""

from __future__ import annotations

import pytest

#: Inner runs go in-process (conftest ``run_gate``): the hooks live in the inner run's conftest and
#: plugin manager. Every ``-n`` run stays a subprocess.
RUN_GATE_INLINE = True


def test_conftest_contributes_a_gate(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makeconftest("""
        from pytest_release_gates import GateResult, Level, Status

        def pytest_release_gates_collect(context):
            yield GateResult("licenses", "requests", Status.FAIL, Level.HOLD, "GPL dependency")
    """)
    pytester.makepyfile("def test_ok(): pass\n")
    r = run_gate()
    assert r.level == "hold"
    assert r.verdict["reasons"] == ["requests GPL dependency"]
    r.result.stdout.fnmatch_lines(["  licenses:", "    FAIL requests GPL dependency -> hold"])


def test_policy_hook_changes_the_verdict(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makeconftest("""
        from pytest_release_gates import Decision, Level, reduce

        def pytest_release_gates_verdict(gates, context):
            d = reduce(gates)
            if d.level == Level.HOLD and all(g.kind == "tests" for g in gates if g.status.value == "fail"):
                return Decision(Level.ROLLBACK, d.reasons + ("policy: any failure rolls back",))
    """)
    pytester.makepyfile("def test_bad(): assert 0\n")
    r = run_gate()
    assert r.level == "rollback"
    assert r.verdict["reasons"][-1] == "policy: any failure rolls back"


def test_policy_cannot_deploy_an_incomplete_run(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makeconftest("""
        from pytest_release_gates import Decision, Level

        def pytest_release_gates_verdict(gates, context):
            return Decision(Level.DEPLOY, ())
    """)
    pytester.makepyfile("import pytest\n@pytest.mark.skip\ndef test_a(): pass\n")
    r = run_gate()
    assert r.level == "hold"


def test_crashing_gate_holds_and_names_the_plugin(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makeconftest("""
        def pytest_release_gates_collect(context):
            raise ZeroDivisionError("oops")
    """)
    pytester.makepyfile("def test_ok(): pass\n")
    r = run_gate()
    assert r.level == "hold"
    (gate,) = r.gates("run", "fail")
    assert "crashed: ZeroDivisionError: oops" in gate["message"]
    assert "conftest.py" in gate["message"]
    assert "Traceback" not in r.stdout


def test_gate_returning_garbage_is_a_crash(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makeconftest("def pytest_release_gates_collect(context):\n    return ['not a gate']\n")
    pytester.makepyfile("def test_ok(): pass\n")
    r = run_gate()
    assert r.level == "hold"
    assert "not GateResult" in r.gates("run", "fail")[0]["message"]


def test_levels_config_overrides_a_kind(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makeconftest("""
        from pytest_release_gates import GateResult, Level, Status
        def pytest_release_gates_collect(context):
            yield GateResult("integrity", "a.py", Status.FAIL, Level.HOLD, "modified")
    """)
    pytester.makepyprojecttoml('[tool.release_gates.levels]\nintegrity = "rollback"\n')
    pytester.makepyfile("def test_ok(): pass\n")
    assert run_gate().level == "rollback"
    pytester.makepyprojecttoml('[tool.release_gates.levels]\nintegrity = "warn"\n')
    assert run_gate().level == "deploy"


def test_observations_reach_the_controller_under_xdist(pytester: pytest.Pytester, run_gate) -> None:
    pytest.importorskip("xdist")
    pytester.makeconftest("""
        import pytest
        from pytest_release_gates import GateResult, Level, Status, observe

        @pytest.fixture
        def note(request):
            return lambda value: observe(request.node, "note", value)

        def pytest_release_gates_collect(context):
            total = sum(o.data for o in context.observations("note"))
            yield GateResult("notes", "sum", Status.PASS if total == 45 else Status.FAIL, Level.HOLD, str(total))
    """)
    pytester.makepyfile("import pytest\n@pytest.mark.parametrize('i', range(10))\ndef test_i(i, note): note(i)\n")
    r = run_gate("-n", "2")
    assert r.level == "deploy", r.stdout
    assert r.gates("notes")[0]["message"] == "45"


def test_crashing_policy_holds_without_traceback(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makeconftest("""
        def pytest_release_gates_verdict(gates, context):
            raise RuntimeError("policy bug")
    """)
    pytester.makepyfile("def test_ok(): pass\n")
    r = run_gate()
    assert r.ret == 1
    assert r.level == "hold" and r.verdict["complete"] is True
    assert "verdict-policy (pytest_release_gates_verdict) crashed: RuntimeError: policy bug" in r.verdict["reasons"][-1]
    assert "INTERNALERROR" not in r.stdout and "Traceback" not in r.stdout


def test_policy_returning_garbage_holds(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makeconftest("def pytest_release_gates_verdict(gates, context):\n    return 'deploy'\n")
    pytester.makepyfile("def test_ok(): pass\n")
    r = run_gate()
    assert r.level == "hold"
    assert "returned str, not a Decision" in r.verdict["reasons"][-1]


def test_crashing_baseline_update_holds_and_saves_nothing(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makeconftest("""
        def pytest_release_gates_update_baseline(context, baseline):
            baseline.section("mine")["half"] = "written"
            raise ValueError("update bug")
    """)
    pytester.makepyfile("def test_ok(gate_metric): gate_metric('size', 1.0)\n")
    r = run_gate("--gate-update-baseline")
    assert r.level == "hold" and r.verdict["complete"] is True
    (gate,) = [g for g in r.gates("run", "fail") if g["subject"] == "baseline"]
    assert "conftest.py crashed: ValueError: update bug" in gate["message"]
    assert not (pytester.path / "release-gates.baseline.json").exists()  # a half-recorded baseline is never saved
    assert "INTERNALERROR" not in r.stdout


PER_TEST_SUITE = """
    import time
    import pytest

    @pytest.mark.budget(seconds=0.02)
    @pytest.mark.gate("minor")
    def test_slow_minor():
        time.sleep(0.05)

    def test_bad():
        raise KeyError("missing")

    @pytest.mark.regression
    def test_tracked():
        pass
"""


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_every_builtin_gate_sees_every_phase(pytester: pytest.Pytester, run_gate, xdist: list[str]) -> None:
    # pertest.py calls the built-in gates' per-test methods: setup (markers), before the report
    # (the exception's type), after it (the budget fails the report) and where it is logged.
    pytester.makepyfile(PER_TEST_SUITE)
    r = run_gate(*xdist)
    r.result.assert_outcomes(passed=1, failed=2)
    r.result.stdout.fnmatch_lines(["call took * s, budget 0.020 s"])
    (budget,) = r.gates("budget")
    assert budget["status"] == "fail" and budget["subject"].endswith("test_slow_minor"), budget
    minor = [g for g in r.gates("tests") if g["subject"].endswith("test_slow_minor")]
    assert [g["status"] for g in minor] == ["warn"], minor  # the gate("minor") marker was read at setup
    assert [g["subject"] for g in r.gates("new_error_type")] == ["builtins.KeyError"]
    tracked = [g for g in r.gates("regression") if "test_tracked" in g["subject"]]
    assert [g["status"] for g in tracked] == ["warn"], r.gates("regression")  # the regression marker, read at setup
    assert "new metric" in tracked[0]["message"], tracked


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_gate_blocked_with_p_no_is_never_called(pytester: pytest.Pytester, run_gate, xdist: list[str]) -> None:
    pytester.makepyfile(PER_TEST_SUITE)
    r = run_gate("-p", "no:release-gates-budget", *xdist)
    r.result.assert_outcomes(passed=2, failed=1)  # no budget: the slow test passes
    assert r.gates("budget") == []
    assert [g["subject"] for g in r.gates("new_error_type")] == ["builtins.KeyError"]  # the other gates still run
