"""Instruction counts against wall time: false alarms and detections of a 2% slowdown on a busy machine.

Two parts; both start two CPU hogs (``python -c "while True: pass"``) first and stop them at the end, so the
2-core machine is oversubscribed throughout (recording included), on top of whatever else runs on it.

**methods** (``--part methods``): three ways to count one metric, on the accuracy study's CPU workloads
(``regression_accuracy.py``), each repeated ``--repeats`` times: (a) by difference, a process with N calls
and one with none under ``cachegrind --cache-sim=no``, (b) one Callgrind process whose batches of calls are
closed by a marker call (``--dump-before=ctermid``), everything simulated, (c) the same with the
instrumentation switched on after the imports (what ``perf.measure`` does on x86-64 Linux). Per method:
instructions per call, whether they repeat from process to process, how much a process's batches differ,
and the wall and CPU time of one metric. The counting process imports pytest first, as it does when the
measured function lives in a test module.

**accuracy** (``--part accuracy``, the default): a scratch git repository whose code under test is four of
the accuracy study's workloads (sorting, a JSON round trip, regular expressions: C code that allocates;
a file write and read on a RAM-backed folder), with a commit per condition: ``base``, ``same`` (no change)
and ``x1.02`` (each workload does 51 units of work instead of 50: 2% more). At ``base`` three baselines are
recorded: ``perf.measure(..., counter="instructions")`` (20 calls counted), ``perf.measure`` timed as by
default (100 rounds spread over 1 s, calibrated), and a saved pytest-benchmark run. Then ``-n`` trials, each
running every mode on both conditions (interleaved), as a user would (``pytest --release-gate``; pytest-
benchmark judged by its own ``--benchmark-compare-fail=median:X%`` check class against its saved run).
Decisions are re-taken from each verdict at several tolerances (the counted metrics' default 1%, 5%, and
the timing default 20%). Also: the cost of one counted metric (the test's duration, from JUnit XML) beside
a timed one; and a committed counted baseline whose recorded Python version is edited to another patch
release (only one 3.11 is installed here, so the edit simulates it), run on both conditions: it must warn
(deploy), never fail.

    python benchmarks/instruction_accuracy.py                  # accuracy, 30 trials
    python benchmarks/instruction_accuracy.py --part methods   # the three counting methods
    python benchmarks/instruction_accuracy.py --part all -n 30
    python benchmarks/instruction_accuracy.py --quick          # 2 trials, 1 repeat
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import regression_accuracy as ra  # noqa: E402  (the workloads, git helper and decision rules)

from pytest_release_gates import machine  # noqa: E402
from pytest_release_gates.measure import instructions  # noqa: E402

WORKLOAD_NAMES = ("cpu_sort", "cpu_json", "cpu_regex", "io_file_roundtrip")
BASE_REPS = 50
CONDITIONS = {"same": BASE_REPS, "x1.02": BASE_REPS + 1}
TOLERANCES = (0.01, 0.05, 0.2)
COUNTED_ROUNDS = 20
MODES = ("counted", "timed", "pytest-benchmark")

#: regression_accuracy's code under test, with what the counted process cannot get from its (pinned)
#: environment written in: the I/O folder as a literal path, and a fixed payload.
PKG_HEAD = ra.PKG_HEAD.replace('Path(os.environ["BENCH_IO_DIR"])', "Path({io_dir!r})").replace(
    "os.urandom(4 * 1024)", "bytes(range(256)) * 16")


def package(reps: int, io_dir: str) -> str:
    """The code under test at one commit (the counted process sees no environment variables: paths are literal)."""
    return PKG_HEAD.format(reps=reps, io_dir=io_dir) + "".join(
        "\n\n" + inspect.getsource(ra.WORKLOADS[name][1]) for name in WORKLOAD_NAMES)


def tests(kind: str) -> str:
    if kind == "bench":
        return "import benchpkg\n" + "".join(
            f"\n\ndef test_{n}(benchmark):\n    benchmark(benchpkg.{n}, benchpkg.REPS)\n" for n in WORKLOAD_NAMES)
    extra = f", rounds={COUNTED_ROUNDS}, warmup=2, counter='instructions'" if kind == "counted" else ""
    return "import benchpkg\n" + "".join(
        f"\n\ndef test_{n}(perf):\n    perf.measure(benchpkg.{n}, benchpkg.REPS, name={n!r}{extra})\n"
        for n in WORKLOAD_NAMES)


# ----------------------------------------------------------------- running things


def hogs(k: int = 2) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(k)]


def pytest_run(cwd: Path, args: Sequence[str], env: dict[str, str]) -> tuple[float, float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=cwd,
                          capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"pytest {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}{proc.stderr}")
    return wall, cpu, proc.stdout


def junit_times(path: Path) -> dict[str, float]:
    cases = ET.parse(path).iter("testcase")
    return {case.get("name", "").removeprefix("test_"): float(case.get("time", "nan")) for case in cases}


# ----------------------------------------------------------------- part: methods

DIFF_DRIVER = """
import gc, os, sys
sys.path[:0] = [{src!r}]
import benchpkg
f = getattr(benchpkg, {name!r})
n = int(sys.argv[1])  # fixed width: the same argv length for N and for 0 calls
for _ in range({warmup}):
    f(benchpkg.REPS)
gc.disable()  # as perf.measure counts (and times)
for _ in range(n):
    f(benchpkg.REPS)
os._exit(0)
"""


def method_difference(src: Path, name: str, calls: int, warmup: int) -> tuple[float, float, float]:
    """(instructions per call, wall s, CPU s) by difference of two cachegrind processes."""
    exe = instructions.valgrind()
    assert exe
    totals, wall, cpu = [], 0.0, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        script = DIFF_DRIVER.format(src=str(src), name=name, warmup=warmup)
        for n in (calls, 0):
            out = Path(tmp) / "cg.out"
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            subprocess.run([exe, "-q", "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={out}",
                            sys.executable, "-c", script, f"{n:06d}"], env=instructions.child_env(), check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wall += time.perf_counter() - t0
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu += (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            text = out.read_text()
            totals.append(int(next(ln.split()[1] for ln in text.splitlines() if ln.startswith("summary:"))))
    return (totals[0] - totals[1]) / calls, wall, cpu


def method_batches(src: Path, name: str, calls: int, warmup: int, late: bool) -> tuple[list[float], float, float]:
    """(per-batch instructions per call, wall s, CPU s) as ``perf.measure`` counts, with or without the late start."""
    saved = instructions.late_start_supported
    instructions.late_start_supported = lambda: late
    path = list(sys.path)
    sys.path[:0] = [str(src)]  # the counting process gets this process's sys.path
    try:
        import benchpkg  # type: ignore[import-not-found]  # written by run_methods

        call = instructions.prepare(getattr(benchpkg, name), (benchpkg.REPS,), {})
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        counted = instructions.count(call, calls=calls, warmup=warmup)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        sys.path[:] = path
        instructions.late_start_supported = saved
    return list(counted.per_call), wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run_methods(repeats: int, calls: int, warmup: int, io_dir: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="rg-instr-methods-"))
    try:
        src = work / "src"
        (src / "benchpkg").mkdir(parents=True)
        # ``import pytest`` first: a function in a test module brings pytest into the counting process with it
        (src / "benchpkg" / "__init__.py").write_text("import pytest\n" + package(BASE_REPS, str(io_dir)))
        names = WORKLOAD_NAMES[:3]
        print(f"\nmethods: {calls} calls counted per metric ({warmup} warm-up calls), {repeats} repeats, workloads "
              f"at REPS={BASE_REPS}; the counting process imports pytest first\n")
        print("| workload | method | instructions per call | repeats across processes | batch spread in a process "
              "| wall s per metric (median) | CPU s per metric (median) |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for name in names:
            rows: dict[str, dict[str, list[Any]]] = {m: {"value": [], "wall": [], "cpu": [], "spread": []}
                                                     for m in ("difference", "batches", "batches, late start")}
            for _ in range(repeats):
                v, w, c = method_difference(src, name, calls, warmup)
                rows["difference"]["value"].append(v)
                rows["difference"]["wall"].append(w)
                rows["difference"]["cpu"].append(c)
                for label, late in (("batches", False), ("batches, late start", True)):
                    per, w, c = method_batches(src, name, calls, warmup, late)
                    rows[label]["value"].append(statistics.median(per))
                    rows[label]["spread"].append(instructions.spread(per))
                    rows[label]["wall"].append(w)
                    rows[label]["cpu"].append(c)
            for label, r in rows.items():
                vals = r["value"]
                same = "exactly" if len(set(vals)) == 1 else f"within {(max(vals) - min(vals)) / min(vals):.3%}"
                spread = f"{max(r['spread']):.3%}" if r["spread"] else "n/a (one value per process pair)"
                print(f"| {name} | {label} | {statistics.median(vals):,.1f} | {same} | {spread} | "
                      f"{statistics.median(r['wall']):.1f} | {statistics.median(r['cpu']):.1f} |")
            sys.stdout.flush()
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ----------------------------------------------------------------- part: accuracy


def make_repo(root: Path, env: dict[str, str], io_dir: Path) -> dict[str, str]:
    (root / "src" / "benchpkg").mkdir(parents=True)
    for folder, kind in (("tests_counted", "counted"), ("tests_timed", "timed"), ("bench", "bench")):
        (root / folder).mkdir()
        (root / folder / f"test_{kind}.py").write_text(tests(kind))
    (root / "pyproject.toml").write_text(
        '[project]\nname = "benchpkg"\nversion = "1.0"\n\n[tool.pytest.ini_options]\npythonpath = ["src"]\n')
    (root / ".gitignore").write_text(".release-gates/\n__pycache__/\n.benchmarks/\n*.xml\ntrial.json\n")
    (root / "src" / "benchpkg" / "__init__.py").write_text(package(BASE_REPS, str(io_dir)))
    ra.git(root, "init", "-q")
    pytest_run(root, ["--release-gate", "--gate-update-baseline", "--gate-baseline=counted.baseline.json",
                      "tests_counted"], env)
    pytest_run(root, ["--release-gate", "--gate-update-baseline", "--gate-baseline=timed.baseline.json",
                      "tests_timed"], env)
    pytest_run(root, ["bench", "--benchmark-save=base", "-q"], env)
    ra.git(root, "add", "-A")
    ra.git(root, "commit", "-q", "-m", "base")
    commits = {"base": ra.git(root, "rev-parse", "HEAD")}
    for cond, reps in CONDITIONS.items():
        (root / "src" / "benchpkg" / "__init__.py").write_text(package(reps, str(io_dir)))
        ra.git(root, "commit", "-q", "--allow-empty", "-am", cond)
        commits[cond] = ra.git(root, "rev-parse", "HEAD")
    return commits


def trial(root: Path, env: dict[str, str], cond: str, saved: dict[str, Any],
          counts: dict[Any, int], costs: dict[str, list[float]], ratios: dict[Any, list[float]]) -> None:
    verdict_path = root / ".release-gates" / "verdict.json"
    decided: dict[str, dict[str, bool]] = {}
    for mode, args in (("counted", ["--release-gate", "--gate-baseline=counted.baseline.json", "tests_counted"]),
                       ("timed", ["--release-gate", "--gate-baseline=timed.baseline.json", "tests_timed"])):
        wall, cpu, _out = pytest_run(root, [*args, f"--junitxml={mode}.xml"], env)
        costs[f"{mode} run wall"].append(wall)
        costs[f"{mode} run cpu"].append(cpu)
        costs[f"{mode} test"].extend(junit_times(root / f"{mode}.xml").values())
        verdict = json.loads(verdict_path.read_text())
        for g in verdict["gates"]:
            if g["kind"] == "regression" and "::" in g["subject"] and g.get("value") is not None:
                ratios.setdefault((mode, cond, g["subject"].rsplit("::", 1)[1]), []).append(float(g["value"]))
        for tol in TOLERANCES:
            decided[f"{mode}@{tol}"] = ra.decide_verdict(verdict, tol)
    wall, cpu, _out = pytest_run(root, ["bench", "--benchmark-json=trial.json", "-q", "--junitxml=bench.xml"], env)
    costs["pytest-benchmark test"].extend(junit_times(root / "bench.xml").values())
    result = json.loads((root / "trial.json").read_text())
    for tol in TOLERANCES:
        decided[f"pytest-benchmark@{tol}"] = ra.decide_pytest_benchmark(result, saved, tol)
    for key, flags in decided.items():
        for name, flagged in flags.items():
            counts[(key, cond, name)] = counts.get((key, cond, name), 0) + int(flagged)


def report_ratios(ratios: dict[Any, list[float]]) -> None:
    """The ratios the gate computed (current / baseline), per workload: how far unchanged code strays."""
    print("\nratio to the baseline as the gate computed it (min to max over the trials):\n")
    print("| workload | counted, no change | counted, x1.02 | timed, no change | timed, x1.02 |")
    print("| --- | --- | --- | --- | --- |")
    for name in WORKLOAD_NAMES:
        cells = []
        for mode in ("counted", "timed"):
            for cond in CONDITIONS:
                r = ratios.get((mode, cond, name), [])
                digits = 4 if mode == "counted" else 2
                cells.append(f"{min(r):.{digits}f} to {max(r):.{digits}f}" if r else "")
        print(f"| {name} | " + " | ".join(cells) + " |")


def report(counts: dict[Any, int], n: int) -> None:
    keys = [f"{m}@{t}" for m in MODES for t in TOLERANCES]
    print("\neach cell: false alarms on unchanged code / detections of the 1.02x slowdown, of "
          f"{n} trials (counted: tolerance as decided; timed: perf.measure as by default; pytest-benchmark: "
          "--benchmark-compare-fail=median:X%)\n")
    heads = []
    for k in keys:
        mode, tol = k.split("@")
        heads.append(f"{mode} {float(tol):.0%}")
    print("| workload | " + " | ".join(heads) + " |")
    print("|" + " --- |" * (1 + len(keys)))
    for name in WORKLOAD_NAMES:
        cells = [f"{counts.get((k, 'same', name), 0)}/{n} / {counts.get((k, 'x1.02', name), 0)}/{n}" for k in keys]
        print(f"| {name} | " + " | ".join(cells) + " |")
    total = n * len(WORKLOAD_NAMES)
    cells = [f"{sum(counts.get((k, 'same', w), 0) for w in WORKLOAD_NAMES)}/{total} / "
             f"{sum(counts.get((k, 'x1.02', w), 0) for w in WORKLOAD_NAMES)}/{total}" for k in keys]
    print("| **all** | " + " | ".join(cells) + " |")


def other_python(root: Path, env: dict[str, str], commits: dict[str, str]) -> None:
    """A committed baseline counted under another patch release (simulated: the recorded version is edited)."""
    path = root / "counted.baseline.json"
    doc = json.loads(path.read_text())
    envs = doc["meta"]["count_envs"]
    now = platform.python_version()
    major, minor, patch = [*now.split("."), "0"][:3]
    other = f"{major}.{minor}.{int(patch) + 1 if patch.isdigit() else 1}"
    for e in envs.values():
        e["python"] = other
    edited = root / "other-python.baseline.json"
    edited.write_text(json.dumps(doc, indent=2))
    print(f"\nbaseline counted under Python {other} (simulated: the recorded version edited from {now}; "
          "only one patch release per minor is installed here):")
    for cond in CONDITIONS:
        ra.git(root, "checkout", "-q", commits[cond])
        _wall, _cpu, out = pytest_run(root, ["--release-gate", f"--gate-baseline={edited.name}", "tests_counted"],
                                      env)
        verdict = json.loads((root / ".release-gates" / "verdict.json").read_text())
        gates = [g for g in verdict["gates"] if g["kind"] == "regression" and "::" in g["subject"]]
        statuses = ", ".join(sorted({g["status"] for g in gates}))
        ratios = ", ".join(f"{g['value']:.4f}" for g in gates if g.get("value"))
        print(f"  {cond}: verdict {verdict['verdict']}; gate statuses: {statuses}; ratios {ratios}")
        line = next((ln.strip() for ln in out.splitlines() if "another environment" in ln and "metrics" in ln), "")
        if line:
            print(f"    {line[:400]}")


def run_accuracy(n: int, io_dir: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="rg-instr-acc-"))
    env = {**os.environ, "PYTEST_ADDOPTS": ""}
    for k in ("CI", "GITHUB_ACTIONS", "RELEASE_GATES_MACHINE"):
        env.pop(k, None)
    try:
        root = work / "repo"
        t0 = time.perf_counter()
        commits = make_repo(root, env, io_dir)
        print(f"\naccuracy: {n} trials x {len(CONDITIONS)} conditions x {len(MODES)} modes; workloads "
              f"{', '.join(WORKLOAD_NAMES)} at REPS={BASE_REPS} (x1.02: {BASE_REPS + 1}); counted: "
              f"{COUNTED_ROUNDS} calls; baselines recorded with the hogs running "
              f"(setup {time.perf_counter() - t0:.0f} s)")
        saved = json.loads(next((root / ".benchmarks").rglob("*base.json")).read_text())
        counts: dict[Any, int] = {}
        ratios: dict[Any, list[float]] = {}
        costs: dict[str, list[float]] = {k: [] for k in ("counted run wall", "counted run cpu", "timed run wall",
                                                         "timed run cpu", "counted test", "timed test",
                                                         "pytest-benchmark test")}
        for i in range(n):
            for cond in CONDITIONS:
                ra.git(root, "checkout", "-q", commits[cond])
                trial(root, env, cond, saved, counts, costs, ratios)
            print(f"  trial {i + 1}/{n} done (load average {os.getloadavg()[0]:.1f})", file=sys.stderr)
            if (i + 1) % 10 == 0 and i + 1 < n:
                print(f"\n--- after {i + 1} trials ---")
                report(counts, i + 1)
                sys.stdout.flush()
        print(f"\n--- all {n} trials ---")
        report(counts, n)
        report_ratios(ratios)
        med = {k: statistics.median(v) for k, v in costs.items() if v}
        print(f"\ncost of one metric, whole test (median of {len(costs['counted test'])}): counted "
              f"{med['counted test']:.2f} s, perf.measure timed {med['timed test']:.2f} s, pytest-benchmark "
              f"{med['pytest-benchmark test']:.2f} s")
        print(f"whole run of {len(WORKLOAD_NAMES)} tests (median): counted {med['counted run wall']:.1f} s wall, "
              f"{med['counted run cpu']:.1f} s CPU; timed {med['timed run wall']:.1f} s wall, "
              f"{med['timed run cpu']:.1f} s CPU")
        other_python(root, env, commits)
        print(f"\naccuracy study took {time.perf_counter() - t0:.0f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=("accuracy", "methods", "all"), default="accuracy")
    ap.add_argument("-n", type=ra._positive, default=None, help="accuracy trials (default 30)")
    ap.add_argument("--repeats", type=ra._positive, default=None, help="methods: repeats per workload (default 3)")
    ap.add_argument("--quick", action="store_true", help="2 trials, 1 repeat")
    ap.add_argument("--no-hogs", action="store_true", help="do not start the two CPU hogs")
    args = ap.parse_args(argv)
    unavailable = instructions.unavailable()
    if unavailable:
        print(unavailable, file=sys.stderr)
        return 2
    env = instructions.environment()
    print(f"machine: {machine.describe_machine(machine.machine_fingerprint())}; Python "
          f"{platform.python_version()}; Valgrind {env.get('valgrind')}; CPU as Valgrind presents it: "
          f"{env.get('cpu')}; {env.get('libc')}; load average {os.getloadavg()[0]:.1f}"
          + ("" if args.no_hogs else "; two CPU hogs started"))
    shm = Path("/dev/shm")
    io_dir = Path(tempfile.mkdtemp(prefix="rg-instr-io-", dir=shm if shm.is_dir() else None))
    for i in range(10):
        (io_dir / f"f{i}.txt").write_bytes(b"x" * 100)
    running = [] if args.no_hogs else hogs(2)
    try:
        if args.part in ("methods", "all"):
            run_methods(args.repeats or (1 if args.quick else 3), COUNTED_ROUNDS, 2, io_dir)
        if args.part in ("accuracy", "all"):
            run_accuracy(args.n or (2 if args.quick else 30), io_dir)
    finally:
        for p in running:
            p.kill()
            p.wait()
        shutil.rmtree(io_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
