"""One pytest hookimpl per test phase for all built-in gates.

pluggy calls every hookimpl of a hook in turn, and a ``wrapper=True``
hookimpl also costs a generator and a ``StopIteration`` on every call. So a
built-in gate implements plain methods, and :class:`PerTest` calls them from
three plain hookimpls (the gates had ten per-test hookimpls, two of them
wrappers; the README's "Performance" section has the instruction counts), in
a fixed order:

``on_setup(item, marked)``
    before pytest's own setup (the hookimpl is ``tryfirst``), with the names
    of the markers the test carries at any level (one walk over its markers
    instead of one per gate and marker), last-registered gate first; may
    ``pytest.fail`` for an invalid marker, which skips the gates after it.
``on_makereport(item, call)``
    before the phase's report is made (``call.excinfo`` is the raw exception).
``on_report(item, report)``
    for every call report and every setup or teardown report that did not
    pass, where the report is logged, on the process that ran the test, before
    anything else sees it (pytest's own failure count for ``-x``, the terminal,
    JUnit XML, xdist sending it to the controller); may turn it into a failure.
    On an xdist worker the test's observations are then attached to the report.
    Because this is where reports are logged, pytest-rerunfailures has already
    decided on reruns: a failure added here is not rerun.
``on_logreport(report)``
    where reports are logged, in the only process or the xdist controller, for
    every report except a passing setup or teardown (those change nothing).

Third-party gates keep using ordinary pytest hooks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, final

import pytest

from .session import REPORT_ATTR, GateSession, take_observations


@final
class PerTest:
    """Registered in ``pytest_configure``, after pytest's ``Session`` (created before configure).

    Among ``tryfirst`` hookimpls pluggy calls the last registered first: so
    :meth:`pytest_runtest_logreport` runs before the session counts a failure
    for ``-x`` and ``--maxfail``, and a budget overrun stops the run like any
    failure.
    """

    __slots__ = ("_item", "_logreport", "_makereport", "_report", "_setup", "state")

    def __init__(self, state: GateSession, gates: Sequence[Any]) -> None:
        self.state = state
        self._item: pytest.Item | None = None  # the test whose reports this process is making

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

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> None:
        self._item = item
        for before in self._makereport:
            before(item, call)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        state = self.state
        item = self._item
        quiet = report.when != "call" and report.outcome == "passed"  # the hot path of a large suite
        if item is not None and report.nodeid == item.nodeid:  # this process ran the test
            if not quiet:
                for after in self._report:
                    after(item, report)
            if state.is_worker:  # xdist: the test's observations travel with its report
                shipped = take_observations(item)
                if shipped:
                    setattr(report, REPORT_ATTR, shipped)
                return
        elif state.is_worker:
            return
        if quiet and not hasattr(report, REPORT_ATTR):
            return  # a passing setup or teardown with nothing shipped changes no record
        state.add_report_observations(report)
        state.record(report)
        for log in self._logreport:
            log(report)
