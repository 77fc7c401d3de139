"""Same-job A/B (``--gate-compare-ref``) against the committed-baseline mode and pytest-benchmark, end to end.

The six workloads of ``regression_accuracy.py`` (three CPU-bound, three
I/O-bound; their source is copied verbatim into a scratch package) are the
code under test of a scratch git repository with three commits:

* ``base``: each workload does its unit of work 10 times (``REPS = 10``), and
  the committed baseline (``--gate-update-baseline``) plus a saved
  pytest-benchmark run (``--benchmark-save``) are recorded there, on this
  machine, right before the study (the kindest case for both: same machine,
  minutes apart);
* ``same``: no change; ``slow``: ``REPS = 12``, a 1.2x slowdown.

Then ``n`` times over, interleaved (trial i runs every mode on both commits
before trial i+1), real pytest runs decide each workload:

* A/B: ``pytest --release-gate --gate-compare-ref=<base>`` (3 rounds, default);
* committed baseline: ``pytest --release-gate`` against the recorded baseline;
* pytest-benchmark: ``--benchmark-json`` (``--benchmark-max-time=0.25``), judged by its own
  ``--benchmark-compare-fail=median:X%`` check against the saved run.

Decisions are taken at tolerance 10% and 20% (our gates from each verdict's
ratio and p-value, pytest-benchmark by its check class): with 20%, a 1.2x
slowdown sits on the threshold and any rule catches it about half the time.

Also timed: an A/B run against the same run without it (the committed-baseline run).

    python benchmarks/compare_accuracy.py            # full: 30 trials
    python benchmarks/compare_accuracy.py --quick    # smoke run: 2 trials
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

import regression_accuracy as ra  # noqa: E402

from pytest_release_gates.significance import ALPHA  # noqa: E402

GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", "-c", "commit.gpgsign=false"]
TOLERANCES = (0.1, 0.2)
MODES = ("A/B", "baseline", "pytest-benchmark")
ROUNDS = 100
#: pytest-benchmark's time per benchmark (default 1 s): 0.25 s still gives it thousands of rounds of these
#: sub-millisecond workloads, and keeps the full study within ~15 minutes on 2 cores.
BENCH_MAX_TIME = 0.25

PKG_HEAD = '''
import json, os, random, re
from pathlib import Path

REPS = {reps}
_RNG = random.Random(42)
_FLOATS = [_RNG.random() for _ in range(300)]
_DOC = {{"users": [{{"id": i, "name": f"user{{i}}", "tags": ["a", "b", "c"], "score": i * 1.5}} for i in range(8)]}}
_TEXT = " ".join(f"item-{{i}} value={{i * 7}} key_{{i % 13}}" for i in range(60))
_PATTERN = re.compile(r"value=(\\d+) key_(\\d+)")
_TMP = Path(os.environ["BENCH_IO_DIR"])
_PAYLOAD = os.urandom(4 * 1024)
for _i in range(10):
    (_TMP / f"f{{_i}}.txt").write_bytes(b"x" * 100)
'''

PERF_TESTS = "import benchpkg\n\n" + "".join(
    f"\ndef test_{name}(perf):\n    perf.measure(lambda: benchpkg.{name}(benchpkg.REPS), rounds={ROUNDS}, "
    f"name={name!r})\n"
    for name in ra.WORKLOADS
)
BENCH_TESTS = "import benchpkg\n\n" + "".join(
    f"\ndef test_{name}(benchmark):\n    benchmark(lambda: benchpkg.{name}(benchpkg.REPS))\n" for name in ra.WORKLOADS
)


def package(reps: int) -> str:
    return PKG_HEAD.format(reps=reps) + "".join("\n\n" + inspect.getsource(f) for _k, f in ra.WORKLOADS.values())


def git(cwd: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def make_repo(root: Path, io_dir: Path) -> dict[str, str]:
    (root / "src" / "benchpkg").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "bench").mkdir()
    (root / "pyproject.toml").write_text(
        '[project]\nname = "benchpkg"\nversion = "1.0"\n\n[tool.pytest.ini_options]\npythonpath = ["src"]\n\n'
        f"[tool.release_gates]\nregression_tolerance = {min(TOLERANCES)}\nrollback_ratio = 3.0\n")
    (root / ".gitignore").write_text(".release-gates/\n__pycache__/\n.benchmarks/\n*.json.tmp\n")
    (root / "tests" / "test_perf.py").write_text(PERF_TESTS)
    (root / "bench" / "test_bench.py").write_text(BENCH_TESTS)
    (root / "src" / "benchpkg" / "__init__.py").write_text(package(10))
    git(root, "init", "-q")
    env = {"BENCH_IO_DIR": str(io_dir)}
    run(root, ["--release-gate", "--gate-update-baseline", "tests"], env)  # the committed baseline
    run(root, ["bench", "--benchmark-save=base", f"--benchmark-max-time={BENCH_MAX_TIME}", "-q"], env)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    commits = {"base": git(root, "rev-parse", "HEAD")}
    git(root, "commit", "-q", "--allow-empty", "-m", "same")
    commits["same"] = git(root, "rev-parse", "HEAD")
    (root / "src" / "benchpkg" / "__init__.py").write_text(package(12))
    git(root, "commit", "-q", "-am", "slow")
    commits["slow"] = git(root, "rev-parse", "HEAD")
    return commits


def run(cwd: Path, args: Sequence[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=cwd,
                          capture_output=True, text=True, env={**os.environ, **env})
    took = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        raise SystemExit(f"pytest {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr}")
    return took, proc


def ours(verdict: dict[str, Any], tol: float) -> dict[str, bool]:
    """Workload -> regressed, re-deciding each gate at ``tol`` from its ratio and p-value (as the gate does)."""
    out = {}
    for g in verdict["gates"]:
        if g["kind"] != "regression" or "::" not in g["subject"]:
            continue
        name = g["subject"].rsplit("::", 1)[1]
        ratio = g.get("value")
        p = g.get("p_value")
        out[name] = ratio is not None and ratio > 1 + tol and (p is None or p < ALPHA)
    return out


def theirs(trial: dict[str, Any], saved: dict[str, Any], tol: float) -> dict[str, bool]:
    from pytest_benchmark.utils import parse_compare_fail

    check = parse_compare_fail(f"median:{tol * 100:g}%")
    base = {b["name"].removeprefix("test_"): b["stats"] for b in saved["benchmarks"]}
    return {b["name"].removeprefix("test_"): bool(check.fails(b["stats"], base[b["name"].removeprefix("test_")]))
            for b in trial["benchmarks"]}


def study(n: int, root: Path, commits: dict[str, str], env: dict[str, str]) -> tuple[dict[Any, int], dict[str, list]]:
    counts: dict[Any, int] = {}
    times: dict[str, list[float]] = {"A/B": [], "baseline": [], "pytest-benchmark": []}
    saved = json.loads(next((root / ".benchmarks").rglob("*base.json")).read_text())
    verdict_path = root / ".release-gates" / "verdict.json"
    for i in range(n):
        for cond in ("same", "slow"):
            git(root, "checkout", "-q", commits[cond])
            took, _ = run(root, ["--release-gate", f"--gate-compare-ref={commits['base']}", "tests"], env)
            times["A/B"].append(took)
            ab = json.loads(verdict_path.read_text())
            took, _ = run(root, ["--release-gate", "tests"], env)
            times["baseline"].append(took)
            bl = json.loads(verdict_path.read_text())
            out = root / "trial.json"
            took, _ = run(root, ["bench", f"--benchmark-json={out}", f"--benchmark-max-time={BENCH_MAX_TIME}", "-q"],
                          env)
            times["pytest-benchmark"].append(took)
            pb = json.loads(out.read_text())
            for tol in TOLERANCES:
                for mode, decided in (("A/B", ours(ab, tol)), ("baseline", ours(bl, tol)),
                                      ("pytest-benchmark", theirs(pb, saved, tol))):
                    for name, flagged in decided.items():
                        if name in ra.WORKLOADS:
                            key = (mode, tol, cond, name)
                            counts[key] = counts.get(key, 0) + int(flagged)
        print(f"  trial {i + 1}/{n} done", file=sys.stderr)
        if (i + 1) % 10 == 0 and i + 1 < n:  # partial tables, in case a long run is cut short
            print(f"\n--- after {i + 1} trials ---")
            report(counts, times, i + 1)
            sys.stdout.flush()
    return counts, times


def report(counts: dict[Any, int], times: dict[str, list[float]], n: int) -> None:
    for tol in TOLERANCES:
        print(f"\ntolerance {tol:.0%} (pytest-benchmark: --benchmark-compare-fail=median:{tol * 100:g}%)\n")
        print("| workload | kind | " + " | ".join(f"{m}: false alarms / 1.2x detected" for m in MODES) + " |")
        print("|" + " --- |" * (2 + len(MODES)))
        totals = {m: [0, 0] for m in MODES}
        for name, (kind, _f) in ra.WORKLOADS.items():
            cells = []
            for m in MODES:
                fa, det = counts.get((m, tol, "same", name), 0), counts.get((m, tol, "slow", name), 0)
                totals[m][0] += fa
                totals[m][1] += det
                cells.append(f"{fa}/{n} / {det}/{n}")
            print(f"| {name} | {kind} | " + " | ".join(cells) + " |")
        k = n * len(ra.WORKLOADS)
        print("| **all** | | " + " | ".join(f"{fa}/{k} / {det}/{k}" for fa, det in totals.values()) + " |")
    ab, plain = statistics.median(times["A/B"]), statistics.median(times["baseline"])
    pb = statistics.median(times["pytest-benchmark"])
    print(f"\nwall time per run (median): A/B {ab:.1f} s, the same run without A/B {plain:.1f} s: "
          f"{ab / plain:.2f}x (target <= 2.5x); pytest-benchmark run {pb:.1f} s")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 trials: a smoke run")
    ap.add_argument("-n", type=int, default=None, help="trials (default 30)")
    args = ap.parse_args(argv)
    n = args.n or (2 if args.quick else 30)
    print(f"machine: {ra.baseline_mod.describe_machine(ra.baseline_mod.machine_fingerprint())}; "
          f"Python {platform.python_version()}; load average {os.getloadavg()[0]:.2f}")
    print(f"{n} trials; each: A/B, committed-baseline and pytest-benchmark runs on an unchanged and a 1.2x "
          f"slower commit; perf.measure rounds={ROUNDS}, A/B rounds=3")
    shm = Path("/dev/shm")
    work = Path(tempfile.mkdtemp(prefix="rg-compare-bench-"))
    io_dir = Path(tempfile.mkdtemp(prefix="rg-compare-io-", dir=shm if shm.is_dir() else None))
    try:
        env = {"BENCH_IO_DIR": str(io_dir), "PYTEST_ADDOPTS": ""}
        t0 = time.perf_counter()
        commits = make_repo(work / "repo", io_dir)
        counts, times = study(n, work / "repo", commits, env)
        print(f"\n--- all {n} trials ---")
        report(counts, times, n)
        print(f"\nstudy took {time.perf_counter() - t0:.0f} s; load average now {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(io_dir, ignore_errors=True)
        shutil.rmtree(ra._TMP, ignore_errors=True)  # made by regression_accuracy at import
    return 0


if __name__ == "__main__":
    sys.exit(main())
