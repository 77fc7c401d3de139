"""The verdict: one pure function from gate results to a decision."""

from __future__ import annotations

from collections.abc import Iterable

from .model import Decision, GateResult, Level, Status

_KIND_ORDER = {"run": 0, "tests": 1, "timeout": 2}


def reduce(gates: Iterable[GateResult]) -> Decision:
    """SPEC's decision matrix: the verdict is the worst level a failing gate asks for.

    Passing and warning gates never raise it. Reasons list the failing gates,
    worst first, then by kind, then subject, so the order of ``gates`` never
    changes the result.
    """
    failing = [g for g in gates if g.status is Status.FAIL and g.level > Level.DEPLOY]
    level = max((g.level for g in failing), default=Level.DEPLOY)
    failing.sort(key=lambda g: (-g.level, _KIND_ORDER.get(g.kind, 9), g.kind, g.subject, g.message))
    reasons: list[str] = []
    for g in failing:
        if g.reason not in reasons:
            reasons.append(g.reason)
    return Decision(level, tuple(reasons))
