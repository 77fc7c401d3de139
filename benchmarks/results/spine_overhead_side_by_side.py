"""Record of how the "side by side" figures for the dispatcher without wrappers were made (2026-11-29).

Not a maintained benchmark: the script as run, kept so the README's figures can be traced. It counts
instructions the way ``spine_overhead.py --instructions`` does, but for several variants in one session:
valgrind's counts repeat to within about 50 instructions per test inside one session and move by up to
12,000 between sessions, so a before/after pair is only compared inside one run of this script.

    python spine_overhead_side_by_side.py before=/tmp/before/src after=
        # each NAME=SRC: --release-gate with SRC first on PYTHONPATH (empty: the installed plugin)
    python spine_overhead_side_by_side.py --strip full= gates=setup,makereport,report,logreport ...
        # each NAME=PARTS: the installed plugin with PARTS switched off by ``_strip_parts.py`` (see there)

The old code was checked out with ``git worktree add /tmp/before <commit>``. Output in
``spine_overhead_instructions_2026-11-29.txt`` (last sections).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from _suite import PYTEST, ensure_bytecode, make_trivial_suite  # noqa: E402


def instructions(cmd: list[str], cwd: Path, env: dict[str, str]) -> int:
    subprocess.run(cmd, cwd=cwd, capture_output=True, env=env)  # warm-up: bytecode caches
    proc = subprocess.Popen(["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
                             "--child-silent-after-fork=yes", *cmd], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**env, "PYTHONHASHSEED": "0"})
    _, err = proc.communicate()
    found = re.search(rf"^=={proc.pid}== I\s+refs:\s+([\d,]+)", err, re.MULTILINE)
    if found is None:
        raise SystemExit(f"no instruction count for {cmd}: {err[-500:]}")
    return int(found.group(1).replace(",", ""))


def main() -> None:
    args = sys.argv[1:]
    strip = bool(args) and args[0] == "--strip"
    specs = args[1:] if strip else args
    ensure_bytecode()
    n = int(os.environ.get("N", "5000"))
    big = Path(tempfile.mkdtemp(prefix="rg-side-big-"))
    small = Path(tempfile.mkdtemp(prefix="rg-side-small-"))
    make_trivial_suite(big, n)
    make_trivial_suite(small, n // 5)
    base = [*PYTEST, "-p", "no:benchmark", "-p", "no:memray", "-p", "no:cov", "-p", "no:timeout", "-p", "no:xdist"]
    variants: list[tuple[str, list[str], dict[str, str]]] = [("plain", ["-p", "no:release_gates"], {})]
    if not specs or any("=" not in spec for spec in specs):
        raise SystemExit("usage: spine_overhead_side_by_side.py [--strip] NAME=VALUE ... (see the docstring)")
    for spec in specs:
        name, value = spec.split("=", 1)
        if strip:
            variants.append((name, ["--release-gate", "-p", "_strip_parts"],
                             {"PYTHONPATH": str(HERE), "RG_STRIP": value}))
        else:
            variants.append((name, ["--release-gate"], {"PYTHONPATH": value} if value else {}))
    print(f"{n} and {n // 5} trivial tests, instructions counted by valgrind, one session")
    ref: tuple[float, float, int] | None = None
    for name, extra, env_extra in variants:
        env = {**os.environ, **env_extra}
        lo = instructions([*base, *extra], small, env)
        hi = instructions([*base, *extra], big, env)
        per = (hi - lo) / (n - n // 5)
        fixed = hi - per * n
        if ref is None:
            ref = (per, fixed, hi)
        print(f"{name:<12} per test {per - ref[0]:+9,.0f}  fixed {(fixed - ref[1]) / 1e6:+7.0f}M  "
              f"overhead {100 * (hi / ref[2] - 1):+.2f}%  at {n // 5}: {lo:,}  at {n}: {hi:,}", flush=True)


if __name__ == "__main__":
    main()
