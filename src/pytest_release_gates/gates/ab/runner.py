"""Run the selected tests against both sides, in interleaved rounds, in two subprocesses.

Each side is one long-lived pytest process (``probe.py``): interpreter,
plugins and collection are paid once per side, which keeps a 3-round A/B
within about one extra run of the performance tests. Both start together
(no measuring happens while they start), then the rounds alternate
base/current, current/base, ... (ABBA), so a slow drift of the machine (a
thermal ramp, a neighbour's job) lands on both sides alike. Only one side
measures at any moment.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final, final

from .probe import SPEC_ENV

BASE: Final = "base"
CURRENT: Final = "current"
#: Per-round share of ``perf.measure`` rounds never goes below this (15 samples a side for 3 rounds:
#: enough for the significance test to reach p < 0.002).
MIN_ROUNDS: Final = 5
_POLL: Final = 0.01
_STOP_GRACE: Final = 20.0
#: Options of the main run that shape how tests run, passed on to the subprocesses (name -> takes a value).
PASSTHROUGH: Final[Mapping[str, bool]] = {
    "-p": True,
    "--import-mode": True,
    "-o": True,
    "--override-ini": True,
    "-W": True,
    "--pythonwarnings": True,
    "--confcutdir": True,
    "--noconftest": False,
    "--benchmark-min-rounds": True,
    "--benchmark-max-time": True,
    "--benchmark-min-time": True,
    "--benchmark-timer": True,
    "--benchmark-warmup": True,
    "--benchmark-warmup-iterations": True,
    "--benchmark-calibration-precision": True,
    "--benchmark-disable-gc": False,
}


@final
@dataclass(frozen=True, slots=True)
class Side:
    name: str  # BASE or CURRENT
    where: str  # for messages: "origin/main (1a2b3c4)" or "the working tree"
    roots: tuple[str, ...]  # first on sys.path
    modules: tuple[tuple[str, str], ...]  # (top-level module, root it must come from)
    block: tuple[str, ...] = ()
    #: (working-tree root, this side's root) pairs: the counting process's path names this side's code where
    #: the working tree's names its own (see ``instructions.child_path``).
    path_map: tuple[tuple[str, str], ...] = ()


@final
@dataclass(slots=True)
class SideResult:
    collected: set[str] | None = None
    collection_errors: dict[str, str] = field(default_factory=dict)
    import_error: str | None = None
    failure: str | None = None  # the process died or hung: why, in one line
    rounds: list[dict[str, Any]] = field(default_factory=list)


@final
@dataclass(frozen=True, slots=True)
class Invocation:
    """How to start pytest in the subprocesses, as the main run was started."""

    rootdir: Path
    inifile: Path | None
    cwd: Path
    args: tuple[str, ...]  # extra options (passthrough, -n0, --no-cov)


def passthrough(args: Sequence[str]) -> list[str]:
    """The options of ``args`` listed in PASSTHROUGH, in order, with their values."""
    out: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        name, eq, _value = a.partition("=")
        if name in PASSTHROUGH and (eq or not PASSTHROUGH[name]):
            out.append(a)
        elif a in PASSTHROUGH and PASSTHROUGH[a] and i + 1 < len(args):
            out += [a, args[i + 1]]
            i += 1
        elif len(a) > 2 and a[:2] in ("-p", "-W", "-o") and not a.startswith("--"):
            out.append(a)
        i += 1
    return [a for a in out if "pytest_release_gates.gates.ab.probe" not in a]


def _env(side: Side, spec_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COV_CORE_", "PYTEST_XDIST_"))}
    env.pop("PYTEST_CURRENT_TEST", None)
    env[SPEC_ENV] = str(spec_path)
    env["PYTHONPATH"] = os.pathsep.join([*side.roots, *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


def _tail(log: Path) -> str:
    """The most telling line of a subprocess's output: an ``ERROR``/``E`` line, else the last one."""
    try:
        lines = [ln.strip() for ln in log.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    for ln in reversed(lines):
        if ln.startswith(("ERROR", "E ")) or "Error:" in ln:
            return ln[:300]
    return lines[-1][:300] if lines else ""


@final
class _Proc:
    __slots__ = ("log", "out", "proc", "result", "side", "t0")

    def __init__(self, side: Side, proc: subprocess.Popen[bytes], log: Path, out: Path) -> None:
        self.side = side
        self.proc = proc
        self.log = log
        self.out = out
        self.result = SideResult()
        self.t0 = 0.0

    @property
    def usable(self) -> bool:
        r = self.result
        return r.failure is None and r.import_error is None and r.collected is not None

    def send(self, line: str) -> bool:
        stdin: IO[bytes] | None = self.proc.stdin
        if stdin is None or self.proc.poll() is not None:
            return False
        try:
            stdin.write(line.encode() + b"\n")
            stdin.flush()
        except OSError:
            return False
        return True

    def wait_file(self, name: str, deadline: float) -> dict[str, Any] | None:
        """The JSON file ``name`` once the side writes it; None if it exits or the deadline passes first."""
        path = self.out / name
        while True:
            if path.exists():
                data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
                return data
            if self.proc.poll() is not None:
                if path.exists():
                    continue
                tail = _tail(self.log)
                self.result.failure = (f"pytest on {self.side.where} exited with status {self.proc.returncode}"
                                       + (f": {tail}" if tail else ""))
                return None
            if time.monotonic() > deadline:
                self.result.failure = f"pytest on {self.side.where} did not finish within {deadline - self.t0:.0f} s"
                self.kill()
                return None
            time.sleep(_POLL)

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)

    def close(self) -> None:
        """End of commands: the side exits (see the probe's ``pytest_runtestloop``)."""
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()

    def stop(self) -> None:
        self.close()
        try:
            self.proc.wait(timeout=_STOP_GRACE)
        except subprocess.TimeoutExpired:
            self.kill()


@contextlib.contextmanager
def _started(sides: Sequence[Side], nodeids: Sequence[str], inv: Invocation, scratch: Path,
             rounds: int) -> Iterator[list[_Proc]]:
    out = scratch / "out"
    out.mkdir(exist_ok=True)
    # Whole files, narrowed to ``nodeids`` by the probe: a node id pytest cannot collect (its module fails to
    # import at the base revision) would end that side's run outright; a file that fails to collect does not.
    targets = list(dict.fromkeys(str(inv.rootdir / nid.split("::", 1)[0]) for nid in nodeids))
    procs: list[_Proc] = []
    try:
        for side in sides:
            spec = {
                "side": side.name,
                "where": side.where,
                "roots": list(side.roots),
                "modules": [list(m) for m in side.modules],
                "block": list(side.block),
                "path_map": [list(pair) for pair in side.path_map],
                "nodeids": list(nodeids),
                "out": str(out),
                "basetemp": str(scratch / f"{side.name}-tmp"),
                "divisor": 2 * rounds,
                "min_rounds": MIN_ROUNDS,
            }
            spec_path = scratch / f"{side.name}-spec.json"
            spec_path.write_text(json.dumps(spec), encoding="utf-8")
            cmd = [sys.executable, "-m", "pytest", "-p", "pytest_release_gates.gates.ab.probe", "-q",
                   "-o", f"cache_dir={scratch / 'cache'}", "--rootdir", str(inv.rootdir)]
            if inv.inifile is not None:
                cmd += ["-c", str(inv.inifile)]
            cmd += [*inv.args, *targets]
            log = scratch / f"{side.name}.log"
            with log.open("wb") as fh:
                proc = subprocess.Popen(cmd, cwd=inv.cwd, env=_env(side, spec_path), stdin=subprocess.PIPE,
                                        stdout=fh, stderr=subprocess.STDOUT)
            procs.append(_Proc(side, proc, log, out))
        yield procs
    finally:
        for p in procs:
            p.kill()


def run(sides: Sequence[Side], nodeids: Sequence[str], inv: Invocation, scratch: Path, *, rounds: int,
        ready_timeout: float, round_timeout: float) -> dict[str, SideResult]:
    """Start both sides, run ``rounds`` interleaved rounds, and return what each side measured."""
    with _started(sides, nodeids, inv, scratch, rounds) as procs:
        start = time.monotonic()
        for p in procs:
            p.t0 = start
            ready = p.wait_file(f"{p.side.name}-ready.json", start + ready_timeout)
            if ready is None:
                continue
            if ready.get("import_error"):
                p.result.import_error = str(ready["import_error"])
                continue
            p.result.collected = set(ready.get("collected", ()))
            p.result.collection_errors = dict(ready.get("collection_errors", {}))
        if not all(p.usable for p in procs):  # one side cannot measure: the other's rounds would decide nothing
            rounds = 0
        for r in range(rounds):
            order = procs if r % 2 == 0 else list(reversed(procs))
            for p in order:
                if not p.usable:
                    continue
                if not p.send(f"run {r}"):
                    p.result.failure = f"pytest on {p.side.where} exited before round {r + 1}: {_tail(p.log)}"
                    continue
                p.t0 = time.monotonic()
                data = p.wait_file(f"{p.side.name}-round-{r}.json", p.t0 + round_timeout)
                if data is not None:
                    p.result.rounds.append(data)
        for p in procs:  # both sides end together, then are waited for
            p.close()
        for p in procs:
            p.stop()
        return {p.side.name: p.result for p in procs}
