"""Overhead and accuracy of performance budgets, side by side with the peers the issue names.

1. ``perf.measure`` per-round cost on a no-op vs pytest-benchmark's ``benchmark.pedantic`` with the same rounds.
2. Memory budgets on an allocation-heavy test vs pytest-memray's ``limit_memory`` on the same test (slowdown of
   the call phase), and the peak each reports for a test that allocates and holds 100 MiB (the truth).
3. Cost of ``budget`` markers on a generated 5,000-test suite vs the same suite without them (both
   ``--release-gate``).

Every configuration runs as its own ``pytest`` subprocess (clean memory, clean plugin state); numbers are medians.
Run: ``python benchmarks/budgets_overhead.py [--quick]``. ``--instructions`` runs part 3 only, counting each
configuration's instructions with valgrind instead of timing it: a count does not move when other jobs share the
machine (see ``spine_overhead.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from _suite import ensure_bytecode, instructions

PY = sys.executable

CONFTEST = '''
import json, os
RESULTS = []

def pytest_runtest_logreport(report):
    if report.when == "call":
        RESULTS.append({"nodeid": report.nodeid, "duration": report.duration, "outcome": report.outcome,
                        "longrepr": str(report.longrepr or "")})

def pytest_sessionfinish(session):
    out = os.environ.get("BENCH_OUT")
    if out:
        with open(out, "w") as fh:
            json.dump(RESULTS, fh)
'''


def run_pytest(folder: Path, *args: str, env: dict[str, str] | None = None,
               ) -> tuple[float, list[dict[str, Any]], float]:
    """Run pytest in ``folder``: (wall seconds, call reports, CPU seconds of the child)."""
    out = folder / "results.json"
    if out.exists():
        out.unlink()
    full_env = {**os.environ, "BENCH_OUT": str(out), **(env or {})}
    full_env.pop("PYTHONDONTWRITEBYTECODE", None)  # let pytest cache rewritten test modules, as on a dev machine
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", *args],
                          cwd=folder, env=full_env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if not out.exists():
        raise SystemExit(f"pytest failed in {folder}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return wall, json.loads(out.read_text()), cpu


def fresh(root: Path, name: str, files: dict[str, str]) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "conftest.py").write_text(CONFTEST)
    for fname, text in files.items():
        (folder / fname).write_text(textwrap.dedent(text))
    return folder


# ----------------------------------------------------------------------------- 1. perf vs pedantic


def bench_perf(root: Path, rounds: int, reps: int) -> None:
    folder = fresh(root, "perf", {"test_overhead.py": f'''
        import json, os, time
        import pytest

        ROUNDS = {rounds}
        OUT = []

        def noop():
            pass

        @pytest.mark.parametrize("rep", range({reps}))
        def test_perf_measure(perf, rep):
            t0 = time.perf_counter_ns()
            perf.measure(noop, rounds=ROUNDS, warmup=0)
            OUT.append(("perf.measure", (time.perf_counter_ns() - t0) / ROUNDS))

        @pytest.mark.parametrize("rep", range({reps}))
        def test_pedantic(benchmark, rep):
            t0 = time.perf_counter_ns()
            benchmark.pedantic(noop, rounds=ROUNDS, iterations=1, warmup_rounds=0)
            OUT.append(("benchmark.pedantic", (time.perf_counter_ns() - t0) / ROUNDS))

        def test_zz_dump():
            with open(os.environ["BENCH_OUT"] + ".perf", "w") as fh:
                json.dump(OUT, fh)
    '''})
    run_pytest(folder)  # pytest-benchmark defaults, as a user gets them
    rows = json.loads((folder / "results.json.perf").read_text())
    ours = statistics.median(v for k, v in rows if k == "perf.measure")
    peer = statistics.median(v for k, v in rows if k == "benchmark.pedantic")
    print(f"\n1. per-round cost on a no-op, {rounds} rounds, median of {reps} calls each")
    print(f"   perf.measure          {ours:8.0f} ns/round")
    print(f"   benchmark.pedantic    {peer:8.0f} ns/round")
    print(f"   ratio perf/pedantic   {ours / peer:8.2f}x   (target <= 1.00x)")


# ----------------------------------------------------------------------------- 2. memory


ALLOC_HEAVY = '''
    import pytest

    def work():
        held = [{{"i": i, "s": str(i) * 3}} for i in range({n})]
        return len(held)

    @pytest.mark.parametrize("rep", range({reps}))
    {marker}
    def test_alloc_heavy(rep):
        assert work() == {n}
'''

HOLD_100 = '''
    import pytest

    HELD = []

    {marker}
    def test_hold_100mib():
        data = bytearray(100 * 2**20)
        HELD.append(data)
'''

_MEMRAY_RE = re.compile(r"allocated ([0-9.]+)(Ki|Mi|Gi)?B")


def _memray_mib(longrepr: str) -> float | None:
    m = _MEMRAY_RE.search(longrepr)
    if not m:
        return None
    scale = {"Ki": 1 / 1024, "Mi": 1.0, "Gi": 1024.0, None: 1 / 2**20}[m.group(2)]
    return float(m.group(1)) * scale


def _our_mib(folder: Path) -> float | None:
    verdict = json.loads((folder / ".release-gates" / "verdict.json").read_text())
    values = [g["value"] for g in verdict["gates"] if g["kind"] == "budget" and g.get("metric") == "memory_mb"]
    return statistics.median(values) if values else None


def bench_memory(root: Path, n: int, reps: int) -> None:
    configs: list[tuple[str, str, list[str], dict[str, str]]] = [
        ("plain (no budget)", "", [], {}),
        ("--release-gate, no budget", "", ["--release-gate"], {}),
        ("budget rss-hwm (default)", "@pytest.mark.budget(memory_mb=10000)", ["--release-gate"],
         {"PYTEST_RELEASE_GATES_MEMORY": "rss-hwm"}),
        ("budget rss-sampled", "@pytest.mark.budget(memory_mb=10000)", ["--release-gate"],
         {"PYTEST_RELEASE_GATES_MEMORY": "rss-sampled"}),
        ("budget tracemalloc", "@pytest.mark.budget(memory_mb=10000)", ["--release-gate"],
         {"PYTEST_RELEASE_GATES_MEMORY": "tracemalloc"}),
        ("pytest-memray limit_memory", '@pytest.mark.limit_memory("10 GB")', [], {}),
    ]
    medians: dict[str, float] = {}
    print(f"\n2a. allocation-heavy test ({n:,} dicts+strings built and held), call-phase median of {reps} runs")
    for label, marker, args, env in configs:
        folder = fresh(root, f"mem-{len(medians)}", {"test_alloc.py": ALLOC_HEAVY.format(n=n, reps=reps,
                                                                                        marker=marker)})
        _wall, rows, _cpu = run_pytest(folder, *args, env=env)
        medians[label] = statistics.median(r["duration"] for r in rows)
        peak = _our_mib(folder) if args else None
        base = medians["plain (no budget)"]
        extra = f"   measured peak {peak:6.1f} MiB" if peak is not None and "budget " in label else ""
        print(f"   {label:28} {medians[label] * 1e3:8.1f} ms   slowdown {medians[label] / base:5.2f}x{extra}")
    ours = medians["budget rss-hwm (default)"] / medians["--release-gate, no budget"]
    peer = medians["pytest-memray limit_memory"] / medians["plain (no budget)"]
    print(f"   slowdown of the memory budget (vs --release-gate without it): {ours:.2f}x; "
          f"of limit_memory (vs plain): {peer:.2f}x (target: ours <= memray's)")

    print("\n2b. peak reported for a test that allocates and holds 100 MiB (truth 100.0 MiB)")
    for label, marker, args, env in configs[2:]:
        marker = marker.replace("10000", "1").replace("10 GB", "1 MB")  # force a report that states the value
        folder = fresh(root, f"hold-{label.split()[1]}", {"test_hold.py": HOLD_100.format(marker=marker)})
        _wall, rows, _cpu = run_pytest(folder, *args, env=env)
        got = _our_mib(folder) if args else _memray_mib(rows[0]["longrepr"])
        err = f"{(got - 100) / 100:+.1%}" if got is not None else "n/a"
        print(f"   {label:28} {got if got is not None else float('nan'):8.1f} MiB   error {err}")


# ----------------------------------------------------------------------------- 3. suite cost


def bench_suite(root: Path, tests: int, reps: int, count: bool = False) -> None:
    per_file = 100
    files_plain: dict[str, str] = {}
    files_budget: dict[str, str] = {}
    for f in range(tests // per_file):
        body = [f"def test_{i}():\n    assert {i} >= 0\n" for i in range(per_file)]
        files_plain[f"test_gen_{f}.py"] = "\n\n".join(body)
        files_budget[f"test_gen_{f}.py"] = "import pytest\n\n\n" + "\n\n".join(
            f"@pytest.mark.budget(30, memory_mb=1000)\n{b}" if i % 10 == 0 else f"@pytest.mark.budget(30)\n{b}"
            for i, b in enumerate(body))
    plain = fresh(root, "suite-plain", files_plain)
    marked = fresh(root, "suite-budget", files_budget)
    configs = [("without budgets", plain, ()), ("with budgets", marked, ()),
               ("without, no:timeout", plain, ("-p", "no:timeout")), ("with, no:timeout", marked, ("-p", "no:timeout"))]
    walls: dict[str, list[float]] = {c[0]: [] for c in configs}
    cpus: dict[str, list[float]] = {c[0]: [] for c in configs}
    if count:
        counted = {label: instructions([PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                                        "--release-gate", *extra], folder) for label, folder, extra in configs}
        print(f"\n3. {tests:,}-test suite, --release-gate, instructions counted by valgrind "
              "(every test budget(30); one in ten also memory_mb)")
        for label, n in counted.items():
            print(f"   {label:20} {n:16,d}")
        print(f"   cost of budget markers: {counted['with budgets'] / counted['without budgets'] - 1:+.1%} "
              "(target <= +3%)")
        print(f"   without pytest-timeout: "
              f"{counted['with, no:timeout'] / counted['without, no:timeout'] - 1:+.1%}")
        return
    for folder in (plain, marked):  # warm-up: byte-code caches, so the runs measure pytest, not compile()
        run_pytest(folder, "--release-gate")
    for _ in range(reps):  # interleaved, so drifting load hits every configuration alike
        for label, folder, extra in configs:
            wall, rows, cpu = run_pytest(folder, "--release-gate", *extra)
            assert len(rows) == tests, (label, len(rows))
            walls[label].append(wall)
            cpus[label].append(cpu)
    print(f"\n3. {tests:,}-test suite, --release-gate, median of {reps} interleaved runs "
          "(every test budget(30); one in ten also memory_mb)")
    for label in walls:
        cpu, wall = statistics.median(cpus[label]), statistics.median(walls[label])
        print(f"   {label:20} CPU {cpu:6.2f} s   wall {wall:6.2f} s"
              f"   (CPU runs: {', '.join(f'{v:.2f}' for v in cpus[label])})")

    def cost(a: str, b: str, what: dict[str, list[float]]) -> float:
        return statistics.median(what[b]) / statistics.median(what[a]) - 1

    print(f"   cost of budget markers: CPU {cost('without budgets', 'with budgets', cpus):+.1%}, "
          f"wall {cost('without budgets', 'with budgets', walls):+.1%} (target <= +3%)")
    print(f"   without pytest-timeout (no hang-protection timers): CPU "
          f"{cost('without, no:timeout', 'with, no:timeout', cpus):+.1%}, "
          f"wall {cost('without, no:timeout', 'with, no:timeout', walls):+.1%}")
    print("   CPU time is the figure that load from other processes distorts least")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--instructions", action="store_true",
                        help="part 3 only, counting instructions with valgrind instead of timing")
    opts = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
          f"Python {platform.python_version()}, load average {load:.2f}")
    with tempfile.TemporaryDirectory(prefix="budgets-bench-") as tmp:
        root = Path(tmp)
        if opts.instructions:
            ensure_bytecode()  # keep bytecode caches, as run_pytest does for the timed runs
            bench_suite(root, tests=500 if opts.quick else 5000, reps=1, count=True)
        elif opts.quick:
            bench_perf(root, rounds=1000, reps=5)
            bench_memory(root, n=50_000, reps=3)
            bench_suite(root, tests=500, reps=1)
        else:
            bench_perf(root, rounds=10_000, reps=21)
            bench_memory(root, n=300_000, reps=7)
            bench_suite(root, tests=5000, reps=5)


if __name__ == "__main__":
    main()
