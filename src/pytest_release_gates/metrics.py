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
from typing import Final, final

import pytest

from . import wire
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


@final
@dataclass(frozen=True, slots=True)
class MetricObservation:
    """One tracked metric as a test's process ships it (``KIND``); the node id travels beside it."""

    name: str
    values: tuple[float, ...]
    sampled: bool
    higher_is_better: bool = False
    tolerance: float | None = None
    unit: str = "s"
    source: str = ""
    calibration: Calibration | None = None
    traced: str | None = None
    count_env: Mapping[str, str] | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "values": list(self.values),
            "sampled": self.sampled,
            "higher_is_better": self.higher_is_better,
            "tolerance": self.tolerance,
            "unit": self.unit,
            "source": self.source,
            "calibration": self.calibration.as_data() if self.calibration is not None else None,
            "traced": self.traced,
            "count_env": dict(self.count_env) if self.count_env else None,
        }

    @classmethod
    def from_json(cls, data: object) -> MetricObservation:
        """Non-finite samples are dropped; a sample list that is not a list, or no name, is ``ValueError``."""
        d = wire.mapping(data, KIND)
        if "name" not in d:
            raise ValueError(f"malformed {KIND!r} observation: no 'name'")
        values = d.get("values", ())
        if not isinstance(values, (list, tuple)):
            raise ValueError(f"malformed {KIND!r} observation: 'values' is not a list: {values!r}")
        tolerance = d.get("tolerance")
        return cls(
            name=str(d["name"]),
            values=tuple(float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)),
            sampled=bool(d.get("sampled")),
            higher_is_better=bool(d.get("higher_is_better")),
            tolerance=float(tolerance) if wire.is_number(tolerance) else None,
            unit=str(d.get("unit", "s")),
            source=str(d.get("source", "")),
            calibration=Calibration.from_data(d.get("calibration")),
            traced=wire.text(d.get("traced")),
            count_env=wire.strings(d.get("count_env")),
        )

    def metric(self, nodeid: str) -> Metric:
        return Metric(nodeid, self.name, self.values, self.sampled, self.higher_is_better, self.tolerance,
                      self.unit, self.source, self.calibration, self.traced, self.count_env)


@final
@dataclass(frozen=True, slots=True)
class UnmeasuredObservation:
    """A tracked metric its test asked for and this process could not measure (``UNMEASURED_KIND``)."""

    name: str
    why: str
    unit: str

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "why": self.why, "unit": self.unit}

    @classmethod
    def from_json(cls, data: object) -> UnmeasuredObservation:
        """Missing fields read as text (the metric still fails: asked for, not measured)."""
        d = wire.mapping(data, UNMEASURED_KIND)
        return cls(str(d.get("name")), str(d.get("why")), str(d.get("unit", "")))


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
    obs = MetricObservation(name, tuple(vals), sampled, higher_is_better, tolerance, unit, source, calibration,
                            traced, count_env)
    observe(item, KIND, obs.to_json())


def observe_unmeasured(item: pytest.Item, name: str, why: str, *, unit: str) -> None:
    """File a metric this test asked for that could not be measured (its regression gate fails)."""
    observe(item, UNMEASURED_KIND, UnmeasuredObservation(name, why, unit).to_json())


def collect_unmeasured(context: GateContext) -> Iterator[Unmeasured]:
    for obs in context.observations(UNMEASURED_KIND):
        u = UnmeasuredObservation.from_json(obs.data)
        yield Unmeasured(obs.nodeid, u.name, u.why, u.unit)


def collect(context: GateContext) -> Iterator[Metric]:
    """Every tracked metric the run observed, in report order."""
    for obs in context.observations(KIND):
        yield MetricObservation.from_json(obs.data).metric(obs.nodeid)
