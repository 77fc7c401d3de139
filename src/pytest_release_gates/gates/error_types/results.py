"""The controller side of the ``new_error_type`` gate in words: the merged occurrences, compared
with the baseline (``decide.py``), as gate results. Apart from the capture (``gate.py``), which runs
in every process; this runs once, on the controller. Its messages are golden-tested.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Any

from ...config import AcceptedType, Settings
from ...model import NEW_ERROR_TYPE, GateResult, Level, Status
from ...session import GateContext
from .capture import NOTE_KIND, OBS_KIND, WARNING
from .decide import Comparison, Seen, aggregate
from .watch import scope_locations


def gather(context: GateContext) -> dict[str, Seen]:
    """Every occurrence the run shipped (tests that xfailed left out), one entry per signature."""
    xfailed = {nodeid for nodeid, rec in context.records.items() if rec.outcome == "xfailed"}
    pairs: list[tuple[str, Any]] = []
    for obs in context.observations(OBS_KIND):
        if obs.nodeid not in xfailed and isinstance(obs.data, dict):
            pairs.append((obs.nodeid, obs.data))
    for data in context.session_observations(OBS_KIND):
        if isinstance(data, dict) and str(data.get("test", "")) not in xfailed:
            pairs.append((str(data.get("test", "")), data))
    return aggregate(pairs)


def _policy(settings: Settings, kind: str) -> str:
    return settings.new_warning_types if kind == WARNING else settings.new_error_types


def capture_notes(context: GateContext, settings: Settings) -> Iterator[GateResult]:
    """Warnings about the capture (bad names in expected_errors, packages of ``error_scope`` not found)."""
    notes: dict[tuple[str, str], None] = {}
    for data in context.session_observations(NOTE_KIND):
        if isinstance(data, dict):
            notes[(str(data.get("subject", "")), str(data.get("message", "")))] = None
    scope = settings.error_scope
    if scope:
        _found, missing = scope_locations(scope)
        for pkg in missing:
            notes[("error_scope", f"{settings.describe('error_scope')}: package {pkg!r} "
                                  "not found; nothing is watched for it")] = None
        if sys.version_info < (3, 12):
            yield GateResult(NEW_ERROR_TYPE, "error_scope", Status.PASS, Level.HOLD,
                             "swallowed exceptions are watched on Python 3.12+ only (sys.monitoring)")
    for subject, message in notes:
        yield GateResult(NEW_ERROR_TYPE, subject, Status.WARN, Level.HOLD, message)


def compared(context: GateContext, settings: Settings, seen: dict[str, Seen], section: dict[str, Any],
             result: Comparison) -> Iterable[GateResult]:
    """The results of the comparison with the baseline: new, expired, increased, known, unchanged, resolved."""
    if context.baseline is None:  # accepting would not help: an unreadable file is never overwritten
        hint = " (the baseline could not be read: fix the file named in the run gate, then run again)"
    elif not section:
        hint = " (no error types in the baseline yet: accept them with --gate-update-baseline)"
    else:
        hint = ""
    for key in result.new:
        s = seen[key]
        gate = _new(settings, s, hint)
        if gate is not None:
            yield gate
    for key, accepted in result.expired:
        s = seen[key]
        owner = f" (owner {accepted.owner})" if accepted.owner else ""
        gate = _new(settings, s, hint, f"accepted in known_error_types until {accepted.expires}{owner}, "
                                         "which has passed; ")
        if gate is not None:
            yield gate
    for key in result.increased:
        s = seen[key]
        before = int(section[key]["count"])
        if _policy(settings, s.kind) == "off":
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


def _new(settings: Settings, s: Seen, hint: str, prefix: str = "") -> GateResult | None:
    policy = _policy(settings, s.kind)
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
