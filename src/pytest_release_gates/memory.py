"""Peak memory of one test call, for ``budget(memory_mb=...)``.

What is measured: the peak *resident* memory of the process during the test
call, minus what was resident when the call started. Three methods, compared
in ``benchmarks/budgets_overhead.py`` on a test that allocates and holds
100 MB (figures in the README):

``rss-hwm`` (default on Linux)
    The kernel's own high-water mark: ``/proc/self/clear_refs`` is reset to
    the current resident size when the call starts (writing ``5``) and
    ``VmHWM`` is read from ``/proc/self/status`` when it ends. Exact (the
    kernel updates it on every page fault), no sampling gap, no thread, no
    per-allocation cost; it sees native allocations (C extensions, numpy,
    ``malloc`` in any library) as well as Python's.
``rss-sampled`` (Linux without a writable ``clear_refs``)
    A background thread reads ``/proc/self/statm`` every millisecond, plus
    once when the call ends. It needs the GIL to run, so a peak inside one
    long C call that is freed before the test returns (a 100 MB buffer built
    and dropped within one statement) can be missed entirely; memory still
    held when the call ends is always seen.
``tracemalloc`` (elsewhere)
    Python-level allocations only (objects, buffers, numpy arrays); blind to
    memory a C library gets from ``malloc`` directly, and it slows an
    allocation-heavy test several fold.

What RSS counts and does not count: pages the test *touched* (memory that is
allocated but never written, such as a fresh ``calloc`` block, is not
resident yet), in every thread of the process (a worker process under
xdist), including memory the allocator keeps after the test freed it; swapped
out pages are not counted. Memory the process already held (freed by an
earlier test and reused by this one) is not counted again.

Set ``PYTEST_RELEASE_GATES_MEMORY=tracemalloc`` (or ``rss-sampled``,
``rss-hwm``) to choose the method. MB means MiB (2**20 bytes), as in
pytest-memray's ``limit_memory``.
"""

from __future__ import annotations

import os
import sys
import threading
import tracemalloc
from typing import Final, Protocol, final

MB: Final = 1 << 20
METHODS: Final = ("rss-hwm", "rss-sampled", "tracemalloc")
ENV: Final = "PYTEST_RELEASE_GATES_MEMORY"

_STATM: Final = "/proc/self/statm"
_STATUS: Final = "/proc/self/status"
_CLEAR_REFS: Final = "/proc/self/clear_refs"
_PAGE: Final = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class Tracker(Protocol):
    method: str

    def start(self) -> None: ...

    def stop(self) -> int:
        """Peak bytes above the start, since :meth:`start`."""
        ...


def rss_bytes() -> int:
    """Current resident set size (Linux)."""
    with open(_STATM, "rb") as fh:
        return int(fh.read().split()[1]) * _PAGE


def _hwm_bytes() -> int:
    with open(_STATUS, "rb") as fh:
        for line in fh:
            if line.startswith(b"VmHWM:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmHWM in /proc/self/status")


def _reset_hwm() -> None:
    with open(_CLEAR_REFS, "w") as fh:
        fh.write("5")


@final
class HwmTracker:
    """Kernel high-water mark of the resident set, reset at start."""

    __slots__ = ("_base",)
    method = "rss-hwm"

    def __init__(self) -> None:
        self._base = 0

    def start(self) -> None:
        _reset_hwm()
        self._base = rss_bytes()

    def stop(self) -> int:
        return max(0, _hwm_bytes() - self._base)


@final
class SampledTracker:
    """Resident set sampled by a daemon thread every ``interval`` seconds."""

    __slots__ = ("_base", "_done", "_peak", "_thread", "interval")
    method = "rss-sampled"

    def __init__(self, interval: float = 0.001) -> None:
        self.interval = interval
        self._base = self._peak = 0
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        while not self._done.wait(self.interval):
            self._peak = max(self._peak, rss_bytes())

    def start(self) -> None:
        self._base = self._peak = rss_bytes()
        self._done.clear()
        self._thread = threading.Thread(target=self._loop, name="release-gates-memory", daemon=True)
        self._thread.start()

    def stop(self) -> int:
        self._done.set()
        if self._thread is not None:
            self._thread.join()
        self._peak = max(self._peak, rss_bytes())
        return max(0, self._peak - self._base)


@final
class TracemallocTracker:
    """Python allocations traced by tracemalloc (started here unless already running)."""

    __slots__ = ("_base", "_started")
    method = "tracemalloc"

    def __init__(self) -> None:
        self._base = 0
        self._started = False

    def start(self) -> None:
        self._started = not tracemalloc.is_tracing()
        if self._started:
            tracemalloc.start(1)
        tracemalloc.reset_peak()
        self._base = tracemalloc.get_traced_memory()[0]

    def stop(self) -> int:
        peak = tracemalloc.get_traced_memory()[1]
        if self._started:
            tracemalloc.stop()
        return max(0, peak - self._base)


_available: dict[str, bool] = {}


def available(method: str) -> bool:
    """Whether ``method`` works on this machine (probed once per process)."""
    if method not in _available:
        ok = True
        try:
            if method == "rss-hwm":
                _reset_hwm()
                _hwm_bytes()
                rss_bytes()
            elif method == "rss-sampled":
                rss_bytes()
            elif method != "tracemalloc":
                ok = False
        except (OSError, ValueError, IndexError):
            ok = False
        _available[method] = ok
    return _available[method]


def default_method() -> str:
    """The method the budget gate uses: ``$PYTEST_RELEASE_GATES_MEMORY``, else the best available."""
    wanted = os.environ.get(ENV, "").strip()
    if wanted in METHODS and available(wanted):
        return wanted
    if sys.platform.startswith("linux"):
        for method in ("rss-hwm", "rss-sampled"):
            if available(method):
                return method
    return "tracemalloc"


def tracker(method: str | None = None) -> Tracker:
    method = method or default_method()
    if method == "rss-hwm":
        return HwmTracker()
    if method == "rss-sampled":
        return SampledTracker()
    if method == "tracemalloc":
        return TracemallocTracker()
    raise ValueError(f"unknown memory method {method!r} (one of {', '.join(METHODS)})")
