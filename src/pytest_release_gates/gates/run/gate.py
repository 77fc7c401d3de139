"""The ``run`` gate: was the run itself complete enough to decide anything?

Fail closed: interruption, ``-x``/``--maxfail`` stops, collection errors,
crashed workers, zero tests executed, a selection narrowed on the command line
(``selection.py``), or pytest exiting non-zero without a failing test we know
of, all hold. Not configurable down to deploy. A declared shard
(``--gate-shard``) is a subset by design: ``release-gate merge`` decides.

Each reason reads as subject then message ("interrupted before the run
finished"), so the message never repeats its subject.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import final

from ...config import Settings
from ...model import RUN, GateResult, Level, Status
from ...session import GateContext


@final
class Gate:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def pytest_release_gates_collect(self, context: GateContext) -> Iterable[GateResult]:
        session = context.session
        counts = context.counts()
        status = context.exitstatus
        problems: list[tuple[str, str]] = []
        if status == 2 and not session.collection_errors:  # pytest stops with 2 on collection errors too
            problems.append(("interrupted", "before the run finished: not every test ran"))
        elif status == 3:
            problems.append(("internal-error", "in pytest: the run did not finish"))
        stop = session.stopped
        if stop:  # pytest's own text is "stopping after N failures"
            stop = stop.removeprefix("stopping ")
            problems.append(("stopped", f"early ({stop}): not every test ran"))
        for nodeid in session.collection_errors:
            problems.append(("collection-error", f"in {nodeid or 'the test session'}: its tests did not run"))
        for worker in session.crashed_workers:
            problems.append(("worker-crashed", f"{worker} (xdist): its remaining tests did not run"))
        if counts.executed == 0 and status != 2:
            why = f"all {counts.skipped} skipped" if counts.skipped else "none selected"
            problems.append(("nothing-executed", f"({why}): no test ran, so nothing was checked"))
        if status == 1 and counts.failed == 0 and counts.errors == 0:
            problems.append(("exit-status", "1 from pytest, but no failing test was recorded"))
        shard = context.settings.shard
        if context.partial and shard is None:  # a declared shard's subset is expected: merge decides
            problems.append(("selection", f"narrowed ({context.partial}): the verdict covers only the selected tests"))
        for subject, message in problems:
            warn = subject == "selection" and context.settings.partial_run == "warn"
            yield GateResult(RUN, subject, Status.WARN if warn else Status.FAIL, Level.HOLD, message)
        if problems:
            return
        ran = f"{counts.executed} of {counts.collected} tests executed"
        if shard is None:
            yield GateResult(RUN, "complete", Status.PASS, Level.HOLD, ran)
        else:
            yield GateResult(RUN, "shard", Status.PASS, Level.HOLD,
                             f"{shard[0]} of {shard[1]}: {ran}; `release-gate merge` checks that every shard ran")
