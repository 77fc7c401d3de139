"""The ``flaky`` kind: a test that keeps failing across runs (its level is ``flaky_level``)."""

from __future__ import annotations

from ...config import choice, integer, number
from ...levels import POLICIES
from ...spec import ConfigKey, GateSpec

SPEC = GateSpec(
    kind="flaky",
    plugin="release-gates-flaky",
    factory="pytest_release_gates.gates.flaky.gate:Gate",
    keys=(
        ConfigKey("flaky_window", integer(ge=1), 10),
        ConfigKey("flaky_min_failures", integer(ge=1), 2),
        ConfigKey("flaky_level", choice(POLICIES), "warn"),
        ConfigKey("flaky_days", number(gt=0), None),
    ),
    levelled=False,
)
