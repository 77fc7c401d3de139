"""What can be counted: the call pickled for the counting process, after checking it can be rebuilt there.

Apart from the counting because it runs in the test's own process, before
any Valgrind is involved (with or without ``--release-gate``): a call that can
never be counted fails the test with what to change, in one line.
"""

from __future__ import annotations

import io
import os
import pickle
import sys
import types
from collections.abc import Callable, Mapping
from typing import Any


class NotCountable(Exception):
    """The call cannot reach the counting process (a lambda, a closure, an unimportable module)."""


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
