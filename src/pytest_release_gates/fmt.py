"""How numbers read in every message: one spelling of each time unit, one ratio format.

Budgets, regressions, trends and the baseline diff each choose how many digits
they show; the unit names and the ratio come from here, so ``µs`` never sits
beside ``us`` and a ratio reads ``1.42x`` wherever it appears.
"""

from __future__ import annotations

import math
from typing import Final

#: (smallest value in seconds, multiplier, name), largest first.
TIME_UNITS: Final = ((1.0, 1.0, "s"), (1e-3, 1e3, "ms"), (1e-6, 1e6, "µs"), (0.0, 1e9, "ns"))


def time_unit(seconds: float, *, smallest_in_s: float = 1.0) -> tuple[float, str]:
    """(multiplier, name) to show ``seconds`` in: seconds from ``smallest_in_s`` up, else the
    largest unit the value reaches (ns below)."""
    a = abs(seconds)
    if a >= smallest_in_s or a == 0 or not math.isfinite(a):
        return 1.0, "s"
    for smallest, multiplier, name in TIME_UNITS[1:]:
        if a >= smallest:
            return multiplier, name
    return 1e9, "ns"  # pragma: no cover - the last row takes everything


def fmt_ratio(r: float, digits: int = 2) -> str:
    """``1.42x``, ``12.3x``, ``123x``; ``<0.01x`` rather than a ``0.00x`` that reads as zero.

    ``digits``: decimals below 10x (3 for exact instruction counts: ``1.031x``).
    """
    if math.isnan(r):
        return "?"
    if math.isinf(r):
        return "∞"
    if r >= 100:
        return f"{r:.0f}x"
    if r >= 10:
        return f"{r:.1f}x"
    if r < 0.01:  # 0 included: a peak of 0.0 MB against its budget
        return "<0.01x"
    return f"{r:.{digits}f}x"


def plural(n: int, word: str) -> str:
    """``1 file``, ``2 files``: a count with its noun."""
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


# ------------------------------------------------------------------ budgets

#: The unit of each budget limit in the verdict (percentiles are seconds).
LIMIT_UNITS: Final = {"seconds": "s", "memory_mb": "MB"}


def _three(x: float) -> str:
    """Three significant digits, never an exponent."""
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def fmt_seconds(v: float, like: float | None = None) -> str:
    """Seconds in a readable unit: the unit ``like`` (a limit) would get, so value and limit compare at a glance."""
    scale, unit = time_unit(v if like is None else like, smallest_in_s=0.1)
    return f"{v:.2f} s" if unit == "s" else f"{_three(v * scale)} {unit}"


def fmt_wall(v: float, like: float | None = None) -> str:
    """Wall time always in seconds (as SPEC writes ``took 1.42 s, budget 1.00 s``), with enough decimals
    for two significant digits of ``like`` (a limit): ``0.050 s``."""
    ref = v if like is None else like
    decimals = 2 if ref >= 0.1 or ref <= 0 else min(9, 1 - math.floor(math.log10(ref)))
    if like is not None and 0 < v < 0.1:  # far under its limit: one significant digit, never "0.00 s"
        decimals = max(decimals, min(9, -math.floor(math.log10(v))))
    return f"{v:.{decimals}f} s"


def limit(metric: str, v: float, like: float | None = None) -> str:
    if metric == "memory_mb":
        return f"{v:.1f} MB"
    return fmt_wall(v, like) if metric == "seconds" else fmt_seconds(v, like)
