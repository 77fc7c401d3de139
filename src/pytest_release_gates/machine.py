"""Which machine a measurement came from: a fingerprint (CPU model, cores, platform, or a name from
``RELEASE_GATES_MACHINE``) and its short id, stored in each baseline entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from collections.abc import Mapping
from typing import Any, Final

MACHINE_ENV: Final = "RELEASE_GATES_MACHINE"


def machine_fingerprint() -> dict[str, Any]:
    """CPU model, core count and platform: what makes timings comparable.

    ``RELEASE_GATES_MACHINE=name`` replaces it by a name, for runner pools
    whose CPUs report different models but time alike.
    """
    named = os.environ.get(MACHINE_ENV, "").strip()
    if named:
        return {"name": named}
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count() or 0,
        "platform": f"{platform.system()}-{platform.machine()}",
    }


def machine_id(fingerprint: Mapping[str, Any]) -> str:
    """A short stable id of a fingerprint, stored in each entry."""
    text = json.dumps(dict(fingerprint), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def describe_machine(fingerprint: Mapping[str, Any] | None) -> str:
    if not fingerprint:
        return "an unknown machine"
    if "name" in fingerprint:
        return f"machine {fingerprint['name']!r}"
    return f"{fingerprint.get('cpu', '?')}, {fingerprint.get('cores', '?')} cores, {fingerprint.get('platform', '?')}"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Hardware", "cpu model", "Processor") and value.strip():
                    return " ".join(value.split())
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"
