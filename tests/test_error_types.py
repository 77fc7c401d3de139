"""End to end: the ``new_error_type`` gate, driven through real ``pytest --release-gate`` runs."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import pytest
from conftest import NO_HYPOTHESIS, GateRun

RunGate = Callable[..., GateRun]

APP = '''
import logging
import warnings

log = logging.getLogger("myapp.db")


class AppError(Exception):
    pass


class Timeout(AppError):
    pass


def lookup(d, k):
    return d[k]


def parse(text):
    import json
    return json.loads(text)


def log_error():
    log.error("plain error, no exception")


def log_exception():
    try:
        int("x")
    except ValueError:
        log.exception("could not parse")


def old_api():
    warnings.warn("old_api is deprecated", DeprecationWarning, stacklevel=2)


def slow():
    raise Timeout("too slow")


def swallow(d):
    try:
        return d["missing"]
    except KeyError:
        return None
'''


@pytest.fixture
def app(pytester: pytest.Pytester) -> pytest.Pytester:
    pkg = pytester.mkpydir("myapp")
    (pkg / "__init__.py").write_text(APP)
    return pytester


def new_types(run: GateRun) -> dict[str, dict[str, Any]]:
    """subject -> gate, for every new (or expired) type the run reported."""
    return {g["subject"]: g for g in run.gates("new_error_type") if g.get("new")}


def baseline(pytester: pytest.Pytester) -> dict[str, Any]:
    return json.loads((pytester.path / "release-gates.baseline.json").read_text())  # type: ignore[no-any-return]


def write_baseline(pytester: pytest.Pytester, entries: dict[str, dict[str, Any]]) -> None:
    (pytester.path / "release-gates.baseline.json").write_text(json.dumps({
        "schema": "pytest-release-gates/baseline/1", "error_types": entries,
    }))


def config(pytester: pytest.Pytester, body: str) -> None:
    pytester.makepyprojecttoml("[tool.release_gates]\n" + textwrap.dedent(body))


# ------------------------------------------------------------------ the story of the issue


def test_no_baseline_holds_then_update_deploys_then_a_new_keyerror_holds(app: pytest.Pytester,
                                                                        run_gate: RunGate) -> None:
    app.makepyfile(test_app="""
        import myapp

        def test_logs():
            myapp.log_error()

        def test_ok():
            assert myapp.lookup({1: 2}, 1) == 2
    """)
    first = run_gate()
    assert first.level == "hold"  # fail closed: with no baseline every type is new
    assert set(new_types(first)) == {"logging:myapp.db"}
    assert "--gate-update-baseline" in new_types(first)["logging:myapp.db"]["message"]

    accepted = run_gate("--gate-update-baseline")
    assert accepted.level == "deploy", accepted.stdout
    assert baseline(app)["error_types"] == {
        "logging:myapp.db @ myapp": {"count": 1, "kind": "error", "origin": "myapp", "type": "logging:myapp.db"},
    }
    assert run_gate().level == "deploy"

    app.makepyfile(test_new="""
        import myapp

        def test_lookup_missing():
            myapp.lookup({}, "user")
    """)
    held = run_gate()
    assert held.level == "hold"
    gate = new_types(held)["builtins.KeyError"]
    assert gate["status"] == "fail" and gate["level"] == "hold"
    assert gate["first_test"] == "test_new.py::test_lookup_missing"
    assert gate["first_location"].startswith("myapp:")  # module:line of the raise, for the human
    assert "test_new.py::test_lookup_missing" in gate["message"]
    assert any("builtins.KeyError" in r and "test_lookup_missing" in r for r in held.verdict["reasons"])
    assert "builtins.KeyError" in held.stdout


# ------------------------------------------------------------------ sources


def test_failing_test_setup_and_teardown_exceptions_count(app: pytest.Pytester, run_gate: RunGate) -> None:
    app.makepyfile(test_app="""
        import pytest
        import myapp

        @pytest.fixture
        def broken_setup():
            raise OSError("no disk")

        @pytest.fixture
        def broken_teardown():
            yield
            raise ConnectionError("gone")

        def test_call():
            myapp.parse("{")

        def test_setup(broken_setup):
            pass

        def test_teardown(broken_teardown):
            pass
    """)
    run = run_gate()
    found = new_types(run)
    assert set(found) == {"json.decoder.JSONDecodeError", "builtins.OSError", "builtins.ConnectionError"}
    assert found["builtins.OSError"]["first_test"] == "test_app.py::test_setup"
    assert found["builtins.OSError"]["origin"] == ""  # raised in test code only: no origin
    assert found["builtins.OSError"]["first_location"] == "test_app:6"
    assert found["builtins.ConnectionError"]["first_test"] == "test_app.py::test_teardown"
    # The origin is the innermost frame of the project's own code, not json's internals.
    assert found["json.decoder.JSONDecodeError"]["origin"] == "myapp"


def test_assertions_and_pytest_outcomes_are_not_error_types(app: pytest.Pytester, run_gate: RunGate) -> None:
    app.makepyfile(test_app="""
        import pytest

        def test_assert():
            assert 1 == 2

        def test_fail():
            pytest.fail("nope")

        def test_skip():
            pytest.skip("later")

        @pytest.mark.xfail(reason="known bug")
        def test_xfail_raises():
            raise KeyError("x")

        def test_xfail_call():
            pytest.xfail("known")

        def test_raises_caught():
            with pytest.raises(ZeroDivisionError):
                1 / 0
    """)
    run = run_gate()
    assert run.level == "hold"  # the failing tests hold through the tests gate...
    assert new_types(run) == {}  # ...but none of this is an error type
    assert run.gates("new_error_type", "pass")


def test_logging_sources_and_caplog_still_receives(app: pytest.Pytester, run_gate: RunGate) -> None:
    app.makepyfile(test_app="""
        import logging
        import myapp

        seen = []

        class Keep(logging.Handler):
            def emit(self, record):
                seen.append(record.getMessage())

        def test_plain_error(caplog):
            other = Keep()
            logging.getLogger().addHandler(other)
            try:
                myapp.log_error()
            finally:
                logging.getLogger().removeHandler(other)
            assert [r.getMessage() for r in caplog.records] == ["plain error, no exception"]
            assert seen == ["plain error, no exception"]

        def test_with_exc_info(caplog):
            myapp.log_exception()
            assert caplog.records[0].exc_info[0] is ValueError

        def test_warning_level_is_not_an_error():
            logging.getLogger("myapp.db").warning("just a warning")
    """)
    run = run_gate()
    assert run.verdict["tests"]["passed"] == 3, run.stdout
    found = new_types(run)
    assert set(found) == {"logging:myapp.db", "builtins.ValueError"}
    assert found["logging:myapp.db"]["first_test"] == "test_app.py::test_plain_error"
    assert found["builtins.ValueError"]["sources"] == ["log"]


def test_a_user_handler_that_raises_behaves_as_without_the_gate(app: pytest.Pytester, run_gate: RunGate) -> None:
    app.makepyfile(test_app="""
        import logging
        import pytest

        class Exploding(logging.Handler):
            def handle(self, record):
                raise RuntimeError("handler exploded")

        def test_handler_raises():
            h = Exploding()
            logging.getLogger().addHandler(h)
            try:
                with pytest.raises(RuntimeError, match="handler exploded"):
                    logging.getLogger("x").error("boom")
            finally:
                logging.getLogger().removeHandler(h)
    """)
    plain = app.runpytest_subprocess("-p", "no:cacheprovider", *NO_HYPOTHESIS)
    plain.assert_outcomes(passed=1)
    run = run_gate()
    run.result.assert_outcomes(passed=1)
    assert "Traceback" not in run.stdout.split("release gate")[-1]
    assert set(new_types(run)) == {"logging:x"}


def test_warnings_count_and_recwarn_and_pytest_warns_are_untouched(app: pytest.Pytester, run_gate: RunGate) -> None:
    app.makepyfile(test_app="""
        import warnings
        import pytest
        import myapp

        def test_emits():
            myapp.old_api()

        def test_recwarn(recwarn):
            warnings.warn("mine", UserWarning)
            assert len(recwarn) == 1 and recwarn[0].category is UserWarning

        def test_warns_consumes():
            with pytest.warns(ResourceWarning):
                warnings.warn("caught", ResourceWarning)
    """)
    run = run_gate()
    assert run.verdict["tests"]["passed"] == 3
    found = new_types(run)
    # recwarn consumes its warning like pytest.warns does: only the free-flying one counts.
    assert set(found) == {"DeprecationWarning"}
    gate = found["DeprecationWarning"]
    # Attributed (stacklevel=2) to the test module: test files are not an origin, so the same warning
    # from many test files stays one signature; the location still names the line.
    assert gate["error_kind"] == "warning" and gate["origin"] == ""
    assert gate["first_location"] == "test_app:6"
    assert gate["first_test"] == "test_app.py::test_emits"


def test_dash_w_error_still_fails_the_test(app: pytest.Pytester, run_gate: RunGate) -> None:
    app.makepyfile(test_app="""
        import myapp

        def test_emits():
            myapp.old_api()
    """)
    run = run_gate("-W", "error::DeprecationWarning")
    run.result.assert_outcomes(failed=1)
    assert set(new_types(run)) == {"DeprecationWarning"}


def test_unraisable_and_thread_exceptions_count_as_the_underlying_type(app: pytest.Pytester,
                                                                       run_gate: RunGate) -> None:
    app.makepyfile(test_app="""
        import gc
        import threading
        import myapp

        class Leaky:
            def __del__(self):
                raise myapp.Timeout("in __del__")

        def test_unraisable():
            Leaky()
            gc.collect()

        def test_thread():
            t = threading.Thread(target=myapp.lookup, args=({}, "k"))
            t.start()
            t.join()
    """)
    run = run_gate()
    found = new_types(run)
    assert set(found) == {"myapp.Timeout", "builtins.KeyError"}, found
    assert found["myapp.Timeout"]["sources"] == ["unraisable"]
    assert found["myapp.Timeout"]["first_test"] == "test_app.py::test_unraisable"
    assert found["builtins.KeyError"]["sources"] == ["thread"]
    assert found["builtins.KeyError"]["origin"] == "myapp"


def test_collection_warnings_count(app: pytest.Pytester, run_gate: RunGate) -> None:
    app.makepyfile(test_app="""
        import warnings
        warnings.warn("at import", FutureWarning)

        def test_ok():
            pass
    """)
    run = run_gate()
    gate = new_types(run)["FutureWarning"]
    assert gate["first_test"] == ""
    assert "first in collection" in gate["message"]


# ------------------------------------------------------------------ policies


@pytest.mark.parametrize(("errors", "warns", "level", "statuses"), [
    ("hold", "hold", "hold", {"builtins.KeyError": "fail", "DeprecationWarning": "fail"}),
    ("warn", "hold", "hold", {"builtins.KeyError": "warn", "DeprecationWarning": "fail"}),
    ("hold", "warn", "hold", {"builtins.KeyError": "fail", "DeprecationWarning": "warn"}),
    ("warn", "warn", "deploy", {"builtins.KeyError": "warn", "DeprecationWarning": "warn"}),
    ("off", "warn", "deploy", {"DeprecationWarning": "warn"}),
    ("off", "off", "deploy", {}),
])
def test_policies(app: pytest.Pytester, run_gate: RunGate, errors: str, warns: str, level: str,
                  statuses: dict[str, str]) -> None:
    config(app, f"""
        new_error_types = "{errors}"
        new_warning_types = "{warns}"
    """)
    app.makepyfile(test_app="""
        import myapp

        def test_swallowed_and_logged():
            try:
                myapp.lookup({}, 1)
            except KeyError as exc:
                import logging
                logging.getLogger("x").error("lost", exc_info=exc)

        def test_warns():
            myapp.old_api()
    """)
    run = run_gate()
    assert run.level == level, run.stdout
    assert {k: g["status"] for k, g in new_types(run).items()} == statuses


# ------------------------------------------------------------------ expected_errors


def test_expected_errors_by_class_name_dotted_name_and_subclass(app: pytest.Pytester, run_gate: RunGate) -> None:
    app.makepyfile(test_app="""
        import logging
        import pytest
        import myapp

        def fail_with(exc):
            logging.getLogger("x").error("seen", exc_info=exc)

        @pytest.mark.expected_errors.with_args(KeyError)
        def test_by_class():
            fail_with(KeyError("k"))

        @pytest.mark.expected_errors("ValueError")
        def test_by_name():
            fail_with(ValueError("v"))

        @pytest.mark.expected_errors("json.decoder.JSONDecodeError")
        def test_by_dotted_name():
            myapp.parse("{")

        @pytest.mark.expected_errors(LookupError, OSError)
        def test_subclass_of_expected_class():
            fail_with(IndexError("i"))
            fail_with(FileNotFoundError("f"))

        @pytest.mark.expected_errors("AppError")
        def test_subclass_by_class_name():
            myapp.slow()

        @pytest.mark.expected_errors("DeprecationWarning", "logging:myapp")
        def test_warning_and_logger():
            myapp.old_api()
            myapp.log_error()

        def test_unexpected():
            fail_with(RuntimeError("r"))
    """)
    run = run_gate()
    assert set(new_types(run)) == {"builtins.RuntimeError"}, new_types(run)
    assert run.verdict["tests"]["failed"] == 2  # expected types still fail their tests: that is the tests gate


def test_expected_name_that_does_not_import_warns(app: pytest.Pytester, run_gate: RunGate) -> None:
    app.makepyfile(test_app="""
        import pytest

        class Timeout(Exception):
            pass

        @pytest.mark.expected_errors("nosuchpkg.errors.Timeout")
        def test_it():
            import logging
            logging.getLogger("x").error("t", exc_info=Timeout())
    """)
    run = run_gate()
    assert run.level == "deploy" or not new_types(run), run.stdout
    assert new_types(run) == {}  # matched by class name
    warn = [g for g in run.gates("new_error_type", "warn") if g["subject"] == "nosuchpkg.errors.Timeout"]
    assert warn and "does not import" in warn[0]["message"] and "test_app.py::test_it" in warn[0]["message"]
    assert "Traceback" not in run.stdout


def test_expected_errors_bad_argument_fails_the_test_clearly(app: pytest.Pytester, run_gate: RunGate) -> None:
    app.makepyfile(test_app="""
        import pytest

        @pytest.mark.expected_errors("KeyError", 42)
        def test_bad():
            pass
    """)
    run = run_gate()
    run.result.assert_outcomes(errors=1)
    run.result.stdout.fnmatch_lines([
        "*invalid @pytest.mark.expected_errors on test_app.py::test_bad: argument 2 (42) is not*",
    ])
    assert new_types(run) == {}


# ------------------------------------------------------------------ baseline, known types, xdist


def test_counts_resolved_and_update_drops(app: pytest.Pytester, run_gate: RunGate) -> None:
    write_baseline(app, {
        "logging:myapp.db @ myapp": {"count": 1, "kind": "error", "origin": "myapp", "type": "logging:myapp.db"},
        "builtins.TypeError @ myapp": {"count": 4, "kind": "error", "origin": "myapp", "type": "builtins.TypeError"},
    })
    app.makepyfile(test_app="""
        import myapp

        def test_a():
            myapp.log_error()

        def test_b():
            myapp.log_error()
    """)
    run = run_gate("-v")
    assert run.level == "deploy", run.stdout
    warn = run.gates("new_error_type", "warn")
    assert [(g["subject"], g["value"], g["limit"]) for g in warn] == [("logging:myapp.db", 2.0, 1.0)]
    resolved = [g for g in run.gates("new_error_type", "pass") if g.get("resolved")]
    assert [g["subject"] for g in resolved] == ["builtins.TypeError"]
    assert "resolved" in run.stdout  # listed with -v

    # A partial run (-k) never calls a type resolved, nor drops it.
    partial = run_gate("-k", "test_a", "--gate-update-baseline")
    assert not [g for g in partial.gates("new_error_type") if g.get("resolved")]
    assert "builtins.TypeError @ myapp" in baseline(app)["error_types"]

    run_gate("--gate-update-baseline")
    assert baseline(app)["error_types"] == {
        "logging:myapp.db @ myapp": {"count": 2, "kind": "error", "origin": "myapp", "type": "logging:myapp.db"},
    }


def test_known_error_types(app: pytest.Pytester, run_gate: RunGate) -> None:
    config(app, """
        known_error_types = [
            "KeyError",
            {type = "myapp.AppError", reason = "flaky backend", owner = "db-team"},
            {type = "DeprecationWarning", owner = "platform", expires = "2001-01-01"},
        ]
    """)
    app.makepyfile(test_app="""
        import logging
        import myapp

        def test_it():
            logging.getLogger("x").error("k", exc_info=KeyError("k"))
            logging.getLogger("x").error("t", exc_info=myapp.Timeout())  # a subclass of a known type
            myapp.old_api()
    """)
    run = run_gate()
    found = new_types(run)
    assert set(found) == {"DeprecationWarning"}  # expired acceptance holds again
    message = found["DeprecationWarning"]["message"]
    assert "platform" in message and "2001-01-01" in message
    known = {g["subject"]: g["message"] for g in run.gates("new_error_type", "pass")}
    assert "flaky backend" in known["myapp.Timeout"] and "db-team" in known["myapp.Timeout"]
    assert "builtins.KeyError" in known


def test_xdist_merges_occurrences_from_all_workers(app: pytest.Pytester, run_gate: RunGate) -> None:
    pytest.importorskip("xdist")
    app.makepyfile(test_app="""
        import pytest
        import myapp

        @pytest.mark.parametrize("i", range(8))
        def test_log(i):
            myapp.log_error()

        @pytest.mark.parametrize("i", range(4))
        def test_warn(i):
            myapp.old_api()

        @pytest.mark.xfail
        def test_xfail():
            myapp.lookup({}, 1)

        @pytest.mark.expected_errors("json.decoder.JSONDecodeError")
        def test_expected():
            try:
                myapp.parse("{")
            except ValueError as exc:
                import logging
                logging.getLogger("x").error("bad input", exc_info=exc)
    """)
    run = run_gate("-n", "2")
    assert run.verdict["run"]["xdist_workers"] == 2
    found = new_types(run)
    assert set(found) == {"logging:myapp.db", "DeprecationWarning"}
    assert found["logging:myapp.db"]["value"] == 8.0 and found["logging:myapp.db"]["tests_count"] == 8
    assert found["DeprecationWarning"]["value"] == 4.0
    run_gate("-n", "2", "--gate-update-baseline")
    entries = baseline(app)["error_types"]
    assert entries["logging:myapp.db @ myapp"]["count"] == 8
    assert entries["DeprecationWarning"]["count"] == 4
    assert run_gate("-n", "2").level == "deploy"


# ------------------------------------------------------------------ error_scope


def test_error_scope_missing_package_is_a_clear_warning(app: pytest.Pytester, run_gate: RunGate) -> None:
    config(app, 'error_scope = ["myapp", "no_such_package"]\nnew_error_types = "warn"\nnew_warning_types = "warn"')
    app.makepyfile(test_app="""
        def test_ok():
            pass
    """)
    run = run_gate()
    assert run.level == "deploy"
    warn = run.gates("new_error_type", "warn")
    assert any("'no_such_package' not found" in g["message"] for g in warn), warn
    assert "Traceback" not in run.stdout


@pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring is Python 3.12+")
def test_error_scope_counts_exceptions_swallowed_inside_the_package(app: pytest.Pytester,
                                                                     run_gate: RunGate) -> None:
    config(app, 'error_scope = ["myapp"]')
    app.makepyfile(test_app="""
        import pytest
        import myapp

        def test_swallowed():
            assert myapp.swallow({}) is None

        def test_caught_by_the_test():
            with pytest.raises(KeyError):
                myapp.lookup({}, 1)   # leaves the package: the test's own business

        @pytest.mark.expected_errors("KeyError")
        def test_expected_swallow():
            myapp.swallow({})
    """)
    run = run_gate()
    found = new_types(run)
    assert set(found) == {"builtins.KeyError"}
    assert found["builtins.KeyError"]["sources"] == ["swallowed"]
    assert found["builtins.KeyError"]["first_test"] == "test_app.py::test_swallowed"
    assert found["builtins.KeyError"]["value"] == 1.0


def test_without_release_gate_nothing_is_captured(app: pytest.Pytester) -> None:
    app.makepyfile(test_app="""
        import logging

        def test_it():
            assert logging.getLogger().handlers == []
    """)
    app.runpytest_subprocess("-p", "no:cacheprovider", *NO_HYPOTHESIS, "-p", "no:logging").assert_outcomes(passed=1)
    assert not (app.path / ".release-gates").exists()
