"""Overhead of `pytest --release-gate` on 5,000 trivial tests, side by side with plain pytest
and pytest-json-report (the closest peer that also writes a results file).

    python benchmarks/spine_overhead.py [--quick] [--tests N] [--rounds R] [--instructions]

Each round runs every variant once, in rotating order; medians of wall time are compared.
Target (issue 2): --release-gate at most 5% over plain pytest, and cheaper than --json-report.

``--instructions`` counts each variant's user-space instructions under valgrind instead, once at N
tests and once at N/5, and splits the overhead into a fixed part and a per-test part. A count does not
move when other jobs share the machine, so it can resolve a few percent where wall time cannot;
it leaves out what is not executed instructions (waiting for fsync, the git subprocesses).
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import statistics
import tempfile
from pathlib import Path

from _suite import PYTEST, ensure_bytecode, instructions, interleaved, machine, make_trivial_suite, report


def count_instructions(variants: dict[str, list[str]], root: Path, small: Path, n: int) -> None:
    """Instructions of each variant at ``n`` and ``n / 5`` tests; overhead split into fixed and per test."""
    m = n // 5
    print(f"{n} and {m} trivial tests, instructions counted by valgrind; machine: {machine()}")
    counts = {name: (instructions(cmd, small), instructions(cmd, root)) for name, cmd in variants.items()}
    ref_small, ref_big = counts["pytest -p no:release_gates"]
    ref_per_test = (ref_big - ref_small) / (n - m)
    print(f"{'variant':<30} {'at ' + str(m):>14} {'at ' + str(n):>14} {'overhead':>9} {'fixed':>8} {'per test':>9}")
    for name, (lo, hi) in counts.items():
        per_test = (hi - lo) / (n - m)
        fixed = hi - per_test * n
        print(f"{name:<30} {lo:14,d} {hi:14,d} {100 * (hi / ref_big - 1):+8.1f}% "
              f"{(fixed - (ref_big - ref_per_test * n)) / 1e6:+7.0f}M {per_test - ref_per_test:+8,.0f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--tests", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--instructions", action="store_true", help="count instructions (valgrind) instead of timing")
    args = ap.parse_args()
    n, rounds = (500, 3) if args.quick else (args.tests, args.rounds)
    ensure_bytecode()
    root = Path(tempfile.mkdtemp(prefix="rg-bench-spine-"))
    try:
        make_trivial_suite(root, n)
        # Other installed plugins are disabled alike in every variant, so only ours differs.
        base = [*PYTEST, "-p", "no:benchmark", "-p", "no:memray", "-p", "no:cov", "-p", "no:timeout", "-p", "no:xdist"]
        variants = {
            "pytest (plugin inert)": base,
            "pytest --release-gate": [*base, "--release-gate"],
        }
        if importlib.util.find_spec("pytest_jsonreport"):
            variants["pytest --json-report"] = [*base, "--json-report", "--json-report-file=report.json"]
        else:
            print("pytest-json-report not installed: peer column skipped (pip install pytest-json-report)")
        # Plugin not loaded at all, for reference.
        variants["pytest -p no:release_gates"] = [*base, "-p", "no:release_gates"]
        if args.instructions:
            variants.pop("pytest --json-report", None)  # a peer for wall time; its instructions tell nothing new
            small = Path(tempfile.mkdtemp(prefix="rg-bench-spine-small-"))  # not a subfolder: pytest collects those
            try:
                count_instructions(variants, root, make_trivial_suite(small, n // 5), n)
            finally:
                shutil.rmtree(small, ignore_errors=True)
            return
        print(f"{n} trivial tests, {rounds} interleaved rounds; machine: {machine()}")
        times = interleaved(variants, root, rounds)
        report(times, "pytest -p no:release_gates")
        gate = statistics.median(times["pytest --release-gate"])
        plain = statistics.median(times["pytest -p no:release_gates"])
        print(f"\n--release-gate overhead: {100 * (gate / plain - 1):+.1f}% (target <= +5%)")
        if "pytest --json-report" in times:
            jr = statistics.median(times["pytest --json-report"])
            print(f"--json-report overhead:  {100 * (jr / plain - 1):+.1f}%")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
