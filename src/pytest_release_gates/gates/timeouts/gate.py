"""The ``timeout`` gate: tests stopped by pytest-timeout, and hang protection for budgets.

A test stopped by its timeout holds the release, with the limit it hit
(read from pytest-timeout's own failure, ``Timeout (>2.0s) from
pytest-timeout.``, on the process that ran the test).

Hang protection: a test with a ``seconds`` budget and no ``timeout`` marker of
its own gets ``@pytest.mark.timeout(hang_factor * seconds, func_only=True)`` at
collection (on the process that runs it), so a hung test cannot stall the CI
job; a global ``--timeout``/``timeout`` ini that is already tighter is left
alone. ``func_only`` because the budget is on the call phase too. pytest-timeout
is optional: without it budgets still work and the summary says that hang
protection needs it.

With pytest-timeout's ``thread`` method (used where signals are not
available) a timeout ends the whole process; the run is then incomplete and
the verdict left on disk is the provisional hold.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final, final

import pytest

from ... import fmt
from ...config import Settings
from ...limits import TIMEOUT_PLUGIN, closest_marker, global_timeout, resolve
from ...model import TIMEOUT, GateResult, Level, Status
from ...session import GateContext, observe, own_failure
from ..budgets.observation import KIND as BUDGET
from ..budgets.observation import BudgetObservation
from .observation import KIND, TimeoutObservation

_MESSAGE_RE: Final = re.compile(r"Timeout \(>([0-9][0-9.eE+-]*)s\) from pytest-timeout")
_hang_key: Final = pytest.StashKey[tuple[float, float]]()


def timeout_limit(report: pytest.TestReport) -> float | None:
    """The limit pytest-timeout stopped this test at, or None if it did not."""
    if not report.failed or report.longrepr is None:
        return None
    m = _MESSAGE_RE.search(report.longreprtext)
    if m is None:
        return None
    try:
        return float(m.group(1))
    except ValueError:  # pragma: no cover - the pattern only admits numbers
        return None


@final
class Gate:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        if not config.pluginmanager.has_plugin(TIMEOUT_PLUGIN):
            return
        factor = self.settings.hang_factor
        ceiling = global_timeout(config)
        # One MarkDecorator per distinct limit, shared by the tests that have it (marks are immutable):
        # a suite with the same budget on every test builds one, not one per test.
        marks: dict[float, Any] = {}
        for item in items:
            res = resolve(item, self.settings)
            seconds = res.limits.get("seconds")
            if seconds is None or closest_marker(item, "timeout") is not None:
                continue
            hang = seconds * factor
            if ceiling is not None and ceiling <= hang:
                continue
            mark = marks.get(hang)
            if mark is None:  # registered by pytest-timeout, so --strict-markers accepts it
                mark = marks[hang] = pytest.mark.timeout(hang, func_only=True)
            item.add_marker(mark)
            item.stash[_hang_key] = (hang, seconds)

    def on_report(self, item: pytest.Item, report: pytest.TestReport) -> None:
        if report.failed:
            limit = timeout_limit(report)
            if limit is not None:
                obs = TimeoutObservation(limit, report.when, report.duration)
                hang = item.stash.get(_hang_key, None)
                if hang is not None and abs(hang[0] - limit) <= 1e-9 * max(1.0, limit):
                    obs = TimeoutObservation(limit, report.when, report.duration, self.settings.hang_factor, hang[1])
                observe(item, KIND, obs.to_json())
                own_failure(item, KIND)

    def pytest_release_gates_collect(self, context: GateContext) -> Iterable[GateResult]:
        latest: dict[str, TimeoutObservation] = {}
        for obs in context.observations(KIND):
            if obs.nodeid not in latest:  # the first phase to time out is the one that hung
                latest[obs.nodeid] = TimeoutObservation.from_json(obs.data)
        for nodeid, d in latest.items():
            limit = d.limit
            phase = "" if d.when == "call" else f" in {d.when}"
            if d.hang_factor is not None and d.hang_budget is not None:
                text = (f"hung{phase}: stopped after {fmt.fmt_wall(limit)}, hang protection at "
                        f"{d.hang_factor:g}x its {fmt.fmt_wall(d.hang_budget)} budget (pytest-timeout)")
            else:
                text = f"timed out{phase}: stopped by pytest-timeout after {fmt.fmt_wall(limit)}"
            yield GateResult(TIMEOUT, nodeid, Status.FAIL, Level.HOLD, text, metric="seconds",
                             value=d.duration or limit, limit=limit, extra={"hang_protection": d.hang})
        if not context.config.pluginmanager.has_plugin(TIMEOUT_PLUGIN):
            budgeted = {o.nodeid for o in context.observations(BUDGET)
                        if "seconds" in BudgetObservation.from_json(o.data).limits}
            if budgeted:
                n = len(budgeted)
                context.messages.append(
                    f"hang protection for {n} test{'s' if n != 1 else ''} with a seconds budget needs "
                    "pytest-timeout (pip install pytest-timeout): without it a hung test stalls the run")
