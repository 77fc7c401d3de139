"""This run's history: the entry it leaves, and what the flaky gate, trends and report read back.

Where the entries live is the store's business (``history_url``: the local
``.release-gates/history.jsonl``, SQLite or PostgreSQL, see
``pytest_release_gates.history``); this module builds the run's entry from
the verdict document, masks it, and goes through the store interface only.
The store is opened once per run, at the end of it (before the verdict is
decided, so that a store that cannot be reached is known in time to hold when
``history_required``), read before this run's entry is added, and written in
the report hook. A store that cannot be reached costs one line; the entry is
kept in the local file for ``release-gate history import``.
"""

from __future__ import annotations

import datetime as dt
import math
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, final

from .. import redact
from ..model import RUN as RUN_KIND
from ..model import GateResult, Level, Status
from . import Entry, FailureCounts, Overview, Scope, Store, StoreError, open_store
from . import url as history_url
from .base import RUN, SHARD, VERSION
from .identity import Identity, detect
from .jsonl import JsonlStore

if TYPE_CHECKING:
    from ..config import Settings
    from ..session import GateContext

__all__ = ["Entry", "Overview", "RunHistory", "build_entry", "entry_of", "for_run", "mask_entry"]

#: Failing gates kept per entry: enough to tell why, small enough for 200 runs x 5,000 tests.
MAX_FAILING_GATES: Final = 50
MAX_FAILED_TESTS: Final = 2000
IMPORT_HINT: Final = "`release-gate history import` moves it to the store"


def branches_for(setting: str | tuple[str, ...], identity: Identity) -> tuple[str, ...] | None:
    """``history_branches`` as the branches to read (None: all). An unknown current branch reads as ``""``."""
    if setting == "all":
        return None
    if setting == "current+default":
        return tuple(dict.fromkeys((identity.branch, *identity.default_branches)))
    return tuple(setting)


@final
class RunHistory:
    """This run's view of the history store: opened once, within ``history_timeout``, never raising."""

    __slots__ = ("_opened", "_store", "error", "identity", "project", "scope", "settings", "url", "written")

    def __init__(self, settings: Settings, project: str, identity: Identity) -> None:
        self.settings = settings
        self.url = history_url.parse(settings.history_url, settings.rootdir)  # validated with the config
        self.project = project
        self.identity = identity
        shared = self.url.shared
        self.scope = Scope(project, branches_for(settings.history_branches, identity)) if shared else Scope()
        self._store: Store | None = None
        self._opened = False
        #: Why the store could not be used (one line, no password), or None.
        self.error: str | None = None
        self.written = False

    @property
    def local_path(self) -> Path:
        return Path(self.settings.rootdir) / history_url.LOCAL_FILE

    def store(self) -> Store | None:
        if not self._opened:
            self._opened = True
            try:
                self._store = open_store(self.url, timeout=self.settings.history_timeout)
            except StoreError as exc:
                self.error = str(exc)
        return self._store

    def _fail(self, exc: StoreError) -> None:
        self.error = self.error or str(exc)
        if self._store is not None:
            self._store.close()
        self._store = None

    def failures(self, *, last_runs: int | None = None, since: float | None = None) -> FailureCounts:
        """Failures per test before this run (none when the store cannot be read: the status gate says so)."""
        store = self.store()
        if store is not None:
            try:
                return store.failures(self.scope, last_runs=last_runs, since=since)
            except StoreError as exc:
                self._fail(exc)
        return FailureCounts(0, {})

    def warnings(self) -> list[str]:
        """Problems of the local file (skipped lines), for the summary."""
        return self._store.history().warnings() if isinstance(self._store, JsonlStore) else []

    def status_gate(self) -> GateResult | None:
        """A ``run`` gate about a shared store: reachable (pass), or not (warn, or hold with history_required)."""
        if not self.url.shared:
            return None
        self.store()
        if self.error is None:
            return GateResult(RUN_KIND, "history", Status.PASS, Level.HOLD, f"{self.url.label} reachable")
        status = Status.FAIL if self.settings.history_required else Status.WARN
        error = self.error.removeprefix("history store ")  # the subject says "history" already
        return GateResult(RUN_KIND, "history", status, Level.HOLD,
                          f"{error}; this run's entry is kept in {self.local_path} ({IMPORT_HINT})")

    def record(self, entry: Entry) -> str | None:
        """Write this run's entry; on failure keep it in the local file. Returns a line for the summary, or None."""
        s = self.settings
        store = self.store()
        problem = None
        if store is not None:
            try:
                store.append(entry, max_runs=s.history_max_runs, max_days=s.history_max_days)
                self.written = True
                return None
            except StoreError as exc:
                problem = str(exc)
                self._fail(exc)
        if not self.url.shared:
            return f"WARNING: run history not written: {problem}"
        try:
            JsonlStore(self.local_path).append(entry, max_runs=s.history_max_runs, max_days=s.history_max_days)
        except StoreError as exc:
            return f"WARNING: run history not written: {problem or self.error}; not kept locally either: {exc}"
        if problem is None:  # unreachable since the start: the status gate said so already
            return None
        return f"WARNING: {problem}; this run's entry was kept in {self.local_path} ({IMPORT_HINT})"

    def recent(self, n: int, entry: Entry) -> list[Entry]:
        """The newest ``n`` entries, this run's last (from memory when it could not be written)."""
        store = self._store
        if store is not None:
            try:
                if self.written:
                    return store.recent(self.scope, n)
                return [*store.recent(self.scope, n - 1), entry]
            except StoreError as exc:
                self._fail(exc)
        return [entry]

    def overview(self, entry: Entry) -> Overview:
        """Totals and a sample of the history for the HTML report, this run included."""
        store = self._store
        if store is not None:
            try:
                view = store.overview(self.scope)
                if not self.written:
                    view.entries.append(entry)
                    view.total += 1
                    v = str(entry.get("verdict"))
                    if v in view.verdict_counts:
                        view.verdict_counts[v] += 1
                return view
            except StoreError as exc:
                self._fail(exc)
        v = str(entry.get("verdict"))
        return Overview(1, {k: int(k == v) for k in ("deploy", "hold", "rollback")}, [entry])

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def for_run(context: GateContext) -> RunHistory:
    """This run's RunHistory (one per run, on the controller)."""
    session = context.session
    run = session.history
    if not isinstance(run, RunHistory):
        facts = session.facts
        project = (facts.project or {}).get("name") if facts is not None else None
        name = project if isinstance(project, str) and project else Path(context.rootdir).resolve().name
        run = session.history = RunHistory(context.settings, _mask(name), detect(context.rootdir))
    return run


# ------------------------------------------------------------------ entries


def failed_tests(context: GateContext, reruns: Iterable[str] = ()) -> list[str]:
    """Tests that failed or errored this run, or needed a rerun (pytest-rerunfailures)."""
    out = {rec.nodeid for rec in context.iter_records() if rec.outcome in ("failed", "error")}
    out.update(reruns)
    return sorted(out)


def build_entry(verdict: Mapping[str, Any], context: GateContext, *, reruns: Iterable[str] = (),
                metrics: Mapping[str, Mapping[str, Any]] | None = None, now: float | None = None) -> dict[str, Any]:
    """One compact history entry for this run, from the verdict document (never re-derived), masked.

    ``metrics``: the median of each tracked metric (``report.adapters.metric_medians``: the history
    is core and does not read measurements itself)."""
    git = verdict.get("git") or {}
    run = for_run(context)
    ident = run.identity
    shard = _shard(verdict.get("shard"), ident)
    return entry_of(verdict, now=now, **{
        "failed": failed_tests(context, reruns)[:MAX_FAILED_TESTS],
        "metrics": dict(metrics or {}),
        "run_id": verdict.get("run_id") if isinstance(verdict.get("run_id"), str) else uuid.uuid4().hex,
        "project": run.project,
        "branch": ident.branch or (git.get("branch") if isinstance(git, dict) else None),
        "role": SHARD if shard else RUN,
        "shard": shard,
        "job": ident.job,
        "pipeline": ident.pipeline,
    })


def entry_of(verdict: Mapping[str, Any], *, now: float | None = None, **more: Any) -> dict[str, Any]:
    """A history entry: the verdict's own fields, then ``more``; empty values left out, strings masked."""
    failing = [g for g in verdict.get("gates", ()) if g.get("status") == Status.FAIL.value]
    git = verdict.get("git") or {}
    entry: dict[str, Any] = {
        "v": VERSION,
        "time": round(time.time() if now is None else now, 3),
        "verdict": verdict.get("verdict"),
        "created": verdict.get("created"),
        "complete": bool(verdict.get("complete", True)),
        "partial": (verdict.get("run") or {}).get("partial"),
        "tests": verdict.get("tests", {}),
        "duration_s": verdict.get("duration_s"),
        "commit": git.get("commit") if isinstance(git, dict) else None,
        "dirty": git.get("dirty") if isinstance(git, dict) else None,
        "failing": [[g.get("kind"), g.get("subject"), g.get("level")] for g in failing[:MAX_FAILING_GATES]],
        **more,
    }
    if len(failing) > MAX_FAILING_GATES:
        entry["failing_more"] = len(failing) - MAX_FAILING_GATES
    masked: dict[str, Any] = mask_entry({k: v for k, v in entry.items()
                                         if v not in (None, [], {}, "") or k == "verdict"})
    return masked


def _shard(value: Any, identity: Identity) -> dict[str, int] | None:
    """The verdict's ``shard`` (``--gate-shard=I/N``), else the CI's (GitLab ``parallel``)."""
    if isinstance(value, dict):
        index, count = value.get("index"), value.get("count")
        if isinstance(index, int) and isinstance(count, int) and not isinstance(index, bool) \
                and not isinstance(count, bool):
            return {"index": index, "count": count}
    if identity.shard is not None:
        return {"index": identity.shard[0], "count": identity.shard[1]}
    return None


_mask = redact.text
#: ``value`` with every string that holds something the ``secrets`` rule flags masked (redact.py).
mask_entry = redact.document


def round6(x: float) -> float:
    """Six significant digits: plenty for a trend, half the bytes of a full repr."""
    return float(f"{x:.6g}") if math.isfinite(x) else 0.0


# ------------------------------------------------------------------ reading back


def series(entries: Iterable[Mapping[str, Any]], key: str) -> list[tuple[float, float]]:
    """(time, median) of one tracked metric over the history, oldest first."""
    out = []
    for e in entries:
        m = e.get("metrics")
        if not isinstance(m, dict):
            continue
        info = m.get(key)
        value = info.get("m") if isinstance(info, dict) else info
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out.append((float(e["time"]), float(value)))
    return out


def all_series(entries: Iterable[Mapping[str, Any]]) -> dict[str, list[tuple[float, float]]]:
    """Every tracked metric's (time, median) points in one pass over the history."""
    out: dict[str, list[tuple[float, float]]] = {}
    for e in entries:
        m = e.get("metrics")
        if not isinstance(m, dict):
            continue
        t = float(e["time"])
        for key, info in m.items():
            value = info.get("m") if isinstance(info, dict) else info
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                out.setdefault(key, []).append((t, float(value)))
    return out


def when(entry: Mapping[str, Any]) -> str:
    return dt.datetime.fromtimestamp(float(entry["time"]), dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
