"""The ``coverage`` kind: total coverage against a floor and against the baseline."""

from __future__ import annotations

from ...config import number
from ...model import COVERAGE
from ...spec import ConfigKey, GateSpec

SPEC = GateSpec(
    kind=COVERAGE,
    plugin="release-gates-coverage",
    factory="pytest_release_gates.gates.coverage.gate:Gate",
    keys=(
        ConfigKey("coverage_min", number(ge=0, le=100), None),
        ConfigKey("coverage_max_drop", number(ge=0, le=100), None),
    ),
    section="coverage",
    validator="pytest_release_gates.gates.coverage.gate:validate_section",
    order=7,
)
