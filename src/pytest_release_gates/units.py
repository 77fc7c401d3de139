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
