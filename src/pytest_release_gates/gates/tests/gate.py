"""The ``tests`` gate: failing tests hold; ``gate(severity=...)`` says how much.

``critical`` failures ask for rollback, ``major`` (the default) for hold,
``minor`` only warn. xfail is fine; a strict xpass is reported by pytest as a
failure and so fails here too.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from typing import Final, final

import pytest

from ... import levels
from ...config import Settings
from ...model import TESTS, GateResult, Level, Status
from ...session import FAILURE_OWNER, GateContext, observe

SEVERITIES: Final = ("critical", "major", "minor")
SEVERITY_KIND: Final = "severity"


def gate(severity: str = "major") -> str:
    """Signature of the ``gate`` marker: Python itself rejects bad keywords."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {', '.join(map(repr, SEVERITIES))}, got {severity!r}")
    return severity


def marker_severity(item: pytest.Item) -> str:
    marker = item.get_closest_marker("gate")
    if marker is None:
        return "major"
    try:
        return gate(*marker.args, **marker.kwargs)
    except (TypeError, ValueError) as exc:
        pytest.fail(f"invalid @pytest.mark.gate: {exc}", pytrace=False)


@final
class Gate:
    setup_markers: Final = frozenset({"gate"})  # on_setup has work only for these (pertest.py)

    def __init__(self, settings: Settings) -> None:
        self.levels = dict(settings.levels)

    def on_setup(self, item: pytest.Item, marked: AbstractSet[str]) -> None:
        if "gate" not in marked:
            return
        severity = marker_severity(item)
        if severity != "major":
            observe(item, SEVERITY_KIND, severity)

    def _level(self, severity: str) -> tuple[Status, Level]:
        return levels.for_severity(severity, self.levels)

    def pytest_release_gates_collect(self, context: GateContext) -> Iterable[GateResult]:
        # str(): a value no worker of this version sends is an unknown severity, which fails the gate (closed)
        severity = {o.nodeid: str(o.data) for o in context.observations(SEVERITY_KIND)}
        owned = {o.nodeid: o.data for o in context.observations(FAILURE_OWNER)}
        failing = 0
        for rec in context.iter_records():
            if rec.outcome not in ("failed", "error"):
                continue
            failing += 1
            sev = severity.get(rec.nodeid, "major")
            if rec.nodeid in owned and sev == "major":
                continue  # the owning gate (budget, timeout) already reports it at the same level
            status, level = self._level(sev)
            what = "failed" if rec.outcome == "failed" else f"errored in {rec.when}"
            label = f" ({sev})" if sev != "major" else ""
            detail = f": {rec.message}" if rec.message else ""
            yield GateResult(TESTS, rec.nodeid, status, level, f"{what}{label}{detail}", extra={"severity": sev})
        counts = context.counts()
        if not failing:
            yield GateResult(
                TESTS,
                "",
                Status.PASS,
                Level.HOLD,
                f"{counts.passed} passed, {counts.skipped} skipped, {counts.xfailed} xfailed",
            )
