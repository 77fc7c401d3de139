"""The verdict file: build, write atomically, read back and validate.

The same reader serves ``release-gate status`` and ``merge``, so both refuse
the same bad files with the same one-line messages.
"""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from .. import atomic
from ..model import COUNT_FIELDS, Decision, GateResult, Level, Status, UsageError

if TYPE_CHECKING:
    import pytest

    from ..session import GateContext, GateSession

SCHEMA: Final = "pytest-release-gates/verdict/1"
_SCHEMA_RE: Final = re.compile(r"^pytest-release-gates/verdict/(\d+)$")


def build(
    config: pytest.Config,
    state: GateSession,
    context: GateContext | None,
    gates: Sequence[GateResult],
    decision: Decision,
    *,
    complete: bool,
) -> dict[str, Any]:
    from .. import selection  # imports pytest: `release-gate` reads verdicts without it

    settings = state.settings
    ensure_facts(state)
    facts = state.extra["facts"]
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "verdict": str(decision.level),
        "complete": complete,
        "run_id": facts["run_id"],
        "reasons": list(decision.reasons),
        "gates": [g.to_json() for g in gates],
        "tests": state.counts().to_json(),
        "project": facts["project"],
        "created": dt.datetime.fromtimestamp(state.started, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "duration_s": round(time.time() - state.started, 3),
        "environment": facts["environment"],
        "git": facts["git"],
        "run": {
            "args": [str(a) for a in config.invocation_params.args],
            "rootdir": str(settings.rootdir),
            "baseline_file": str(settings.baseline_path),
            "update_baseline": settings.update_baseline,
            "compare_ref": settings.compare_ref,
            "partial": context.partial if context is not None else None,
            "selection": selection.of(config).to_json(),
            "exit_status": context.exitstatus if context is not None else None,
            "xdist_workers": state.worker_count or None,
        },
    }
    if settings.shard is not None:
        doc["shard"] = {"index": settings.shard[0], "count": settings.shard[1]}
    return doc


def new_run_id() -> str:
    """A unique id of one run: ``release-gate merge`` refuses the same run twice."""
    return uuid.uuid4().hex


def ensure_facts(state: GateSession) -> str | None:
    """Compute the run id and project/environment/git facts once per run (git is a subprocess).

    Returns the project-version problem, if any, for a warning gate.
    """
    from ..project import environment_facts, git_facts, project_facts

    if "facts" not in state.extra:
        project, problem = project_facts(state.settings.rootdir)
        state.extra["facts"] = {
            "run_id": new_run_id(),  # once per run: the provisional and the final verdict share it
            "project": project,
            "environment": environment_facts(),
            "git": git_facts(state.settings.rootdir),
        }
        state.extra["project_problem"] = problem
    problem = state.extra.get("project_problem")
    return problem if isinstance(problem, str) else None


def write(path: Path, doc: dict[str, Any]) -> None:
    atomic.write_json(path, doc)


def load(path: Path) -> dict[str, Any]:
    """Read and validate a verdict file. ``FileNotFoundError`` passes through."""
    data = atomic.read_json(path, what="verdict file")
    validate(data, path)
    return data  # type: ignore[no-any-return]


def validate(data: Any, path: Path) -> None:
    if not isinstance(data, dict):
        raise UsageError(f"{path}: verdict file must be a JSON object")
    schema = data.get("schema")
    m = _SCHEMA_RE.match(schema) if isinstance(schema, str) else None
    if m is None:
        raise UsageError(f"{path}: not a pytest-release-gates verdict (schema {schema!r})")
    if int(m.group(1)) > 1:
        raise UsageError(
            f"{path}: verdict schema {schema!r} is newer than this version reads ({SCHEMA!r}): "
            "upgrade pytest-release-gates"
        )
    try:
        Level.parse(str(data.get("verdict")))
    except ValueError:
        raise UsageError(f"{path}: 'verdict' must be deploy, hold or rollback, got {data.get('verdict')!r}") from None
    if not isinstance(data.get("reasons", []), list):
        raise UsageError(f"{path}: 'reasons' must be a list")
    gates = data.get("gates", [])
    if not isinstance(gates, list):
        raise UsageError(f"{path}: 'gates' must be a list")
    for i, g in enumerate(gates):
        try:
            GateResult.from_json(g)
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise UsageError(f"{path}: gates[{i}] is not a valid gate ({exc})") from None
    tests = data.get("tests", {})
    if not isinstance(tests, dict) or not all(
        isinstance(tests.get(k, 0), int) and not isinstance(tests.get(k, 0), bool) for k in COUNT_FIELDS
    ):
        raise UsageError(f"{path}: 'tests' must map {', '.join(COUNT_FIELDS)} to whole numbers")
    if "complete" in data and not isinstance(data["complete"], bool):
        raise UsageError(f"{path}: 'complete' must be true or false")


def failing(gates: Sequence[GateResult]) -> list[GateResult]:
    return [g for g in gates if g.status is not Status.PASS]
