"""The gate specs and the registry built from them (no pytest run)."""

from __future__ import annotations

import dataclasses
import importlib.metadata
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pytest_release_gates import config, gates, plugin, verdict
from pytest_release_gates.gates import BUILTIN
from pytest_release_gates.model import UsageError
from pytest_release_gates.spec import ConfigKey, GateSpec, MarkerSpec, Registry

SPEC = GateSpec(
    kind="licenses",
    plugin="licenses-gate",
    table=(ConfigKey("forbidden", config.str_list, ("GPL-3.0",)),),
    markers=(MarkerSpec("license", "license(name): the licence"),),
    section="licenses",
    validator=lambda path, section: None,
)


def test_builtin_keys_match_the_settings_defaults() -> None:
    fields = {f.name: f for f in dataclasses.fields(config.Settings)}
    for key in [*config.CORE_KEYS, *BUILTIN.keys().values()]:
        f = fields[key.name]
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        assert key.default == default, key.name


def test_builtin_schema_keeps_every_key() -> None:
    assert set(config.schema(BUILTIN)) == {
        "verdict_file", "baseline_file", "regression_tolerance", "rollback_ratio", "coverage_min",
        "coverage_max_drop", "new_error_types", "new_warning_types", "known_error_types", "error_scope",
        "budgets", "warn_fraction", "hang_factor", "perf_spread_seconds", "perf_calibration", "perf_counter",
        "counter_tolerance", "strict_machine", "integrity", "compare", "levels", "history_max_runs",
        "history_max_days", "flaky_window", "flaky_min_failures", "flaky_level", "flaky_days", "history_url",
        "history_branches", "history_required", "history_timeout", "partial_run",
    }


def test_builtin_order_and_ranks() -> None:
    assert BUILTIN.kinds[:8] == (
        "run", "tests", "timeout", "budget", "regression", "new_error_type", "integrity", "coverage")
    assert BUILTIN.reason_ranks() == verdict.DEFAULT_RANKS
    assert "run" not in BUILTIN.levelled_kinds and "flaky" not in BUILTIN.levelled_kinds
    assert [s.plugin for s in BUILTIN][:3] == ["release-gates-run", "release-gates-tests", "release-gates-budget"]
    assert set(dict(BUILTIN.sections())) == {"regression", "coverage", "error_types", "integrity"}
    assert [m.name for m in BUILTIN.markers()] == ["gate", "budget", "expected_errors", "regression",
                                                    "integrity_clean"]
    assert tuple(m.line for m in BUILTIN.markers()) == plugin.MARKERS


def test_a_plugin_table_is_parsed_with_defaults() -> None:
    reg = BUILTIN.extended([SPEC])
    assert config.parse({}, registry=reg)["tables"]["licenses"] == {"forbidden": ("GPL-3.0",)}
    values = config.parse({"licenses": {"forbidden": ["MIT"]}}, registry=reg)
    settings = config.Settings(**values)
    assert settings.table("licenses") == {"forbidden": ("MIT",)}
    assert settings.table("other") == {}
    with pytest.raises(UsageError, match=r"licenses: forbidden: expected a list of non-empty strings"):
        config.parse({"licenses": {"forbidden": "MIT"}}, registry=reg)
    with pytest.raises(UsageError, match=r"unknown key 'licenses'"):
        config.parse({"licenses": {}}, registry=BUILTIN)


def test_levels_accepts_a_plugin_kind() -> None:
    reg = BUILTIN.extended([SPEC])
    assert config.parse({"levels": {"licenses": "warn"}}, registry=reg)["levels"] == {"licenses": "warn"}
    with pytest.raises(UsageError, match=r"'licenses': not a configurable gate"):
        config.parse({"levels": {"licenses": "warn"}}, registry=BUILTIN)


@pytest.mark.parametrize(
    "clash",
    [
        dataclasses.replace(SPEC, plugin="release-gates-run"),
        dataclasses.replace(SPEC, table=(), keys=(ConfigKey("hang_factor", float),)),
        dataclasses.replace(SPEC, kind="compare"),
        dataclasses.replace(SPEC, section="regression"),
    ],
)
def test_a_spec_cannot_replace_a_builtin_one(clash: GateSpec) -> None:
    with pytest.raises(UsageError, match=r"already declared|registered twice"):
        BUILTIN.extended([clash])


def test_not_a_spec_is_refused() -> None:
    with pytest.raises(UsageError, match="must be a GateSpec"):
        Registry([object()])  # type: ignore[list-item]


def test_factory_and_validator_may_be_import_strings() -> None:
    spec = GateSpec(kind="x", plugin="x", factory="pytest_release_gates.gates.run.gate:Gate",
                    validator="pytest_release_gates.gates.coverage.gate:validate_section")
    from pytest_release_gates.gates.coverage.gate import validate_section
    from pytest_release_gates.gates.run.gate import Gate

    assert isinstance(spec.make(config.Settings()), Gate)
    assert spec.section_validator() is validate_section
    off = dataclasses.replace(spec, enabled=lambda s: False)
    assert off.make(config.Settings()) is None


def test_ab_gate_only_with_a_revision() -> None:
    ab = next(s for s in BUILTIN if s.plugin == "release-gates-compare")
    assert ab.make(config.Settings()) is None
    assert ab.make(config.Settings(compare_ref="HEAD~1")) is not None


def test_the_command_reads_installed_plugins_specs(monkeypatch: pytest.MonkeyPatch) -> None:
    module = SimpleNamespace(pytest_release_gates_specs=lambda: [SPEC])
    broken = SimpleNamespace(load=lambda: (_ for _ in ()).throw(ImportError("no")))
    eps: list[Any] = [SimpleNamespace(load=lambda: module), broken, SimpleNamespace(load=lambda: object())]

    def entry_points(group: str) -> list[Any]:
        assert group == "pytest11"
        return eps

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    reg = gates.installed()
    assert "licenses" in reg.tables()
    assert "licenses" in reg.validators()
    assert len(reg) == len(BUILTIN) + 1


def test_validators_of_the_builtin_sections_reject_bad_entries(tmp_path: Path) -> None:
    validators = BUILTIN.validators()
    with pytest.raises(UsageError):
        validators["coverage"](tmp_path / "b.json", {"total": 140})
