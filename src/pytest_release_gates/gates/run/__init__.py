"""The ``run`` kind: was the run complete? (crashed workers, collection errors, a narrowed run).

The kind is the core's: ``levels`` cannot change it (an incomplete run always holds).
"""

from __future__ import annotations

from ...config import choice
from ...model import RUN
from ...spec import ConfigKey, GateSpec

SPEC = GateSpec(
    kind=RUN,
    plugin="release-gates-run",
    factory="pytest_release_gates.gates.run.gate:Gate",
    keys=(ConfigKey("partial_run", choice(("hold", "warn")), "hold"),),
    order=0,
    reason_rank=0,
    levelled=False,
)
