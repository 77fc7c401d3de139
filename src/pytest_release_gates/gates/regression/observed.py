"""The metrics the regression gate reads this run (tracked metrics and ``regression``-marked durations),
and the small rules about them shared by checking and recording.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Final

from ... import metrics, tracing
from ...config import Settings
from ...session import GateContext

MARKER_KIND: Final = "regression-marker"
DURATION_NAME: Final = "duration"
DURATION_SOURCE: Final = "regression"


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
        data = obs.data if isinstance(obs.data, dict) else {}
        m = metrics.Metric(
            obs.nodeid,
            DURATION_NAME,
            (float(rec.duration),),
            sampled=False,
            tolerance=data.get("tolerance"),
            unit="s",
            source=DURATION_SOURCE,
            traced=tracer_of(data),
        )
        found[m.key] = m
    passing = {k: m for k, m in found.items() if context.passed(m.nodeid)}
    other = {k: m for k, m in found.items() if k not in passing}
    return passing, other


def noisy(m: metrics.Metric) -> bool:
    """Timings vary run to run: keep their entry while within noise. Exact values are recorded as they are."""
    return m.sampled or m.unit == "s" or m.source == DURATION_SOURCE


def tracer_of(entry: Mapping[str, Any]) -> str | None:
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
