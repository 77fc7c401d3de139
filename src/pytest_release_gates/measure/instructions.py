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
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import math
import os
import pickle
import platform
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, final

import pytest

#: Names the counting method; a baseline counted by another method is counted elsewhere.
METHOD: Final = "callgrind-batches/1"
#: Batches per measurement (fewer when fewer calls are counted): enough samples for the rank test
#: to reach p < 0.002 (7 against 7 already can) when counts do not repeat.
BATCHES: Final = 10
#: The marker: a libc function that Python itself never calls.
MARKER: Final = "ctermid"
#: The counted process's whole environment. The hash seed fixes ``hash(str)``; the rest keeps the
#: process's memory layout, locale and time zone the same from run to run (the layout moves counts
#: of code that hashes addresses by up to 1% on this project's own workloads).
PINNED_ENV: Final[Mapping[str, str]] = {
    "PYTHONHASHSEED": "0",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUTF8": "1",
    "LC_ALL": "C",
    "TZ": "UTC",
    "PATH": os.defpath,
}
#: Passed through when set: without them some interpreters do not start at all.
LOADER_ENV: Final = ("LD_LIBRARY_PATH", "PYTHONHOME")
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


class NotCountable(Exception):
    """The call cannot reach the counting process (a lambda, a closure, an unimportable module)."""


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


# ---------------------------------------------------------------- Valgrind


def unavailable() -> str | None:
    """Why instructions cannot be counted here, in one line; None when they can."""
    if not sys.platform.startswith("linux"):
        return (f"counting instructions needs Valgrind on Linux, and this is {platform.system() or sys.platform}: "
                "run the release gate on Linux (a CI job, or a container with valgrind installed)")
    if valgrind() is None:
        return ("counting instructions needs Valgrind, which is not installed here (no valgrind on PATH): "
                "install it (apt-get install valgrind, dnf install valgrind) or run the release gate where "
                "it is (a Linux CI job or a container)")
    return None


def valgrind() -> str | None:
    """The valgrind executable on PATH (looked up again when PATH changes)."""
    return _which(os.environ.get("PATH", os.defpath))


@functools.lru_cache(maxsize=4)
def _which(path: str) -> str | None:
    return shutil.which("valgrind", path=path)


def child_env() -> dict[str, str]:
    env = dict(PINNED_ENV)
    env.update({k: os.environ[k] for k in LOADER_ENV if os.environ.get(k)})
    return env


# ---------------------------------------------------------------- what can be counted


class _Pickler(pickle.Pickler):
    """Notes the module of every function and class the call pickles by reference."""

    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file, protocol=pickle.DEFAULT_PROTOCOL)
        self.modules: set[str] = set()

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType)):
            module = getattr(obj, "__module__", None)
            if isinstance(module, str):
                self.modules.add(module)
        return NotImplemented


def prepare(func: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any], *,
            importlib_mode: bool = False) -> bytes:
    """The pickled call, after checking that the counting process can import and rebuild it.

    Raises :class:`NotCountable` with what to change, in one line.
    """
    name = getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or type(func).__name__
    if getattr(func, "__name__", None) == "<lambda>":
        raise NotCountable("a lambda cannot be imported by the counting process: define the function with def at "
                           "module level and pass its arguments to perf.measure (perf.measure(work, n))")
    if "<locals>" in str(name):
        raise NotCountable(f"{name} is defined inside a function and cannot be imported by the counting process: "
                           "move it to module level and pass what it uses as arguments")
    buffer = io.BytesIO()
    pickler = _Pickler(buffer)
    try:
        pickler.dump((func, tuple(args), dict(kwargs)))
    except Exception as exc:  # PicklingError, TypeError, AttributeError: what pickle raises varies
        raise NotCountable(f"the function and its arguments must pickle to reach the counting process: "
                           f"{' '.join(str(exc).split())}") from None
    for module in sorted(pickler.modules):
        problem = _not_importable(module)
        if problem is None:
            continue
        where = f"{name} (module {module})" if module == getattr(func, "__module__", None) else f"module {module}"
        if importlib_mode:
            raise NotCountable(f"{where} was imported by pytest with --import-mode=importlib and {problem}: "
                               "move the function into an importable module (your package), or use "
                               "--import-mode=prepend")
        raise NotCountable(f"{where} {problem}: move the function into an importable module (your package)")
    return buffer.getvalue()


def _not_importable(name: str) -> str | None:
    """Why a fresh process cannot import module ``name`` as this one did; None when it can."""
    if name == "__main__":
        return "is the main script, which another process cannot import"
    module = sys.modules.get(name)
    if module is None:
        return None  # pickle imported it by name to check the reference: importable
    spec = getattr(module, "__spec__", None)
    origin = getattr(spec, "origin", None) or getattr(module, "__file__", None)
    if not isinstance(origin, str) or origin in ("built-in", "frozen"):
        return None
    found = _find_spec(name)
    if found is None or not isinstance(found.origin, str) or not _same_file(found.origin, origin):
        return "cannot be imported again in the counting process (it is not found on sys.path)"
    return None


def _find_spec(name: str) -> Any:
    """The spec a fresh import of ``name`` would find (``sys.modules`` not consulted)."""
    path: Any = None
    spec: Any = None
    parts = name.split(".")
    for i in range(len(parts)):
        full = ".".join(parts[: i + 1])
        spec = None
        for finder in sys.meta_path:
            if type(finder).__name__ == "AssertionRewritingHook":  # pytest's: finds what PathFinder finds
                continue
            find = getattr(finder, "find_spec", None)
            if find is None:
                continue
            try:
                spec = find(full, path)
            except (ImportError, ValueError, TypeError, AttributeError):
                spec = None
            if spec is not None:
                break
        if spec is None:
            return None
        path = spec.submodule_search_locations
    return spec


def _same_file(a: str, b: str) -> bool:
    return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


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


# ---------------------------------------------------------------- where counts are comparable


@functools.lru_cache(maxsize=4)
def _environment(exe: str) -> tuple[tuple[str, str], ...]:
    version = _output([exe, "--version"]).strip().removeprefix("valgrind-") or "unknown"
    cpu, features, libc = _cpu_as_counted(exe)
    build = " ".join(sys.version.split(" ", 1)[1].split()) if " " in sys.version else sys.version
    env = {
        "method": METHOD,
        "python": platform.python_version(),
        "python_build": f"{platform.python_implementation()} {build}{getattr(sys, 'abiflags', '')}",
        "valgrind": version,
        "cpu": cpu,
        "cpu_features": features,
        "libc": libc,
        "platform": f"{platform.system()}-{platform.machine()}",
        "pinned": " ".join(f"{k}={v}" for k, v in PINNED_ENV.items()) + " (nothing else)",
    }
    return tuple(env.items())


def environment() -> dict[str, str]:
    """What an instruction count depends on besides the code: recorded with each counted baseline entry."""
    exe = valgrind()
    return dict(_environment(exe)) if exe else {}


def environment_id(env: Mapping[str, Any]) -> str:
    text = json.dumps(dict(env), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


#: Keys of :func:`environment`, in the order differences are reported, with their label.
_LABELS: Final = (
    ("python", "Python"),
    ("python_build", "Python build"),
    ("valgrind", "Valgrind"),
    ("cpu", "CPU as Valgrind presents it"),
    ("cpu_features", "CPU features glibc sees"),
    ("libc", "C library"),
    ("platform", "platform"),
    ("pinned", "pinned environment"),
    ("method", "counting method"),
)


def differences(recorded: Mapping[str, Any] | None, current: Mapping[str, Any]) -> list[str]:
    """What differs between the environment a baseline was counted in and this one, for messages."""
    if not recorded:
        return ["the baseline does not say where it was counted"]
    out = []
    for key, label in _LABELS:
        was, now = recorded.get(key), current.get(key)
        if was != now:
            out.append(f"{label} {now or 'unknown'} (baseline: {was or 'unknown'})")
    return out


def _output(cmd: Sequence[str]) -> str:
    try:
        proc = subprocess.run(list(cmd), capture_output=True, env=child_env(), timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout.decode(errors="replace")


def _cpu_as_counted(exe: str) -> tuple[str, str, str]:
    """(description, features hash, C library) as glibc sees them under Valgrind.

    ``ld.so --list-diagnostics`` (glibc 2.33+) run under Valgrind prints the CPU
    Valgrind presents and what glibc chose from it. Elsewhere: the host's CPU
    flags (a superset: it may warn where counts would still compare).
    """
    libc = " ".join(platform.libc_ver()).strip() or "unknown"
    interp = _interpreter(sys.executable)
    lines: list[str] = []
    if interp:
        text = _output([exe, "-q", "--tool=none", interp, "--list-diagnostics"])
        lines = [ln for ln in text.splitlines() if "=" in ln and not ln.startswith(
            ("env", "auxv", "path.", "uname.", "dl_profile_output", "dso."))]
    if lines:
        facts = dict(ln.split("=", 1) for ln in lines)
        version = facts.get("version.version", "").strip('"')
        if version:
            libc = f"glibc {version}"
        family, model = facts.get("x86.cpu_features.basic.family"), facts.get("x86.cpu_features.basic.model")
        plat = facts.get("dl_platform", "").strip('"') or platform.machine()
        cpu = f"{plat} (family {family}, model {model})" if family and model else plat
        return cpu, hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()[:12], libc
    flags = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            flags = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith(("flags", "Features"))), "")
    except OSError:
        pass
    return (f"host {platform.machine()} (glibc's view unavailable)",
            hashlib.sha256(flags.encode()).hexdigest()[:12], libc)


def _interpreter(executable: str) -> str | None:
    """The ELF program interpreter (``ld.so``) of ``executable`` (64-bit little-endian ELF), or None."""
    try:
        with open(os.path.realpath(executable), "rb") as fh:
            head = fh.read(64)
            if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
                return None
            phoff, = struct.unpack_from("<Q", head, 32)
            phentsize, phnum = struct.unpack_from("<HH", head, 54)
            for i in range(phnum):
                fh.seek(phoff + i * phentsize)
                ph = fh.read(phentsize)
                if len(ph) >= 40 and struct.unpack_from("<I", ph, 0)[0] == 3:  # PT_INTERP
                    offset, = struct.unpack_from("<Q", ph, 8)
                    size, = struct.unpack_from("<Q", ph, 32)
                    fh.seek(offset)
                    path = fh.read(size).rstrip(b"\0").decode(errors="replace")
                    return path if os.path.exists(path) else None
    except (OSError, struct.error):
        return None
    return None


def spread(per_call: Sequence[float]) -> float:
    """(max - min) / median of a measurement's batches: 0 when its counts repeat exactly."""
    if not per_call:
        return 0.0
    mid = statistics.median(per_call)
    return (max(per_call) - min(per_call)) / mid if mid > 0 and math.isfinite(mid) else 0.0
