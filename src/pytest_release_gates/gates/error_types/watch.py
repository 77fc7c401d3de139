"""Exceptions swallowed inside ``error_scope`` packages (Python 3.12+): a ``sys.monitoring`` watcher
that files each handled exception as an occurrence of the test that ran it.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Mapping, Sequence
from typing import Any, Final, final

from .capture import CONTROL_FLOW


def scope_locations(packages: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """Map each ``error_scope`` package to the folder or file it lives in; list the ones not found."""
    import importlib.util

    found: dict[str, str] = {}
    missing: list[str] = []
    for pkg in packages:
        try:
            spec = importlib.util.find_spec(pkg)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            missing.append(pkg)
            continue
        if spec.submodule_search_locations:
            for loc in spec.submodule_search_locations:
                found[os.path.abspath(loc).rstrip(os.sep) + os.sep] = pkg
        elif spec.origin and spec.origin not in ("built-in", "frozen"):
            found[os.path.abspath(spec.origin)] = pkg
        else:
            missing.append(pkg)
    return found, missing


#: sys.monitoring tool ids we may take (DEBUGGER 0, COVERAGE 1, PROFILER 2 and OPTIMIZER 5 are left to their owners).
_TOOL_IDS: Final = (4, 3)


@final
class SwallowWatcher:
    """Exceptions handled inside ``error_scope`` packages, via ``sys.monitoring`` (Python 3.12+).

    Only ``EXCEPTION_HANDLED`` is watched: by the time a handler in scope runs,
    the exception's traceback runs from that handler down to where it was raised,
    which is all we need; ``RAISE`` would double the callbacks for nothing.
    An exception that leaves the scope (to a test's ``pytest.raises``, say) is
    handled outside it and never counted.
    """

    __slots__ = ("_cache", "_dirs", "_files", "_sink", "active", "tool")

    def __init__(self, locations: Mapping[str, str], sink: Any) -> None:
        self._dirs = tuple(loc for loc in locations if loc.endswith(os.sep))
        self._files = frozenset(loc for loc in locations if not loc.endswith(os.sep))
        self._cache: dict[str, bool] = {}
        self._sink = sink
        self.tool: int | None = None
        #: False between tests: events still arrive (toggling them costs more) but return at once.
        self.active = False

    def in_scope(self, filename: str) -> bool:
        hit = self._cache.get(filename)
        if hit is None:
            path = os.path.abspath(filename) if filename and not filename.startswith("<") else ""
            hit = self._cache[filename] = bool(path) and (path.startswith(self._dirs) or path in self._files)
        return hit

    def start(self) -> str | None:
        """Begin watching; returns a problem to report, or None."""
        mon: Any = getattr(sys, "monitoring", None)
        if mon is None:
            return "error_scope needs Python 3.12 or later (sys.monitoring); swallowed exceptions are not watched"
        for tool in _TOOL_IDS:
            if mon.get_tool(tool) is None:
                mon.use_tool_id(tool, "pytest-release-gates")
                self.tool = tool
                break
        else:
            return ("error_scope: no free sys.monitoring tool id (3 and 4 are taken); "
                    "swallowed exceptions are not watched")
        mon.register_callback(self.tool, mon.events.EXCEPTION_HANDLED, self._handled)
        mon.set_events(self.tool, mon.events.EXCEPTION_HANDLED)
        return None

    def stop(self) -> None:
        mon: Any = getattr(sys, "monitoring", None)
        if mon is None or self.tool is None:
            return
        tool, self.tool = self.tool, None
        try:
            mon.set_events(tool, 0)
            mon.register_callback(tool, mon.events.EXCEPTION_HANDLED, None)
            mon.free_tool_id(tool)
        except ValueError:
            pass

    def _handled(self, code: types.CodeType, offset: int, exc: BaseException) -> None:
        # Hot path: runs for every handled exception in the process. Keep it to two lookups.
        if not self.active or not self.in_scope(code.co_filename):
            return
        if not isinstance(exc, Exception) or isinstance(exc, CONTROL_FLOW):
            return
        try:  # noqa: SIM105 - contextlib.suppress costs more on this hot path
            self._sink(exc)
        except Exception:  # never let our bookkeeping leak into the code under test
            pass

    def origin(self, exc: BaseException) -> tuple[str, str]:
        """(module, "module:line") of the innermost in-scope frame the exception passed through."""
        tb = exc.__traceback__
        found: tuple[types.FrameType, int] | None = None
        while tb is not None:
            if self.in_scope(tb.tb_frame.f_code.co_filename):
                found = (tb.tb_frame, tb.tb_lineno)
            tb = tb.tb_next
        if found is None:
            return "", ""
        module = str(found[0].f_globals.get("__name__", ""))
        return module, f"{module}:{found[1]}"
