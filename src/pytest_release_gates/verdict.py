"""The verdict: one pure function from gate results to a decision."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from .model import RUN, TESTS, TIMEOUT, Decision, GateResult, Level, Status
from .spec import UNRANKED

#: The built-in kinds' ``reason_rank`` (their specs declare the same; tests/test_spec.py checks it),
#: for a policy plugin that calls ``reduce(gates)`` without the run's ranks.
DEFAULT_RANKS: Final[Mapping[str, int]] = {RUN: 0, TESTS: 1, TIMEOUT: 2}


def reduce(gates: Iterable[GateResult], ranks: Mapping[str, int] | None = None) -> Decision:
    """SPEC's decision matrix: the verdict is the worst level a failing gate asks for.

    Passing and warning gates never raise it. Reasons list the failing gates,
    worst first, then by kind, then subject, so the order of ``gates`` never
    changes the result. ``ranks`` (kind -> rank, from the run's gate specs) puts some kinds'
    reasons first at one level.
    """
    failing = [g for g in gates if g.status is Status.FAIL and g.level > Level.DEPLOY]
    level = max((g.level for g in failing), default=Level.DEPLOY)
    rank = DEFAULT_RANKS if ranks is None else ranks
    failing.sort(key=lambda g: (-g.level, rank.get(g.kind, UNRANKED), g.kind, g.subject, g.message))
    reasons: list[str] = []
    for g in failing:
        if g.reason not in reasons:
            reasons.append(g.reason)
    return Decision(level, tuple(reasons))
