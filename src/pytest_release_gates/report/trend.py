"""Trends of tracked metrics over the run history: what the HTML charts and terminal sparklines share.

Reference lines come from the verdict's own gates (never re-derived): a
budget gate's ``limit`` is the budget line, a regression gate's
``extra["baseline"]`` the baseline line.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, final

from .. import fmt as fmt_mod

SPARKS: Final = "▁▂▃▅▇"
#: Runs shown in a terminal sparkline.
SPARK_RUNS: Final = 20
#: Budget metrics, best match for a chart of medians first.
_BUDGET_PREFERENCE: Final = ("p50", "seconds", "p95", "p99", "max")


@final
@dataclass(frozen=True, slots=True)
class Reference:
    budget: float | None = None
    budget_label: str = "budget"
    baseline: float | None = None


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        return None
    return float(x)


def references(gates: Iterable[Mapping[str, Any]], keys: Iterable[str]) -> dict[str, Reference]:
    """Budget and baseline line of each tracked metric key (``<nodeid>::<name>``), from gate results."""
    budgets: dict[str, list[Mapping[str, Any]]] = {}
    baselines: dict[str, float] = {}
    for g in gates:
        kind, subject = g.get("kind"), str(g.get("subject", ""))
        if kind == "budget" and _num(g.get("limit")) is not None:
            budgets.setdefault(subject, []).append(g)
        elif kind == "regression":
            base = _num(g.get("baseline"))
            if base is None:
                base = _num(g.get("baseline_median"))
            if base is not None:
                baselines[subject] = base
    keys = list(keys)
    per_node: dict[str, int] = {}
    for key in keys:
        node = key.rsplit("::", 1)[0]
        per_node[node] = per_node.get(node, 0) + 1
    out: dict[str, Reference] = {}
    for key in keys:
        node, _, name = key.rpartition("::")
        candidates = list(budgets.get(key, ()))
        for g in budgets.get(node, ()):
            named = g.get("measure") or g.get("name")
            if named == name or (named is None and per_node.get(node) == 1):
                candidates.append(g)
        budget, label = None, "budget"
        if candidates:
            candidates.sort(key=lambda g: _BUDGET_PREFERENCE.index(g.get("metric"))
                            if g.get("metric") in _BUDGET_PREFERENCE else len(_BUDGET_PREFERENCE))
            budget = _num(candidates[0].get("limit"))
            metric = candidates[0].get("metric")
            label = f"budget {metric}" if isinstance(metric, str) and metric != "seconds" else "budget"
        baseline = baselines.get(key)
        if baseline is None and name:
            baseline = baselines.get(node) if per_node.get(node) == 1 else None
        if budget is not None or baseline is not None:
            out[key] = Reference(budget, label, baseline)
    return out


def sparkline(values: Sequence[float]) -> str:
    """``▁▂▃▅▇`` for each value, scaled between the series' min and max (flat: all ``▃``)."""
    if not values:
        return ""
    lo, hi = min(values), max(values)
    if hi - lo <= abs(hi) * 1e-9:
        return SPARKS[2] * len(values)
    top = len(SPARKS) - 1
    return "".join(SPARKS[min(top, int((v - lo) / (hi - lo) * top + 0.5))] for v in values)


def fmt(value: float | None, unit: str = "s") -> str:
    """A value for people: seconds as ns/µs/ms/s, anything else with 4 significant digits."""
    if value is None or not math.isfinite(value):
        return "-"
    if unit == "s":
        scale, name = fmt_mod.time_unit(value)
        return f"{value * scale:.3g} {name}"
    text = f"{value:.4g}"
    return f"{text} {unit}" if unit else text


def terminal_lines(series: Mapping[str, Sequence[tuple[float, float]]], units: Mapping[str, str], *,
                   last: int = SPARK_RUNS, limit: int = 20) -> list[str]:
    """One sparkline line per metric with at least two points; the ones that moved most first."""
    rows = []
    for key, points in series.items():
        values = [v for _, v in points[-last:]]
        if len(values) < 2:
            continue
        prev, cur = values[-2], values[-1]
        change = (cur - prev) / abs(prev) if prev else 0.0
        rows.append((abs(change), key, values, change))
    rows.sort(key=lambda r: (-r[0], r[1]))
    out = []
    for _, key, values, change in rows[:limit]:
        unit = units.get(key, "s")
        out.append(f"trend {key}: {sparkline(values)} {fmt(values[0], unit)} -> {fmt(values[-1], unit)} "
                   f"({change:+.0%} vs previous run, last {len(values)} runs)")
    if len(rows) > limit:
        out.append(f"trend: {len(rows) - limit} more metrics with history (see --gate-report for all)")
    return out


def sample(points: Sequence[tuple[float, float]], max_points: int) -> list[tuple[int, float]]:
    """(run index, value) at most ``max_points`` long: min and max of even buckets, so spikes survive.

    The first and last points are always kept.
    """
    n = len(points)
    if n <= max_points:
        return [(i, v) for i, (_, v) in enumerate(points)]
    buckets = max(1, (max_points - 2) // 2)
    out: list[tuple[int, float]] = [(0, points[0][1])]
    width = (n - 2) / buckets
    for b in range(buckets):
        lo, hi = 1 + int(b * width), 1 + int((b + 1) * width)
        if hi <= lo:
            continue
        chunk = range(lo, min(hi, n - 1))
        if not chunk:
            continue
        i_min = min(chunk, key=lambda i: points[i][1])
        i_max = max(chunk, key=lambda i: points[i][1])
        for i in sorted({i_min, i_max}):
            out.append((i, points[i][1]))
    out.append((n - 1, points[-1][1]))
    return out
