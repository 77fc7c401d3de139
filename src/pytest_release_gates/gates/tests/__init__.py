"""The ``tests`` kind: failing tests, at the level their ``gate(severity=...)`` marker asks for."""

from __future__ import annotations

from ...model import TESTS
from ...spec import GateSpec, MarkerSpec

SPEC = GateSpec(
    kind=TESTS,
    plugin="release-gates-tests",
    factory="pytest_release_gates.gates.tests.gate:Gate",
    markers=(MarkerSpec(
        "gate",
        "gate(severity='major'): what a failure of this test does to the release verdict: 'critical' "
        "(rollback), 'major' (hold) or 'minor' (warn only).",
    ),),
    order=1,
    reason_rank=1,
)
