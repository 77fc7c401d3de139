"""The pytest plugin inside each A/B measuring subprocess (loaded with ``-p``; private).

One subprocess per side collects the selected tests once, then runs them
once per ``run`` command its parent writes on stdin, and writes that round's
samples to ``<out>/<side>-round-<n>.json``. Startup (imports, plugins,
collection) is paid once per side, not once per round.

Which code a side measures is settled when this module is imported, which
pytest does for ``-p`` plugins before it loads entry-point plugins,
conftests or test modules: the side's roots go first on ``sys.path`` and its
top-level modules are imported from there right away, so nothing later
(``pythonpath``, rootdir insertion, an editable install) can swap in
another copy. Modules the working tree has but the base revision lacks are
blocked on the base side: a test of new code fails there ("no base to
compare") instead of silently measuring the current code twice.

The subprocess is never a release gate: ``--release-gate`` and every option
that writes a user's file (verdict, junit XML, benchmark storage, pytest's
numbered temporary folders) are switched off here.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.machinery
import io
import json
import math
import os
import sys
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any, Final

import pytest

SPEC_ENV: Final = "RELEASE_GATES_COMPARE"
#: Options switched off in the subprocess: each would write a file the user owns, or judge the run.
_OFF: Final[dict[str, Any]] = {
    "release_gate": False,
    "gate_verdict": None,
    "gate_baseline": None,
    "gate_update_baseline": False,
    "gate_compare_ref": None,
    "gate_report": None,
    "gate_dotenv": None,
    "gate_sarif": None,
    "xmlpath": None,
    "json_report": False,
    "htmlpath": None,
    "benchmark_autosave": False,
    "benchmark_save": None,
    "benchmark_save_data": False,
    "benchmark_json": None,
    "benchmark_compare": False,
    "benchmark_compare_fail": None,
    "benchmark_histogram": None,
    "benchmark_csv": None,
    "benchmark_cprofile_dump": None,
}


def _load_spec() -> dict[str, Any] | None:
    path = os.environ.get(SPEC_ENV)
    if not path:
        return None
    with open(path, encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


_spec: Final = _load_spec()
#: The parent's command pipe, kept before pytest's capture points fd 0 at /dev/null.
_commands: io.BufferedReader | None = None
_import_error: str | None = None


class _Blocked(importlib.abc.MetaPathFinder):
    """Modules the working tree has and the base revision lacks do not import on the base side."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = frozenset(names)

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r} at the base revision", name=fullname)
        return None


def _inside(path: str | None, root: str) -> bool:
    if not path:
        return False
    try:
        return Path(path).resolve().is_relative_to(Path(root).resolve())
    except OSError:
        return False


def _settle_imports(spec: dict[str, Any]) -> None:
    """Put the side's roots first and import its modules from them, now."""
    global _import_error
    roots: list[str] = spec["roots"]
    for root in reversed(roots):
        sys.path.insert(0, root)
    if spec.get("block"):
        sys.meta_path.insert(0, _Blocked(spec["block"]))
    importlib.invalidate_caches()
    where = spec.get("where", "this side")
    for name, root in spec.get("modules", ()):
        already = sys.modules.get(name)
        try:
            mod = already or importlib.import_module(name)
        except BaseException as exc:  # a SystemExit in a package's __init__ is a failure too
            _import_error = f"the code under test at {where} does not import: {name}: {type(exc).__name__}: {exc}"
            return
        file = getattr(mod, "__file__", None)
        if file is None:  # a namespace package: keep it to this side's folder, or the other side leaks in
            folder = os.path.join(root, name)
            with contextlib.suppress(AttributeError, TypeError):
                mod.__path__ = [folder]
            continue
        if not _inside(file, root):
            _import_error = (f"{name} was imported from {file}, not from {where} ({root}): something imported it "
                             "before the A/B could choose the side (a pytest plugin of the project itself?)")
            return


if _spec is not None:
    with contextlib.suppress(OSError):
        _commands = open(os.dup(0), "rb", closefd=True)  # noqa: SIM115 - lives as long as the process
    _settle_imports(_spec)


def _out(name: str, data: Any) -> None:
    assert _spec is not None
    folder = Path(_spec["out"])
    tmp = folder / f".{name}.tmp"
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, folder / name)


# ------------------------------------------------------------------ hooks


def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    if _spec is not None and _import_error is not None:
        _out(f"{_spec['side']}-ready.json", {"import_error": _import_error})
        raise pytest.UsageError(_import_error)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if _spec is None:
        return
    for dest, value in _OFF.items():
        if hasattr(config.option, dest):
            setattr(config.option, dest, value)
    config.option.basetemp = _spec["basetemp"]
    from ...measure import instructions

    # perf.measure(counter="instructions") counts here too (both sides alike), once per side: counts repeat.
    config.stash[instructions.PROBE_CACHE_KEY] = {}
    config.stash[instructions.PROBE_PATH_MAP_KEY] = tuple((str(a), str(b)) for a, b in _spec.get("path_map", ()))
    divisor = max(1, int(_spec.get("divisor", 1)))
    max_time = getattr(config.option, "benchmark_max_time", None)
    if isinstance(max_time, (int, float)) and divisor > 1:
        config.option.benchmark_max_time = float(max_time) / divisor
    if divisor > 1:
        _scale_perf(divisor, int(_spec.get("min_rounds", 5)))
    config.pluginmanager.register(_Probe(_spec), "release-gates-compare-probe")


def _scale_perf(divisor: int, min_rounds: int) -> None:
    """Each round measures its share of ``perf.measure``'s rounds: the A/B costs about one more run in all.

    (A private coupling to ``perf._run``; see the README's "how it measures".)
    """
    from ... import perf

    inner = perf._run

    def scaled(func: Any, args: Any, kwargs: Any, rounds: int, warmup: int, span: float = 0.0,
               calibrate: Any = None, warmed: int = 0) -> list[float]:
        # No spreading and no calibration here (a probe runs without --release-gate): the interleaved
        # rounds spread the A/B, and both sides run at the same moments.
        share = max(min(rounds, min_rounds), math.ceil(rounds / divisor))
        return inner(func, args, kwargs, share, max(1, math.ceil(warmup / divisor)) if warmup else 0, warmed=warmed)

    perf._run = scaled


class _Probe:
    """Collect once, run a round per command, write each round's samples."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.side: str = spec["side"]
        self.collection_errors: dict[str, str] = {}
        self.round: dict[str, dict[str, Any]] = {}

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collection_errors[report.nodeid] = _gist(report)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        wanted = set(self.spec.get("nodeids", ()))
        keep = [item for item in items if item.nodeid in wanted]
        drop = [item for item in items if item.nodeid not in wanted]
        if drop:
            config.hook.pytest_deselected(items=drop)
        items[:] = keep

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        _out(f"{self.side}-ready.json", {
            "collected": [item.nodeid for item in session.items],
            "collection_errors": self.collection_errors,
        })

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool:
        items = list(session.items)
        while True:
            line = _commands.readline() if _commands is not None else b""
            command = line.decode().split()
            if not command or command[0] != "run":
                # Every round ended with ``nextitem=None``, which tears down every fixture, session-scoped
                # ones included: nothing is left to finish. Skipping pytest's session end (terminal summary,
                # other plugins' reports, all switched off or unread here) saves the A/B a few tenths of a second.
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(0)
            self.round = {}
            for i, item in enumerate(items):
                from ... import perf

                perf.measurements(item).clear()  # each round's measure calls start afresh
                item.ihook.pytest_runtest_protocol(item=item, nextitem=items[i + 1] if i + 1 < len(items) else None)
            _out(f"{self.side}-round-{command[1]}.json", self.round)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if report.when == "call":
            from ... import perf
            from ..budgets.gate import benchmark_data

            found: dict[str, Any] = {}
            for m in perf.measurements(item):
                found[m.name] = {"values": list(m.stats.samples), "source": "perf"}
            _uses, bench, _why = benchmark_data(item)
            if bench:
                found["benchmark"] = {"values": bench, "source": "benchmark"}
            entry = self.round.setdefault(item.nodeid, {})
            entry["metrics"] = found
            entry["duration"] = report.duration
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        entry = self.round.setdefault(report.nodeid, {})
        if report.failed:
            if entry.get("outcome") not in ("failed", "error"):
                entry["outcome"] = "failed" if report.when == "call" else "error"
                entry["message"] = _gist(report)
        elif report.skipped:
            if entry.get("outcome") in (None, "passed"):
                entry["outcome"] = "skipped"
                entry["message"] = _gist(report)
        elif report.when == "call" and entry.get("outcome") is None:
            entry["outcome"] = "passed"


def _gist(report: pytest.TestReport | pytest.CollectReport) -> str:
    """The first ``E`` line of a failure (else its last line): what went wrong, in one line."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # a skip: (path, line, reason)
        return str(longrepr[2])[:300]
    text = str(longrepr or "").strip()
    for line in text.splitlines():  # the first ``E`` line: the exception, or the failing assertion
        if line.strip().startswith("E "):
            return line.strip()[1:].strip()[:300]
    return text.splitlines()[-1].strip()[:300] if text else ""


__all__ = ["SPEC_ENV"]
