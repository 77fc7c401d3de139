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
    A gate whose setup work depends only on markers says which in its
    ``setup_markers`` attribute (a set of names): it is then called only for
    tests that carry one of them, which spares most tests a call per gate.
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
from collections.abc import Set as AbstractSet
from typing import Any, Final, final

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

    __slots__ = ("_item", "_logreport", "_makereport", "_nodeid", "_report", "_setup", "_worker", "state")

    def __init__(self, state: GateSession, gates: Sequence[Any]) -> None:
        self.state = state
        self._worker = state.is_worker
        self._item: pytest.Item | None = None  # the test whose reports this process is making
        self._nodeid = ""  # its node id (a property that builds a string: read once per test)

        def bound(name: str) -> tuple[Callable[..., None], ...]:
            return tuple(getattr(g, name) for g in gates if hasattr(g, name))

        self._setup = tuple((g.on_setup, getattr(g, "setup_markers", None))
                            for g in reversed(gates) if hasattr(g, "on_setup"))
        self._makereport = bound("on_makereport")
        self._report = bound("on_report")
        self._logreport = bound("on_logreport")

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        marked = _marker_names(item)
        for setup, wanted in self._setup:
            if wanted is None or (marked and not wanted.isdisjoint(marked)):
                setup(item, marked)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> None:
        if item is not self._item:
            self._item, self._nodeid = item, item.nodeid
        for before in self._makereport:
            before(item, call)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        quiet = report.when != "call" and report.outcome == "passed"  # the hot path of a large suite
        item = self._item
        if not self._worker:
            if quiet:
                if not hasattr(report, REPORT_ATTR):
                    return  # a passing setup or teardown with nothing shipped changes no record
            elif item is not None and report.nodeid == self._nodeid:  # this process ran the test
                for after in self._report:
                    after(item, report)
            state = self.state
            state.add_report_observations(report)
            state.record(report)
            for log in self._logreport:
                log(report)
        elif item is not None and report.nodeid == self._nodeid:  # xdist worker: it ran this test
            if not quiet:
                for after in self._report:
                    after(item, report)
            shipped = take_observations(item)  # the test's observations travel with its report
            if shipped:
                setattr(report, REPORT_ATTR, shipped)


_NO_MARKERS: Final[AbstractSet[str]] = frozenset()


def _marker_names(item: pytest.Item) -> AbstractSet[str]:
    """The names of the markers on the test and its parents: what ``item.iter_markers()`` yields,
    walked without its three nested generators (most tests carry none)."""
    names: set[str] | None = None
    node: Any = item
    while node is not None:
        for mark in node.own_markers:
            if names is None:
                names = set()
            names.add(mark.name)
        node = node.parent
    return _NO_MARKERS if names is None else names
