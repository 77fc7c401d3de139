"""Where instruction counts are comparable: what a count depends on besides the code.

The interpreter build, Valgrind's version, the CPU features glibc sees under
Valgrind and the pinned environment: :func:`environment` records them with
each counted baseline entry, :func:`differences` names what changed when a
baseline was counted elsewhere (compared with a warning). Apart from the
counting: it asks Valgrind and the ELF interpreter, never counts.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import struct
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Final

from .valgrind import PINNED_ENV, child_env, valgrind

#: Names the counting method; a baseline counted by another method is counted elsewhere.
METHOD: Final = "callgrind-batches/1"


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
