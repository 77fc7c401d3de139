"""Record of the experiment behind ``perf_spread_seconds``: how steady is a median, measured which way?

Not a maintained benchmark: the script as run on 2026-11-29 (tidied, same logic), kept so the README's
figures can be traced. One JSON workload (10 dumps+loads of a small document per call, about 300 µs) is
measured N times by each method, methods interleaved; for each method it prints the standard deviation of
log(median) over the N measurements, and, over all ordered pairs (a baseline and a later measurement),
the share whose ratio exceeds 1.2 or 1.1 (ratio alone: false alarms of a ``median:X%`` rule) and the share
of pairs against a 1.2x and 1.5x slower workload whose ratio exceeds 1.2 (detections).

Methods: ``contig100`` (100 rounds back to back, the old ``perf.measure``), ``bB_Ss`` (100 rounds in B
bursts over S seconds, one untimed call after each pause: what ``perf.measure`` does now with
``perf_spread_seconds = S``), ``pb_1s`` (continuous rounds for 1 s, as pytest-benchmark's default
``--benchmark-max-time=1`` measures). Two runs, 30 measurements each, with these methods (output in
``perf_spread_methods_2026-11-29.txt``)::

    python benchmarks/results/perf_spread_methods.py contig100 b10_0.5s b20_0.5s b20_1s b50_1s b10_1s pb_1s
    python benchmarks/results/perf_spread_methods.py contig100 b25_0.5s b50_0.5s b100_0.5s b50_1s b100_1s pb_1s
"""

from __future__ import annotations

import itertools
import json
import math
import re
import statistics
import sys
import time
from collections.abc import Callable

_DOC = {"users": [{"id": i, "name": f"u{i}", "tags": ["a", "b"], "s": i * 1.5} for i in range(8)]}
clock = time.perf_counter_ns


def work(reps: int) -> int:
    n = 0
    for _ in range(reps):
        n += len(json.loads(json.dumps(_DOC)))
    return n


def bursts(reps: int, rounds: int, nb: int, span: float) -> list[int]:
    xs: list[int] = []
    t_start = time.perf_counter()
    for b in range(nb):
        per = rounds * (b + 1) // nb - rounds * b // nb
        d = t_start + span * b / nb - time.perf_counter()
        if d > 0:
            time.sleep(d)
        work(reps)
        for _ in range(per):
            t = clock()
            work(reps)
            xs.append(clock() - t)
    return xs


def pb(reps: int, max_time: float = 1.0) -> list[int]:
    xs: list[int] = []
    end = time.perf_counter() + max_time
    while time.perf_counter() < end:
        t = clock()
        work(reps)
        xs.append(clock() - t)
    return xs


def method(name: str) -> Callable[[int], list[int]]:
    if name == "contig100":
        return lambda r: bursts(r, 100, 1, 0)
    if name == "pb_1s":
        return pb
    m = re.fullmatch(r"b(\d+)_([\d.]+)s", name)
    if not m:
        raise SystemExit(f"unknown method {name!r}")
    nb, span = int(m[1]), float(m[2])
    return lambda r: bursts(r, 100, nb, span)


def main(names: list[str], n: int = 30) -> None:
    methods = {name: method(name) for name in names}
    res: dict[str, dict[int, list[float]]] = {k: {10: [], 12: [], 15: []} for k in methods}
    for _ in range(n):
        for k, measure in methods.items():
            for reps in (10, 12, 15):
                res[k][reps].append(statistics.median(measure(reps)))
    pairs = list(itertools.permutations(range(n), 2))
    cross = list(itertools.product(range(n), range(n)))
    for k in methods:
        b = res[k][10]
        sd = statistics.stdev(math.log(x) for x in b)
        fa20 = sum(b[j] / b[i] > 1.2 for i, j in pairs) / len(pairs)
        fa10 = sum(b[j] / b[i] > 1.1 for i, j in pairs) / len(pairs)
        d12 = sum(res[k][12][j] / b[i] > 1.2 for i, j in cross) / len(cross)
        d15 = sum(res[k][15][j] / b[i] > 1.2 for i, j in cross) / len(cross)
        print(f"{k:10s} sd(log med)={sd:.3f} FA@20%={fa20:.3f} FA@10%={fa10:.3f} det1.2@20%={d12:.3f} "
              f"det1.5@20%={d15:.3f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or ["contig100", "b100_1s", "pb_1s"])
