"""The ``new_error_type`` gate: hold the release when the run produces an error or warning type
the baseline does not know.

Capture happens on the process that runs each test (an xdist worker or the
only process): the exception of a failing test, ERROR log records, recorded
warnings and, on Python 3.12+ with ``error_scope``, exceptions swallowed
inside the named packages. Each becomes an occurrence (see
``capture``) shipped to the controller, which compares the merged set
with the baseline's ``error_types`` section. Capture never changes what the
test sees: it adds one handler to the root logger, reads what pytest already
records, and swallows its own failures.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Iterable, Iterator
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any, Final, final

import pytest

from ... import baseline as baseline_mod
from ...config import AcceptedType, Settings
from ...model import NEW_ERROR_TYPE, GateResult, Level, Status, UsageError
from ...session import GateContext, observe, observe_session
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
    signature_key,
    unwrap_pytest_warning_error,
)
from .decide import (
    Comparison,
    Seen,
    aggregate,
    baseline_entry,
    compare,
)
from .watch import (
    SwallowWatcher,
    scope_locations,
)

#: pytest's outcome exceptions (fail, skip, xfail, exit): test results, never error types.
_OUTCOMES: Final = (pytest.fail.Exception, pytest.skip.Exception, pytest.xfail.Exception, pytest.exit.Exception)
_NOT_ERRORS: Final = (AssertionError, KeyboardInterrupt, *_OUTCOMES)
_NOTHING_EXPECTED: Final = Expected()  # shared by every test without expected_errors (never mutated)


def validate_section(path: Path, section: dict[str, Any]) -> None:
    """Baseline validator of the ``error_types`` section: each entry says what it accepts (kind, type,
    origin) and how often, under the key its type and origin give; anything else would accept types
    nobody reviewed."""
    short = baseline_mod.short
    for key, entry in section.items():
        where = f"{path}: error_types entry {key!r}"
        if not isinstance(entry, dict):
            raise UsageError(f"{where} must be an object such as {{\"count\": 1, \"kind\": \"error\", "
                             f"\"origin\": \"\", \"type\": \"builtins.KeyError\"}}, got {short(entry)}")
        missing = [k for k in ("count", "kind", "type") if k not in entry]
        if missing:
            raise UsageError(f"{where}: {', '.join(map(repr, missing))} missing")
        type_name, origin = entry["type"], entry.get("origin", "")
        if not isinstance(type_name, str) or not type_name:
            raise UsageError(f"{where}: 'type' must be the type's name, got {short(type_name)}")
        if not isinstance(origin, str):
            raise UsageError(f"{where}: 'origin' must be a module name or \"\", got {short(origin)}")
        if entry["kind"] not in (ERROR, WARNING):
            raise UsageError(f"{where}: 'kind' must be {ERROR!r} or {WARNING!r}, got {short(entry['kind'])}")
        count = entry["count"]
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise UsageError(f"{where}: 'count' must be a whole number of at least 1, got {short(count)}")
        expected = signature_key(type_name, origin)
        if key != expected:
            raise UsageError(f"{where}: the key must be {expected!r} (its type and origin)")


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

    # ------------------------------------------------------------ decide (controller)

    def _seen(self, context: GateContext) -> dict[str, Seen]:
        xfailed = {nodeid for nodeid, rec in context.records.items() if rec.outcome == "xfailed"}
        pairs: list[tuple[str, Any]] = []
        for obs in context.observations(OBS_KIND):
            if obs.nodeid not in xfailed and isinstance(obs.data, dict):
                pairs.append((obs.nodeid, obs.data))
        for data in context.session_observations(OBS_KIND):
            if isinstance(data, dict) and str(data.get("test", "")) not in xfailed:
                pairs.append((str(data.get("test", "")), data))
        return aggregate(pairs)

    def _policy(self, kind: str) -> str:
        return self.settings.new_warning_types if kind == WARNING else self.settings.new_error_types

    def pytest_release_gates_update_baseline(self, context: GateContext, baseline: Any) -> list[str]:
        if not self.capturing:
            return []
        seen = self._seen(context)
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
        yield from self._notes(context)
        seen = self._seen(context)
        section: dict[str, Any] = context.baseline.get(SECTION) if context.baseline is not None else {}
        result = compare(seen, section, self.settings.known_error_types)
        yield from self._results(context, seen, section, result)

    def _notes(self, context: GateContext) -> Iterator[GateResult]:
        notes: dict[tuple[str, str], None] = {}
        for data in context.session_observations(NOTE_KIND):
            if isinstance(data, dict):
                notes[(str(data.get("subject", "")), str(data.get("message", "")))] = None
        scope = self.settings.error_scope
        if scope:
            _found, missing = scope_locations(scope)
            for pkg in missing:
                notes[("error_scope", f"{self.settings.describe('error_scope')}: package {pkg!r} "
                                      "not found; nothing is watched for it")] = None
            if sys.version_info < (3, 12):
                yield GateResult(NEW_ERROR_TYPE, "error_scope", Status.PASS, Level.HOLD,
                                 "swallowed exceptions are watched on Python 3.12+ only (sys.monitoring)")
        for subject, message in notes:
            yield GateResult(NEW_ERROR_TYPE, subject, Status.WARN, Level.HOLD, message)

    def _results(self, context: GateContext, seen: dict[str, Seen], section: dict[str, Any],
                 result: Comparison) -> Iterable[GateResult]:
        if context.baseline is None:  # accepting would not help: an unreadable file is never overwritten
            hint = " (the baseline could not be read: fix the file named in the run gate, then run again)"
        elif not section:
            hint = " (no error types in the baseline yet: accept them with --gate-update-baseline)"
        else:
            hint = ""
        for key in result.new:
            s = seen[key]
            gate = self._new(s, hint)
            if gate is not None:
                yield gate
        for key, accepted in result.expired:
            s = seen[key]
            owner = f" (owner {accepted.owner})" if accepted.owner else ""
            gate = self._new(s, hint, f"accepted in known_error_types until {accepted.expires}{owner}, "
                                             "which has passed; ")
            if gate is not None:
                yield gate
        for key in result.increased:
            s = seen[key]
            before = int(section[key]["count"])
            if self._policy(s.kind) == "off":
                continue
            yield GateResult(NEW_ERROR_TYPE, s.type, Status.WARN, Level.HOLD,
                             f"{_from(s)}count rose: {s.count} times in {len(s.tests)} test(s), baseline {before}; "
                             f"first in {_test(s)} at {s.first_where or '?'}",
                             metric="count", value=float(s.count), limit=float(before), extra=_extra(s))
        for key, accepted in result.known:
            s = seen[key]
            yield GateResult(NEW_ERROR_TYPE, s.type, Status.PASS, Level.HOLD,
                             f"{_from(s)}known type ({_accepted(accepted)}): {s.count} times in {len(s.tests)} test(s)",
                             metric="count", value=float(s.count), extra=_extra(s))
        for key in result.unchanged:
            s = seen[key]
            entry = section.get(key)
            count = entry.get("count") if isinstance(entry, dict) else None
            yield GateResult(NEW_ERROR_TYPE, s.type, Status.PASS, Level.HOLD,
                             f"{_from(s)}{s.count} times in {len(s.tests)} test(s) (baseline {count})",
                             metric="count", value=float(s.count),
                             limit=float(count) if isinstance(count, (int, float)) else None, extra=_extra(s))
        if context.complete:
            for key in result.resolved:
                entry = section.get(key)
                type_name = str(entry.get("type", key)) if isinstance(entry, dict) else key
                origin = str(entry.get("origin", "")) if isinstance(entry, dict) else ""
                yield GateResult(NEW_ERROR_TYPE, type_name, Status.PASS, Level.HOLD,
                                 f"{'from ' + origin + ': ' if origin else ''}resolved: in the baseline, not seen "
                                 "in this run (dropped on the next --gate-update-baseline)",
                                 extra={"signature": key, "resolved": True})
        if not seen:
            yield GateResult(NEW_ERROR_TYPE, "", Status.PASS, Level.HOLD, "no error or warning types seen")

    def _new(self, s: Seen, hint: str, prefix: str = "") -> GateResult | None:
        policy = self._policy(s.kind)
        if policy == "off":
            return None
        message = (f"{prefix}new {s.kind} type {_from(s)}first in {_test(s)} at {s.first_where or '?'}; "
                   f"{s.count} time(s) in {len(s.tests)} test(s){hint}")
        status = Status.FAIL if policy == "hold" else Status.WARN
        return GateResult(NEW_ERROR_TYPE, s.type, status, Level.HOLD, message, metric="count",
                          value=float(s.count), extra={**_extra(s), "new": True})


def _from(s: Seen) -> str:
    return f"from {s.origin}: " if s.origin else ""


def _test(s: Seen) -> str:
    return s.first_test or "collection"


def _accepted(a: AcceptedType) -> str:
    bits = [b for b in (a.reason, f"owner {a.owner}" if a.owner else None,
                        f"until {a.expires}" if a.expires else None) if b]
    return "; ".join(bits) or "known_error_types"


def _extra(s: Seen) -> dict[str, Any]:
    return {
        "signature": s.key,
        "error_kind": s.kind,
        "origin": s.origin,
        "first_test": s.first_test,
        "first_location": s.first_where,
        "tests_count": len(s.tests),
        "sources": sorted(x for x in s.sources if x),
    }


__all__ = ["ERROR", "SECTION", "WARNING", "Gate", "validate_section"]
