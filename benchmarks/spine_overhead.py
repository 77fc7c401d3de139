"""Overhead of `pytest --release-gate` on 5,000 trivial tests, side by side with plain pytest
and pytest-json-report (the closest peer that also writes a results file).

    python benchmarks/spine_overhead.py [--quick] [--tests N] [--rounds R]

Each round runs every variant once, in rotating order; medians of wall time are compared.
Target (issue 2): --release-gate at most 5% over plain pytest, and cheaper than --json-report.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import statistics
import tempfile
from pathlib import Path

from _suite import PYTEST, interleaved, machine, make_trivial_suite, report


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--tests", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=9)
    args = ap.parse_args()
    n, rounds = (500, 3) if args.quick else (args.tests, args.rounds)
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
