"""What counts as an error occurrence, and how it is named: the pure half of the ``new_error_type`` gate.

Everything a signature needs is computed on the process that runs the test
(the only place where the exception class, the traceback and the test's
``expected_errors`` marker exist) and reduced to plain JSON, so xdist ships
it to the controller unchanged. The controller side is ``decide.py``, the
``sys.monitoring`` watcher of swallowed exceptions ``watch.py``.
"""

from __future__ import annotations

import builtins
import fnmatch
import importlib
import logging
import os
import re
import sys
import types
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, final

#: Observation kind for occurrences shipped per test, and for notes (bad marker names...).
OBS_KIND: Final = "error_type"
NOTE_KIND: Final = "error_type_note"
#: Baseline section owned by the gate.
SECTION: Final = "error_types"

ERROR: Final = "error"
WARNING: Final = "warning"

#: Exceptions that are control flow, not errors, when seen swallowed.
CONTROL_FLOW: Final = (StopIteration, StopAsyncIteration, GeneratorExit)
_OWN_FILES: Final = frozenset({
    os.path.abspath(__file__),
    os.path.abspath(os.path.join(os.path.dirname(__file__), "gates", "error_types.py")),
})
_OTHER: Final = 0
_TESTS: Final = 1
_PROJECT: Final = 2
DEFAULT_TEST_FILES: Final = ("test_*.py", "*_test.py", "conftest.py")
_TB_FILE_RE: Final = re.compile(r'^\s+File "(?P<file>[^"]+)", line (?P<line>\d+)')
_TB_LAST_RE: Final = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::|$)")


# ------------------------------------------------------------------ naming


def qualname(cls: type) -> str:
    """``builtins.KeyError``, ``json.decoder.JSONDecodeError``; a builtin warning is its bare
    category (``DeprecationWarning``), the way ``-W`` and ``filterwarnings`` spell it."""
    module = getattr(cls, "__module__", None) or "builtins"
    name = getattr(cls, "__qualname__", None) or cls.__name__
    if module == "builtins" and issubclass(cls, Warning):
        return str(name)
    return f"{module}.{name}"


def mro_names(cls: type) -> list[str]:
    """Qualified names of ``cls`` and its bases up to (not including) ``object``: lets names in
    config and markers cover subclasses on the controller, where the classes are not importable."""
    return [qualname(c) for c in cls.__mro__ if c is not object]


def kind_of(cls: type) -> str:
    return WARNING if issubclass(cls, Warning) else ERROR


def name_matches(name: str, type_name: str, mro: Sequence[str] = ()) -> bool:
    """Does a user-written ``name`` cover this type? By qualified or class name, of the type or
    any base (so an expected class covers subclasses); ``logging:a`` also covers ``logging:a.b``."""
    if name.startswith("logging:"):
        return type_name == name or type_name.startswith(name + ".")
    return any(name == q or name == q.rsplit(".", 1)[-1] or q == f"builtins.{name}" for q in mro or (type_name,))


def signature_key(type_name: str, origin: str) -> str:
    """The baseline key: type and origin module, never a line number (moving code must not churn it)."""
    return f"{type_name} @ {origin}" if origin else type_name


# ------------------------------------------------------------------ project code


@final
class Project:
    """Which source files are the project's own code: under the rootdir, not installed packages, not tests."""

    __slots__ = ("_cache", "_excluded", "_modules", "_roots", "_tests")

    def __init__(self, rootpath: Path, test_files: Sequence[str] = DEFAULT_TEST_FILES) -> None:
        #: Test modules are not "the project's code": a type met only in tests gets no origin, so
        #: one warning seen from many test files stays one signature.
        self._tests = tuple(test_files)
        roots = {str(rootpath), os.path.realpath(rootpath)}
        self._roots = tuple(r.rstrip(os.sep) + os.sep for r in roots)
        prefixes = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix}
        # A virtualenv inside the project is not the project.
        self._excluded = tuple(
            p.rstrip(os.sep) + os.sep for p in prefixes if any((p + os.sep).startswith(r) for r in self._roots)
        )
        self._cache: dict[str, int] = {}
        self._modules: dict[str, str] | None = None

    def contains(self, filename: str) -> bool:
        return self.rank(filename) == _PROJECT

    def rank(self, filename: str) -> int:
        """_PROJECT for the project's code, _TESTS for its test files, _OTHER for anything else."""
        hit = self._cache.get(filename)
        if hit is None:
            hit = self._cache[filename] = self._check(filename)
        return hit

    def _check(self, filename: str) -> int:
        if not filename or filename.startswith("<"):
            return _OTHER
        path = os.path.abspath(filename)
        if path in _OWN_FILES or not path.startswith(self._roots) or path.startswith(self._excluded):
            return _OTHER
        parts = path.split(os.sep)
        if "site-packages" in parts or "dist-packages" in parts:
            return _OTHER
        return _TESTS if any(fnmatch.fnmatch(parts[-1], pattern) for pattern in self._tests) else _PROJECT

    def module_of(self, filename: str) -> str:
        """Module name of a source file: from ``sys.modules``, else its path under the root."""
        path = os.path.abspath(filename)
        if self._modules is None or path not in self._modules:
            self._modules = {
                os.path.abspath(f): name
                for name, m in list(sys.modules.items())
                if isinstance(f := getattr(m, "__file__", None), str)
            }
        name = self._modules.get(path)
        if name:
            return name
        for root in self._roots:
            if path.startswith(root):
                rel = path[len(root):]
                stem = rel[:-3] if rel.endswith(".py") else rel
                parts = [p for p in stem.split(os.sep) if p]
                if parts and parts[0] == "src":
                    parts = parts[1:]
                if parts and parts[-1] == "__init__":
                    parts = parts[:-1]
                return ".".join(parts)
        return os.path.splitext(os.path.basename(path))[0]

    def _origin(self, frames: Iterable[tuple[types.FrameType, int]]) -> tuple[str, str] | None:
        """(origin module, "module:line") from frames outermost first: the origin is the innermost frame
        of the project's code; without one, the location is still the innermost test frame's."""
        best: tuple[types.FrameType, int] | None = None
        local: tuple[types.FrameType, int] | None = None
        for frame, line in frames:
            rank = self.rank(frame.f_code.co_filename)
            if rank == _PROJECT:
                best = (frame, line)
            elif rank == _TESTS:
                local = (frame, line)
        chosen = best or local
        if chosen is None:
            return None
        frame, line = chosen
        module = str(frame.f_globals.get("__name__") or self.module_of(frame.f_code.co_filename))
        return (module if best else ""), f"{module}:{line}"

    def origin_of_traceback(self, tb: types.TracebackType | None) -> tuple[str, str] | None:
        frames = []
        while tb is not None:
            frames.append((tb.tb_frame, tb.tb_lineno))
            tb = tb.tb_next
        return self._origin(frames)

    def origin_of_stack(self, frame: types.FrameType | None) -> tuple[str, str] | None:
        """The same for the current stack (a log call): walked outward, so reversed."""
        frames = []
        while frame is not None:
            frames.append((frame, frame.f_lineno))
            frame = frame.f_back
        return self._origin(reversed(frames))

    def origin_of_file(self, filename: str, lineno: int) -> tuple[str, str]:
        """Origin of a warning: its module when the project's, else no origin (location kept for people)."""
        module = self.module_of(filename)
        return (module if self.contains(filename) else ""), f"{module}:{lineno}"

    def origin_of_text(self, text: str) -> tuple[str, str] | None:
        """Origin from a formatted traceback (pytest's unraisable/thread warnings carry only text)."""
        best: tuple[str, int] | None = None
        local: tuple[str, int] | None = None
        for line in text.splitlines():
            m = _TB_FILE_RE.match(line)
            if m:
                rank = self.rank(m.group("file"))
                if rank == _PROJECT:
                    best = (m.group("file"), int(m.group("line")))
                elif rank == _TESTS:
                    local = (m.group("file"), int(m.group("line")))
        chosen = best or local
        if chosen is None:
            return None
        module = self.module_of(chosen[0])
        return (module if best else ""), f"{module}:{chosen[1]}"


def type_from_traceback_text(text: str) -> str | None:
    """The exception type named on the last line of the last traceback in ``text``."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last):")]
    if not starts:
        return None
    for line in lines[starts[-1] + 1:]:
        if not line.strip() or line[0].isspace():
            continue
        m = _TB_LAST_RE.match(line)
        if m is None:
            return None
        name = m.group("type")
        if "." not in name:
            obj = getattr(builtins, name, None)
            if isinstance(obj, type) and issubclass(obj, BaseException):
                return qualname(obj)
        return name
    return None


# ------------------------------------------------------------------ expected_errors


class MarkerError(Exception):
    """An ``expected_errors`` argument that is neither a class nor a name."""


def expected_errors(*types_: object) -> tuple[object, ...]:
    """Signature of the ``expected_errors`` marker."""
    return types_


@final
class Expected:
    """A test's ``expected_errors``: classes (subclasses covered) and names (matched on the MRO)."""

    __slots__ = ("classes", "names", "notes")

    def __init__(self, args: Iterable[object] = ()) -> None:
        self.classes: list[type] = []
        self.names: list[str] = []
        #: Names that did not import: matched by name only, and reported as a warning.
        self.notes: list[str] = []
        for i, arg in enumerate(args, 1):
            if isinstance(arg, type) and issubclass(arg, BaseException):
                self.classes.append(arg)
            elif isinstance(arg, str) and arg.strip():
                name = arg.strip()
                self.names.append(name)
                if "." in name and not name.startswith("logging:"):
                    cls = import_dotted(name)
                    if cls is None:  # still matched, by its class name, and reported
                        self.notes.append(name)
                        self.names.append(name.rsplit(".", 1)[-1])
                    else:
                        self.classes.append(cls)
            else:
                raise MarkerError(f"argument {i} ({arg!r}) is not an exception or warning class or a dotted name")

    def __bool__(self) -> bool:
        return bool(self.classes or self.names)

    def covers(self, type_name: str, mro: Sequence[str]) -> bool:
        """Is this type (given by name and the qualified names of its MRO) expected?

        Works from names alone, so a class argument also covers a type known only
        by name (pytest's unraisable warnings carry text, not classes)."""
        if any(qualname(c) in mro for c in self.classes):
            return True
        return any(name_matches(n, type_name, mro) for n in self.names)


def import_dotted(name: str) -> type | None:
    """``a.b.C`` (or ``a.b.C.Inner``) as an exception class, or None when it does not import."""
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except Exception:  # a broken or missing module is "does not import", never a crash
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj if isinstance(obj, type) and issubclass(obj, BaseException) else None
    return None


# ------------------------------------------------------------------ occurrences (per test)


@final
@dataclass(slots=True)
class Occurrence:
    """One signature seen during one phase of one test, with its count: what ships to the controller."""

    kind: str
    type: str
    origin: str
    where: str
    source: str  # test, log, warning, unraisable, thread, swallowed
    mro: list[str] = field(default_factory=list)
    count: int = 1

    @property
    def key(self) -> str:
        return signature_key(self.type, self.origin)

    def to_json(self, test: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind, "type": self.type, "origin": self.origin, "where": self.where,
            "source": self.source, "mro": self.mro, "count": self.count,
        }
        if test is not None:
            out["test"] = test
        return out


def from_exception(exc: BaseException, source: str, project: Project,
                   stack: types.FrameType | None = None) -> Occurrence:
    cls = type(exc)
    origin = project.origin_of_traceback(exc.__traceback__) or project.origin_of_stack(stack)
    module, where = origin or ("", "")
    return Occurrence(kind_of(cls), qualname(cls), module, where, source, mro_names(cls))


def from_record(record: logging.LogRecord, project: Project, stack: types.FrameType | None) -> Occurrence:
    """A log record at ERROR or above: its exception type, or ``logging:<logger name>``."""
    exc_info = record.exc_info
    if exc_info and exc_info[0] is not None and exc_info[1] is not None:
        occ = from_exception(exc_info[1], "log", project, stack)
        if not occ.where:
            module, occ.where = project.origin_of_file(record.pathname, record.lineno)
            occ.origin = module
        return occ
    name = f"logging:{record.name}"
    origin = project.origin_of_stack(stack)
    if origin is None:
        module, where = project.origin_of_file(record.pathname, record.lineno)
    else:
        module, where = origin
    return Occurrence(ERROR, name, module, where, "log", [name])


UNRAISABLE_WARNINGS: Final = ("PytestUnraisableExceptionWarning", "PytestUnhandledThreadExceptionWarning")


def from_warning(message: warnings.WarningMessage, project: Project) -> Occurrence:
    """A recorded warning: its category and the module it is attributed to. pytest's unraisable and
    thread-exception warnings stand for the exception they report: that type is the signature."""
    cls = message.category
    if cls.__name__ in UNRAISABLE_WARNINGS:
        text = str(message.message)
        name = type_from_traceback_text(text)
        if name is not None:
            source = "thread" if "Thread" in cls.__name__ else "unraisable"
            cls_ = import_dotted(name) if "." in name else None
            mro = mro_names(cls_) if isinstance(cls_, type) else [name]
            module, where = project.origin_of_text(text) or ("", "")
            return Occurrence(ERROR, name, module, where, source, mro)
    module, where = project.origin_of_file(message.filename, message.lineno)
    return Occurrence(kind_of(cls), qualname(cls), module, where, "warning", mro_names(cls))


def unwrap_pytest_warning_error(exc: BaseException) -> BaseException:
    """Under ``-W error`` pytest raises its unraisable/thread warning with the real exception as
    ``__cause__``: count the real one."""
    if type(exc).__name__ in UNRAISABLE_WARNINGS and isinstance(exc.__cause__, BaseException):
        return exc.__cause__
    return exc
