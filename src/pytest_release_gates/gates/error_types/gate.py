"""The ``new_error_type`` gate: hold the release when the run produces an error or warning type
the baseline does not know.

Capture happens on the process that runs each test (an xdist worker or the
only process): the exception of a failing test, ERROR log records, recorded
warnings and, on Python 3.12+ with ``error_scope``, exceptions swallowed
inside the named packages. Each becomes an occurrence (see
``capture``) shipped to the controller, which compares the merged set
with the baseline's ``error_types`` section. Capture never changes what the
test sees: it adds one handler to the root logger, reads what pytest already
records, and swallows its own failures. This module is the capture and the
hooks; the controller's results are ``results.py``.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from typing import Any, Final, final

import pytest

from ...config import Settings
from ...model import NEW_ERROR_TYPE, GateResult, Level, Status
from ...session import GateContext, observe, observe_session
from . import results
from .capture import (
    ERROR,
    NOTE_KIND,
    OBS_KIND,
    SECTION,
    WARNING,
    Expected,
    MarkerError,
    Occurrence,
    Project,
    expected_errors,
    from_exception,
    from_record,
    from_warning,
    mro_names,
    qualname,
    unwrap_pytest_warning_error,
)
from .decide import baseline_entry, compare, validate_section
from .watch import SwallowWatcher, scope_locations

#: pytest's outcome exceptions (fail, skip, xfail, exit): test results, never error types.
_OUTCOMES: Final = (pytest.fail.Exception, pytest.skip.Exception, pytest.xfail.Exception, pytest.exit.Exception)
_NOT_ERRORS: Final = (AssertionError, KeyboardInterrupt, *_OUTCOMES)
_NOTHING_EXPECTED: Final = Expected()  # shared by every test without expected_errors (never mutated)


@final
class _Handler(logging.Handler):
    """Root-logger handler for ERROR and above. It only reads records: others still get them."""

    def __init__(self, gate: Gate) -> None:
        super().__init__(logging.ERROR)
        self._gate = gate

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._gate.on_record(record, sys._getframe(1))
        except Exception as exc:  # a capture failure must not reach the test
            self._gate.problem(f"capturing a log record failed: {type(exc).__name__}: {exc}")

    def handleError(self, record: logging.LogRecord) -> None:
        pass


@final
class Gate:
    """Capture (every process) and decide (controller)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.capturing = settings.update_baseline or not (
            settings.new_error_types == "off" and settings.new_warning_types == "off"
        )
        self.config: pytest.Config | None = None
        self.project = Project(settings.rootdir)
        self._item: pytest.Item | None = None
        self._expected = _NOTHING_EXPECTED
        self._pending: dict[str, Occurrence] = {}
        self._last_item: pytest.Item | None = None  # its node id is read only when a warning comes
        self._last_expected = _NOTHING_EXPECTED
        self._handler = _Handler(self)
        self._watcher: SwallowWatcher | None = None
        self._handled_ids: set[int] = set()
        self._collect_seen: set[tuple[Any, ...]] = set()
        self._problems: set[str] = set()

    # ------------------------------------------------------------ capture (any process)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.config = session.config
        patterns = [str(p) for p in session.config.getini("python_files")]
        self.project = Project(session.config.rootpath, (*patterns, "conftest.py"))

    def problem(self, text: str) -> None:
        """Report a capture problem once, as a warning gate (never as an exception in the test)."""
        if text not in self._problems and self.config is not None:
            self._problems.add(text)
            observe_session(self.config, NOTE_KIND, {"subject": "capture", "message": text})

    def _start_watcher(self) -> None:
        scope = self.settings.error_scope
        if not scope or self._watcher is not None:
            return
        locations, _missing = scope_locations(scope)  # missing packages are reported by the controller
        self._watcher = SwallowWatcher(locations, self._on_swallowed)
        problem = self._watcher.start() if locations else None
        if problem:
            self.problem(problem)

    def on_setup(self, item: pytest.Item, marked: AbstractSet[str]) -> None:
        if not self.capturing:
            return
        self._item = item
        self._pending.clear()
        self._handled_ids.clear()
        self._expected = self._last_expected = _NOTHING_EXPECTED
        self._last_item = item
        root = logging.getLogger()
        if self._handler not in root.handlers:
            root.addHandler(self._handler)
        if self.settings.error_scope:
            self._start_watcher()
            if self._watcher is not None:
                self._watcher.active = True
        markers = list(item.iter_markers("expected_errors")) if "expected_errors" in marked else None
        if markers:
            self._expected = self._last_expected = self._parse_expected(item, markers)

    def _parse_expected(self, item: pytest.Item, markers: list[pytest.Mark]) -> Expected:
        args: list[object] = []
        try:
            for mark in markers:
                args.extend(expected_errors(*mark.args, **mark.kwargs))
            expected = Expected(args)
        except (MarkerError, TypeError) as exc:
            pytest.fail(f"invalid @pytest.mark.expected_errors on {item.nodeid}: {exc}", pytrace=False)
        for name in expected.notes:
            if self.config is not None:
                observe_session(self.config, NOTE_KIND, {
                    "subject": name,
                    "message": f"expected_errors of {item.nodeid}: {name!r} does not import; "
                               "matched by class name only",
                })
        return expected

    def on_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> None:
        if item is not self._item:
            return
        if call.excinfo is not None:
            exc = unwrap_pytest_warning_error(call.excinfo.value)
            if not isinstance(exc, _NOT_ERRORS):
                try:
                    self._add(from_exception(exc, "test", self.project))
                except Exception as err:
                    self.problem(f"capturing a test's exception failed: {type(err).__name__}: {err}")
        pending = self._pending
        if pending:
            for occ in pending.values():
                observe(item, OBS_KIND, occ.to_json())
            pending.clear()
        if self._handled_ids:
            self._handled_ids.clear()
        if call.when == "teardown":
            self._end()

    def _end(self) -> None:
        # The handler stays on the root logger between tests (it ignores records while no test
        # runs): adding and removing it around every test cost more than the rest of the capture.
        self._item = None
        if self._watcher is not None:
            self._watcher.active = False

    def _uninstall(self) -> None:
        self._end()
        root = logging.getLogger()
        if self._handler in root.handlers:
            root.removeHandler(self._handler)

    def _add(self, occ: Occurrence) -> None:
        if self._expected and self._expected.covers(occ.type, occ.mro):
            return
        cur = self._pending.get(occ.key)
        if cur is None:
            self._pending[occ.key] = occ
        else:
            cur.count += occ.count

    def on_record(self, record: logging.LogRecord, frame: Any) -> None:
        if self._item is not None:
            self._add(from_record(record, self.project, frame))

    def _on_swallowed(self, exc: BaseException) -> None:
        if self._item is None or id(exc) in self._handled_ids or self._watcher is None:
            return
        self._handled_ids.add(id(exc))
        module, where = self._watcher.origin(exc)
        cls = type(exc)
        self._add(Occurrence(ERROR, qualname(cls), module, where, "swallowed", mro_names(cls)))

    def pytest_warning_recorded(self, warning_message: warnings.WarningMessage, when: str, nodeid: str,
                                location: Any) -> None:
        config = self.config
        if not self.capturing or config is None:
            return
        try:
            if nodeid:
                # Only tests this process ran: under xdist the controller also receives the
                # workers' warnings, and the workers have already counted them.
                if self._last_item is None or nodeid != self._last_item.nodeid:
                    return
                occ = from_warning(warning_message, self.project)
                if self._last_expected and self._last_expected.covers(occ.type, occ.mro):
                    return
                observe_session(config, OBS_KIND, occ.to_json(test=nodeid))
                return
            if hasattr(config, "workerinput"):
                return  # the controller gets it forwarded and counts it once
            key = (when, warning_message.category, str(warning_message.message), warning_message.filename,
                   warning_message.lineno)
            if key in self._collect_seen:
                return  # the same collection warning from each xdist worker
            self._collect_seen.add(key)
            observe_session(config, OBS_KIND, from_warning(warning_message, self.project).to_json(test=""))
        except Exception as exc:
            self.problem(f"capturing a warning failed: {type(exc).__name__}: {exc}")

    def pytest_sessionfinish(self) -> None:
        self._uninstall()
        if self._watcher is not None:
            self._watcher.stop()

    def pytest_unconfigure(self) -> None:
        self._uninstall()
        if self._watcher is not None:
            self._watcher.stop()

    # ------------------------------------------------------------ decide (controller: results.py)

    def pytest_release_gates_update_baseline(self, context: GateContext, baseline: Any) -> list[str]:
        if not self.capturing:
            return []
        seen = results.gather(context)
        section = baseline.section(SECTION)
        before = dict(section)
        if context.complete:
            section.clear()  # not seen in a whole run: resolved, dropped (a partial run keeps them)
        for key, s in seen.items():
            section[key] = baseline_entry(s)
        added = sorted(k for k in section if k not in before)
        removed = sorted(k for k in before if k not in section)
        lines = [f"error types: added {k}" for k in added]
        lines += [f"error types: removed {k} (resolved)" for k in removed]
        return lines

    def pytest_release_gates_collect(self, context: GateContext) -> Iterator[GateResult]:
        if not self.capturing:
            yield GateResult(NEW_ERROR_TYPE, "", Status.PASS, Level.HOLD,
                             "off (new_error_types and new_warning_types are both off)")
            return
        yield from results.capture_notes(context, self.settings)
        seen = results.gather(context)
        section: dict[str, Any] = context.baseline.get(SECTION) if context.baseline is not None else {}
        result = compare(seen, section, self.settings.known_error_types)
        yield from results.compared(context, self.settings, seen, section, result)


__all__ = ["ERROR", "SECTION", "WARNING", "Gate", "validate_section"]
