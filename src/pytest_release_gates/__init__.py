"""pytest-release-gates: turn a test run into a release decision.

Public API: the gate model for plugins that contribute gates
(``pytest_release_gates_collect``) or decide the verdict
(``pytest_release_gates_verdict``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .model import (
    BUDGET,
    COVERAGE,
    INTEGRITY,
    NEW_ERROR_TYPE,
    REGRESSION,
    RUN,
    TESTS,
    TIMEOUT,
    Decision,
    GateResult,
    Level,
    Status,
    TestCounts,
    UsageError,
)
from .spec import ConfigKey, GateSpec, MarkerSpec, Registry
from .verdict import reduce

if TYPE_CHECKING:
    from .session import GateContext, Observation, observe, observe_session

_FROM_SESSION = frozenset({"GateContext", "Observation", "observe", "observe_session"})


def __getattr__(name: str) -> Any:
    # The session helpers import pytest; the `release-gate` command never needs them.
    if name in _FROM_SESSION:
        from . import session

        return getattr(session, name)
    if name == "KINDS":  # every built-in kind, in display order (read from the gate specs)
        from .gates import BUILTIN

        return BUILTIN.kinds
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__version__ = "0.1.0"

__all__ = [
    "BUDGET",
    "COVERAGE",
    "INTEGRITY",
    "KINDS",
    "NEW_ERROR_TYPE",
    "REGRESSION",
    "RUN",
    "TESTS",
    "TIMEOUT",
    "ConfigKey",
    "Decision",
    "GateContext",
    "GateResult",
    "GateSpec",
    "Level",
    "MarkerSpec",
    "Observation",
    "Registry",
    "Status",
    "TestCounts",
    "UsageError",
    "__version__",
    "observe",
    "observe_session",
    "reduce",
]
