"""The statistics of one ``perf.measure`` call, and the one percentile definition.

Apart from the measuring because the budget gate computes percentiles too
(``p95=`` and the rest over pytest-benchmark's samples): one definition,
type 7, for both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, final

#: The default counter: samples are seconds (``counter="instructions"``: instructions per call).
TIME: Final = "time"


def percentile(sorted_samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of already sorted samples, by linear interpolation.

    Type 7: position ``h = (n - 1) * q / 100``; the result is
    ``x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)])``, clamped
    to its two neighbours so float rounding can never break monotonicity.
    """
    n = len(sorted_samples)
    if n == 0:
        raise ValueError("percentile of no samples")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q!r}")
    h = (n - 1) * q / 100.0
    lo = math.floor(h)
    if lo >= n - 1:
        return float(sorted_samples[-1])
    a, b = float(sorted_samples[lo]), float(sorted_samples[lo + 1])
    value = a + (h - lo) * (b - a)
    return min(max(value, a), b)


def _stdev(data: Sequence[float]) -> float:
    """Sample standard deviation in floats (``statistics.stdev`` is exact but ~100x slower)."""
    n = len(data)
    if n < 2:
        return 0.0
    mean = math.fsum(data) / n
    return math.sqrt(math.fsum((x - mean) ** 2 for x in data) / (n - 1))


@final
@dataclass(frozen=True, slots=True)
class PerfStats:
    """Statistics of one ``perf.measure`` call: seconds, or instructions per call when ``counter`` says so."""

    name: str
    samples: tuple[float, ...]  # per-round times, in the order they were measured
    min: float
    max: float
    mean: float
    median: float
    p50: float
    p95: float
    p99: float
    stdev: float  # sample standard deviation (n - 1); 0.0 for a single round
    rounds: int  # timed rounds; calls counted with counter="instructions"
    counter: str = TIME  # "instructions": each sample is one batch's instructions per call

    @classmethod
    def from_samples(cls, name: str, samples: Sequence[float]) -> PerfStats:
        data = sorted(samples)
        if not data:
            raise ValueError("no samples")
        median = percentile(data, 50)
        return cls(
            name=name,
            samples=tuple(samples),
            min=data[0],
            max=data[-1],
            mean=math.fsum(data) / len(data),
            median=median,
            p50=median,
            p95=percentile(data, 95),
            p99=percentile(data, 99),
            stdev=_stdev(data),
            rounds=len(data),
        )

    def __repr__(self) -> str:
        if self.counter != TIME:
            return (f"PerfStats(name={self.name!r}, counter={self.counter!r}, calls={self.rounds}, "
                    f"median={self.median:,.0f} per call, min={self.min:,.0f}, max={self.max:,.0f})")
        return (f"PerfStats(name={self.name!r}, rounds={self.rounds}, min={self.min:.3g}, "
                f"median={self.median:.3g}, p95={self.p95:.3g}, p99={self.p99:.3g}, max={self.max:.3g})")
