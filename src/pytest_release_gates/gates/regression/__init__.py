"""The ``regression`` kind: tracked metrics against the baseline (or, with ``compare``, the A/B gate)."""

from __future__ import annotations

from ...config import boolean, number
from ...model import REGRESSION
from ...spec import ConfigKey, GateSpec, MarkerSpec

SPEC = GateSpec(
    kind=REGRESSION,
    plugin="release-gates-regression",
    factory="pytest_release_gates.gates.regression.gate:Gate",
    keys=(
        ConfigKey("regression_tolerance", number(ge=0), 0.2),
        ConfigKey("rollback_ratio", number(gt=1), 1.5),
        ConfigKey("counter_tolerance", number(ge=0), 0.01),
        ConfigKey("strict_machine", boolean, False),
    ),
    markers=(MarkerSpec(
        "regression", "regression(tolerance=None): track this test's call duration against the release-gate baseline."
    ),),
    section="regression",
    validator="pytest_release_gates.gates.regression.entries:validate_section",
    order=4,
)
