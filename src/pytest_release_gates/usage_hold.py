"""No stale deploy: a ``--release-gate`` run that stops with a usage error (exit 4) leaves a hold.

Without this, a typo in the config after a deploy left that deploy readable,
and ``release-gate status`` said 0 for a run that never happened (SPEC v3,
"Trust rules"). The settings may be the very thing that failed to load, so
the verdict path is found best-effort: ``--gate-verdict``, else
``verdict_file`` from the raw config table (a typo in another key must not
hide it), else the default. Only when that path itself cannot be written is
nothing written. Only the controller writes, never an xdist worker.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path
from typing import Any, Final

import pytest

from . import atomic, verdict_file
from .config import PYPROJECT, STANDALONE, Settings, tomllib
from .model import COUNT_FIELDS, RUN, UsageError
from .session import SESSION_KEY

#: The ``run`` gate subject of a usage-error hold; ``run.usage_error`` marks the document too.
SUBJECT: Final = "usage-error"
_WRITTEN_KEY: Final = pytest.StashKey[str]()


def message_of(exc: BaseException) -> str:
    """The error as one line, as pytest prints it after ``ERROR:`` (several arguments joined)."""
    parts = [str(a).strip() for a in getattr(exc, "args", ()) if str(a).strip()] or [str(exc) or type(exc).__name__]
    return "; ".join(" ".join(p.split()) for p in parts)


def replace_verdict(config: pytest.Config, message: str) -> list[Path]:
    """Replace the verdict file(s) this run would have written with a hold naming ``message``.

    Returns the paths written (none when the run is not ``--release-gate``, on an
    xdist worker, or when no verdict path can be written). Never raises: it runs
    while a usage error is on its way to the user, and must not bury it.
    """
    if not _option(config, "release_gate") or _is_worker(config):
        return []
    if config.stash.get(_WRITTEN_KEY, None) == message:
        return []  # already written for this error (session end, then the command's wrapper)
    try:
        paths = verdict_paths(config)
        doc = document(config, message)
    except Exception:  # best effort on an error path: the usage error itself is what the user must see
        return []
    written = []
    for path in paths:
        try:
            atomic.write_json(path, doc)
        except (UsageError, OSError, ValueError):
            continue  # the verdict path itself is unusable: nothing written there (SPEC)
        written.append(path)
    config.stash[_WRITTEN_KEY] = message
    return written


def verdict_paths(config: pytest.Config) -> list[Path]:
    """Where this run's verdict goes, without needing the settings to have loaded."""
    state = config.stash.get(SESSION_KEY, None)
    if state is not None:
        return [state.settings.verdict_path]
    override = _option(config, "gate_verdict")
    if isinstance(override, str) and override:
        return [Settings(verdict_override=override).verdict_path]
    root = config.rootpath
    found = []
    for table in _raw_tables(root):
        value = table.get("verdict_file")
        if isinstance(value, str) and value:
            path = Settings(rootdir=root, verdict_file=value).verdict_path
            if path not in found:
                found.append(path)
    return found or [Settings(rootdir=root).verdict_path]


def _raw_tables(root: Path) -> list[dict[str, Any]]:
    """The raw config tables that parse as TOML (both, when both files configure the plugin)."""
    tables = []
    for name in (STANDALONE, PYPROJECT):
        try:
            with (root / name).open("rb") as fh:
                data: Any = tomllib.load(fh)
        except (OSError, ValueError):  # missing, unreadable, not TOML (TOMLDecodeError is a ValueError)
            continue
        if name == PYPROJECT:
            tool = data.get("tool")
            data = tool.get("release_gates") if isinstance(tool, dict) else None
        if isinstance(data, dict):
            tables.append(data)
    return tables


def document(config: pytest.Config, message: str) -> dict[str, Any]:
    """A valid verdict (``release-gate status`` reads it): hold, incomplete, one failing ``run`` gate."""
    from .project import environment_facts, git_facts, project_facts

    state = config.stash.get(SESSION_KEY, None)
    root = Path(config.rootpath)
    started = state.started if state is not None else None
    return {
        "schema": verdict_file.SCHEMA,
        "run_id": verdict_file.new_run_id(),  # merge refuses a document without one
        "verdict": "hold",
        "complete": False,
        "reasons": [message],
        "gates": [{"kind": RUN, "subject": SUBJECT, "status": "fail", "level": "hold", "message": message}],
        "tests": dict.fromkeys(COUNT_FIELDS, 0),
        "project": project_facts(root)[0],
        "created": dt.datetime.fromtimestamp(started or time.time(), dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "duration_s": round(time.time() - started, 3) if started else 0.0,
        "environment": environment_facts(),
        "git": git_facts(root),
        "run": {
            "args": [str(a) for a in config.invocation_params.args],
            "rootdir": str(root),
            "exit_status": int(pytest.ExitCode.USAGE_ERROR),
            "usage_error": True,
        },
    }


def _option(config: pytest.Config, dest: str) -> Any:
    """An option's value, also before pytest has parsed the full command line (initial conftests)."""
    value = getattr(config.option, dest, None)
    if value in (None, False):
        value = getattr(getattr(config, "known_args_namespace", None), dest, value)
    return value


def _is_worker(config: pytest.Config) -> bool:
    # ``workerinput`` is set only after xdist's worker has parsed its command line; the variable before.
    return hasattr(config, "workerinput") or bool(os.environ.get("PYTEST_XDIST_WORKER"))
