"""How often does the regression gate cry wolf, and how often does it catch a real slowdown?

Realistic workloads (three CPU-bound, three I/O-bound) are timed the way
``perf.measure`` times them (warmup, then ``rounds`` timed calls with the GC
off: the plugin's own timing loop when importable). A baseline is recorded
once, exactly as ``--gate-update-baseline`` writes it (``make_entry``: median,
spread, 40 thinned samples). Then, N times over, each workload is measured
afresh with no change and with a 1.2x, 1.5x and 2x slowdown injected into the
code under test (the workload does proportionally more of its work), and
every fresh sample set is judged by two rules side by side:

* ours: ``gates.regression.compare`` (ratio of medians > 1.2 AND a two-sided
  Mann-Whitney U test at p < 0.002 against the baseline's samples);
* pytest-benchmark's ``--benchmark-compare-fail=median:20%``: its own
  ``PercentageRegressionCheck`` (from ``pytest_benchmark.utils.parse_compare_fail``)
  evaluated on the very same samples (its stored median = the median of the
  same baseline rounds), not a separate pytest-benchmark run, so the two
  columns differ only by the rule.

Conditions are interleaved (round i measures every condition before round
i+1), so the machine's load drifts over all of them alike.

Also timed: loading and comparing a 1,000-metric baseline (target < 100 ms).

    python benchmarks/regression_accuracy.py            # full: 30 comparisons per condition and workload
    python benchmarks/regression_accuracy.py --quick    # smoke run

The workloads and ``inject`` are plain functions so the A/B mode benchmark
(issue 8) can reuse them.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from pytest_release_gates import baseline as baseline_mod  # noqa: E402
from pytest_release_gates.gates.regression import REGRESSED, compare, make_entry  # noqa: E402
from pytest_release_gates.metrics import Metric  # noqa: E402

TOLERANCE = 0.2
ROLLBACK = 1.5
FACTORS = (1.0, 1.2, 1.5, 2.0)
BASE_REPS = 10  # the workload repeats its unit 10 times; a slowdown of f makes it round(10 * f)

# ----------------------------------------------------------------- workloads
# Each takes ``reps`` (how much work the code under test does) and returns something, so nothing is optimised away.

# Units of work are short (tens of microseconds, a few hundred per call): on a shared machine a
# call is then rarely preempted, as with a real micro-benchmark. The I/O workloads do system calls
# and copies on a RAM-backed folder when there is one (/dev/shm): the latency of a shared disk would
# measure the neighbours' writes, not the code under test.
_RNG = random.Random(42)
_FLOATS = [_RNG.random() for _ in range(300)]
_DOC = {"users": [{"id": i, "name": f"user{i}", "tags": ["a", "b", "c"], "score": i * 1.5} for i in range(8)]}
_TEXT = " ".join(f"item-{i} value={i * 7} key_{i % 13}" for i in range(60))
_PATTERN = re.compile(r"value=(\d+) key_(\d+)")
_SHM = Path("/dev/shm")
_TMP = Path(tempfile.mkdtemp(prefix="rg-bench-", dir=_SHM if _SHM.is_dir() and os.access(_SHM, os.W_OK) else None))
_PAYLOAD = os.urandom(4 * 1024)
for _i in range(10):
    (_TMP / f"f{_i}.txt").write_bytes(b"x" * 100)


def cpu_sort(reps: int) -> float:
    out = 0.0
    for _ in range(reps):
        out += sorted(_FLOATS)[0]
    return out


def cpu_json(reps: int) -> int:
    n = 0
    for _ in range(reps):
        n += len(json.loads(json.dumps(_DOC)))
    return n


def cpu_regex(reps: int) -> int:
    n = 0
    for _ in range(reps):
        n += len(_PATTERN.findall(_TEXT))
    return n


def io_file_roundtrip(reps: int) -> int:
    n = 0
    path = _TMP / "roundtrip.bin"
    for _ in range(reps):
        path.write_bytes(_PAYLOAD)
        n += len(path.read_bytes())
    return n


def io_scandir_stat(reps: int) -> int:
    n = 0
    for _ in range(reps):
        with os.scandir(_TMP) as it:
            for entry in it:
                n += entry.stat().st_size
    return n


def io_pipe(reps: int) -> int:
    n = 0
    r, w = os.pipe()
    try:
        for _ in range(reps):
            os.write(w, _PAYLOAD)
            n += len(os.read(r, len(_PAYLOAD)))
    finally:
        os.close(r)
        os.close(w)
    return n


WORKLOADS: dict[str, tuple[str, Callable[[int], Any]]] = {
    "cpu_sort": ("cpu", cpu_sort),
    "cpu_json": ("cpu", cpu_json),
    "cpu_regex": ("cpu", cpu_regex),
    "io_file_roundtrip": ("io", io_file_roundtrip),
    "io_scandir_stat": ("io", io_scandir_stat),
    "io_pipe": ("io", io_pipe),
}


def inject(func: Callable[[int], Any], factor: float) -> Callable[[], Any]:
    """The code under test with a slowdown of ``factor``: it does ``factor`` times the work."""
    reps = round(BASE_REPS * factor)
    return lambda: func(reps)


# ----------------------------------------------------------------- sampling


def measure(call: Callable[[], Any], rounds: int, warmup: int = 5) -> list[float]:
    """Seconds per call, as ``perf.measure`` takes them (its own loop when available)."""
    try:
        from pytest_release_gates.perf import _run  # the plugin's timing loop

        return [float(x) for x in _run(call, (), {}, rounds, warmup)]
    except (ImportError, TypeError):
        pass
    for _ in range(warmup):
        call()
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        out = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            call()
            out.append(time.perf_counter() - t0)
    finally:
        if was:
            gc.enable()
    return out


def ours(samples: Sequence[float], entry: dict[str, Any]) -> bool:
    return compare(samples, True, False, entry, TOLERANCE, ROLLBACK).outcome == REGRESSED


def pytest_benchmark_rule() -> Callable[[Sequence[float], Sequence[float]], bool]:
    """``--benchmark-compare-fail=median:20%``, by pytest-benchmark's own check class when installed."""
    try:
        from pytest_benchmark.utils import parse_compare_fail

        check = parse_compare_fail("median:20%")

        def theirs(samples: Sequence[float], base: Sequence[float]) -> bool:
            return bool(check.fails({"median": statistics.median(samples)}, {"median": statistics.median(base)}))

        theirs.__doc__ = "pytest-benchmark's PercentageRegressionCheck"
        return theirs
    except ImportError:

        def fallback(samples: Sequence[float], base: Sequence[float]) -> bool:
            return statistics.median(samples) / statistics.median(base) * 100 - 100 > 20

        fallback.__doc__ = "median:20% re-implemented (pytest-benchmark not installed)"
        return fallback


# ----------------------------------------------------------------- the study


def accuracy(n: int, rounds: int) -> dict[str, dict[float, list[int]]]:
    """{workload: {factor: [ours flagged, theirs flagged]}} over ``n`` comparisons each."""
    theirs = pytest_benchmark_rule()
    base_samples: dict[str, list[float]] = {}
    entries: dict[str, dict[str, Any]] = {}
    for name, (_kind, func) in WORKLOADS.items():
        samples = measure(inject(func, 1.0), rounds)
        base_samples[name] = samples
        entries[name] = make_entry(Metric("bench.py::test", name, tuple(samples), sampled=True, source="perf"), "m")
    counts = {name: {f: [0, 0] for f in FACTORS} for name in WORKLOADS}
    for _ in range(n):
        for factor in FACTORS:
            for name, (_kind, func) in WORKLOADS.items():
                samples = measure(inject(func, factor), rounds)
                counts[name][factor][0] += ours(samples, entries[name])
                counts[name][factor][1] += theirs(samples, base_samples[name])
    return counts


def load_and_compare_1000(rounds: int = 100) -> tuple[float, int]:
    """(median ms to load a 1,000-metric baseline and compare 1,000 fresh sample sets, file size in bytes)."""
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "release-gates.baseline.json"
        b = baseline_mod.Baseline(path)
        sec = b.section("regression")
        current = {}
        for i in range(1000):
            center = 0.001 * (1 + i % 17)
            base = tuple(center * rng.lognormvariate(0, 0.08) for _ in range(rounds))
            m = Metric(
                f"tests/perf/test_mod_{i % 40}.py::test_function_{i}[case-{i % 7}]",
                "measure",
                base,
                sampled=True,
                source="perf",
            )
            sec[m.key] = make_entry(m, "abcdef123456")
            current[m.key] = [center * rng.lognormvariate(0.05, 0.08) for _ in range(rounds)]
        b.save()
        size = path.stat().st_size
        times = []
        for _ in range(7):
            t0 = time.perf_counter()
            loaded = baseline_mod.load(path)
            section = loaded.get("regression")
            flagged = 0
            for key, samples in current.items():
                flagged += compare(samples, True, False, section[key], TOLERANCE, ROLLBACK).outcome == REGRESSED
            times.append(time.perf_counter() - t0)
        return statistics.median(times) * 1000, size


def table(
    counts: dict[str, dict[float, list[int]]], n: int, *, totals_only: bool = False
) -> dict[str, dict[float, list[int]]]:
    """Print the markdown table; return {kind: {factor: [ours, theirs, comparisons]}}."""
    print(
        "| workload | kind | "
        + " | ".join(
            f"{'no change: false alarms' if f == 1.0 else f'{f:g}x: detected'} (ours / pytest-benchmark)"
            for f in FACTORS
        )
        + " |"
    )
    print("|" + " --- |" * (2 + len(FACTORS)))
    totals = {kind: {f: [0, 0, 0] for f in FACTORS} for kind in ("cpu", "io", "all")}
    for name, (kind, _func) in WORKLOADS.items():
        cells = []
        for f in FACTORS:
            o, t = counts[name][f]
            cells.append(f"{o}/{n} / {t}/{n}")
            for k in (kind, "all"):
                totals[k][f][0] += o
                totals[k][f][1] += t
                totals[k][f][2] += n
        if not totals_only:
            print(f"| {name} | {kind} | " + " | ".join(cells) + " |")
    for k in ("cpu", "io", "all"):
        cells = [f"{o}/{m} / {t}/{m}" for o, t, m in (totals[k][f] for f in FACTORS)]
        print(f"| **{k} total** | | " + " | ".join(cells) + " |")
    return totals


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="5 comparisons, 30 rounds: a smoke run")
    ap.add_argument("-n", type=int, default=None, help="comparisons per condition and workload (default 30)")
    ap.add_argument("--rounds", type=int, default=None, help="timed calls per measurement (default 100)")
    ap.add_argument(
        "--few",
        type=int,
        nargs="*",
        default=None,
        help="also run with these few rounds per measurement, totals only (default: 10 5)",
    )
    args = ap.parse_args(argv)
    if args.few is None:
        args.few = [5] if args.quick else [10, 5]
    n = args.n or (5 if args.quick else 30)
    rounds = args.rounds or (30 if args.quick else 100)
    rule = pytest_benchmark_rule()
    print(
        f"machine: {baseline_mod.describe_machine(baseline_mod.machine_fingerprint())}; "
        f"Python {platform.python_version()}; load average {os.getloadavg()[0]:.2f}"
    )
    print(
        f"{n} comparisons per condition and workload, {rounds} rounds each; tolerance {TOLERANCE:.0%}; "
        f"pytest-benchmark column: {rule.__doc__}, on the same samples"
    )
    t0 = time.perf_counter()
    counts = accuracy(n, rounds)
    elapsed = time.perf_counter() - t0
    print()
    totals = table(counts, n)
    print(f"\naccuracy study took {elapsed:.0f} s")
    all_t = totals["all"]
    fa_rate = all_t[1.0][0] / all_t[1.0][2]
    det_rate = all_t[1.5][0] / all_t[1.5][2]
    print(
        f"target: <= 1/30 false alarms ({fa_rate * 30:.2f} per 30 now), >= 29/30 detected at 1.5x "
        f"({det_rate * 30:.2f} per 30 now): {'MET' if fa_rate <= 1 / 30 and det_rate >= 29 / 30 else 'NOT MET'}"
    )
    for few in args.few:
        print(f"\nfew samples: {few} rounds per measurement (a slow test measured briefly), totals only")
        table(accuracy(n, few), n, totals_only=True)
    ms, size = load_and_compare_1000()
    print(
        f"\nload + compare a 1,000-metric baseline: {ms:.1f} ms median of 7 (target < 100 ms); "
        f"file {size / 1e6:.2f} MB (target < ~1 MB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
