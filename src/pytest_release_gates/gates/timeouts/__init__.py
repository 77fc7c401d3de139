"""The ``timeout`` kind: a budgeted test stopped by pytest-timeout at ``hang_factor`` times its budget."""

from __future__ import annotations

from ...config import number
from ...model import TIMEOUT
from ...spec import ConfigKey, GateSpec

SPEC = GateSpec(
    kind=TIMEOUT,
    plugin="release-gates-timeout",
    factory="pytest_release_gates.gates.timeouts.gate:Gate",
    keys=(ConfigKey("hang_factor", number(gt=1), 10.0),),
    order=2,
    reason_rank=2,
)
