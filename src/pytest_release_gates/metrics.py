"""Tracked metrics: the one format in which measurements reach the regression gate.

Producers (``perf.measure``, ``gate_metric``, the pytest-benchmark bridge)
call :func:`observe_metric` on the process running the test; the regression
gate reads them back on the controller with :func:`collect`. A metric is
keyed by ``"<test node id>::<name>"``: no line numbers, so moving code does
not churn the baseline.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, final

import pytest

from .calibration import Calibration
from .session import GateContext, observe

KIND: Final = "metric"
#: A metric the test asked for that could not be measured here (instructions without Valgrind).
UNMEASURED_KIND: Final = "metric-unmeasured"
#: Samples kept per observation; beyond this they are thinned evenly (sorted order kept).
MAX_SAMPLES: Final = 1000


@final
@dataclass(frozen=True, slots=True)
class Metric:
    nodeid: str
    name: str
    values: tuple[float, ...]
    sampled: bool  # True: many samples per run (significance test applies)
    higher_is_better: bool = False
    tolerance: float | None = None
    unit: str = "s"
    source: str = ""  # perf, gate_metric, benchmark, duration
    calibration: Calibration | None = None  # perf.measure under --release-gate: values are adjusted
    traced: str | None = None  # the tracers measured under (``tracing.state``): "coverage", ...; None: none
    count_env: Mapping[str, str] | None = None  # counted instructions: where (measure/instructions.py)

    @property
    def key(self) -> str:
        return f"{self.nodeid}::{self.name}"

    @property
    def counted(self) -> bool:
        """Instruction counts (``perf.measure(..., counter="instructions")``), not timings."""
        return self.unit == "instructions"


@final
@dataclass(frozen=True, slots=True)
class Unmeasured:
    """A tracked metric its test asked for but this run could not measure, and why (one line)."""

    nodeid: str
    name: str
    why: str
    unit: str

    @property
    def key(self) -> str:
        return f"{self.nodeid}::{self.name}"


def observe_metric(
    item: pytest.Item,
    name: str,
    values: Sequence[float],
    *,
    sampled: bool,
    higher_is_better: bool = False,
    tolerance: float | None = None,
    unit: str = "s",
    source: str = "",
    calibration: Calibration | None = None,
    traced: str | None = None,
    count_env: Mapping[str, str] | None = None,
) -> None:
    vals = [float(v) for v in values]
    if len(vals) > MAX_SAMPLES:
        step = len(vals) / MAX_SAMPLES
        vals = [vals[int(i * step)] for i in range(MAX_SAMPLES)]
    observe(
        item,
        KIND,
        {
            "name": name,
            "values": vals,
            "sampled": sampled,
            "higher_is_better": higher_is_better,
            "tolerance": tolerance,
            "unit": unit,
            "source": source,
            "calibration": calibration.as_data() if calibration is not None else None,
            "traced": traced,
            "count_env": dict(count_env) if count_env else None,
        },
    )


def observe_unmeasured(item: pytest.Item, name: str, why: str, *, unit: str) -> None:
    """File a metric this test asked for that could not be measured (its regression gate fails)."""
    observe(item, UNMEASURED_KIND, {"name": name, "why": why, "unit": unit})


def collect_unmeasured(context: GateContext) -> Iterator[Unmeasured]:
    for obs in context.observations(UNMEASURED_KIND):
        d: dict[str, Any] = obs.data
        yield Unmeasured(obs.nodeid, str(d.get("name")), str(d.get("why")), str(d.get("unit", "")))


def collect(context: GateContext) -> Iterator[Metric]:
    """Every tracked metric the run observed, in report order."""
    for obs in context.observations(KIND):
        d: dict[str, Any] = obs.data
        values = tuple(float(v) for v in d.get("values", ()) if isinstance(v, (int, float)) and math.isfinite(v))
        yield Metric(
            nodeid=obs.nodeid,
            name=str(d["name"]),
            values=values,
            sampled=bool(d.get("sampled")),
            higher_is_better=bool(d.get("higher_is_better")),
            tolerance=d.get("tolerance"),
            unit=str(d.get("unit", "s")),
            source=str(d.get("source", "")),
            calibration=Calibration.from_data(d.get("calibration")),
            traced=_traced(d.get("traced")),
            count_env=_strings(d.get("count_env")),
        )


def _traced(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _strings(data: Any) -> dict[str, str] | None:
    if not isinstance(data, Mapping) or not data:
        return None
    return {str(k): str(v) for k, v in data.items()}
