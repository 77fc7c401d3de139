"""Shared helpers for benchmarks: generate suites, time commands, summarise."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def make_trivial_suite(
    root: Path, n: int, *, per_file: int = 100, body: str = "pass", header: str = "", decorator: str = ""
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text("[pytest]\n")
    files = (n + per_file - 1) // per_file
    for f in range(files):
        lines = [header] if header else []
        for t in range(min(per_file, n - f * per_file)):
            if decorator:
                lines.append(decorator)
            lines.append(f"def test_{t}():\n    {body}\n")
        (root / f"test_gen_{f:03d}.py").write_text("\n".join(lines))
    return root


def ensure_bytecode() -> None:
    """Let the measured runs keep bytecode caches, as a user's machine does.

    pytest imports an installed plugin through its assertion-rewriting hook,
    which keeps its own cache (``*-pytest-X.pyc`` beside the sources) and writes
    it only when writing bytecode is allowed. On a machine that sets
    ``PYTHONDONTWRITEBYTECODE=1`` (this one does) every run would parse and
    rewrite the plugin's source again, about 100 ms that no user pays. So the
    variable is dropped for the runs this process starts, and every runner here
    makes one untimed warm-up run of each variant, which fills the caches.
    """
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def instructions(cmd: Sequence[str], cwd: Path) -> int:
    """User-space instructions one command executes, counted by valgrind (cachegrind, no cache simulation).

    Unlike wall time, the count does not move when other jobs share the machine, so a few percent of
    overhead can be measured on a noisy one. Child processes (git) and time spent waiting (fsync) are
    not counted: wall-time rounds measure those.
    """
    import re
    import shutil

    if shutil.which("valgrind") is None:
        raise SystemExit("--instructions needs valgrind (Debian: apt-get install valgrind)")
    time_cmd(cmd, cwd)  # untimed: fills the bytecode caches (see ensure_bytecode)
    proc = subprocess.Popen(["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
                             "--child-silent-after-fork=yes", *cmd], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    _, err = proc.communicate()
    # The measured process's own line: a forked helper process of some plugin would report its own.
    found = re.search(rf"^=={proc.pid}== I\s+refs:\s+([\d,]+)", err, re.MULTILINE)
    if found is None or proc.returncode != 0:
        raise SystemExit(f"valgrind run failed ({proc.returncode}): {' '.join(cmd)}\n{err[-2000:]}")
    return int(found.group(1).replace(",", ""))


def time_cmd(cmd: Sequence[str], cwd: Path, *, ok: Sequence[int] = (0,), env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    elapsed = time.perf_counter() - start
    if proc.returncode not in ok:
        tail = f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        raise SystemExit(f"benchmark command failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")
    return elapsed


def interleaved(variants: dict[str, Sequence[str]], cwd: Path, rounds: int, **kw: object) -> dict[str, list[float]]:
    """Run each variant once per round, in rotating order, so machine drift hits all alike."""
    times: dict[str, list[float]] = {k: [] for k in variants}
    names = list(variants)
    for name in names:  # untimed: fills the bytecode caches (see ensure_bytecode)
        time_cmd(variants[name], cwd, **kw)  # type: ignore[arg-type]
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            times[name].append(time_cmd(variants[name], cwd, **kw))  # type: ignore[arg-type]
    return times


def report(times: dict[str, list[float]], reference: str) -> None:
    ref = statistics.median(times[reference])
    print(f"{'variant':<34} {'median s':>9} {'min s':>8} {'vs ' + reference:>16}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:<34} {med:9.3f} {min(ts):8.3f} {med / ref:15.3f}x")


PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
