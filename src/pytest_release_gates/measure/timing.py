"""The timing loop behind ``perf.measure``: nothing timed but the call between two clock reads.

Apart from the fixture (``perf.py``, which decides how a measurement is
taken: the span, the counter, what is published) so the loop reads on its
own. ``perf._run`` is this function, looked up there at each call: the A/B
probe replaces it to measure a share of the rounds (``gates/ab/probe.py``).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any, Final

from .. import calibration

#: At most this many bursts: each round on its own for the default 100 rounds.
MAX_BURSTS: Final = 100


def run(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
        rounds: int, warmup: int, span: float = 0.0,
        calibrate: calibration.Recorder | None = None, warmed: int = 0) -> list[float]:
    """The timing loop: nothing timed but the call between two clock reads.

    With ``span > 0`` the rounds run in ``min(rounds, MAX_BURSTS)`` bursts, burst
    ``b`` starting no earlier than ``b / bursts * span`` seconds after the
    first. A burst that follows a pause starts with one untimed call (caches
    and branch predictors cool while sleeping); a burst that is already late
    runs at once, without it, so slow functions cost nothing extra.

    Given a ``calibrate`` recorder, each burst first times the calibration
    reference (after a pause, before the untimed call, which warms the caches
    back up for the function; the first burst gets an untimed call after its
    reference too), and the recorder receives, per round, its burst's
    reference time, and the CPU and wall time of all rounds; back to back (one
    burst), the reference is timed before and after the rounds and every round
    gets the lower of the two. ``warmed``: warmup calls the caller already made.
    """
    for _ in range(warmup - warmed):
        func(*args, **kwargs)
    clock = time.perf_counter_ns
    times = [0] * rounds
    bursts = min(rounds, MAX_BURSTS) if span > 0 else 1
    refs = [0] * bursts if calibrate is not None else None
    reference = calibration.time_reference
    cpu_clock = calibration.cpu_clock
    cpu = 0
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = clock()
        step = span * 1e9 / bursts
        for b in range(bursts):
            lo, hi = rounds * b // bursts, rounds * (b + 1) // bursts
            paused = False
            if b:
                ahead = start + b * step - clock()
                if ahead > 0:
                    time.sleep(ahead / 1e9)
                    paused = True
            if refs is not None:
                refs[b] = reference(clock)
            if warmup and (paused or (refs is not None and not b)):
                func(*args, **kwargs)
            if refs is not None:
                cpu -= cpu_clock()
            if kwargs:
                for i in range(lo, hi):
                    t0 = clock()
                    func(*args, **kwargs)
                    times[i] = clock() - t0
            else:
                for i in range(lo, hi):
                    t0 = clock()
                    func(*args)
                    times[i] = clock() - t0
            if refs is not None:
                cpu += cpu_clock()
        if refs is not None and bursts == 1:
            refs[0] = min(refs[0], reference(clock))
    finally:
        if gc_was_enabled:
            gc.enable()
    if refs is not None and calibrate is not None:
        calibrate.references = [refs[b] for b in range(bursts) for _ in range(rounds * b // bursts,
                                                                              rounds * (b + 1) // bursts)]
        calibrate.cpu_ns = cpu
        calibrate.wall_ns = sum(times)
    return [t / 1e9 for t in times]
