"""The one-off experiment behind ab_lockstep_vs_rounds_2026-11-29.txt (kept as a record, not maintained).

Setup: /tmp/abdbg/repo made by regression_accuracy.make_repo (commits in /tmp/abdbg/commits.json), and the
released source exported to /tmp/oldsrc (``git archive HEAD src``) while the working tree held the lockstep
variant; PYTHONPATH picks the released copy for the "old" runs. Usage: python ab_lockstep_vs_rounds.py 12
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
n = int(sys.argv[1])
counts = {}
for i in range(n):
    for cond in ("same", "x1.2", "x1.5"):
        ra.git(root, "checkout", "-q", commits[cond])
        for code in ("old", "new"):
            env = {"BENCH_IO_DIR": str(io_dir), "PYTEST_ADDOPTS": ""}
            if code == "old":
                env["PYTHONPATH"] = "/tmp/oldsrc/src"
            ra.pytest_run(root, ["--release-gate", f"--gate-compare-ref={commits['base']}", "tests"], env)
            v = json.loads((root / ".release-gates/verdict.json").read_text())
            for tol in (0.1, 0.2):
                for flagged in ra.decide_verdict(v, tol).values():
                    counts[(code, tol, cond)] = counts.get((code, tol, cond), 0) + int(flagged)
    print(f"trial {i+1}", file=sys.stderr)
for tol in (0.1, 0.2):
    for code in ("old", "new"):
        print(f"tol {tol:.0%} {code}: FA {counts.get((code, tol, 'same'), 0)}/{6 * n}, "
              f"1.2x {counts.get((code, tol, 'x1.2'), 0)}/{6 * n}, 1.5x {counts.get((code, tol, 'x1.5'), 0)}/{6 * n}")
