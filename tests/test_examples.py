"""The bundled examples are run as users would run them, so they cannot rot."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run_example(name: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
    project = tmp_path / name
    shutil.copytree(EXAMPLES / name, project, ignore=shutil.ignore_patterns(".release-gates", "__pycache__"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_XDIST", "GITHUB_"))}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--release-gate", "-p", "no:cacheprovider", "-p", "no:randomly"],
        cwd=project, capture_output=True, text=True, env=env, timeout=300,
    )
    verdict = json.loads((project / ".release-gates" / "verdict.json").read_text())
    # A run never touches the committed baseline or manifest.
    for committed in ("release-gates.baseline.json", "release-gates.integrity.json"):
        assert (project / committed).read_bytes() == (EXAMPLES / name / committed).read_bytes()
    return proc, verdict


def test_demo_deploys(tmp_path: Path) -> None:
    proc, verdict = _run_example("demo", tmp_path)
    assert verdict["verdict"] == "deploy", proc.stdout
    assert proc.returncode == 0
    kinds = {g["kind"] for g in verdict["gates"]}  # type: ignore[attr-defined]
    assert {"tests", "run", "budget", "regression", "integrity", "new_error_type"} <= kinds


def test_demo_with_injected_regression_holds(tmp_path: Path) -> None:
    proc, verdict = _run_example("demo-regressed", tmp_path)
    assert verdict["verdict"] == "hold", proc.stdout
    assert proc.returncode == 1
    reasons = "\n".join(verdict["reasons"])  # type: ignore[arg-type]
    assert "snapshot_bytes" in reasons and "worse than baseline" in reasons
    assert "logging:demo_service.status" in reasons


@pytest.mark.parametrize("workflow", ["github-actions/release-gate.yml", "github-actions/compare.yml",
                                      "gitlab-ci/.gitlab-ci.yml"])
def test_ci_examples_use_the_contract(workflow: str) -> None:
    text = (EXAMPLES / workflow).read_text()
    assert "pytest --release-gate" in text
    if "compare" in workflow:
        assert "--gate-compare-ref=" in text and "fetch-depth: 0" in text
    else:
        assert "release-gate status" in text
