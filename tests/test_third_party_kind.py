"""A plugin adds a complete gate kind (config table, marker, baseline section, gate results)
through one ``GateSpec``, touching no module of the package."""

from __future__ import annotations

import json

import pytest

#: Inner runs go in-process (conftest ``run_gate``): a third-party kind registers through the inner
#: run's plugin manager.
RUN_GATE_INLINE = True

PLUGIN = """
    from pytest_release_gates import ConfigKey, GateResult, GateSpec, Level, MarkerSpec, Status, UsageError, observe
    from pytest_release_gates.config import str_list

    class LicenseGate:
        def __init__(self, settings):
            self.forbidden = settings.table("licenses")["forbidden"]

        def pytest_runtest_setup(self, item):
            for mark in item.iter_markers("license"):
                observe(item, "licenses", mark.args[0])

        def pytest_release_gates_update_baseline(self, context, baseline):
            seen = sorted({o.data for o in context.observations("licenses")})
            baseline.section("licenses")["seen"] = seen
            return [f"licenses: {len(seen)} recorded"]

        def pytest_release_gates_collect(self, context):
            accepted = set((context.baseline.get("licenses") if context.baseline else {}).get("seen", []))
            for obs in context.observations("licenses"):
                bad = obs.data in self.forbidden and obs.data not in accepted
                status = Status.FAIL if bad else Status.PASS
                yield GateResult("licenses", obs.nodeid, status, Level.HOLD, f"uses {obs.data}")

    def validate(path, section):
        if not isinstance(section.get("seen", []), list):
            raise UsageError(f"{path}: section 'licenses': 'seen' must be a list")

    def pytest_release_gates_specs():
        return GateSpec(
            kind="licenses",
            plugin="licenses-gate",
            factory=LicenseGate,
            table=(ConfigKey("forbidden", str_list, ("GPL-3.0",), "list of str", "licenses that hold"),),
            markers=(MarkerSpec("license", "license(name): the licence of what this test exercises"),),
            section="licenses",
            validator=validate,
        )
"""

TESTS = """
    import pytest

    @pytest.mark.license("MIT")
    def test_mit(): pass

    @pytest.mark.license("GPL-3.0")
    def test_gpl(): pass
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(PLUGIN)
    pytester.makepyfile(TESTS)
    return pytester


def test_the_kind_gates_the_verdict(project: pytest.Pytester, run_gate) -> None:
    r = run_gate("--strict-markers")
    assert r.level == "hold"
    assert r.verdict["reasons"] == ["test_the_kind_gates_the_verdict.py::test_gpl uses GPL-3.0"]
    kinds = {g["kind"] for g in r.verdict["gates"]}
    assert "licenses" in kinds
    r.result.stdout.fnmatch_lines(["  licenses:", "    FAIL *test_gpl uses GPL-3.0 -> hold"])


def test_its_config_table_is_read(project: pytest.Pytester, run_gate) -> None:
    project.makepyprojecttoml('[tool.release_gates.licenses]\nforbidden = ["AGPL-3.0"]\n')
    r = run_gate()
    assert r.level == "deploy", r.result.stdout.str()


def test_levels_may_name_it(project: pytest.Pytester, run_gate) -> None:
    project.makepyprojecttoml('[tool.release_gates.levels]\nlicenses = "rollback"\n')
    assert run_gate().level == "rollback"


def test_a_key_it_does_not_declare_is_a_usage_error(project: pytest.Pytester, run_gate) -> None:
    project.makepyprojecttoml('[tool.release_gates.licenses]\nforbiden = ["GPL-3.0"]\n')
    r = run_gate()
    assert r.result.ret == pytest.ExitCode.USAGE_ERROR
    r.result.stderr.fnmatch_lines(["*licenses: 'forbiden': unknown key (one of forbidden)*"])


def test_an_unknown_table_stays_a_usage_error(project: pytest.Pytester, run_gate) -> None:
    project.makepyprojecttoml('[tool.release_gates.licences]\nforbidden = []\n')
    r = run_gate()
    assert r.result.ret == pytest.ExitCode.USAGE_ERROR
    r.result.stderr.fnmatch_lines(["*unknown key 'licences' (did you mean 'licenses'?)*"])


def test_its_baseline_section_is_recorded_and_validated(project: pytest.Pytester, run_gate) -> None:
    r = run_gate("--gate-update-baseline")
    assert r.level == "deploy", r.verdict["reasons"]
    baseline = project.path / "release-gates.baseline.json"
    data = json.loads(baseline.read_text())
    assert data["licenses"] == {"seen": ["GPL-3.0", "MIT"]}
    assert run_gate().level == "deploy"  # accepted into the baseline
    data["licenses"] = {"seen": "GPL-3.0"}
    baseline.write_text(json.dumps(data))
    r = run_gate()
    assert r.level == "hold"
    assert any("'seen' must be a list" in reason for reason in r.verdict["reasons"])
    assert not any(g["kind"] == "run" and "belongs to no gate" in g["message"] for g in r.verdict["gates"])
