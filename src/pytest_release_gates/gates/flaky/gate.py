"""The ``flaky`` gate: a test that keeps failing across runs is flagged even when it passes now.

Release plans say "any repeated failure halts deployment": a test that failed
in at least ``flaky_min_failures`` of the last ``flaky_window`` runs (this run
and the ones before it in the run history) is a ``flaky`` gate, at
``flaky_level`` (``warn`` by default, ``hold`` to halt, ``off``). A test that
needed reruns (pytest-rerunfailures reports them with outcome ``rerun``)
counts as failing in that run, so retries cannot hide it.

The history is read during collect, before this run's own entry is added
(that happens in the report hook), so this run is never counted twice. With a
shared store (``history_url``) it reads the runs of this project on the
branches of ``history_branches``, each CI run once (shard rows or the pipeline
row that merged them); with ``flaky_days`` it counts failures over that many
days instead of over the last ``flaky_window`` runs.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from typing import Final, final

import pytest

from ... import redact
from ...config import Settings
from ...history import run as history
from ...model import GateResult, Level, Status
from ...session import GateContext

KIND: Final = "flaky"


@final
class Gate:
    __slots__ = ("reruns", "settings")

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        #: nodeid -> reruns seen this run (controller side; a worker's own count is never read).
        self.reruns: Counter[str] = Counter()

    def on_logreport(self, report: pytest.TestReport) -> None:
        if report.outcome == "rerun":  # type: ignore[comparison-overlap]  # pytest-rerunfailures' extra outcome
            self.reruns[report.nodeid] += 1

    def pytest_release_gates_collect(self, context: GateContext) -> Iterable[GateResult]:
        s = self.settings
        if s.flaky_level == "off":
            return
        run = history.for_run(context)
        if s.flaky_days is not None:
            past = run.failures(since=time.time() - s.flaky_days * 86400.0)
            over = f"{{runs}} runs in the last {s.flaky_days:g} days"
        else:
            past = run.failures(last_runs=s.flaky_window - 1)
            over = "the last {runs} runs"
        runs = past.runs + 1
        over = over.format(runs=runs)
        now_failing = set(history.failed_tests(context, self.reruns))
        # by test id as the history stores it: masked (redact.py)
        if s.flaky_level == "warn":
            status, level = Status.WARN, Level.HOLD
        else:
            status, level = Status.FAIL, Level.parse(s.flaky_level)
        flagged = 0
        # Without past failures only this run's failures can reach the threshold: the masking of every
        # test id (redact.text, the bulk of this loop on a large suite) is then not needed.
        candidates = context.records if past.counts else [n for n in context.records if n in now_failing]
        for nodeid in sorted(candidates):
            n = (past.counts.get(redact.text(nodeid), 0) if past.counts else 0) + (nodeid in now_failing)
            if n < s.flaky_min_failures:
                continue
            flagged += 1
            now = "failed now" if nodeid in now_failing and nodeid not in self.reruns else \
                f"needed {self.reruns[nodeid]} rerun(s) now" if nodeid in self.reruns else "passes now"
            yield GateResult(
                KIND, nodeid, status, level,
                f"failed in {n} of {over} ({now}): repeated failure",
                metric="failures", value=float(n), limit=float(s.flaky_min_failures),
                extra={"window": runs, "reruns": self.reruns.get(nodeid, 0)},
            )
        if not flagged:
            yield GateResult(KIND, "", Status.PASS, Level.HOLD,
                             f"no test failed in {s.flaky_min_failures} or more of {over}")
