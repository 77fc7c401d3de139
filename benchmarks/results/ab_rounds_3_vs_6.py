"""A/B with [compare] rounds = 3 (default) against rounds = 6, interleaved run by run (2026-11-29, drifting machine).

Kept as a record, not maintained. Setup as for ab_lockstep_vs_rounds.py: /tmp/abdbg/repo made by
regression_accuracy.make_repo, its commits in /tmp/abdbg/commits.json. Usage: python ab_rounds_3_vs_6.py 12
"""
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, "/work/main/benchmarks")
import regression_accuracy as ra

root = Path("/tmp/abdbg/repo")
commits = json.loads(Path("/tmp/abdbg/commits.json").read_text())
io_dir = Path(tempfile.mkdtemp(prefix="rg-dbg-io-", dir="/dev/shm"))
pyproject = (root / "pyproject.toml").read_text()
n = int(sys.argv[1])
variants = (3, 6)
counts: dict = {}
times: dict = {v: [] for v in variants}
try:
    for i in range(n):
        for cond in ("same", "x1.2", "x1.5"):
            ra.git(root, "checkout", "-q", commits[cond])
            for v in variants:
                (root / "pyproject.toml").write_text(pyproject + f"rounds = {v}\n")
                env = {"BENCH_IO_DIR": str(io_dir), "PYTEST_ADDOPTS": ""}
                times[v].append(ra.pytest_run(root, ["--release-gate", f"--gate-compare-ref={commits['base']}",
                                                     "tests"], env))
                verdict = json.loads((root / ".release-gates/verdict.json").read_text())
                for tol in (0.1, 0.2):
                    for flagged in ra.decide_verdict(verdict, tol).values():
                        counts[(v, tol, cond)] = counts.get((v, tol, cond), 0) + int(flagged)
        print(f"trial {i + 1}", file=sys.stderr)
finally:
    (root / "pyproject.toml").write_text(pyproject)
for tol in (0.1, 0.2):
    for v in variants:
        c = [counts.get((v, tol, cond), 0) for cond in ("same", "x1.2", "x1.5")]
        print(f"tolerance {tol:.0%}, rounds {v}: false alarms {c[0]}/{6 * n}, 1.2x {c[1]}/{6 * n}, 1.5x {c[2]}/{6 * n}")
for v in variants:
    s = sorted(times[v])
    print(f"rounds {v}: median A/B run {s[len(s) // 2]:.2f} s")
