"""The regression comparison, pure: a metric's current values against its baseline entry (or, for the
A/B gate, against the base revision's values measured now), and how the result reads. No pytest, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, final

from ... import calibration, fmt
from ...significance import ALPHA, can_reach, mann_whitney

#: Relative slack on ratio thresholds, so six-digit rounding of the baseline never decides.
EPS: Final = 2e-6



OK: Final = "ok"
NOISE: Final = "noise"  # beyond tolerance, but not significant
REGRESSED: Final = "regressed"
IMPROVED: Final = "improved"


@final
@dataclass(frozen=True, slots=True)
class Comparison:
    outcome: str
    ratio: float  # worse-direction ratio: > 1 is worse
    current: float
    baseline: float
    p: float | None  # None when no significance test was made
    note: str  # how it was decided, for the message ("" when by significance test)
    rollback: bool
    scaling: calibration.Scaling | None = None  # calibrated: how the baseline was scaled


def worse_ratio(current: float, base: float, higher_is_better: bool) -> float:
    """current/baseline (lower is better) or baseline/current (higher is better).

    For zero or negative values, where a quotient means nothing, the relative
    change in the worse direction: ``1 + worse_delta / |baseline|``.
    """
    if current == base:
        return 1.0
    if current > 0 and base > 0:
        return base / current if higher_is_better else current / base
    worse_delta = (base - current) if higher_is_better else (current - base)
    if base == 0:
        return math.inf if worse_delta > 0 else 0.0
    return max(0.0, 1.0 + worse_delta / abs(base))


def compare(
    values: Sequence[float],
    sampled: bool,
    higher_is_better: bool,
    entry: Mapping[str, Any],
    tolerance: float,
    rollback_ratio: float,
    calibrated: calibration.Calibration | None = None,
    counted: bool = False,
) -> Comparison:
    """``values`` against ``entry``; ``calibrated``: the calibration measured with them; ``counted``: instruction
    counts per batch (no significance test when both sides repeat exactly)."""
    values = sorted(values)  # once: the median and the rank test both use it (re-sorting sorted data is cheap)
    current = _median_sorted(values)
    recorded = float(entry["median"])
    base_samples: Sequence[float] = entry.get("samples", ())  # validated as numbers on load
    scaled = calibration.scaling(calibrated, entry)
    notes = [] if scaled is not None else [calibration.why_not(calibrated, entry)]
    if scaled is not None:  # the baseline as it would time on the machine as fast as it is now
        base = recorded * scaled.factor
        base_samples = [x * scaled.factor for x in base_samples]
    else:
        base = recorded
    ratio = worse_ratio(current, base, higher_is_better)
    p: float | None = None
    note = ""
    if counted and len(values) > 1 and len(base_samples) > 1:
        # Imported here: only counted metrics need it, and a run that counts nothing skipped ~25 M instructions
        # of imports (valgrind, `python -c` importing the plugin with and without it, 2026-12-05).
        from ...measure import instructions

        varies = max(instructions.spread(values), instructions.spread(base_samples))
        if varies == 0:
            sampled = False  # the same count every batch, on both sides: the ratio is exact
            notes.append("counts repeat exactly: no significance test needed")
        else:
            notes.append(f"counts vary by up to {varies:.2%} between batches"
                         + (" (does the function depend on time, randomness or state outside it?)"
                            if varies > tolerance else "")
                         + ", so the rank test decides too")
    if sampled:
        if len(values) < 2 or len(base_samples) < 2:
            note = (
                "the baseline has no samples: decided by ratio alone"
                if len(base_samples) < 2
                else "one sample: decided by ratio alone"
            )
        elif not can_reach(len(values), len(base_samples)):
            note = (
                f"too few samples ({len(values)} vs {len(base_samples)}) for a significance test: "
                "decided by ratio alone"
            )
        else:
            p = mann_whitney(values, base_samples).p
    significant = p is None or p < ALPHA
    rollback = ratio >= rollback_ratio * (1 - EPS)
    worse = ratio > (1 + tolerance) * (1 + EPS) or rollback
    better = ratio * (1 + tolerance) < 1 - EPS
    if worse:
        outcome = REGRESSED if significant else NOISE
    elif better:
        outcome = IMPROVED if significant else OK
    else:
        outcome = OK
    note = "; ".join(n for n in (*notes, note) if n)
    return Comparison(outcome, ratio, current, recorded, p, note, rollback and outcome == REGRESSED, scaled)


def _median_sorted(values: Sequence[float]) -> float:
    n = len(values)
    mid = n // 2
    return float(values[mid]) if n % 2 else (values[mid - 1] + values[mid]) / 2


# ---------------------------------------------------------------- formatting


def fmt_value(x: float, unit: str) -> str:
    if not math.isfinite(x):
        return str(x)
    if unit == "instructions":  # per call: whole counts read best (1,511,210)
        return f"{x:,.0f}"
    if unit == "s":
        scale, name = fmt.time_unit(x)
        return f"{x * scale:.3g} {name}"
    return f"{x:.6g}{(' ' + unit) if unit else ''}"


fmt_ratio: Final = fmt.fmt_ratio


def ratio_text(r: float, unit: str) -> str:
    """Counts are exact: their ratio gets three decimals (1.031x), timings two."""
    return fmt_ratio(r, 3 if unit == "instructions" else 2)


def fmt_tolerance(t: float) -> str:
    return f"{t * 100:.3g}%"


def describe(c: Comparison, unit: str, higher_is_better: bool) -> str:
    if unit == "instructions":
        bits = f"{fmt_value(c.current, unit)} vs {fmt_value(c.baseline, unit)} per call"
    elif c.scaling is None:
        bits = f"median {fmt_value(c.current, unit)} vs {fmt_value(c.baseline, unit)}"
    else:  # the figures compared are the current median and the scaled baseline: say both, then how
        sc = c.scaling
        bits = (f"median {fmt_value(c.current, unit)} vs {fmt_value(c.baseline * sc.factor, unit)}, calibrated: "
                f"the baseline's {fmt_value(c.baseline, unit)} scaled {sc.factor:.2f}x, as the machine's reference "
                f"takes {sc.speed:.2f}x its recorded time, {sc.cpu:.0%} of the time computing")
    if higher_is_better:
        bits += ", higher is better"
    if c.p is not None:
        bits += f", p={c.p:.2g}"
    if c.note:
        bits += f"; {c.note}"
    return bits


def worse_word(unit: str, higher_is_better: bool) -> str:
    if unit == "instructions" and not higher_is_better:
        return "more instructions"
    return "slower" if unit == "s" and not higher_is_better else "worse"
