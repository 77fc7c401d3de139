"""What the SQLite and PostgreSQL stores share: the rows, the queries, the retention.

Each backend supplies its connection, its write transaction and the few
spellings that differ (lists as parameters, ``RETURNING``, sampling); the
queries are written once, with ``%s`` placeholders. Every database error
becomes one ``StoreError`` line with the URL's password scrubbed.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final, final

from . import schema
from .base import (
    PRUNE_EVERY,
    ROLES,
    RUN,
    SAMPLE_KEEP_LAST,
    SAMPLE_MAX,
    Entry,
    FailureCounts,
    Imported,
    Overview,
    Scope,
    StoreError,
    dumps,
    failed_of,
    ordered,
    prune_due,
    run_key,
    sample_indices,
    shard_position,
    shards_of,
    text,
    verdict_counts,
)
from .url import StoreURL

#: Entries per transaction when importing a file.
IMPORT_BATCH: Final = 200
RUN_COLUMNS: Final = ("run_id, project, branch, role, at, verdict, commit_id, job, pipeline, shard_index, "
                       "shard_count, counted, doc")


@final
@dataclass(frozen=True, slots=True)
class Row:
    """An entry as the columns of ``release_gates_runs`` (plus its failures and, for a pipeline, its shards)."""

    run_id: str
    project: str
    branch: str
    role: str
    at: float
    verdict: str
    commit_id: str
    job: str
    pipeline: str
    shard_index: int | None
    shard_count: int | None
    failed: tuple[str, ...]
    shards: tuple[str, ...]
    doc: str

    @classmethod
    def of(cls, entry: Entry) -> Row:
        key = run_key(entry)
        role = entry.get("role")
        index, count = shard_position(entry)
        return cls(
            run_id=key,
            project=text(entry, "project"),
            branch=text(entry, "branch"),
            role=role if role in ROLES else RUN,
            at=float(entry["time"]),
            verdict=text(entry, "verdict"),
            commit_id=text(entry, "commit"),
            job=text(entry, "job"),
            pipeline=text(entry, "pipeline"),
            shard_index=index,
            shard_count=count,
            failed=tuple(failed_of(entry)),
            shards=tuple(shards_of(entry)),
            # The key goes into the document, so an export imports back as the same run.
            doc=dumps({**entry, "run_id": key}),
        )


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class SqlStore:
    """A database store; subclasses connect and supply the dialect's spellings."""

    dialect: ClassVar[str]
    #: SQL between ``ORDER BY`` and ``OFFSET`` for "all the rest" (SQLite needs a LIMIT before OFFSET).
    _ALL_ROWS: ClassVar[str] = ""

    def __init__(self, url: StoreURL, timeout: float, prune_every: float = PRUNE_EVERY) -> None:
        self.url = url
        self.timeout = timeout
        self.prune_every = prune_every

    @property
    def label(self) -> str:
        return self.url.label

    # ------------------------------------------------------- dialect hooks

    def _errors(self) -> tuple[type[BaseException], ...]:
        raise NotImplementedError

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        raise NotImplementedError

    def _executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        raise NotImplementedError

    def _write(self) -> contextlib.AbstractContextManager[None]:
        """A write transaction (SQLite: the database's write lock, taken at BEGIN)."""
        raise NotImplementedError

    def _in(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        raise NotImplementedError

    def _insert_run(self, row: Row) -> int | None:
        """Insert the run; its pk, or None when a run with that run_id is there already."""
        raise NotImplementedError

    def _insert_failures(self, pk: int, tests: Sequence[str]) -> None:
        raise NotImplementedError

    def _try_prune_lock(self, project: str) -> bool:
        raise NotImplementedError

    def _sample(self, where: str, params: list[Any], indices: list[int]) -> list[Entry]:
        raise NotImplementedError

    def _doc(self, value: Any) -> Entry:
        data = json.loads(value) if isinstance(value, (str, bytes)) else value
        if not isinstance(data, dict):
            raise StoreError(f"history store {self.label}: a row's document is not a JSON object")
        return ordered(data)

    def close(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------- errors

    @contextlib.contextmanager
    def _guard(self, what: str | None) -> Iterator[None]:
        """Database errors as one StoreError line; ``what`` None: the driver's text says it all (connecting)."""
        errors: tuple[type[BaseException], ...] = (*self._errors(), OSError)
        try:
            yield
        except StoreError:
            raise
        except errors as exc:
            doing = f"{what} failed: " if what else ""
            raise StoreError(self.url.scrub(f"history store {self.label}: {doing}{one_line(exc)}")) from None

    # ------------------------------------------------------------- writing

    def _insert(self, row: Row) -> bool:
        """Insert one run inside a write transaction; False when it was there already."""
        pk = self._insert_run(row)
        if pk is None:
            return False
        if row.failed:
            self._insert_failures(pk, row.failed)
        if row.shards:
            self._executemany(
                "INSERT INTO release_gates_links (shard_run_id, pipeline_run_id) VALUES (%s, %s) "
                "ON CONFLICT (shard_run_id) DO NOTHING",
                [(s, row.run_id) for s in row.shards],
            )
            cond, params = self._in("run_id", row.shards)
            self._execute(f"UPDATE release_gates_runs SET counted = %s WHERE {cond} AND counted", [False, *params])
            self._execute(
                f"UPDATE release_gates_failures SET counted = %s WHERE counted AND run_pk IN "
                f"(SELECT pk FROM release_gates_runs WHERE {cond})", [False, *params])
        return True

    def _run_values(self, row: Row) -> list[Any]:
        return [row.run_id, row.project, row.branch, row.role, row.at, row.verdict, row.commit_id, row.job,
                row.pipeline, row.shard_index, row.shard_count, row.run_id, row.doc]

    #: Values of ``RUN_COLUMNS``; ``counted`` is false when a pipeline that merged this run is in already.
    _RUN_PLACEHOLDERS: ClassVar[str] = ("%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
                                        "NOT EXISTS (SELECT 1 FROM release_gates_links WHERE shard_run_id = %s), %s")

    def append(self, entry: Entry, *, max_runs: int, max_days: float) -> None:
        row = Row.of(entry)
        with self._guard("writing this run"), self._write():
            self._insert(row)
        # The run is stored; retention that fails now (a lock wait past the timeout) is left to the next writer.
        with contextlib.suppress(StoreError), self._guard("retention"):
            self.prune(row.project, max_runs=max_runs, max_days=max_days)

    def prune(self, project: str, *, max_runs: int, max_days: float, now: float | None = None,
              force: bool = False) -> int:
        """Apply retention to one project, when due and no other writer is at it; returns runs deleted."""
        now = time.time() if now is None else now
        if not force and not self._prune_due(project, now):  # the common case: one read, no transaction
            return 0
        with self._write():
            if not self._try_prune_lock(project):
                return 0  # another writer is at it
            if not force and not self._prune_due(project, now):  # ...or was, a moment ago
                return 0
            doomed = self._execute(
                "SELECT pk, run_id FROM release_gates_runs WHERE project = %s AND (at < %s OR pk IN "
                f"(SELECT pk FROM release_gates_runs WHERE project = %s ORDER BY at DESC, pk DESC {self._ALL_ROWS} "
                "OFFSET %s))",
                [project, now - max_days * 86400.0, project, max_runs],
            ).fetchall()
            for part in _chunks([int(r[0]) for r in doomed], 500):
                cond, params = self._in("run_pk", part)
                self._execute(f"DELETE FROM release_gates_failures WHERE {cond}", params)
                cond, params = self._in("pk", part)
                self._execute(f"DELETE FROM release_gates_runs WHERE {cond}", params)
            for part in _chunks([str(r[1]) for r in doomed], 500):
                cond, params = self._in("shard_run_id", part)
                cond2, params2 = self._in("pipeline_run_id", part)
                self._execute(f"DELETE FROM release_gates_links WHERE {cond} OR {cond2}", [*params, *params2])
            self._execute(
                "INSERT INTO release_gates_prune (project, pruned_at) VALUES (%s, %s) "
                "ON CONFLICT (project) DO UPDATE SET pruned_at = excluded.pruned_at",
                [project, now],
            )
            return len(doomed)

    def _prune_due(self, project: str, now: float) -> bool:
        last = self._execute("SELECT pruned_at FROM release_gates_prune WHERE project = %s", [project]).fetchone()
        return prune_due(None if last is None else float(last[0]), now, self.prune_every)

    def import_entries(self, entries: Iterable[Entry]) -> Imported:
        added = present = 0
        batch: list[Row] = []

        def flush() -> None:
            nonlocal added, present
            with self._guard("importing"), self._write():
                for row in batch:
                    if self._insert(row):
                        added += 1
                    else:
                        present += 1
            batch.clear()

        for entry in entries:
            batch.append(Row.of(entry))
            if len(batch) >= IMPORT_BATCH:
                flush()
        if batch:
            flush()
        return Imported(added, present)

    # ------------------------------------------------------------- reading

    def _scope(self, scope: Scope) -> tuple[str, list[Any]]:
        """WHERE clause over ``release_gates_runs`` or ``release_gates_failures`` (same column names)."""
        parts, params = ["counted"], []
        if scope.project is not None:
            parts.append("project = %s")
            params.append(scope.project)
        if scope.branches is not None:
            if not scope.branches:
                parts.append("1 = 0")
            else:
                cond, values = self._in("branch", scope.branches)
                parts.append(cond)
                params.extend(values)
        return " AND ".join(parts), params

    def failures(self, scope: Scope, *, last_runs: int | None = None, since: float | None = None) -> FailureCounts:
        where, params = self._scope(scope)
        if since is not None:
            where, params = f"{where} AND at >= %s", [*params, since]
        with self._guard("reading failures"):
            if last_runs is None:
                rows = self._execute(
                    f"SELECT NULL, count(*) FROM release_gates_runs WHERE {where} "
                    f"UNION ALL SELECT test, count(*) FROM release_gates_failures WHERE {where} GROUP BY test",
                    [*params, *params],
                ).fetchall()
            else:
                rows = self._execute(
                    f"WITH recent AS (SELECT pk FROM release_gates_runs WHERE {where} ORDER BY at DESC, pk DESC "
                    "LIMIT %s) SELECT NULL, count(*) FROM recent UNION ALL SELECT test, count(*) FROM "
                    "release_gates_failures WHERE run_pk IN (SELECT pk FROM recent) GROUP BY test",
                    [*params, max(0, last_runs)],
                ).fetchall()
        runs = 0
        counts: dict[str, int] = {}
        for test, n in rows:
            if test is None:
                runs = int(n)
            else:
                counts[str(test)] = int(n)
        return FailureCounts(runs, counts)

    def recent(self, scope: Scope, n: int) -> list[Entry]:
        if n <= 0:
            return []
        where, params = self._scope(scope)
        with self._guard("reading recent runs"):
            rows = self._execute(
                f"SELECT doc FROM release_gates_runs WHERE {where} ORDER BY at DESC, pk DESC LIMIT %s", [*params, n]
            ).fetchall()
            return [self._doc(r[0]) for r in reversed(rows)]

    def overview(self, scope: Scope, max_entries: int = SAMPLE_MAX, keep_last: int = SAMPLE_KEEP_LAST) -> Overview:
        where, params = self._scope(scope)
        with self._guard("reading the run history"):
            pairs = [(str(v), int(n)) for v, n in self._execute(
                f"SELECT verdict, count(*) FROM release_gates_runs WHERE {where} GROUP BY verdict", params
            ).fetchall()]
            total = sum(n for _, n in pairs)
            if total <= max_entries:
                rows = self._execute(
                    f"SELECT doc FROM release_gates_runs WHERE {where} ORDER BY at, pk", params).fetchall()
                entries = [self._doc(r[0]) for r in rows]
            else:
                entries = self._sample(where, params, sample_indices(total, max_entries, keep_last))
        return Overview(total, verdict_counts(pairs), entries)

    def entries(self, run_ids: Iterable[str]) -> list[Entry]:
        out: list[tuple[float, int, Entry]] = []
        with self._guard("reading runs"):
            for part in _chunks(sorted(set(run_ids)), 500):
                cond, params = self._in("run_id", part)
                out.extend((float(at), int(pk), self._doc(doc)) for at, pk, doc in self._execute(
                    f"SELECT at, pk, doc FROM release_gates_runs WHERE {cond}", params).fetchall())
        return [e for _, _, e in sorted(out, key=lambda t: (t[0], t[1]))]

    def export(self) -> Iterator[Entry]:
        with self._guard("exporting"):
            yield from self._export()

    def _export(self) -> Iterator[Entry]:
        for row in self._execute("SELECT doc FROM release_gates_runs ORDER BY at, pk"):
            yield self._doc(row[0])

    # ------------------------------------------------------------- schema

    def _version(self) -> int | None:
        """The newest schema version applied, or None when there is no version table."""
        raise NotImplementedError

    def _lock_schema(self) -> None:
        """Inside the migration's transaction: make it the only one (SQLite: BEGIN IMMEDIATE did)."""

    def _ensure_schema(self) -> None:
        found = self._version()
        if found is not None:
            schema.check(found, self.label)
            if found == schema.VERSION:
                return
        with self._write():
            self._lock_schema()
            self._execute(f"CREATE TABLE IF NOT EXISTS {schema.TABLE} "
                          "(version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)")
            self._migrate(self._version() or 0)

    def _migrate(self, found: int) -> None:
        """Apply the pending migrations (inside the caller's locked transaction)."""
        schema.check(found, self.label)
        for version, statements in schema.pending(self.dialect, found):
            for statement in statements:
                self._execute(statement)
            self._execute(f"INSERT INTO {schema.TABLE} (version, applied_at) VALUES (%s, %s)", [version, time.time()])


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]

