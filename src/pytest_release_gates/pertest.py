"""One pytest hookimpl per test phase for all built-in gates.

pluggy calls every hookimpl of a hook in turn, and a ``wrapper=True``
hookimpl costs a generator and a ``StopIteration`` on every call. The
built-in gates had ten per-test hookimpls (four at setup, three on each
phase's report, two of them wrappers, three where reports are logged);
counted in instructions (``benchmarks/spine_overhead.py --instructions``),
replacing them with these three saved about a quarter of the plugin's
per-test cost. So a built-in gate implements plain methods, and
:class:`PerTest` calls them in a fixed order:

``on_setup(item, marked)``
    before pytest's own setup (the hookimpl is ``tryfirst``), with the names
    of the markers the test carries at any level (one walk over its markers
    instead of one per gate and marker), last-registered
    gate first (the order pluggy called their own hookimpls in); may
    ``pytest.fail`` for an invalid marker, which skips the gates after it.
``on_makereport(item, call)``
    before the phase's report is made.
``on_report(item, call, report)``
    after it is made and after other plugins' wrappers (``xfail`` handling
    included) have seen it, in registration order; may turn it into a
    failure. On an xdist worker the test's observations are then attached
    to the report, which xdist sends to the controller.
``on_logreport(report)``
    where reports are logged: the only process, or the xdist controller.

Third-party gates keep using ordinary pytest hooks.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any, final

import pytest

from .session import REPORT_ATTR, GateSession, take_observations


@final
class PerTest:
    __slots__ = ("_logreport", "_makereport", "_report", "_setup", "state")

    def __init__(self, state: GateSession, gates: Sequence[Any]) -> None:
        self.state = state

        def bound(name: str) -> tuple[Callable[..., None], ...]:
            return tuple(getattr(g, name) for g in gates if hasattr(g, name))

        self._setup = bound("on_setup")[::-1]
        self._makereport = bound("on_makereport")
        self._report = bound("on_report")
        self._logreport = bound("on_logreport")

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        marked = {m.name for m in item.iter_markers()}
        for setup in self._setup:
            setup(item, marked)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        for before in self._makereport:
            before(item, call)
        report = yield
        for after in self._report:
            after(item, call, report)
        if self.state.is_worker:  # xdist: the test's observations travel with its report
            shipped = take_observations(item)
            if shipped:
                setattr(report, REPORT_ATTR, shipped)
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        state = self.state
        if state.is_worker:
            return
        state.add_report_observations(report)
        state.record(report)
        for log in self._logreport:
            log(report)
