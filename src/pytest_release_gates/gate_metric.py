"""The ``gate_metric`` fixture: record any number as a tracked metric.

``gate_metric("wheel_size_kb", 412)`` in a test makes the number a metric
compared to the baseline like a timing: one value per run, so it regresses
by ratio alone (SPEC "Regressions"). A bad call fails the test with one line
naming it, so a typo cannot silently disable a gate.
"""

from __future__ import annotations

import math
from typing import Final, NoReturn, final

import pytest

from . import metrics

SOURCE: Final = "gate_metric"
#: Metric name of a ``regression``-marked test's duration (gates/regression/gate.py); not for gate_metric then.
DURATION_NAME: Final = "duration"


@final
class GateMetric:
    """Callable behind the fixture: ``gate_metric(name, value, *, higher_is_better=False, tolerance=None)``."""

    __slots__ = ("_item", "_names")

    def __init__(self, item: pytest.Item) -> None:
        self._item = item
        self._names: set[str] = set()

    def __call__(
        self, name: str, value: float, *, higher_is_better: bool = False, tolerance: float | None = None
    ) -> None:
        nodeid = self._item.nodeid
        if not isinstance(name, str) or not name.strip():
            self._fail(f"metric name must be a non-empty string, got {name!r}")
        if "::" in name:
            self._fail(f"metric name {name!r} must not contain '::'")
        if name == DURATION_NAME and self._item.get_closest_marker("regression") is not None:
            self._fail(f"metric name {name!r} is taken by @pytest.mark.regression's call duration of this test")
        if name in self._names:
            self._fail(f"metric {name!r} recorded twice in {nodeid}; give each value its own name")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self._fail(f"metric {name!r}: value must be a number, got {value!r}")
        if not math.isfinite(value):
            self._fail(f"metric {name!r}: value must be a finite number, got {value!r}")
        if not isinstance(higher_is_better, bool):
            self._fail(f"metric {name!r}: higher_is_better must be True or False, got {higher_is_better!r}")
        if tolerance is not None:
            if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not math.isfinite(tolerance):
                self._fail(f"metric {name!r}: tolerance must be a number, got {tolerance!r}")
            if tolerance < 0:
                self._fail(f"metric {name!r}: tolerance must not be negative, got {tolerance!r}")
        self._names.add(name)
        metrics.observe_metric(
            self._item,
            name,
            [float(value)],
            sampled=False,
            higher_is_better=higher_is_better,
            tolerance=None if tolerance is None else float(tolerance),
            unit="",
            source=SOURCE,
        )

    def _fail(self, message: str) -> NoReturn:
        pytest.fail(f"invalid gate_metric in {self._item.nodeid}: {message}", pytrace=False)

    def __repr__(self) -> str:
        return f"<gate_metric of {self._item.nodeid}>"
