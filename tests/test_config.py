"""Config loading: every bad input is one line naming file and key, exit 4, nothing written."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from conftest import NO_HYPOTHESIS
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_release_gates import config
from pytest_release_gates.gates import BUILTIN
from pytest_release_gates.model import UsageError


def _assert_usage_error(pytester: pytest.Pytester, run, *needles: str) -> None:
    pytester.makepyfile("def test_a(): pass\n")
    r = run()
    assert r.ret == 4
    err = r.result.stderr.str()
    for n in needles:
        assert n in err, err
    assert "Traceback" not in err + r.stdout
    (line,) = [ln.removeprefix("ERROR: ") for ln in err.splitlines() if ln.startswith("ERROR: ")]
    # SPEC v3 "No stale deploy": the verdict becomes a hold naming the error; nothing else is written.
    assert (r.level, r.verdict["complete"], r.verdict["reasons"]) == ("hold", False, [line])
    assert [p.name for p in (pytester.path / ".release-gates").iterdir()] == ["verdict.json"]


def test_unknown_key_names_file_and_key(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyprojecttoml("[tool.release_gates]\nregresion_tolerance = 0.1\n")
    _assert_usage_error(
        pytester, run_gate, "pyproject.toml", "unknown key 'regresion_tolerance'", "did you mean 'regression_tolerance'"
    )


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ('regression_tolerance = "x"', "regression_tolerance: expected a number"),
        ("regression_tolerance = -0.1", "regression_tolerance: must be at least 0"),
        ("rollback_ratio = 1.0", "rollback_ratio: must be greater than 1"),
        ("coverage_min = 120", "coverage_min: must be at most 100"),
        ('new_error_types = "ignore"', "new_error_types: expected one of 'hold', 'warn', 'off'"),
        ("verdict_file = 3", "verdict_file: expected a non-empty string"),
        (
            '[tool.release_gates.budgets]\n"t.py::test_a" = {seconds = "1"}',
            "budgets: ['t.py::test_a'].seconds: expected a number",
        ),
        ('[tool.release_gates.budgets]\n"t.py::test_a" = {second = 1}', "unknown budget key"),
        ('[tool.release_gates.budgets]\n"t.py::test_a" = {seconds = nan}', "expected a finite number"),
        ('[tool.release_gates.integrity]\nrules = ["no-such-rule"]', "unknown rule 'no-such-rule'"),
        ('[tool.release_gates.levels]\nrun = "warn"', "an incomplete run always holds"),
        ("[tool.release_gates.compare]\ntolerance = -0.1", "compare: tolerance: must be at least 0"),
        ("perf_spread_seconds = -1", "perf_spread_seconds: must be at least 0"),
        ("perf_spread_seconds = 61", "perf_spread_seconds: must be at most 60"),
        ('perf_spread_seconds = "1s"', "perf_spread_seconds: expected a number"),
        ("perf_spread_seconds = inf", "perf_spread_seconds: expected a finite number"),
    ],
)
def test_wrong_type_is_usage_error(pytester: pytest.Pytester, run_gate, line: str, needle: str) -> None:
    pytester.makepyprojecttoml(f"[tool.release_gates]\n{line}\n")
    _assert_usage_error(pytester, run_gate, needle)


def test_unparsable_toml(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makefile(".toml", **{"release-gates": "verdict_file = \n"})
    _assert_usage_error(pytester, run_gate, "release-gates.toml: not valid TOML")


def test_both_config_files_is_an_error(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyprojecttoml("[tool.release_gates]\nrollback_ratio = 2.0\n")
    pytester.makefile(".toml", **{"release-gates": "rollback_ratio = 3.0\n"})
    _assert_usage_error(pytester, run_gate, "release-gates.toml", "pyproject.toml", "both configure")


def test_standalone_file_keys_at_top_level(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makefile(".toml", **{"release-gates": 'verdict_file = "out/v.json"\n'})
    pytester.makepyfile("def test_a(): pass\n")
    r = run_gate("--gate-verdict=out/v.json")
    assert r.level == "deploy"


def test_config_verdict_file_and_cli_override(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyprojecttoml('[tool.release_gates]\nverdict_file = "gates/result.json"\n')
    pytester.makepyfile("def test_a(): pass\n")
    run_gate()
    assert (pytester.path / "gates" / "result.json").is_file()
    r = run_gate("--gate-verdict=cli/deep/v.json")  # parents created
    assert r.level == "deploy"
    assert (pytester.path / "cli" / "deep" / "v.json").is_file()


def test_bad_config_ignored_without_release_gate(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml("[tool.release_gates]\nbogus = 1\n")
    pytester.makepyfile("""
        import pytest
        @pytest.mark.budget(seconds=1)
        @pytest.mark.regression
        @pytest.mark.gate(severity="minor")
        @pytest.mark.expected_errors("KeyError")
        def test_a(): pass
    """)
    r = pytester.runpytest_subprocess("--strict-markers", "-p", "no:cacheprovider", *NO_HYPOTHESIS)
    assert r.ret == 0
    assert not (pytester.path / ".release-gates").exists()  # writes nothing without --release-gate


def test_verdict_path_is_a_directory(pytester: pytest.Pytester, run_gate) -> None:
    (pytester.path / "v.json").mkdir()
    pytester.makepyfile("def test_a(): pass\n")
    r = run_gate("--gate-verdict=v.json")
    assert r.ret == 4
    assert "v.json: is a directory" in r.result.stderr.str()
    assert "Traceback" not in r.result.stderr.str()


def test_read_only_folder(pytester: pytest.Pytester, run_gate) -> None:
    import os

    if os.geteuid() == 0:
        pytest.skip("root ignores folder permissions; covered by the directory case")
    ro = pytester.path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    pytester.makepyfile("def test_a(): pass\n")
    try:
        r = run_gate("--gate-verdict=ro/v.json")
    finally:
        ro.chmod(0o700)
    assert r.ret == 4
    assert "cannot write" in r.result.stderr.str()


def test_read_only_folder_as_root_via_file_in_place_of_folder(pytester: pytest.Pytester, run_gate) -> None:
    (pytester.path / "blocker").write_text("not a folder")
    pytester.makepyfile("def test_a(): pass\n")
    r = run_gate("--gate-verdict=blocker/v.json")
    assert r.ret == 4
    assert "blocker/v.json: cannot write" in r.result.stderr.str()
    assert (pytester.path / "blocker").read_text() == "not a folder"


# ---------------------------------------------------------------- properties

_good_values = {
    "verdict_file": st.text(min_size=1, max_size=20),
    "regression_tolerance": st.floats(min_value=0, max_value=10),
    "rollback_ratio": st.floats(min_value=1.0001, max_value=100),
    "coverage_min": st.floats(min_value=0, max_value=100),
    "new_error_types": st.sampled_from(["hold", "warn", "off"]),
    "strict_machine": st.booleans(),
    "history_max_runs": st.integers(min_value=1, max_value=10_000),
    "warn_fraction": st.floats(min_value=0.01, max_value=1),
    "perf_spread_seconds": st.floats(min_value=0, max_value=60),
}


@settings(max_examples=200, deadline=None)
@given(st.fixed_dictionaries({}, optional=_good_values))
def test_any_well_typed_config_loads(raw: dict[str, object]) -> None:
    values = config.parse(raw, registry=BUILTIN)
    s = config.Settings(rootdir=Path("."), **values)
    for key, value in raw.items():
        got = getattr(s, key)
        assert got == value or (isinstance(value, float) and math.isclose(got, value))


_wrong = st.one_of(
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(config.schema(BUILTIN))), _wrong)
def test_any_wrongly_typed_value_is_a_usage_error(key: str, value: object) -> None:
    try:
        config.parse({key: value}, registry=BUILTIN, where="cfg:")
    except UsageError as exc:
        assert str(exc).startswith(f"cfg: {key}")
        assert "\n" not in str(exc)
    # some wrong-looking values are valid (e.g. a string for verdict_file): then they must load
