"""Record of the "before" figure for the per-test dispatcher: instructions of ``pytest --release-gate`` at
commit 9496211 (before ``pertest.py``), counted the same way as ``spine_overhead.py --instructions``.

Not a maintained benchmark: the script as run on 2026-11-29, kept so the README's figure can be traced.
The old code was checked out with ``git worktree add /tmp/before 9496211`` and put first on
``PYTHONPATH``, so pytest loaded it instead of the installed plugin. Output in
``spine_overhead_instructions_2026-11-29.txt`` (first lines).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _suite import PYTEST, ensure_bytecode, instructions, make_trivial_suite

ensure_bytecode()
base = [*PYTEST, "-p", "no:benchmark", "-p", "no:memray", "-p", "no:cov", "-p", "no:timeout", "-p", "no:xdist"]
for n in (1000, 5000):
    root = make_trivial_suite(Path(f"/tmp/ir{n}"), n)
    ref = instructions([*base, "-p", "no:release_gates"], root)
    os.environ["PYTHONPATH"] = "/tmp/before/src"
    before = instructions([*base, "--release-gate"], root)
    del os.environ["PYTHONPATH"]
    print(n, ref, before, f"{100 * (before / ref - 1):+.1f}%", flush=True)
