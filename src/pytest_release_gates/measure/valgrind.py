"""Valgrind on this machine, and the environment the counting process runs in.

Apart from the counting because both the counting (``instructions.py``) and the
record of where counts were taken (``count_env.py``) need them: whether counting
can happen here at all (:func:`unavailable`), and the pinned environment
(:data:`PINNED_ENV`).
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
import sys
from collections.abc import Mapping
from typing import Final

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
