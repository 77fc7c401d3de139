"""``postgresql://...``: the run history of a CI fleet in a PostgreSQL server, through psycopg 3.

Nothing may block a run for long: connecting waits at most ``history_timeout``
(libpq waits forever by default; its minimum is 2 s), and every statement and
lock wait of the session is capped by the same timeout. Many jobs write at
once: each run is one short transaction (the run row, its failures and, for a
pipeline, its links), ``run_id`` is unique so a retried write adds nothing,
and retention runs in its own transaction under a per-project advisory lock
taken with ``pg_try_advisory_xact_lock``: a writer that does not get it skips
retention instead of waiting.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final, final

from . import schema
from .base import PRUNE_EVERY, Entry, StoreError
from .sql import RUN_COLUMNS, Row, SqlStore
from .url import StoreURL

if TYPE_CHECKING:
    import psycopg

#: Advisory lock keys (first half of the two-int form: "RG" and a number).
_SCHEMA_LOCK: Final = 1380384001
_PRUNE_LOCK: Final = 1380384002
INSTALL_HINT: Final = "pip install 'pytest-release-gates[postgres]'"


@final
class PostgresStore(SqlStore):
    dialect: ClassVar[str] = "postgresql"
    _RUN_PLACEHOLDERS: ClassVar[str] = SqlStore._RUN_PLACEHOLDERS[: -len("%s")] + "%s::jsonb"

    def __init__(self, url: StoreURL, timeout: float, prune_every: float = PRUNE_EVERY) -> None:
        super().__init__(url, timeout, prune_every)
        try:
            import psycopg
        except ImportError:
            raise StoreError(
                f"history_url is a PostgreSQL URL ({url.label}) but psycopg is not installed: {INSTALL_HINT}"
            ) from None
        self._psycopg = psycopg
        self.conn: psycopg.Connection[Any] | None = None
        try:
            with self._guard(None):
                self.conn = psycopg.connect(
                    url.raw,
                    autocommit=True,
                    connect_timeout=max(2, math.ceil(timeout)),
                    application_name="pytest-release-gates",
                )
                ms = str(max(1, int(timeout * 1000)))
                self.conn.execute(
                    "SELECT set_config('statement_timeout', %s, false), set_config('lock_timeout', %s, false), "
                    "set_config('idle_in_transaction_session_timeout', %s, false)",
                    [ms, ms, str(max(1, int(timeout * 4000)))],
                )
                self._ensure_schema()
        except BaseException:
            self.close()
            raise

    def _version(self) -> int | None:
        row = self._execute("SELECT to_regclass(%s) IS NOT NULL", [schema.TABLE]).fetchone()
        if not row or not row[0]:
            return None
        row = self._execute(f"SELECT max(version) FROM {schema.TABLE}").fetchone()
        return int(row[0] or 0) if row else 0

    def _lock_schema(self) -> None:
        self._execute(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})")  # one migrator; the others wait here

    # ------------------------------------------------------- dialect hooks

    def _errors(self) -> tuple[type[BaseException], ...]:
        return (self._psycopg.Error,)

    def _conn(self) -> psycopg.Connection[Any]:
        if self.conn is None:
            raise StoreError(f"history store {self.label}: closed")
        return self.conn

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._conn().execute(sql, list(params) or None)

    def _executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._conn().cursor() as cur:
            cur.executemany(sql, [list(r) for r in rows])

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        with self._conn().transaction():
            yield

    def _in(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        return f"{column} = ANY(%s)", [list(values)]

    def _insert_run(self, row: Row) -> int | None:
        got = self._execute(
            f"INSERT INTO release_gates_runs ({RUN_COLUMNS}) VALUES ({self._RUN_PLACEHOLDERS}) "
            "ON CONFLICT (run_id) DO NOTHING RETURNING pk", self._run_values(row)).fetchone()
        return int(got[0]) if got else None

    def _insert_failures(self, pk: int, tests: Sequence[str]) -> None:
        self._execute(
            "INSERT INTO release_gates_failures (run_pk, test, project, branch, at, counted) "
            "SELECT r.pk, t.test, r.project, r.branch, r.at, r.counted "
            "FROM release_gates_runs r, unnest(%s::text[]) AS t(test) WHERE r.pk = %s ON CONFLICT DO NOTHING",
            [list(tests), pk])

    def _try_prune_lock(self, project: str) -> bool:
        row = self._execute(f"SELECT pg_try_advisory_xact_lock({_PRUNE_LOCK}, hashtext(%s))", [project]).fetchone()
        return bool(row and row[0])

    def _sample(self, where: str, params: list[Any], indices: list[int]) -> list[Entry]:
        rows = self._execute(
            f"WITH numbered AS (SELECT pk, row_number() OVER (ORDER BY at, pk) - 1 AS i FROM release_gates_runs "
            f"WHERE {where}) SELECT r.doc FROM numbered n JOIN release_gates_runs r ON r.pk = n.pk "
            "WHERE n.i = ANY(%s) ORDER BY n.i", [*params, indices]).fetchall()
        return [self._doc(r[0]) for r in rows]

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
            self.conn = None
