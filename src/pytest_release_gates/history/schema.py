"""Tables of a database store, and the migrations that create them.

``release_gates_schema`` lists the versions applied; the plugin creates or
migrates the tables itself (one connection at a time: an advisory lock in
PostgreSQL, the write lock in SQLite). A database whose schema is newer than
this plugin knows is refused with one line and never written to.

- ``release_gates_runs``: one row per run; scalar columns for the filters
  (project, branch, role, time, verdict, commit, CI job and pipeline, shard)
  and the whole entry as JSON in ``doc``. ``counted`` is false for a shard row
  that a pipeline row stands for.
- ``release_gates_failures``: one row per failed (or rerun) test of a run,
  with the run's project, branch, time and ``counted``: the flaky gate's read
  touches only failures, never every run's document.
- ``release_gates_links``: shard run_id -> the pipeline run that merged it
  (either may arrive first, e.g. through ``release-gate history import``).
- ``release_gates_prune``: when retention last ran per project.
"""

from __future__ import annotations

from typing import Final

from .base import StoreError

VERSION: Final = 1
TABLE: Final = "release_gates_schema"

_COMMON: Final = (
    "CREATE TABLE release_gates_runs ("
    " pk {serial} PRIMARY KEY,"
    " run_id TEXT NOT NULL UNIQUE,"
    " project TEXT NOT NULL,"
    " branch TEXT NOT NULL,"
    " role TEXT NOT NULL,"
    " at DOUBLE PRECISION NOT NULL,"
    " verdict TEXT NOT NULL,"
    " commit_id TEXT NOT NULL,"
    " job TEXT NOT NULL,"
    " pipeline TEXT NOT NULL,"
    " shard_index INTEGER,"
    " shard_count INTEGER,"
    " counted BOOLEAN NOT NULL,"
    " doc {json} NOT NULL)",
    "CREATE INDEX release_gates_runs_project_at ON release_gates_runs (project, at)",
    "CREATE INDEX release_gates_runs_project_branch_at ON release_gates_runs (project, branch, at)",
    "CREATE TABLE release_gates_failures ("
    " run_pk {bigint} NOT NULL REFERENCES release_gates_runs (pk) ON DELETE CASCADE,"
    " test TEXT NOT NULL,"
    " project TEXT NOT NULL,"
    " branch TEXT NOT NULL,"
    " at DOUBLE PRECISION NOT NULL,"
    " counted BOOLEAN NOT NULL,"
    " PRIMARY KEY (run_pk, test))",
    "CREATE INDEX release_gates_failures_project_at ON release_gates_failures (project, at)",
    "CREATE TABLE release_gates_links (shard_run_id TEXT PRIMARY KEY, pipeline_run_id TEXT NOT NULL)",
    "CREATE TABLE release_gates_prune (project TEXT PRIMARY KEY, pruned_at DOUBLE PRECISION NOT NULL)",
)

#: version -> statements, per dialect. A new version appends; applied versions are never edited.
MIGRATIONS: Final[dict[str, dict[int, tuple[str, ...]]]] = {
    "postgresql": {1: tuple(s.format(serial="BIGSERIAL", json="JSONB", bigint="BIGINT") for s in _COMMON)},
    "sqlite": {1: tuple(s.format(serial="INTEGER", json="TEXT", bigint="INTEGER") for s in _COMMON)},
}


def check(found: int, label: str) -> None:
    """Refuse a schema newer than this plugin knows: one line, and the store stays as it is."""
    if found > VERSION:
        raise StoreError(
            f"history store {label} has schema version {found}, newer than this plugin knows ({VERSION}): "
            "upgrade pytest-release-gates (the store was left as it is)"
        )


def pending(dialect: str, found: int) -> list[tuple[int, tuple[str, ...]]]:
    return sorted((v, stmts) for v, stmts in MIGRATIONS[dialect].items() if v > found)
