"""Instruction counts of a call, counted in a separate process under Valgrind.

Why: on a shared machine a function's wall time moves by 2x with the
neighbours' load; the number of instructions the CPU executes for it does
not. Valgrind runs a process on a simulated CPU and counts them, so the same
code on the same interpreter gives the same count, whatever else the machine
is doing, and a 2% change in the work shows as 2% (README, "Instruction
counts"; ``benchmarks/instruction_accuracy.py`` measures it).

How (:func:`count`): one process per measurement, ``valgrind
--tool=callgrind`` running ``_child.py``. It imports the function by name and
unpickles its arguments (:func:`prepare` checks first that it can), makes
``warmup`` calls, then counts :data:`BATCHES` batches of calls, each closed by
a call to a libc function nothing else calls (``os.ctermid``, Callgrind's
``--dump-before`` marker), so each batch's count lands in a dump file of its
own; an empty batch before each one gives the loop's and the marker's own
cost, which is subtracted. One process gives several samples, and shows
whether they repeat. On x86-64 Linux the process starts uninstrumented and
the driver switches Callgrind's instrumentation on after its imports, with a
Valgrind client request issued by a few bytes of machine code (no compiler):
importing a test module (and pytest with it) costs a fraction of the
simulated time. Where that cannot be done, everything is simulated from the
start, with the same counts.

Counts depend on where they are taken: the interpreter build, Valgrind's
version and the CPU features glibc sees under Valgrind (it picks its memory
and string routines by them; Valgrind presents one of a few canned CPUs, not
the host's). :func:`environment` records these; a baseline counted in another
environment is compared with a warning. The heap layout matters too (address-
keyed hashing): so the child's environment, arguments and standard input are
fixed (:data:`PINNED_ENV`), and the hash seed with them.

Here: the counting. Around it: ``valgrind.py`` (is Valgrind here, the pinned
environment), ``countable.py`` (:func:`prepare`), ``count_env.py``
(:func:`environment`, :func:`differences`); their names are re-exported here.
"""

from __future__ import annotations

import functools
import json
import math
import os
import pickle
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, final

import pytest

from .count_env import METHOD, differences, environment, environment_id
from .countable import NotCountable, prepare
from .valgrind import LOADER_ENV, PINNED_ENV, child_env, unavailable, valgrind

__all__ = [
    "BATCHES",
    "BOOT",
    "LOADER_ENV",
    "MARKER",
    "METHOD",
    "PINNED_ENV",
    "PROBE_CACHE_KEY",
    "PROBE_PATH_MAP_KEY",
    "CountFailed",
    "Counted",
    "NotCountable",
    "child_env",
    "child_path",
    "count",
    "differences",
    "environment",
    "environment_id",
    "late_start_supported",
    "prepare",
    "spread",
    "unavailable",
    "valgrind",
]

#: Batches per measurement (fewer when fewer calls are counted): enough samples for the rank test
#: to reach p < 0.002 (7 against 7 already can) when counts do not repeat.
BATCHES: Final = 10
#: The marker: a libc function that Python itself never calls.
MARKER: Final = "ctermid"
#: Runs the driver's source in the child: nothing of this package is imported there.
BOOT: Final = (
    "import pickle,sys;p=pickle.load(sys.stdin.buffer);g={'__name__':'__rg_count__'};"
    "exec(compile(p['driver'],'<release-gates counter>','exec'),g);g['main'](p)"
)
#: In a process that runs the same tests several times (the A/B probe): counts kept per (node id, name),
#: so each measurement is counted once per side (the counts of a second round would be the same).
PROBE_CACHE_KEY: Final = pytest.StashKey[dict[tuple[str, str], "Counted"]]()
#: In the A/B probe of the base revision: (working-tree import root, base import root) pairs, see :func:`child_path`.
PROBE_PATH_MAP_KEY: Final = pytest.StashKey[tuple[tuple[str, str], ...]]()

_SUMMARY: Final = re.compile(rb"^(?:summary|totals):\s*(\d+)", re.MULTILINE)


class CountFailed(Exception):
    """The counting process failed on the call (it raised, or its module does not import there)."""


@final
@dataclass(frozen=True, slots=True)
class Counted:
    """One measurement: instructions per call of each batch, in the order counted."""

    per_call: tuple[float, ...]
    calls: int
    seconds: float  # wall time of the counting process
    late_start: bool  # instrumentation switched on after the imports

    @property
    def repeats(self) -> bool:
        """Every batch counted the same per call."""
        return len(set(self.per_call)) <= 1


# ---------------------------------------------------------------- counting


@functools.cache
def _driver() -> str:
    return Path(__file__).with_name("_child.py").read_text(encoding="utf-8")


def late_start_supported() -> bool:
    """Whether the driver can switch instrumentation on itself (its client request is x86-64 machine code)."""
    return sys.platform.startswith("linux") and platform.machine().lower() in ("x86_64", "amd64")


def child_path(path: Sequence[str], rename: Sequence[tuple[str, str]] = ()) -> list[str]:
    """``sys.path`` for the counting process: entries renamed (exact matches) by ``rename``, then each kept once.

    Counts depend on the interpreter's state, and the folders on ``sys.path`` are part of it (each gets a finder
    and a cache): an allocation-heavy loop measured 4% more instructions with one extra folder on the path. The
    A/B sides must count in the same state, so the base side's path names the base revision's import roots
    where the working tree's path names the working tree's, and repeats (``pythonpath`` plus rootdir insertion)
    are dropped on both sides alike.
    """
    renamed = dict(rename)
    return list(dict.fromkeys(renamed.get(entry, entry) for entry in path))


def count(call: bytes, *, calls: int, warmup: int, cwd: str | None = None, batches: int = BATCHES,
          path: Sequence[str] | None = None) -> Counted:
    """Count the instructions per call of the pickled ``call`` (from :func:`prepare`).

    ``path`` is the counting process's ``sys.path`` (default: :func:`child_path` of this one's).
    Raises :class:`CountFailed` (one line) when the call fails in the counting process.
    """
    exe = valgrind()
    if exe is None:
        raise CountFailed(unavailable() or "valgrind not found")
    batches = max(1, min(batches, calls))
    started = time.perf_counter()
    late = late_start_supported()
    while True:
        with tempfile.TemporaryDirectory(prefix="rg-count-") as tmp:
            outcome = _run_once(exe, call, calls=calls, warmup=warmup, batches=batches, late=late,
                                cwd=cwd or os.getcwd(), tmp=Path(tmp),
                                path=child_path(sys.path) if path is None else list(path))
        if outcome == "late":  # no client request here: simulate everything from the start
            late = False
            continue
        assert not isinstance(outcome, str)
        return Counted(tuple(outcome), calls, time.perf_counter() - started, late)


def _run_once(exe: str, call: bytes, *, calls: int, warmup: int, batches: int, late: bool, cwd: str,
              tmp: Path, path: list[str]) -> list[float] | str:
    result = tmp / "result.json"
    cmd = [exe, "-q", "--tool=callgrind", "--vgdb=no", f"--dump-before={MARKER}", "--dump-instr=no",
           "--dump-line=no", f"--callgrind-out-file={tmp / 'cg.out'}"]
    if late:
        cmd.append("--instr-atstart=no")
    cmd += [sys.executable, "-c", BOOT]
    payload = pickle.dumps({
        "driver": _driver(), "path": path, "call": call, "calls": calls, "batches": batches,
        "warmup": warmup, "result": str(result), "late": late,
    })
    proc = subprocess.run(cmd, input=payload, cwd=cwd, env=child_env(), stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, check=False)
    try:
        data = json.loads(result.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise CountFailed(f"the counting process (valgrind) ended without a result, exit status {proc.returncode}"
                          f"{_tail(proc.stderr)}") from None
    error = data.get("error")
    if error == "late":
        return "late"
    if error == "import":
        raise CountFailed(f"the counting process cannot rebuild the call: {data.get('message')}")
    if error:
        raise CountFailed(f"the function raised in the counting process: {data.get('message')}")
    sizes = [int(n) for n in data["sizes"]]
    totals = _dump_totals(tmp)
    if len(totals) != 1 + 2 * len(sizes):
        raise CountFailed(
            f"the counting process wrote {len(totals)} counts where {1 + 2 * len(sizes)} were expected "
            f"(does the function call os.{MARKER}(), the counter's marker?)")
    empty = statistics.median(totals[1::2])
    return [max(0.0, (totals[2 + 2 * k] - empty) / n) for k, n in enumerate(sizes)]


def _dump_totals(folder: Path) -> list[int]:
    """Callgrind's per-dump totals, in dump order (``cg.out.1``, ``cg.out.2``, ...)."""
    numbered = []
    for p in folder.glob("cg.out.*"):
        suffix = p.name.rsplit(".", 1)[1]
        if suffix.isdigit():
            numbered.append((int(suffix), p))
    totals = []
    for _n, p in sorted(numbered):
        with p.open("rb") as fh:
            head = fh.read(4096)  # the summary line is in the header
        m = _SUMMARY.search(head)
        totals.append(int(m.group(1)) if m else 0)
    return totals


def _tail(stderr: bytes) -> str:
    lines = [ln.strip() for ln in stderr.decode(errors="replace").splitlines() if ln.strip()]
    return f": {lines[-1][:300]}" if lines else ""


def spread(per_call: Sequence[float]) -> float:
    """(max - min) / median of a measurement's batches: 0 when its counts repeat exactly."""
    if not per_call:
        return 0.0
    mid = statistics.median(per_call)
    return (max(per_call) - min(per_call)) / mid if mid > 0 and math.isfinite(mid) else 0.0
