"""The ``run`` gate: was the run itself complete enough to decide anything?

Fail closed: interruption, ``-x``/``--maxfail`` stops, collection errors,
crashed workers, zero tests executed, a partial selection, or pytest exiting
non-zero without a failing test we know of, all hold. Not configurable down
to deploy.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import final

from ..config import Settings
from ..model import RUN, GateResult, Level, Status
from ..session import GateContext


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
            problems.append(("interrupted", "the run was interrupted before it finished"))
        elif status == 3:
            problems.append(("internal-error", "pytest hit an internal error"))
        stop = session.extra.get("shouldstop")
        if stop:
            problems.append(("stopped", f"the run stopped early ({stop}): not every test ran"))
        for nodeid in session.collection_errors:
            problems.append(("collection-error", f"collection error in {nodeid or 'the test session'}"))
        for worker in session.crashed_workers:
            problems.append(("worker-crashed", f"xdist worker {worker} crashed"))
        if counts.executed == 0 and status != 2:
            why = f"all {counts.skipped} skipped" if counts.skipped else "nothing selected"
            problems.append(("nothing-executed", f"no test executed ({why})"))
        if status == 1 and counts.failed == 0 and counts.errors == 0:
            problems.append(("exit-status", "pytest exited with status 1 but no failing test was recorded"))
        if context.partial:
            problems.append(("partial", f"partial run ({context.partial}): the verdict covers only the selected tests"))
        for subject, message in problems:
            warn = subject == "partial" and context.settings.partial_run == "warn"
            yield GateResult(RUN, subject, Status.WARN if warn else Status.FAIL, Level.HOLD, message)
        if not problems:
            yield GateResult(
                RUN, "complete", Status.PASS, Level.HOLD, f"{counts.executed} of {counts.collected} tests executed"
            )
