"""What the report adapters cost: history + every CI adapter on a 5,000-test run, and the HTML report in Chromium.

    python benchmarks/report_overhead.py            # full: 5,000 tests x 5 runs, 7 browser loads
    python benchmarks/report_overhead.py --quick    # smoke: 1,000 tests x 2 runs, 2 browser loads

Part 1 runs ``pytest --release-gate`` on a generated 5,000-test project with a 200-run history and every
adapter on (HTML report, GITHUB_OUTPUT, GitHub annotations, dotenv, JUnit XML properties, SARIF). A
conftest hook wrapper times ``pytest_release_gates_report`` (history append + all adapters) inside
the run; the per-test hooks the adapters add (rerun counting, test locations for annotations) are
timed separately over the same number of reports. Their sum is the overhead (target: <= 50 ms).

Part 2 renders a report with 5,000 gates and 200 runs of history (40 tracked metrics) and loads it
in headless Chromium: ``data-ready-ms`` (performance.now() when the page's script has run, i.e.
parsed and interactive) and the wall time of a screenshot (full layout and paint) minus that of an
empty page. Target: < 1 s. Medians throughout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TIMING_CONFTEST = """
import json, os, time
import pytest

@pytest.hookimpl(wrapper=True)
def pytest_release_gates_report(verdict, context):
    start = time.perf_counter()
    try:
        return (yield)
    finally:
        with open(os.environ["REPORT_TIMING_FILE"], "a") as fh:
            fh.write(json.dumps({"report_ms": (time.perf_counter() - start) * 1000}) + "\\n")
"""

TESTS = """
import pytest

@pytest.mark.parametrize("i", range({n}))
def test_many(i):
    pass

@pytest.mark.parametrize("k", range(20))
def test_metric(k, gate_metric):
    gate_metric("size", 100.0 + k)
"""


def seed_history(root: Path, runs: int, n_tests: int) -> None:
    now = time.time()
    (root / ".release-gates").mkdir(parents=True, exist_ok=True)
    with (root / ".release-gates/history.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(runs):
            entry = {"v": 1, "time": now - (runs - i) * 600, "verdict": "deploy", "complete": True,
                     "tests": {"collected": n_tests, "passed": n_tests, "failed": 0},
                     "failed": [f"test_gen.py::test_many[{i % 50}]"] if i % 10 == 0 else [],
                     "metrics": {f"test_gen.py::test_metric[{k}]::size": {"m": 100.0 + k + i % 3, "u": ""}
                                 for k in range(20)}}
            fh.write(json.dumps(entry, separators=(",", ":")) + "\n")


def part1(n_tests: int, repeats: int) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="rg-bench-"))
    try:
        (root / "test_gen.py").write_text(TESTS.format(n=n_tests), encoding="utf-8")
        (root / "conftest.py").write_text(TIMING_CONFTEST, encoding="utf-8")
        (root / "pyproject.toml").write_text("[tool.release_gates]\n", encoding="utf-8")
        seed_history(root, 199, n_tests)
        timing = root / "timing.jsonl"
        env = dict(os.environ, REPORT_TIMING_FILE=str(timing), GITHUB_ACTIONS="true",
                   GITHUB_OUTPUT=str(root / "gh_output"), GITHUB_WORKSPACE=str(root))
        env.pop("GITHUB_STEP_SUMMARY", None)
        args = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--release-gate",
                "--gate-report=out/report.html", "--gate-dotenv=out/gate.env", "--gate-sarif=out/gate.sarif",
                "--junitxml=out/junit.xml"]
        walls = []
        for _ in range(repeats):
            start = time.perf_counter()
            done = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True)
            walls.append(time.perf_counter() - start)
            if done.returncode not in (0, 1):
                sys.exit(f"pytest failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        report_ms = [json.loads(line)["report_ms"] for line in timing.read_text().splitlines()]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    per_test_ms = per_test_hooks(n_tests + 20)
    return {"report_ms": statistics.median(report_ms), "per_test_ms": per_test_ms,
            "run_s": statistics.median(walls), "tests": float(n_tests + 20)}


def per_test_hooks(n_tests: int) -> float:
    """The adapters' own per-report hooks (flaky rerun counting, annotation locations), 3 reports a test."""
    from pytest_release_gates.config import Settings
    from pytest_release_gates.gates.flaky.gate import Gate
    from pytest_release_gates.report.adapters import Reports

    class Report:
        __slots__ = ("location", "nodeid", "outcome", "when")

        def __init__(self, i: int, when: str) -> None:
            self.nodeid, self.when, self.outcome = f"test_gen.py::test_many[{i}]", when, "passed"
            self.location = ("test_gen.py", 3, f"test_many[{i}]")

    class Config:
        pluginmanager = None

    reports = [Report(i, w) for i in range(n_tests) for w in ("setup", "call", "teardown")]
    os.environ["GITHUB_ACTIONS"] = "true"
    samples = []
    for _ in range(7):
        gate, reps = Gate(Settings()), Reports(Config())  # type: ignore[arg-type]
        start = time.perf_counter()
        for r in reports:
            gate.on_logreport(r)  # type: ignore[arg-type]
            reps.on_logreport(r)  # type: ignore[arg-type]
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def big_report(gates: int, runs: int, metrics: int) -> tuple[str, float]:
    from pytest_release_gates.report import html

    doc = {
        "verdict": "hold", "complete": True, "reasons": [f"tests/test_m0.py::test_{i} took 0.12 s" for i in range(20)],
        "gates": [{"kind": "budget" if i % 4 else "regression", "subject": f"tests/test_m{i // 50}.py::test_{i}",
                   "status": "fail" if i % 25 == 0 else ("warn" if i % 7 == 0 else "pass"), "level": "hold",
                   "metric": "seconds", "value": 0.01 * (i % 13), "limit": 0.1,
                   "message": f"took {0.01 * (i % 13):.2f} s, budget 0.10 s"} for i in range(gates)],
        "tests": {"collected": gates, "passed": gates, "failed": 0, "errors": 0, "skipped": 0},
        "project": {"name": "bench", "version": "1.0"}, "created": "2026-01-01T00:00:00Z", "duration_s": 12.0,
    }
    entries = [{"v": 1, "time": 1.7e9 + i * 600, "verdict": "deploy" if i % 5 else "hold",
                "metrics": {f"tests/test_m{k}.py::test_{k}::op": {"m": 0.001 * (1 + k) + (i % 17) * 1e-5}
                            for k in range(metrics)}} for i in range(runs)]
    start = time.perf_counter()
    page = html.render(doc, entries)
    return page, (time.perf_counter() - start) * 1000


def part2(repeats: int) -> dict[str, float] | None:
    exe = find_chromium()
    if exe is None:
        print("part 2 skipped: no chromium (apt-get install -y chromium)")
        return None
    work = Path(tempfile.mkdtemp(prefix="rg-bench-html-"))
    try:
        renders = []
        for _ in range(repeats):
            page, ms = big_report(5000, 200, 40)
            renders.append(ms)
        big, empty = work / "big.html", work / "empty.html"
        big.write_text(page, encoding="utf-8")
        empty.write_text("<!DOCTYPE html><html><body>x</body></html>", encoding="utf-8")
        base = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={work / 'profile'}"]
        ready, paint = [], []
        for i in range(repeats + 1):
            dom = subprocess.run([*base, "--dump-dom", big.as_uri()], capture_output=True, text=True, timeout=120)
            m = re.search(r'data-ready-ms="(\d+)"', dom.stdout)
            if m is None or dom.stdout.count("<tr data-kind=") != 5000:
                sys.exit("the report did not render in chromium")
            walls = []
            for target in (empty, big):
                start = time.perf_counter()
                subprocess.run([*base, f"--screenshot={work / 'shot.png'}", "--window-size=1280,900", target.as_uri()],
                               capture_output=True, timeout=120, check=True)
                walls.append(time.perf_counter() - start)
            if i:  # the first load warms the profile and disk cache
                ready.append(float(m.group(1)))
                paint.append((walls[1] - walls[0]) * 1000)
        return {"render_py_ms": statistics.median(renders), "ready_ms": statistics.median(ready),
                "paint_ms": statistics.median(paint), "size_mb": len(page.encode()) / 1e6}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small, fast smoke run")
    opts = ap.parse_args()
    n_tests, repeats, loads = (1000, 2, 2) if opts.quick else (5000, 5, 7)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (shared: figures under load)")
    p1 = part1(n_tests, repeats)
    total = p1["report_ms"] + p1["per_test_ms"]
    print(f"\n1. adapters on a {int(p1['tests']):,}-test run (200-run history, every adapter on), "
          f"median of {repeats} runs:")
    print(f"   history + all adapters (report hook) {p1['report_ms']:8.1f} ms")
    print(f"   per-test hooks ({int(p1['tests']) * 3:,} reports)     {p1['per_test_ms']:8.1f} ms")
    print(f"   added in total                      {total:8.1f} ms   (target <= 50 ms; "
          f"{total / 50:.2f}x of it)   whole run {p1['run_s']:.2f} s")
    p2 = part2(loads)
    if p2 is not None:
        print(f"\n2. HTML report, 5,000 gates + 200 runs x 40 metrics ({p2['size_mb']:.2f} MB), "
              f"median of {loads} loads:")
        print(f"   Python render                        {p2['render_py_ms']:8.1f} ms")
        print(f"   Chromium: parsed + script done        {p2['ready_ms']:8.1f} ms   (target < 1000 ms; "
              f"{p2['ready_ms'] / 1000:.2f}x of it)")
        print(f"   Chromium: screenshot minus empty page {p2['paint_ms']:8.1f} ms   (full layout and paint)")


if __name__ == "__main__":
    main()
