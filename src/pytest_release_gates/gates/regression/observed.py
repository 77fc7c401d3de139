"""The metrics the regression gate reads this run (tracked metrics and ``regression``-marked durations),
and the small rules about them shared by checking and recording.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, final

from ... import metrics, tracing, wire
from ...config import Settings
from ...session import GateContext

MARKER_KIND: Final = "regression-marker"
DURATION_NAME: Final = "duration"
DURATION_SOURCE: Final = "regression"


@final
@dataclass(frozen=True, slots=True)
class MarkerObservation:
    """A ``@pytest.mark.regression`` test, filed at setup: its call duration becomes a tracked metric."""

    tolerance: float | None = None  # the marker's own; None: the config's default
    traced: str | None = None  # the tracers (coverage) the test ran under (``tracing.state``)

    def to_json(self) -> dict[str, object]:
        return {"tolerance": self.tolerance, "traced": self.traced}

    @classmethod
    def from_json(cls, data: object) -> MarkerObservation:
        """Never fails: a field it cannot use reads as absent (the config's tolerance, untraced)."""
        d = data if isinstance(data, Mapping) else {}
        tolerance = d.get("tolerance")
        return cls(float(tolerance) if wire.is_number(tolerance) else None, wire.text(d.get("traced")))


def metric_tolerance(m: metrics.Metric) -> float | None:
    """The metric's own tolerance (marker or gate_metric), when it is a usable number."""
    t = m.tolerance
    return float(t) if isinstance(t, (int, float)) and not isinstance(t, bool) and t >= 0 else None


def gather(context: GateContext) -> tuple[dict[str, metrics.Metric], dict[str, metrics.Metric]]:
    """(metrics of passing tests, metrics of other tests) by key; the last observation of a key wins."""
    found: dict[str, metrics.Metric] = {}
    for m in metrics.collect(context):
        if m.values:
            found[m.key] = m
    for obs in context.observations(MARKER_KIND):
        rec = context.records.get(obs.nodeid)
        if rec is None or rec.duration is None:
            continue
        marker = MarkerObservation.from_json(obs.data)
        m = metrics.Metric(
            obs.nodeid,
            DURATION_NAME,
            (float(rec.duration),),
            sampled=False,
            tolerance=marker.tolerance,
            unit="s",
            source=DURATION_SOURCE,
            traced=marker.traced,
        )
        found[m.key] = m
    passing = {k: m for k, m in found.items() if context.passed(m.nodeid)}
    other = {k: m for k, m in found.items() if k not in passing}
    return passing, other


def noisy(m: metrics.Metric) -> bool:
    """Timings vary run to run: keep their entry while within noise. Exact values are recorded as they are."""
    return m.sampled or m.unit == "s" or m.source == DURATION_SOURCE


def tracer_of(entry: Mapping[str, object]) -> str | None:
    t = entry.get("traced")
    return t if isinstance(t, str) and t else None


def tracer_note(now: str | None, then: str | None) -> str:
    """Why a comparison across tracer states says nothing about the code ("" when both were measured alike)."""
    if now == then:
        return ""
    if then is None:
        return f"measured under {tracing.describe(now or '')}, the baseline without"
    if now is None:
        return f"baseline recorded under {tracing.describe(then)}, this run without"
    return f"measured under {tracing.describe(now)}, the baseline under {tracing.describe(then)}"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def tolerance(settings: Settings, m: metrics.Metric) -> float:
    """The metric's own tolerance, else the counted or timed default of the config."""
    t = metric_tolerance(m)
    return t if t is not None else (settings.counter_tolerance if m.counted else settings.regression_tolerance)
