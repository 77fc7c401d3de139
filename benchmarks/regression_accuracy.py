"""How often does the regression gate cry wolf, and how often does it catch a real slowdown?

Six realistic workloads (three CPU-bound, three I/O-bound), with a slowdown
injected into the code under test (it does 1.2x, 1.5x or 2x its work), in
two parts:

**Part 1, the rules on the same samples** (in-process; about 13 minutes with
each measurement spread over 1 s, as ``perf.measure`` does under
``--release-gate``, 25 s with ``--spread 0``). Each workload is timed the way
``perf.measure`` times it (its own timing loop); a
baseline is recorded once, exactly as ``--gate-update-baseline`` writes it
(``make_entry``); then, N times over, each condition is measured afresh and
the same sample set is judged by our rule (``gates.regression.compare``:
ratio of medians AND Mann-Whitney U at p < 0.002) and by
pytest-benchmark's ``median:20%`` check class applied to the same medians
(of the raw samples; ours gets the calibrated ones and the calibration, as
``perf.measure`` records them). This isolates the rule: without calibration,
on the same samples ours can only flag a subset.

**Part 2, real runs end to end** (``--part e2e``; about 100 s a trial with all
five modes on a noisy machine, so 30 trials take about 50 minutes; 80 s with
``--modes baseline baseline-raw pytest-benchmark``). A
scratch git repository holds the workloads as its code under test, with a
commit per condition (``base``; ``same``: no change; ``x1.2``, ``x1.5``,
``x2``). At ``base``, the committed baseline (``--gate-update-baseline``)
and a saved pytest-benchmark run (``--benchmark-save``, pytest-benchmark's
own calibration and default ``--benchmark-max-time=1``) are recorded on this
machine, minutes before the study (the kindest case for both). Then N
trials, each running every mode on every condition (interleaved, so the
machine's drift lands on all alike), as a user would run them:

* committed baseline: ``pytest --release-gate`` (perf.measure, 100 rounds,
  spread over ``perf_spread_seconds``, 1 s by default, calibrated for machine
  speed as ``perf_calibration`` is by default);
* committed baseline, uncalibrated (``baseline-raw``): the same tests in a
  project of their own beside it with ``perf_calibration = false``, against
  their own baseline file recorded the same way;
* committed baseline, back to back: the same tests with the 100 rounds run
  back to back, as ``perf_spread_seconds = 0`` measures (``baseline-b2b``; a ``budget(seconds=...)``
  far above the test's time turns spreading off, as the README documents),
  against their own baseline file recorded the same way;
* A/B: ``pytest --release-gate --gate-compare-ref=<base>`` (3 rounds);
* pytest-benchmark: ``pytest --benchmark-json=...``, judged by its own
  ``--benchmark-compare-fail=median:X%`` check class against the saved run.

Decisions are re-taken from each verdict at tolerance 20% (the default) and
10% (what the README recommends for A/B: ``[compare] tolerance = 0.1``):
ratio, p-value and, for A/B, whether every round was slower; pytest-benchmark
by ``median:20%`` and ``median:10%``. Also timed: the A/B run against the
same run without it.

Also timed: loading and comparing a 1,000-metric baseline (target < 100 ms).

    python benchmarks/regression_accuracy.py               # both parts, 30 per condition
    python benchmarks/regression_accuracy.py --part e2e    # the end-to-end study only
    python benchmarks/regression_accuracy.py --quick       # smoke run of both
    python benchmarks/regression_accuracy.py --part samples --spread 0   # part 1, rounds back to back
    python benchmarks/regression_accuracy.py --part e2e -n 10 --modes baseline pytest-benchmark --e2e-rounds 5000
        # the committed baseline with about pytest-benchmark's time per workload (5,000 calls), against it
"""

from __future__ import annotations

import argparse
import gc
import inspect
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from pytest_release_gates import baseline as baseline_mod  # noqa: E402
from pytest_release_gates import machine  # noqa: E402
from pytest_release_gates.calibration import Calibration  # noqa: E402
from pytest_release_gates.gates import BUILTIN  # noqa: E402
from pytest_release_gates.gates.regression.compare import REGRESSED, compare  # noqa: E402
from pytest_release_gates.gates.regression.entries import make_entry  # noqa: E402
from pytest_release_gates.metrics import Metric  # noqa: E402
from pytest_release_gates.significance import ALPHA  # noqa: E402

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


SPREAD = 1.0  # part 1: seconds to spread each measurement over (perf_spread_seconds); --spread


def measure(call: Callable[[], Any], rounds: int, warmup: int = 5) -> tuple[list[float], list[float], Any]:
    """(raw seconds per call, the tracked metric's samples, its calibration), as ``perf.measure`` takes
    them under --release-gate (its own loop and calibration when available)."""
    try:
        from pytest_release_gates.calibration import Recorder
        from pytest_release_gates.perf import _run  # the plugin's timing loop

        rec = Recorder()
        raw = [float(x) for x in _run(call, (), {}, rounds, warmup, span=SPREAD, calibrate=rec)]
        adjusted, cal = rec.result(raw) or (raw, None)
        return raw, adjusted, cal
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
    return out, out, None


def ours(samples: Sequence[float], entry: dict[str, Any], cal: Any) -> bool:
    return compare(samples, True, False, entry, TOLERANCE, ROLLBACK, cal).outcome == REGRESSED


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
        raw, adjusted, cal = measure(inject(func, 1.0), rounds)
        base_samples[name] = raw
        entries[name] = make_entry(Metric("bench.py::test", name, tuple(adjusted), sampled=True, source="perf",
                                          calibration=cal), "m")
    counts = {name: {f: [0, 0] for f in FACTORS} for name in WORKLOADS}
    for _ in range(n):
        for factor in FACTORS:
            for name, (_kind, func) in WORKLOADS.items():
                raw, adjusted, cal = measure(inject(func, factor), rounds)
                counts[name][factor][0] += ours(adjusted, entries[name], cal)
                counts[name][factor][1] += theirs(raw, base_samples[name])
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
                calibration=Calibration(4e-5, 0.98),  # as perf.measure records under --release-gate
            )
            sec[m.key] = make_entry(m, "abcdef123456")
            current[m.key] = [center * rng.lognormvariate(0.05, 0.08) for _ in range(rounds)]
        b.save()
        size = path.stat().st_size
        times = []
        for _ in range(7):
            t0 = time.perf_counter()
            loaded = baseline_mod.load(path, validators=BUILTIN.sections())
            section = loaded.get("regression")
            flagged = 0
            for key, samples in current.items():
                flagged += compare(samples, True, False, section[key], TOLERANCE, ROLLBACK,
                                   Calibration(4.4e-5, 0.97)).outcome == REGRESSED
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


# ----------------------------------------------------------------- part 2: real runs end to end

GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", "-c", "commit.gpgsign=false"]
E2E_TOLERANCES = (0.2, 0.1)
ALL_MODES = ("baseline", "baseline-raw", "baseline-b2b", "A/B", "pytest-benchmark")
#: The uncalibrated mode's own project (``perf_calibration = false``), beside the main one.
RAW_PROJECT = (
    '[project]\nname = "benchpkg-raw"\nversion = "1.0"\n\n[tool.pytest.ini_options]\npythonpath = ["../src"]\n\n'
    "[tool.release_gates]\nperf_calibration = false\n"
)
B2B_BASELINE = "b2b.baseline.json"
MODES: tuple[str, ...] = ALL_MODES  # --modes narrows it
CONDITIONS = {"same": 1.0, "x1.2": 1.2, "x1.5": 1.5, "x2": 2.0}
E2E_ROUNDS = 100

PKG_HEAD = """
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
"""


def perf_tests(rounds: int) -> str:
    """The committed-baseline and A/B modes' test file: ``perf.measure`` with ``rounds`` rounds."""
    return "import benchpkg\n\n" + "".join(
        f"\ndef test_{name}(perf):\n    perf.measure(lambda: benchpkg.{name}(benchpkg.REPS), rounds={rounds}, "
        f"name={name!r})\n"
        for name in WORKLOADS
    )


def b2b_tests(rounds: int) -> str:
    """The back-to-back variant: a wall-time budget far above the test's time turns spreading off."""
    marked = perf_tests(rounds).replace("\ndef test_", "\n@pytest.mark.budget(seconds=1e6)\ndef test_")
    return "import pytest\n" + marked


BENCH_TESTS = "import benchpkg\n\n" + "".join(
    f"\ndef test_{name}(benchmark):\n    benchmark(lambda: benchpkg.{name}(benchpkg.REPS))\n" for name in WORKLOADS
)


def package(reps: int) -> str:
    """The code under test at one commit: the workloads, doing ``reps`` units of work."""
    return PKG_HEAD.format(reps=reps) + "".join("\n\n" + inspect.getsource(f) for _k, f in WORKLOADS.values())


def git(cwd: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def pytest_run(cwd: Path, args: Sequence[str], env: dict[str, str]) -> float:
    """Run pytest as a user would; return its wall time."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=cwd,
                          capture_output=True, text=True, env={**os.environ, **env})
    took = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        raise SystemExit(f"pytest {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr}")
    return took


def make_repo(root: Path, env: dict[str, str]) -> dict[str, str]:
    """The scratch repository: a commit per condition; baseline and saved pytest-benchmark run at ``base``."""
    (root / "src" / "benchpkg").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "tests_b2b").mkdir()
    (root / "raw").mkdir()
    (root / "bench").mkdir()
    (root / "pyproject.toml").write_text(
        '[project]\nname = "benchpkg"\nversion = "1.0"\n\n[tool.pytest.ini_options]\npythonpath = ["src"]\n\n'
        "# everything else at its default; the README's recommended A/B tolerance:\n"
        "[tool.release_gates.compare]\ntolerance = 0.1\n")
    (root / ".gitignore").write_text(".release-gates/\n__pycache__/\n.benchmarks/\n*.json.tmp\ntrial.json\n")
    (root / "tests" / "test_perf.py").write_text(perf_tests(E2E_ROUNDS))
    (root / "tests_b2b" / "test_perf_b2b.py").write_text(b2b_tests(E2E_ROUNDS))
    (root / "raw" / "pyproject.toml").write_text(RAW_PROJECT)
    (root / "raw" / "test_perf_raw.py").write_text(perf_tests(E2E_ROUNDS))
    (root / "bench" / "test_bench.py").write_text(BENCH_TESTS)
    (root / "src" / "benchpkg" / "__init__.py").write_text(package(BASE_REPS))
    git(root, "init", "-q")
    pytest_run(root, ["--release-gate", "--gate-update-baseline", "tests"], env)  # the committed baseline
    if "baseline-raw" in MODES:
        pytest_run(root / "raw", ["--release-gate", "--gate-update-baseline"], env)
    if "baseline-b2b" in MODES:
        pytest_run(root, ["--release-gate", "--gate-update-baseline", f"--gate-baseline={B2B_BASELINE}",
                          "tests_b2b"], env)
    pytest_run(root, ["bench", "--benchmark-save=base", "-q"], env)  # pytest-benchmark's saved run
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    commits = {"base": git(root, "rev-parse", "HEAD")}
    for cond, factor in CONDITIONS.items():
        (root / "src" / "benchpkg" / "__init__.py").write_text(package(round(BASE_REPS * factor)))
        git(root, "commit", "-q", "--allow-empty", "-am", cond)
        commits[cond] = git(root, "rev-parse", "HEAD")
    return commits


def decide_verdict(verdict: dict[str, Any], tol: float) -> dict[str, bool]:
    """Workload -> regressed, re-deciding each gate at ``tol`` as the gate does (ratio, p, every A/B round)."""
    out = {}
    for g in verdict["gates"]:
        if g["kind"] != "regression" or "::" not in g["subject"]:
            continue
        name = g["subject"].rsplit("::", 1)[1]
        ratio, p = g.get("value"), g.get("p_value")
        slower, rounds = g.get("rounds_slower", (1, 1))
        out[name] = ratio is not None and ratio > 1 + tol and (p is None or p < ALPHA) and slower == rounds
    return out


def decide_pytest_benchmark(trial: dict[str, Any], saved: dict[str, Any], tol: float) -> dict[str, bool]:
    """pytest-benchmark's own ``--benchmark-compare-fail=median:X%`` check against its saved run."""
    from pytest_benchmark.utils import parse_compare_fail

    check = parse_compare_fail(f"median:{tol * 100:g}%")
    base = {b["name"].removeprefix("test_"): b["stats"] for b in saved["benchmarks"]}
    return {b["name"].removeprefix("test_"): bool(check.fails(b["stats"], base[b["name"].removeprefix("test_")]))
            for b in trial["benchmarks"]}


def e2e_study(n: int, root: Path, commits: dict[str, str], env: dict[str, str]) -> tuple[dict[Any, int],
                                                                                         dict[str, list[float]]]:
    counts: dict[Any, int] = {}
    times: dict[str, list[float]] = {m: [] for m in ALL_MODES}
    saved = json.loads(next((root / ".benchmarks").rglob("*base.json")).read_text())
    verdict_path = root / ".release-gates" / "verdict.json"
    for i in range(n):
        for cond in CONDITIONS:
            git(root, "checkout", "-q", commits[cond])
            decided = {}
            if "baseline" in MODES or "A/B" in MODES:  # the A/B's wall time is compared with this run's
                times["baseline"].append(pytest_run(root, ["--release-gate", "tests"], env))
                decided["baseline"] = json.loads(verdict_path.read_text())
            if "baseline-raw" in MODES:
                times["baseline-raw"].append(pytest_run(root / "raw", ["--release-gate"], env))
                decided["baseline-raw"] = json.loads((root / "raw" / verdict_path.relative_to(root)).read_text())
            if "baseline-b2b" in MODES:
                times["baseline-b2b"].append(pytest_run(root, ["--release-gate", f"--gate-baseline={B2B_BASELINE}",
                                                               "tests_b2b"], env))
                decided["baseline-b2b"] = json.loads(verdict_path.read_text())
            if "A/B" in MODES:
                times["A/B"].append(pytest_run(root, ["--release-gate", f"--gate-compare-ref={commits['base']}",
                                                      "tests"], env))
                decided["A/B"] = json.loads(verdict_path.read_text())
            if "pytest-benchmark" in MODES:
                out = root / "trial.json"
                times["pytest-benchmark"].append(pytest_run(root, ["bench", f"--benchmark-json={out}", "-q"], env))
                decided["pytest-benchmark"] = json.loads(out.read_text())
            for tol in E2E_TOLERANCES:
                for mode in MODES:
                    flags = (decide_pytest_benchmark(decided[mode], saved, tol) if mode == "pytest-benchmark"
                             else decide_verdict(decided[mode], tol))
                    for name, flagged in flags.items():
                        if name in WORKLOADS:
                            key = (mode, tol, cond, name)
                            counts[key] = counts.get(key, 0) + int(flagged)
        print(f"  trial {i + 1}/{n} done (load average {os.getloadavg()[0]:.2f})", file=sys.stderr)
        if (i + 1) % 10 == 0 and i + 1 < n:  # partial tables, in case a long run is cut short
            print(f"\n--- after {i + 1} trials ---")
            e2e_report(counts, times, i + 1)
            sys.stdout.flush()
    return counts, times


def e2e_report(counts: dict[Any, int], times: dict[str, list[float]], n: int) -> None:
    heads = " / ".join("no change" if f == 1.0 else f"{f:g}x" for f in CONDITIONS.values())
    for tol in E2E_TOLERANCES:
        print(f"\ntolerance {tol:.0%} (pytest-benchmark: --benchmark-compare-fail=median:{tol * 100:g}%); "
              f"each cell: false alarms / detections at {heads.split(' / ', 1)[1]}, of {n}\n")
        print("| workload | kind | " + " | ".join(MODES) + " |")
        print("|" + " --- |" * (2 + len(MODES)))
        totals = {m: [0] * len(CONDITIONS) for m in MODES}
        for name, (kind, _f) in WORKLOADS.items():
            cells = []
            for m in MODES:
                row = [counts.get((m, tol, cond, name), 0) for cond in CONDITIONS]
                totals[m] = [a + b for a, b in zip(totals[m], row, strict=True)]
                cells.append(" / ".join(str(x) for x in row))
            print(f"| {name} | {kind} | " + " | ".join(cells) + " |")
        k = n * len(WORKLOADS)
        print(f"| **all (of {k})** | | " + " | ".join(" / ".join(str(x) for x in totals[m]) for m in MODES) + " |")
        for m in MODES:
            worst_fa = max(counts.get((m, tol, "same", w), 0) for w in WORKLOADS)
            worst_12 = min(counts.get((m, tol, "x1.2", w), 0) for w in WORKLOADS)
            worst_15 = min(counts.get((m, tol, "x1.5", w), 0) for w in WORKLOADS)
            print(f"  {m}: worst workload: {worst_fa}/{n} false alarms, {worst_12}/{n} at 1.2x, {worst_15}/{n} at 1.5x")
    med = {m: statistics.median(v) for m, v in times.items() if v}
    if "A/B" in med:
        print(f"\nwall time per run (median): A/B {med['A/B']:.2f} s, the same run without A/B "
              f"{med['baseline']:.2f} s: {med['A/B'] / med['baseline']:.2f}x (target <= 2.5x)")
    print("wall time per run (median): " + ", ".join(f"{m} {s:.2f} s" for m, s in med.items()))


def _hog(seed: int, mean_busy: float, mean_idle: float) -> None:
    """A neighbour's job on a shared machine: bursts of CPU work of random length, random pauses between."""
    rng = random.Random(seed)
    while True:
        end = time.perf_counter() + rng.expovariate(1 / mean_busy)
        x = 0
        while time.perf_counter() < end:
            x += 1
        time.sleep(rng.expovariate(1 / mean_idle))


def noise(k: int) -> list[Any]:
    """Start ``k`` bursty CPU hogs (busy 0.5 s, idle 0.5 s on average, exponentially distributed)."""
    import multiprocessing

    procs = [multiprocessing.Process(target=_hog, args=(i, 0.5, 0.5), daemon=True) for i in range(k)]
    for p in procs:
        p.start()
    return procs


def run_e2e(n: int, noisy: int = 0) -> None:
    print(f"\nPart 2: real runs end to end, {n} trials; each runs the "
          f"{', '.join(MODES)} modes on {', '.join(CONDITIONS)}; perf.measure rounds={E2E_ROUNDS}, A/B rounds=3"
          + (f"; {noisy} bursty CPU hogs running from after the recording to the end (--noise)" if noisy else ""))
    shm = Path("/dev/shm")
    work = Path(tempfile.mkdtemp(prefix="rg-e2e-bench-"))
    io_dir = Path(tempfile.mkdtemp(prefix="rg-e2e-io-", dir=shm if shm.is_dir() else None))
    try:
        env = {"BENCH_IO_DIR": str(io_dir), "PYTEST_ADDOPTS": ""}
        t0 = time.perf_counter()
        commits = make_repo(work / "repo", env)
        hogs = noise(noisy)
        try:
            counts, times = e2e_study(n, work / "repo", commits, env)
        finally:
            for h in hogs:
                h.terminate()
        print(f"\n--- all {n} trials ---")
        e2e_report(counts, times, n)
        print(f"\nend-to-end study took {time.perf_counter() - t0:.0f} s; load average now {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(io_dir, ignore_errors=True)


def _positive(text: str) -> int:
    """argparse type: an int of at least 1 (a bad value is one usage line, not a failed scratch run)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return value


def _seconds(text: str) -> float:
    """argparse type: a finite number of seconds, at least 0 (one usage line otherwise)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds, at least 0, not {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    global MODES, E2E_ROUNDS, SPREAD
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a smoke run: 5 comparisons in part 1, 2 trials in part 2")
    ap.add_argument("--part", choices=("samples", "e2e", "all"), default="all", help="which part to run")
    ap.add_argument("-n", type=_positive, default=None, help="comparisons (part 1) and trials (part 2) per condition "
                    "(default 30)")
    ap.add_argument("--rounds", type=int, default=None, help="part 1: timed calls per measurement (default 100)")
    ap.add_argument("--spread", type=_seconds, default=1.0, metavar="S",
                    help="part 1: seconds to spread each measurement over, as perf_spread_seconds does "
                    "(default 1; 0 for back to back)")
    ap.add_argument("--noise", type=int, default=0, metavar="K",
                    help="part 2: run K bursty CPU hogs (a neighbour's jobs) after recording the baselines, "
                    "so the trials run on a busier machine than the recording (default 0)")
    ap.add_argument(
        "--few",
        type=int,
        nargs="*",
        default=None,
        help="part 1: also run with these few rounds per measurement, totals only (default: 10 5)",
    )
    ap.add_argument("--modes", nargs="+", choices=ALL_MODES, default=None,
                    help="part 2: which modes to run (default: all five)")
    ap.add_argument("--e2e-rounds", type=_positive, default=None, metavar="N",
                    help="part 2: perf.measure rounds in the committed-baseline and A/B tests (default 100; "
                    "pytest-benchmark samples each benchmark for about 1 s, so N with N calls taking ~1 s "
                    "gives both the same time)")
    args = ap.parse_args(argv)
    SPREAD = args.spread
    if args.modes:
        MODES = tuple(m for m in ALL_MODES if m in args.modes)
    if args.e2e_rounds is not None:
        E2E_ROUNDS = args.e2e_rounds
    print(
        f"machine: {machine.describe_machine(machine.machine_fingerprint())}; "
        f"Python {platform.python_version()}; load average {os.getloadavg()[0]:.2f}"
    )
    try:
        if args.part in ("samples", "all"):
            run_samples(args)
        if args.part in ("e2e", "all"):
            run_e2e(args.n or (2 if args.quick else 30), args.noise)
    finally:
        shutil.rmtree(_TMP, ignore_errors=True)
    return 0


def run_samples(args: argparse.Namespace) -> None:
    if args.few is None:
        args.few = [5] if args.quick else [10, 5]
    n = args.n or (5 if args.quick else 30)
    rounds = args.rounds or (30 if args.quick else 100)
    rule = pytest_benchmark_rule()
    print(
        f"\nPart 1: the rules on the same samples. {n} comparisons per condition and workload, {rounds} rounds each "
        f"{f'spread over {SPREAD:g} s' if SPREAD else 'back to back'}; "
        f"tolerance {TOLERANCE:.0%}; pytest-benchmark column: {rule.__doc__}, on the same samples"
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


if __name__ == "__main__":
    sys.exit(main())
