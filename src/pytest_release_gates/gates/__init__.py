"""Built-in gate kinds, one module each. Adding a kind = one module + one line here
(two when it keeps a baseline section).

Each module defines ``Gate``, a pytest plugin object registered under
``--release-gate``; it implements ``pytest_release_gates_collect``, any
session-level pytest hooks it needs, and its per-test work as plain methods
that ``pertest.PerTest`` calls (``on_setup``, ``on_makereport``, ``on_report``,
``on_logreport``: one hookimpl per test phase for all gates, not one each).
"""

from __future__ import annotations

from typing import Any, Final

from ..baseline import Validator
from ..config import Settings
from . import budgets, coverage, error_types, flaky, integrity, regression, run, tests, timeouts


def _compare(settings: Settings) -> Any:
    """The same-job A/B gate, only when a revision is given (its import is not free)."""
    if not (settings.compare_ref or settings.compare.ref):
        return None
    from ..compare.gate import Gate

    return Gate(settings)


#: (plugin name, factory) for every built-in gate kind, in registration order.
#: A factory may return None: that gate has nothing to do in this run.
BUILTIN: list[tuple[str, Any]] = [
    ("release-gates-run", run.Gate),
    ("release-gates-tests", tests.Gate),
    ("release-gates-budget", budgets.Gate),
    ("release-gates-timeout", timeouts.Gate),
    ("release-gates-flaky", flaky.Gate),
    ("release-gates-error-types", error_types.Gate),
    ("release-gates-regression", regression.Gate),
    ("release-gates-coverage", coverage.Gate),
    ("release-gates-integrity", integrity.Gate),
    ("release-gates-compare", _compare),
]

#: (section, validator) for every baseline section a built-in gate kind keeps. Every reader of the
#: baseline passes these to ``baseline.load``, so a file is valid or not whatever else was imported.
BASELINE_SECTIONS: Final[tuple[tuple[str, Validator], ...]] = (
    (regression.SECTION, regression.validate_section),
    (coverage.SECTION, coverage.validate_section),
    (error_types.SECTION, error_types.validate_section),
    (integrity.SECTION, integrity.validate_section),
)
