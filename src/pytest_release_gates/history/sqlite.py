"""``sqlite:///PATH``: the run history in a SQLite database on this machine.

For one machine with many checkouts or jobs (a self-hosted runner, a
developer's box). WAL mode lets readers work while one process writes; every
write takes the database's write lock at ``BEGIN IMMEDIATE`` and waits for it
at most ``history_timeout`` seconds, so retention, like any write, is done by
one writer at a time.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, ClassVar, final

from . import schema
from .base import PRUNE_EVERY, Entry, StoreError
from .sql import RUN_COLUMNS, Row, SqlStore
from .url import StoreURL


@final
class SqliteStore(SqlStore):
    dialect: ClassVar[str] = "sqlite"
    _ALL_ROWS: ClassVar[str] = "LIMIT -1"

    def __init__(self, url: StoreURL, timeout: float, prune_every: float = PRUNE_EVERY) -> None:
        super().__init__(url, timeout, prune_every)
        assert url.path is not None
        self.conn: sqlite3.Connection | None = None
        try:
            with self._guard(None):
                url.path.parent.mkdir(parents=True, exist_ok=True)
                conn = self.conn = sqlite3.connect(str(url.path), timeout=timeout, isolation_level=None,
                                                   check_same_thread=False)
                conn.execute("PRAGMA foreign_keys = ON")
                if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
                self._ensure_schema()
        except BaseException:
            self.close()
            raise

    def _version(self) -> int | None:
        if self._execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = %s", [schema.TABLE]).fetchone():
            row = self._execute(f"SELECT max(version) FROM {schema.TABLE}").fetchone()
            return int(row[0] or 0)
        return None

    # ------------------------------------------------------- dialect hooks

    def _errors(self) -> tuple[type[BaseException], ...]:
        return (sqlite3.Error,)

    def _conn(self) -> sqlite3.Connection:
        if self.conn is None:
            raise StoreError(f"history store {self.label}: closed")
        return self.conn

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._conn().execute(sql.replace("%s", "?"), tuple(params))

    def _executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._conn().executemany(sql.replace("%s", "?"), [tuple(r) for r in rows])

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise

    def _in(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        return f"{column} IN ({', '.join('%s' for _ in values)})", list(values)

    def _insert_run(self, row: Row) -> int | None:
        cur = self._execute(
            f"INSERT INTO release_gates_runs ({RUN_COLUMNS}) VALUES ({self._RUN_PLACEHOLDERS}) "
            "ON CONFLICT (run_id) DO NOTHING", self._run_values(row))
        return int(cur.lastrowid) if cur.rowcount == 1 and cur.lastrowid is not None else None

    def _insert_failures(self, pk: int, tests: Sequence[str]) -> None:
        self._executemany(
            "INSERT INTO release_gates_failures (run_pk, test, project, branch, at, counted) "
            "SELECT pk, %s, project, branch, at, counted FROM release_gates_runs WHERE pk = %s "
            "ON CONFLICT DO NOTHING", [(t, pk) for t in tests])

    def _try_prune_lock(self, project: str) -> bool:
        return True  # BEGIN IMMEDIATE already holds the database's one write lock

    def _sample(self, where: str, params: list[Any], indices: list[int]) -> list[Entry]:
        pks = [int(r[0]) for r in self._execute(
            f"SELECT pk FROM release_gates_runs WHERE {where} ORDER BY at, pk", params).fetchall()]
        wanted = [pks[i] for i in indices if i < len(pks)]
        docs: dict[int, Any] = {}
        for start in range(0, len(wanted), 500):
            cond, values = self._in("pk", wanted[start:start + 500])
            docs.update((int(pk), doc) for pk, doc in
                        self._execute(f"SELECT pk, doc FROM release_gates_runs WHERE {cond}", values).fetchall())
        return [self._doc(docs[pk]) for pk in wanted if pk in docs]

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self.conn.close()
            self.conn = None

