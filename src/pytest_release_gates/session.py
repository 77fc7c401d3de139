"""Run state: what the run observed, held in one object under a StashKey.

Observations are plain JSON values (a gate kind's own dataclass writes them with ``to_json`` and
reads them back with ``from_json``, checking their shape: they cross a process). On the process that runs a test (the
only process without xdist, a worker with it) a gate module files them
against the test with :func:`observe`; the core attaches them to that test's
report as ``report.release_gates`` so they travel with the report to the
controller, where :class:`GateSession` collects them. Session-level data
(not tied to a test) goes through :func:`observe_session` and, under xdist,
``config.workeroutput``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol, final

import pytest

from .config import Settings
from .model import RunFacts, TestCounts
from .spec import Registry

if TYPE_CHECKING:
    from .baseline import Baseline

REPORT_ATTR: Final = "release_gates"
WORKEROUTPUT_KEY: Final = "release_gates"

_item_obs_key: Final = pytest.StashKey[dict[str, list[object]]]()


def observe(item: pytest.Item, kind: str, data: object) -> None:
    """File one observation of ``kind`` for this test (any process).

    Without xdist it goes straight to the run state; on an xdist worker it ships
    with the test's next report (setup, call or teardown). Without
    ``--release-gate`` it is dropped.
    """
    state = item.config.stash.get(SESSION_KEY, None)
    if state is None:
        return
    if state.is_worker:
        item.stash.setdefault(_item_obs_key, {}).setdefault(kind, []).append(data)
    else:
        state.observations[kind].append(Observation(item.nodeid, "", data))


FAILURE_OWNER: Final = "failure_owner"


def own_failure(item: pytest.Item, kind: str) -> None:
    """Say that gate ``kind`` is what failed this test's report (a budget overrun, a timeout).

    The ``tests`` gate then does not list the same failure a second time, unless the
    test's severity asks for another level than the owning gate's.
    """
    observe(item, FAILURE_OWNER, kind)


def take_observations(item: pytest.Item) -> dict[str, list[object]] | None:
    if _item_obs_key not in item.stash:  # not stash.get: a miss raises and catches a KeyError
        return None
    shipped = item.stash[_item_obs_key]
    del item.stash[_item_obs_key]
    return shipped


def observe_session(config: pytest.Config, kind: str, data: object) -> None:
    """File a session-level observation (not tied to a test)."""
    state = config.stash.get(SESSION_KEY, None)
    if state is not None:
        state.session_observations[kind].append(data)


@final
@dataclass(frozen=True, slots=True)
class Observation:
    """One observation as the controller received it: ``data`` is whatever JSON value arrived."""

    nodeid: str
    when: str
    data: object


@final
@dataclass(slots=True)
class TestRecord:
    """The outcome of one test as the controller saw it."""

    __test__ = False

    nodeid: str
    outcome: str = "pending"  # passed, failed, error, skipped, xfailed, xpassed
    when: str = "setup"
    duration: float | None = None  # call phase, seconds
    message: str = ""
    timed_out: bool = False


@final
@dataclass(slots=True)
class Outcome:
    """What the end of the run leaves for the terminal summary: the verdict, or the error that replaced it."""

    verdict: dict[str, Any] | None = None
    error: str | None = None
    context: GateContext | None = None
    warnings: list[str] = field(default_factory=list)  # output problems (step summary, adapters)

    @property
    def messages(self) -> list[str]:
        """Lines printed under the gates: what the gates said, then the output problems."""
        return [*(self.context.messages if self.context is not None else ()), *self.warnings]


class Decider(Protocol):
    """A gate that decides some metrics for another gate (the A/B gate, for the regression gate)."""

    def decided(self, context: GateContext) -> frozenset[str]:
        """The metric keys (``"<nodeid>::<name>"``) it decides; computed once, whichever gate asks first."""
        ...


@final
class GateSession:
    """All state of one ``--release-gate`` run, on one process."""

    __slots__ = (
        "ab",
        "collected",
        "collection_errors",
        "crashed_workers",
        "deselected",
        "facts",
        "history",
        "is_worker",
        "observations",
        "outcome",
        "records",
        "registry",
        "session_observations",
        "settings",
        "started",
        "stopped",
        "worker_count",
    )

    def __init__(self, settings: Settings, *, is_worker: bool, registry: Registry | None = None) -> None:
        self.settings = settings
        #: The gate kinds of this run: built-in and the plugins' (``spec.Registry``).
        self.registry = registry if registry is not None else Registry()
        self.started = time.time()
        self.observations: dict[str, list[Observation]] = defaultdict(list)
        self.session_observations: dict[str, list[object]] = defaultdict(list)
        self.records: dict[str, TestRecord] = {}
        self.collection_errors: list[str] = []
        self.collected = 0
        self.deselected = 0
        self.is_worker = is_worker
        self.crashed_workers: list[str] = []
        self.worker_count = 0
        self.facts: RunFacts | None = None
        #: Why pytest stopped early (``-x``, ``--maxfail``), for the ``run`` gate.
        self.stopped: str | None = None
        #: This run's ``history.run.RunHistory``, opened once on the controller by ``history.run.for_run``
        #: (typed there: the core does not import the history machinery).
        self.history: object | None = None
        #: The A/B gate, when one runs: the regression gate leaves the metrics it decides alone.
        self.ab: Decider | None = None
        self.outcome = Outcome()

    def add_report_observations(self, report: pytest.TestReport) -> None:
        shipped = getattr(report, REPORT_ATTR, None)
        if shipped is None or not isinstance(shipped, Mapping):  # None first: an ABC check is not free
            return
        for kind, values in shipped.items():
            for data in values:
                self.observations[kind].append(Observation(report.nodeid, report.when, data))

    def merge_worker_output(self, output: Mapping[str, object]) -> None:
        """Fold in what a worker left in ``workeroutput`` (``worker_output``); what is not that shape is ignored."""
        data = output.get(WORKEROUTPUT_KEY)
        if not isinstance(data, Mapping):
            return
        shipped = data.get("session")
        for kind, values in shipped.items() if isinstance(shipped, Mapping) else ():
            if isinstance(values, (list, tuple)):
                self.session_observations[str(kind)].extend(values)
        self.collected = max(self.collected, _count(data.get("collected")))
        self.deselected = max(self.deselected, _count(data.get("deselected")))

    def worker_output(self) -> dict[str, object]:
        return {
            "session": dict(self.session_observations),
            "collected": self.collected,
            "deselected": self.deselected,
        }

    def record(self, report: pytest.TestReport) -> None:
        """Fold one test report into that test's outcome (pytest's own counting rules)."""
        when, outcome = report.when, report.outcome  # each read once: ``report.failed`` & co. are properties
        if when != "call" and outcome == "passed":
            return  # a passing setup or teardown changes nothing: the hot path of a large suite
        nodeid = report.nodeid
        rec = self.records.get(nodeid)
        if rec is None:
            rec = self.records[nodeid] = TestRecord(nodeid)
        if when == "call":
            rec.duration = report.duration
        if outcome == "failed":
            if when == "call":
                rec.outcome, rec.when = "failed", "call"
            elif rec.outcome != "failed":
                rec.outcome, rec.when = "error", when
            rec.message = rec.message or _one_line(report)
        elif outcome == "skipped":
            if rec.outcome == "pending" or when == "call":
                rec.outcome = "xfailed" if hasattr(report, "wasxfail") else "skipped"
        elif when == "call":
            rec.outcome = "xpassed" if hasattr(report, "wasxfail") else "passed"

    def counts(self) -> TestCounts:
        c = TestCounts(collected=max(self.collected, len(self.records)))
        for rec in self.records.values():
            if rec.outcome == "passed":
                c.passed += 1
            elif rec.outcome == "failed":
                c.failed += 1
            elif rec.outcome == "error":
                c.errors += 1
            elif rec.outcome == "skipped":
                c.skipped += 1
            elif rec.outcome == "xfailed":
                c.xfailed += 1
            elif rec.outcome == "xpassed":
                c.xpassed += 1
        return c


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _one_line(report: pytest.TestReport) -> str:
    """The gist of a failure: the first line of pytest's crash message (``KeyError: 'currency'``,
    ``assert 1 == 2``), else its last ``E`` line, else its last line. The last ``E`` line of an
    assertion is its deepest ``+ where`` detail, which says nothing on its own."""
    crash = getattr(report.longrepr, "reprcrash", None)
    message = getattr(crash, "message", None)
    if isinstance(message, str) and message.strip():
        return _clip(message.strip().splitlines()[0].strip())
    text = report.longreprtext.strip() if report.longrepr else ""
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("E "):
            return _clip(line[1:].strip())
    return _clip(text.splitlines()[-1].strip()) if text else ""


def _clip(line: str, limit: int = 200) -> str:
    """At most ``limit`` characters, cut between words: half a token is no longer recognisable as
    one, so it would escape the masking of secrets (redact.py) that the whole token gets."""
    if len(line) <= limit:
        return line
    cut = line[:limit]
    space = cut.rfind(" ")
    return f"{cut[:space]} …" if space > 0 else "…"


SESSION_KEY: Final = pytest.StashKey[GateSession]()


@final
class GateContext:
    """What a gate sees at the end of the run (controller side). Read-only by convention."""

    __slots__ = ("_baseline", "config", "exitstatus", "messages", "partial", "session", "settings")

    def __init__(
        self,
        config: pytest.Config,
        session: GateSession,
        exitstatus: int,
        partial: str | None,
        baseline: Baseline | None,
    ) -> None:
        self.config = config
        self.settings = session.settings
        self.session = session
        self.exitstatus = exitstatus
        #: Why the run is partial (``-k``, paths, node ids, a declared shard...), or None for the whole suite.
        self.partial = partial
        self._baseline = baseline
        #: Lines gate modules want printed in the summary (e.g. what an update changed).
        self.messages: list[str] = []

    @property
    def rootdir(self) -> Path:
        return self.settings.rootdir

    @property
    def baseline(self) -> Baseline | None:
        """The loaded baseline; None when the file could not be read (the run then holds already)."""
        return self._baseline

    @property
    def complete(self) -> bool:
        """True when the run ran its whole suite to the end without interruption."""
        return self.partial is None and self.exitstatus not in (2, 3, 4) and not self.session.collection_errors

    @property
    def records(self) -> Mapping[str, TestRecord]:
        return self.session.records

    def observations(self, kind: str) -> list[Observation]:
        return list(self.session.observations.get(kind, ()))

    def session_observations(self, kind: str) -> list[object]:
        return list(self.session.session_observations.get(kind, ()))

    def counts(self) -> TestCounts:
        return self.session.counts()

    def passed(self, nodeid: str) -> bool:
        rec = self.session.records.get(nodeid)
        return rec is not None and rec.outcome == "passed"

    def iter_records(self) -> Iterator[TestRecord]:
        return iter(self.session.records.values())

