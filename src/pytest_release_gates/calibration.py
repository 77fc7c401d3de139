"""Machine-speed calibration of ``perf.measure`` timings.

Why: on a shared machine (a CI runner, a VM with busy neighbours) the same
code runs at speeds that differ by 2x from one second to the next and from
one run to the next. A baseline recorded in a fast moment makes an unchanged
function look slower later; one recorded in a slow moment hides a real
slowdown. Computation on the machine slows down together, so ``perf.measure``
also times a fixed *reference* next to each burst of rounds, and the
regression gate allows for the reference's change of speed
(``benchmarks/regression_accuracy.py`` and the README give the figures).

Only the part of a round spent computing (its thread's CPU time, system
calls included) follows the machine's speed; time spent waiting (a sleep, a
socket, a lock) does not. So each measurement also records its *CPU
fraction* ``f`` (CPU time of the timed rounds over their wall time), and a
machine ``k`` times slower is expected to take ``f * k + (1 - f)`` times as
long: fully calibrated for computation, not at all for code that waits.

The reference is a short pure-Python loop over a small table (no I/O, no
allocation that lasts, about 40 µs), timed twice, the lower kept (a
preemption in one of them does not count). Its work must never change
between versions: a recorded reference time is only comparable with the same
work, so a change to it must change :data:`REFERENCE_ID`.

Limits (README, "Calibration"): the reference sees the machine, not the
code, so a regression that slows the interpreter itself between calls (a
thread the code leaves spinning, a tracer it installs) slows the reference
too and is partly hidden. Beyond :data:`MAX_SPEED_FACTOR` the calibration is
not trusted and raw times are compared (fail closed).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeGuard, final

#: Names the reference's work; stored with each baseline entry's reference time.
REFERENCE_ID: Final = "loop-index/1"
#: A machine more than this much faster or slower than at recording: compare raw times.
MAX_SPEED_FACTOR: Final = 3.0

#: CPU time of this thread, system calls included (what follows the machine's speed).
cpu_clock: Final = time.thread_time_ns

_TABLE: Final = list(range(4096))
_ORDER: Final = [(k * 1031) & 4095 for k in range(1000)]  # 1031 is odd: 1,000 distinct slots, scattered


def _reference_work() -> int:
    table = _TABLE
    s = 0
    for i in _ORDER:
        s += table[i]
    return s


def time_reference(clock: Callable[[], int]) -> int:
    """Nanoseconds the reference takes now: the lower of two timings."""
    t0 = clock()
    _reference_work()
    t1 = clock()
    _reference_work()
    t2 = clock()
    return min(t1 - t0, t2 - t1)


@final
@dataclass(frozen=True, slots=True)
class Calibration:
    """What a calibrated measurement carries: its median reference time and its CPU fraction."""

    reference: float  # seconds
    cpu: float  # 0..1: CPU time of the timed rounds over their wall time

    def scale_at(self, relative_speed: float) -> float:
        """How much longer a round takes when the reference takes ``relative_speed`` times as long."""
        return self.cpu * relative_speed + (1.0 - self.cpu)

    def as_entry(self) -> dict[str, Any]:
        """The ``reference`` field of a baseline entry."""
        return {"id": REFERENCE_ID, "seconds": self.reference, "cpu": self.cpu}

    def as_data(self) -> dict[str, float]:
        return {"reference": self.reference, "cpu": self.cpu}

    @classmethod
    def from_data(cls, data: object) -> Calibration | None:
        """From :meth:`as_data` (an observation shipped by an xdist worker); None when unusable."""
        if not isinstance(data, Mapping):
            return None
        ref, cpu = data.get("reference"), data.get("cpu")
        if not (_number(ref) and ref > 0 and _number(cpu) and 0 <= cpu <= 1):
            return None
        return cls(float(ref), float(cpu))

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any]) -> Calibration | None:
        """The calibration a baseline entry was recorded with; None without one or with another reference
        (an entry without ``cpu``, as the first version wrote, counts as computing throughout)."""
        ref = entry.get("reference")
        if not isinstance(ref, Mapping) or ref.get("id") != REFERENCE_ID:
            return None
        return cls.from_data({"reference": ref.get("seconds"), "cpu": ref.get("cpu", 1.0)})


def _number(x: object) -> TypeGuard[float]:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


@final
class Recorder:
    """Filled by the timing loop (``measure/timing.py``): the reference time of each round's burst, CPU and
    wall time of the rounds."""

    __slots__ = ("cpu_ns", "references", "wall_ns")

    def __init__(self) -> None:
        self.references: list[int] = []  # nanoseconds, one per round
        self.cpu_ns = 0
        self.wall_ns = 0

    def result(self, samples: Sequence[float]) -> tuple[list[float], Calibration] | None:
        """(samples adjusted to the measurement's median machine speed, its calibration); None when the
        reference was not timed or its times are unusable."""
        if len(self.references) != len(samples) or not samples or self.wall_ns <= 0:
            return None
        median = statistics.median(self.references)
        if median <= 0 or min(self.references) <= 0:
            return None
        cal = Calibration(median / 1e9, min(1.0, max(0.0, self.cpu_ns / self.wall_ns)))
        return adjust(samples, [r / 1e9 for r in self.references], cal.cpu), cal


def adjust(samples: Sequence[float], references: Sequence[float], cpu: float = 1.0) -> list[float]:
    """Each round's time as it would have been at the measurement's median machine speed.

    Round ``i`` is divided by ``cpu * references[i] / median(references) + (1 - cpu)``: a
    round timed while the machine ran slow is scaled down by as much as the reference next to
    it was slow, for the share of it that computes. Adjusted times stay in seconds, at the
    measurement's own median speed, so they read like raw times.
    """
    if len(samples) != len(references) or not samples:
        raise ValueError("one reference time per sample is needed")
    median = statistics.median(references)
    return [s / (cpu * r / median + (1.0 - cpu)) for s, r in zip(samples, references, strict=True)]


@final
@dataclass(frozen=True, slots=True)
class Scaling:
    """How the baseline was scaled for one comparison."""

    speed: float  # reference time now / at recording
    factor: float  # what the baseline's times were multiplied by
    cpu: float  # the CPU fraction used


def scaling(current: Calibration | None, entry: Mapping[str, Any]) -> Scaling | None:
    """How to scale ``entry``'s times to the machine's speed now; None to compare raw times.

    None when either side has no usable reference (no reference recorded, a
    different reference), or when the reference's time moved beyond
    :data:`MAX_SPEED_FACTOR` either way (not a machine's swing: not trusted).
    The CPU fraction used is the mean of both measurements'.
    """
    then = Calibration.from_entry(entry) if current is not None else None
    if current is None or then is None:
        return None
    speed = current.reference / then.reference
    if not 1 / MAX_SPEED_FACTOR <= speed <= MAX_SPEED_FACTOR:
        return None
    cpu = (current.cpu + then.cpu) / 2
    return Scaling(speed, cpu * speed + (1.0 - cpu), cpu)


def why_not(current: Calibration | None, entry: Mapping[str, Any]) -> str:
    """Why a calibrated measurement was compared by raw times, or "" when there is nothing to say."""
    if current is None or "reference" not in entry:
        return ""
    then = Calibration.from_entry(entry)
    if then is None:
        return "baseline calibrated with another reference: raw times compared (re-record to calibrate)"
    return (f"machine's reference at {current.reference / then.reference:.2f}x its recorded time, beyond "
            f"{MAX_SPEED_FACTOR:g}x: calibration not trusted, raw times compared")
