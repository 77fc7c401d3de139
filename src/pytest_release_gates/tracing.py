"""Tracers on the thread that runs a test (coverage.py, a debugger, a profiler), and pausing them for timed rounds.

Why: ``pytest --cov`` runs every test under coverage.py's tracer, which makes
pure-Python code several times slower (its C tracer is called on every line).
A timing taken under it says as much about the tracer as about the code, so:

* ``perf.measure`` pauses, on its own thread, what can be paused and put back
  exactly (:class:`Pause`): a ``sys.settrace`` hook that is coverage.py's C
  tracer or a Python function (coverage.py's Python tracer, pdb), and
  ``threading``'s hook for threads started meanwhile. One untimed call runs
  traced first, so the measured function's lines still count as covered.
* Timings of the traced test itself (its call-phase duration, pytest-benchmark
  rounds) cannot be paused: :func:`state` names what traced them, and the gates
  record it beside the value and only warn across states.

Not paused, only named: ``sys.setprofile`` hooks (cProfile, a profiler is run to
see those rounds; a C-level one cannot be put back from Python) and
``sys.monitoring`` tools (Python 3.12+; they act on every thread of the
interpreter at once). coverage.py's own ``sys.monitoring`` core
(``COVERAGE_CORE=sysmon``) needs no pause: it switches each code location's
events off after their first hit, so code it has seen runs at full speed; it
is named for the traced test itself (first hits cost) but never for
``perf.measure`` rounds. Threads that were already running keep their tracer:
work the measured function hands to them is timed traced.

Python 3.12+ implements ``sys.settrace`` by instrumenting code for every
thread while any thread is traced: with another thread traced (a server thread
started under coverage), pausing this thread's hook leaves part of the cost.
:func:`_instrumented` sees that (the probe's own bytecode stays instrumented),
and the rounds are then named traced after all.
"""

from __future__ import annotations

import sys
import threading
import types
from typing import Any, Final, final

import pytest

#: The name recorded for coverage.py, whichever core it runs on.
COVERAGE: Final = "coverage"
#: Top-level modules whose hook is better known by another name.
_ALIASES: Final = {"_lsprof": "cProfile", "bdb": "pdb", "_pydevd_bundle": "pydevd"}
#: What coverage.py calls its ``sys.monitoring`` tool.
_COVERAGE_TOOL: Final = "coverage.py"


def _name(hook: Any) -> str:
    """A short name for the tool behind a trace or profile hook: its top-level module."""
    if isinstance(hook, (types.FunctionType, types.MethodType, types.BuiltinFunctionType)):
        module = getattr(hook, "__module__", None) or ""
    else:
        module = type(hook).__module__
    top = str(module).split(".", 1)[0]
    return _ALIASES.get(top, top.lstrip("_") or "unknown")


def _is_ctracer(hook: Any) -> bool:
    """coverage.py's C tracer (``coverage.CTracer``): installed at C level, put back with its own ``start``."""
    kind = type(hook)
    return kind.__name__ == "CTracer" and kind.__module__.split(".", 1)[0] == COVERAGE and hasattr(hook, "start")


def _python_hook(hook: Any) -> bool:
    """A hook ``sys.settrace`` installed from Python: setting the same object again restores it exactly."""
    return isinstance(hook, (types.FunctionType, types.MethodType))


def _monitoring_tools() -> list[str]:
    """Names of the ``sys.monitoring`` tools in use (Python 3.12+), coverage.py's as ``coverage.py``."""
    monitoring = getattr(sys, "monitoring", None)
    if monitoring is None:
        return []
    return [str(name) for name in map(monitoring.get_tool, range(6)) if name]  # ids 0-5: the tools' own


def _probe() -> int:
    x = 1
    return x


def _instrumented() -> bool:
    """Whether code on this thread still runs instrumented for line events (Python 3.12+, where
    ``sys.settrace`` instruments code for every thread while any thread is traced)."""
    if sys.version_info < (3, 12):
        return False
    import dis

    _probe()  # executed once, so its code carries the instrumentation in force now
    return any(i.opname == "INSTRUMENTED_LINE" for i in dis.get_instructions(_probe, adaptive=True))


def _no_cover(item: pytest.Item | None) -> bool:
    """pytest-cov pauses coverage for the call of a test marked ``no_cover`` (or using the fixture)."""
    if item is None:
        return False
    return item.get_closest_marker("no_cover") is not None or "no_cover" in getattr(item, "fixturenames", ())


def _join(names: list[str]) -> str | None:
    unique = sorted(set(names))
    return ", ".join(unique) if unique else None


def join(*states: str | None) -> str | None:
    """Several states (each None or names joined by ``", "``) as one."""
    return _join([n for s in states if s for n in s.split(", ")])


def state(item: pytest.Item | None = None) -> str | None:
    """What traces this thread now, for timings of the traced test itself: ``"coverage"``, ``"cProfile"``,
    several joined by ``", "``, or None. ``item``: the test whose call is meant (pytest-cov's ``no_cover``)."""
    names: list[str] = []
    trace = sys.gettrace()
    if trace is not None:
        names.append(_name(trace))
    profile = sys.getprofile()
    if profile is not None:
        names.append(_name(profile))
    names += [COVERAGE if t == _COVERAGE_TOOL else t for t in _monitoring_tools()]
    if not names:
        return None  # the common case: nothing traces, and the marker lookup below is not free
    if _no_cover(item):
        names = [n for n in names if n != COVERAGE]
    return _join(names)


def benchmark_state() -> str | None:
    """What traced pytest-benchmark's rounds: it pauses ``sys.settrace`` and ``sys.setprofile`` hooks around
    them itself (since pytest-benchmark 3.0), so ``sys.monitoring`` tools other than coverage.py's, and a
    ``sys.settrace`` hook whose pause leaves code instrumented (Python 3.12+, another thread traced)."""
    names = [t for t in _monitoring_tools() if t != _COVERAGE_TOOL]
    pause = Pause()
    if pause.pausable is not None:
        with pause:
            pass
        names += pause.traced.split(", ") if pause.partial and pause.traced else []
    return _join(names)


def _current_coverage() -> Any:
    """coverage.py's running ``Coverage`` (``Coverage.current()``), or None."""
    current = getattr(getattr(sys.modules.get("coverage"), "Coverage", None), "current", None)
    return current() if callable(current) else None


def describe(traced: str) -> str:
    """``coverage`` -> ``coverage (--cov)``: say how the user turned it on."""
    return ", ".join(f"{n} (--cov)" if n == COVERAGE else n for n in traced.split(", "))


@final
class Pause:
    """Pause, on this thread, the tracers that can be put back exactly; a context manager (not reentrant).

    Computed when the object is made: ``traced`` names the tools that still slow code running under it
    (None: nothing does), ``pausable`` the one it pauses on this thread (None: none), and ``can_pause``
    says whether entering it pauses anything at all (``threading``'s hook included). Entering it may find
    the pause ``partial`` (:func:`_instrumented`): ``traced`` then names the paused hook too.
    """

    __slots__ = ("_coverage", "_thread_hook", "_trace", "can_pause", "partial", "pausable", "traced")

    def __init__(self) -> None:
        trace = sys.gettrace()
        thread_hook = threading.gettrace()
        self._trace = trace if trace is not None and (_is_ctracer(trace) or _python_hook(trace)) else None
        self._thread_hook = thread_hook if _python_hook(thread_hook) else None
        self._coverage: Any = None
        self.can_pause = self._trace is not None or self._thread_hook is not None
        self.partial = False
        self.pausable = _name(self._trace) if self._trace is not None else None
        names = [] if trace is None or self._trace is not None else [_name(trace)]
        profile = sys.getprofile()
        if profile is not None:
            names.append(_name(profile))
        names += [t for t in _monitoring_tools() if t != _COVERAGE_TOOL]
        self.traced = _join(names)

    def __enter__(self) -> Pause:
        if self._trace is not None:
            if _is_ctracer(self._trace):  # put back below only if this coverage run is still the one running
                self._coverage = _current_coverage()
            sys.settrace(None)
        if self._thread_hook is not None:
            threading.settrace(None)
        if self._trace is not None and _instrumented():
            self.partial = True
            self.traced = join(self.traced, self.pausable)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread_hook is not None:
            threading.settrace(self._thread_hook)
        trace: Any = self._trace
        if trace is None:
            return
        if self._coverage is not None and _current_coverage() is self._coverage:  # a CTracer, still running
            # At C level again, as coverage.py installed it: ``sys.settrace(tracer)`` would route every
            # event through a Python-level call until the next function call (coverage.py issue 397).
            trace.start()
            return
        sys.settrace(trace)  # a Python hook as it was set; a stopped CTracer then removes itself
