"""pytest-release-gates: turn a test run into a release decision.

Public API: the gate model for plugins that contribute gates
(``pytest_release_gates_collect``) or decide the verdict
(``pytest_release_gates_verdict``).
"""

from __future__ import annotations

from .model import (
    BUDGET,
    COVERAGE,
    INTEGRITY,
    KINDS,
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
from .session import GateContext, Observation, observe, observe_session
from .verdict import reduce

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
    "Decision",
    "GateContext",
    "GateResult",
    "Level",
    "Observation",
    "Status",
    "TestCounts",
    "UsageError",
    "__version__",
    "observe",
    "observe_session",
    "reduce",
]
