"""The verdict file's JSON Schema, shipped in the package, holds for verdicts real runs write."""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from typing import Any

import pytest
from conftest import GateRun

jsonschema = pytest.importorskip("jsonschema")


def _schema() -> dict[str, Any]:
    text = resources.files("pytest_release_gates").joinpath("verdict.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def _valid(doc: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(_schema()).validate(doc)


def test_deploy_hold_and_rollback_verdicts_are_valid(
    pytester: pytest.Pytester, run_gate: Callable[..., GateRun]
) -> None:
    pytester.makepyfile(
        test_a="""
        import pytest

        def test_ok(): pass

        @pytest.mark.budget(seconds=60)
        def test_budgeted(): pass

        def test_metric(gate_metric):
            gate_metric("size", 3)
        """
    )
    deploy = run_gate("--gate-update-baseline")
    assert deploy.level == "deploy"
    _valid(deploy.verdict)
    pytester.makepyfile(
        test_b="""
        import pytest

        def test_broken(): raise KeyError("x")

        @pytest.mark.gate(severity="critical")
        def test_critical(): assert False
        """
    )
    rollback = run_gate()
    assert rollback.level == "rollback"
    assert {g["kind"] for g in rollback.gates(status="fail")} >= {"tests", "new_error_type"}
    _valid(rollback.verdict)


def test_usage_error_hold_and_merged_verdict_are_valid(
    pytester: pytest.Pytester, run_gate: Callable[..., GateRun], run_cli: Callable[..., pytest.RunResult]
) -> None:
    pytester.makepyfile(test_a="def test_ok(): pass\n")
    pytester.makepyfile(test_b="def test_ok(): pass\n")
    for i, path in ((1, "test_a.py"), (2, "test_b.py")):
        shard = run_gate(path, f"--gate-shard={i}/2", f"--gate-verdict=v{i}.json")
        assert shard.ret == 0, shard.stdout
        _valid(shard.verdict)
        assert shard.verdict["shard"] == {"index": i, "count": 2}
    assert run_cli("merge", "v1.json", "v2.json", "-o", "merged.json").ret == 0
    merged = json.loads((pytester.path / "merged.json").read_text())
    assert len(merged["shards"]) == 2
    _valid(merged)
    pytester.makepyprojecttoml("[tool.release_gates]\nrollback_ratio = 0.5\n")
    usage = run_gate()
    assert usage.ret == 4 and usage.verdict["complete"] is False
    _valid(usage.verdict)


def test_the_schema_refuses_what_status_refuses() -> None:
    good = {"schema": "pytest-release-gates/verdict/1", "verdict": "deploy", "complete": True, "reasons": [],
            "gates": [{"kind": "licenses", "subject": "gpl", "status": "pass", "level": "hold", "message": "ok"}],
            "tests": {"collected": 1, "passed": 1, "failed": 0, "errors": 0, "skipped": 0, "xfailed": 0,
                      "xpassed": 0}}
    _valid(good)  # a third-party kind is fine: `kind` is an open string
    for broken in ({k: v for k, v in good.items() if k != "complete"}, {**good, "verdict": "ship"},
                   {**good, "gates": [{"kind": "tests", "status": "pass"}]}):
        with pytest.raises(jsonschema.ValidationError):
            _valid(broken)
