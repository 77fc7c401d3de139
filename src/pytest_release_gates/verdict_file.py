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

from . import atomic, redact
from .model import COUNT_FIELDS, Decision, GateResult, RunFacts, UsageError

if TYPE_CHECKING:
    import pytest

    from .session import GateContext, GateSession

SCHEMA: Final = "pytest-release-gates/verdict/1"
_SCHEMA_RE: Final = re.compile(r"^pytest-release-gates/verdict/(\d+)$")
#: The reason of the provisional verdict written at session start (``release-gate status`` says no more).
PROVISIONAL_REASON: Final = "the run did not finish: this is the provisional verdict written when it started"


def build(
    config: pytest.Config,
    state: GateSession,
    context: GateContext | None,
    gates: Sequence[GateResult],
    decision: Decision,
    *,
    complete: bool,
) -> dict[str, Any]:
    from . import selection  # imports pytest: `release-gate` reads verdicts without it

    settings = state.settings
    facts = ensure_facts(state)
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "verdict": str(decision.level),
        "complete": complete,
        "run_id": facts.run_id,
        "reasons": list(decision.reasons),
        "gates": [g.to_json() for g in gates],
        "tests": state.counts().to_json(),
        "project": facts.project,
        "created": dt.datetime.fromtimestamp(state.started, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "duration_s": round(time.time() - state.started, 3),
        "environment": facts.environment,
        "git": facts.git,
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
    return redact.document(doc)  # secrets masked once, before the file, the adapters and the history see it


def new_run_id() -> str:
    """A unique id of one run: ``release-gate merge`` refuses the same run twice."""
    return uuid.uuid4().hex


def ensure_facts(state: GateSession) -> RunFacts:
    """Compute the run id and project/environment/git facts once per run (git is a subprocess)."""
    from .project import environment_facts, git_facts, project_facts

    if state.facts is None:
        project, problem = project_facts(state.settings.rootdir)
        state.facts = RunFacts(
            run_id=new_run_id(),  # once per run: the provisional and the final verdict share it
            project=project,
            environment=environment_facts(),
            git=git_facts(state.settings.rootdir),
            problem=problem,
        )
    return state.facts


def write(path: Path, doc: dict[str, Any]) -> None:
    atomic.write_json(path, doc)


def load(path: Path) -> dict[str, Any]:
    """Read and validate a verdict file. ``FileNotFoundError`` passes through."""
    data = atomic.read_json(path, what="verdict file")
    validate(data, path)
    return data  # type: ignore[no-any-return]


_LEVELS: Final = ("deploy", "hold", "rollback")
_STATUSES: Final = ("pass", "warn", "fail")
#: Fields a verdict cannot do without (SPEC: one without ``complete``, ``tests`` or ``gates`` is invalid).
REQUIRED: Final = ("verdict", "complete", "gates", "tests")


def validate(data: object, path: Path) -> None:
    """Raise ``UsageError`` naming the file and the first bad field.

    Strict on purpose: ``status`` turns this file into a deploy decision, so a
    hand-written ``{"schema": ..., "verdict": "deploy"}`` must not pass.
    """
    if not isinstance(data, dict):
        raise UsageError(f"{path}: verdict file must be a JSON object")
    schema = data.get("schema")
    m = _SCHEMA_RE.match(schema) if isinstance(schema, str) else None
    if m is None:
        raise UsageError(f"{path}: not a pytest-release-gates verdict (schema {_short(schema)})")
    if int(m.group(1)) > 1:
        raise UsageError(
            f"{path}: verdict schema {schema!r} is newer than this version reads ({SCHEMA!r}): "
            "upgrade pytest-release-gates"
        )
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise UsageError(f"{path}: invalid verdict: {missing[0]!r} is missing")
    if data["verdict"] not in _LEVELS:
        raise UsageError(f"{path}: 'verdict' must be deploy, hold or rollback, got {_short(data['verdict'])}")
    if not isinstance(data["complete"], bool):
        raise UsageError(f"{path}: 'complete' must be true or false, got {_short(data['complete'])}")
    reasons = data.get("reasons", [])
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        raise UsageError(f"{path}: 'reasons' must be a list of strings")
    gates = data["gates"]
    if not isinstance(gates, list):
        raise UsageError(f"{path}: 'gates' must be a list")
    for i, g in enumerate(gates):
        problem = _gate_problem(g)
        if problem:
            raise UsageError(f"{path}: gates[{i}] is not a valid gate ({problem})")
    tests = data["tests"]
    if not isinstance(tests, dict):
        raise UsageError(f"{path}: 'tests' must map {', '.join(COUNT_FIELDS)} to whole numbers")
    for k in COUNT_FIELDS:
        v = tests.get(k, 0)
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise UsageError(f"{path}: 'tests.{k}' must be a whole number of at least 0, got {_short(v)}")


def _gate_problem(g: object) -> str | None:
    if not isinstance(g, dict):
        return f"expected an object, got {_short(g)}"
    if not isinstance(g.get("kind"), str) or not g["kind"]:
        return f"'kind' must be a non-empty string, got {_short(g.get('kind'))}"
    if g.get("status") not in _STATUSES:
        return f"'status' must be pass, warn or fail, got {_short(g.get('status'))}"
    if g.get("level", "hold") not in _LEVELS:
        return f"'level' must be deploy, hold or rollback, got {_short(g.get('level'))}"
    for key in ("subject", "message"):
        if not isinstance(g.get(key, ""), str):
            return f"{key!r} must be a string, got {_short(g[key])}"
    if not isinstance(g.get("metric", ""), (str, type(None))):
        return f"'metric' must be a string, got {_short(g['metric'])}"
    for key in ("value", "limit"):
        v = g.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            return f"{key!r} must be a number, got {_short(v)}"
    return None


def _short(value: object) -> str:
    """A value for a one-line message: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
