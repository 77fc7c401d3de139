"""The ``flaky`` gate: a test that keeps failing across runs is flagged even when it passes now.

Release plans say "any repeated failure halts deployment": a test that failed
in at least ``flaky_min_failures`` of the last ``flaky_window`` runs (this run
and the ones before it in the run history) is a ``flaky`` gate, at
``flaky_level`` (``warn`` by default, ``hold`` to halt, ``off``). A test that
needed reruns (pytest-rerunfailures reports them with outcome ``rerun``)
counts as failing in that run, so retries cannot hide it.

The history is read during collect, before this run's own line is appended
(that happens in the report hook), so this run is never counted twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Final, final

import pytest

from .. import redact
from ..config import Settings
from ..model import GateResult, Level, Status
from ..report import history
from ..session import GateContext

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
        past = history.before_this_run(context).tail(s.flaky_window - 1)
        runs = len(past) + 1
        now_failing = set(history.failed_tests(context, self.reruns))
        counts: Counter[str] = Counter()  # by test id as the history stores it: masked (redact.py)
        for entry in past:
            failed = entry.get("failed")
            if isinstance(failed, list):
                counts.update({n for n in failed if isinstance(n, str)})
        if s.flaky_level == "warn":
            status, level = Status.WARN, Level.HOLD
        else:
            status, level = Status.FAIL, Level.parse(s.flaky_level)
        flagged = 0
        for nodeid in sorted(context.records):
            n = counts.get(redact.text(nodeid), 0) + (nodeid in now_failing)
            if n < s.flaky_min_failures:
                continue
            flagged += 1
            now = "failed now" if nodeid in now_failing and nodeid not in self.reruns else \
                f"needed {self.reruns[nodeid]} rerun(s) now" if nodeid in self.reruns else "passes now"
            yield GateResult(
                KIND, nodeid, status, level,
                f"failed in {n} of the last {runs} runs ({now}): repeated failure",
                metric="failures", value=float(n), limit=float(s.flaky_min_failures),
                extra={"window": runs, "reruns": self.reruns.get(nodeid, 0)},
            )
        if not flagged:
            yield GateResult(KIND, "", Status.PASS, Level.HOLD,
                             f"no test failed in {s.flaky_min_failures} or more of the last {runs} runs")
