"""The output adapters as one plugin: each turns the finished verdict document into one output.

Registered only under ``--release-gate``; runs on the controller in
``pytest_release_gates_report``, after the verdict file is written (and in
``pytest_release_gates_collect``, to say whether a shared history store can be
reached). Order: the run history first (so the HTML charts and sparklines include this run),
then every requested output. An adapter that fails adds one warning line to
the summary and never touches the verdict or the other adapters. The one
exception is fail-closed: with ``history_required``, a run whose entry a shared
store could not take is held, and the verdict file rewritten.
"""

from __future__ import annotations

import os
import statistics
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Final, final

import pytest

from .. import atomic, redact, verdict_file
from ..history import run as history
from ..metrics import collect
from ..model import RUN, GateResult, Level, Status, UsageError
from ..session import GateContext
from . import ci, markdown

FLAKY_PLUGIN: Final = "release-gates-flaky"


@final
class Reports:
    __slots__ = ("annotate", "config", "locations")

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        #: nodeid -> (file, line) for budget annotations; only collected when annotating.
        self.locations: dict[str, tuple[str, int]] = {}
        self.annotate = os.environ.get("GITHUB_ACTIONS") == "true"

    def on_logreport(self, report: pytest.TestReport) -> None:
        if self.annotate and report.when == "call":
            loc = report.location
            if loc and isinstance(loc[1], int):
                self.locations[report.nodeid] = (str(loc[0]).replace("\\", "/"), loc[1] + 1)

    def pytest_release_gates_collect(self, context: GateContext) -> Iterable[GateResult]:
        """Whether a shared history store can be reached: known before the verdict, so it can hold."""
        gate = history.for_run(context).status_gate()
        return [gate] if gate is not None else []

    def pytest_release_gates_report(self, verdict: dict[str, Any], context: GateContext) -> None:
        summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary_path:  # first: it shows the verdict as decided, before the history may hold it
            problem = markdown.append_step_summary(summary_path, verdict)
            if problem:
                context.session.outcome.warnings.append(problem)
        messages = context.messages
        run = history.for_run(context)
        entry = self._history(verdict, context)
        if int(self.config.getoption("verbose", 0)) > 0:
            # Imported here (also html in _write_html): only -v and --gate-report draw trends; the two modules
            # cost every other run ~6 M instructions of imports (valgrind, `python -c`, 2026-12-05).
            from . import trend

            messages.extend(_sparklines(run.recent(trend.SPARK_RUNS, entry)))
        opt = self.config.getoption
        steps: list[tuple[str, Callable[[], str | None]]] = []
        report_path = opt("gate_report", None)
        if report_path:
            steps.append(("HTML report", lambda: _write_html(_cli_path(report_path), verdict, run.overview(entry))))
        if os.environ.get("GITHUB_OUTPUT"):
            steps.append(("GITHUB_OUTPUT", lambda: _github_output(verdict)))
        if self.annotate:
            steps.append(("GitHub annotations", lambda: self._annotations(verdict, context)))
        dotenv = opt("gate_dotenv", None)
        if dotenv:
            steps.append(("GitLab dotenv", lambda: _write(_cli_path(dotenv), ci.dotenv_text(verdict), "dotenv")))
        steps.append(("JUnit XML properties", lambda: _junit(self.config, verdict)))
        sarif_path = opt("gate_sarif", None)
        if sarif_path:
            steps.append(("SARIF", lambda: _write_sarif(_cli_path(sarif_path), verdict, context)))
        for what, step in steps:
            try:
                line = step()
            except UsageError as exc:
                line = f"WARNING: {what} not written: {exc}"
            except Exception as exc:  # an adapter must never lose the verdict or the other outputs
                line = f"WARNING: {what} not written: {type(exc).__name__}: {exc}"
            if line:
                messages.append(line)
        run.close()

    # -------------------------------------------------------------- steps

    def _history(self, verdict: dict[str, Any], context: GateContext) -> history.Entry:
        """Add this run to the history store; return its entry.

        With ``history_required``, a shared store that took the run at the start but fails to write it
        now holds the verdict (rewritten in place: the exit status and summary follow it).
        """
        run = history.for_run(context)
        flaky = self.config.pluginmanager.get_plugin(FLAKY_PLUGIN)
        reruns = getattr(flaky, "reruns", None) or {}
        entry = history.build_entry(verdict, context, reruns=reruns, metrics=metric_medians(context))
        problem = run.record(entry)
        context.messages.extend(run.warnings())
        if problem and run.url.shared and context.settings.history_required and verdict["verdict"] == "deploy":
            _hold_for_history(verdict, context, problem)  # the gate's line says it all
        elif problem:
            context.messages.append(problem)
        return entry

    def _annotations(self, verdict: Mapping[str, Any], context: GateContext) -> str | None:
        # The verdict shows test ids masked: look their locations up the same way.
        locations = {redact.text(k): v for k, v in self.locations.items()}
        lines = [redact.text(line) for line in
                 ci.github_annotations(verdict, locations=locations, path_prefix=_workspace_prefix(context.rootdir))]
        if not lines:
            return None
        tr = self.config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None:
            tr.ensure_newline()
            writer = getattr(tr, "_tw", None)  # xdist leaves its progress line open
            if getattr(writer, "width_of_current_line", 0):
                tr.write("\n")
            for line in lines:
                tr.write_line(line)
        else:
            sys.stdout.write("".join(line + "\n" for line in lines))
            sys.stdout.flush()
        return None


def _cli_path(value: str) -> Path:
    """Command-line paths are relative to the current folder (SPEC)."""
    return Path(value).expanduser().absolute()


def _write(path: Path, text: str, what: str) -> str:
    atomic.write_text(path, text, durable=False)
    return f"{what} written to {path}"


def _write_html(path: Path, verdict: Mapping[str, Any], view: history.Overview) -> str:
    from . import html  # imported here: see the sparklines in pytest_release_gates_report

    page = html.render(verdict, view.entries, total_runs=view.total, verdict_counts=view.verdict_counts)
    atomic.write_text(path, page, durable=False)  # regenerated every run: atomic is enough
    return f"HTML report written to {path}"


def _hold_for_history(verdict: dict[str, Any], context: GateContext, problem: str) -> None:
    """history_required and this run's entry could not be stored: the written verdict becomes a hold."""
    text = problem.removeprefix("WARNING: ").removeprefix("history store ")  # the subject says "history"
    gate = GateResult(RUN, "history", Status.FAIL, Level.HOLD, f"{text} (history_required = true)")
    verdict["verdict"] = str(Level.HOLD)
    verdict["gates"].append(gate.to_json())
    verdict["reasons"].append(gate.reason)
    try:
        verdict_file.write(context.settings.verdict_path, verdict)
    except UsageError as exc:
        context.messages.append(f"WARNING: verdict not rewritten: {exc}")


def _github_output(verdict: Mapping[str, Any]) -> None:
    ci.append_github_output(os.environ["GITHUB_OUTPUT"], verdict)


def _junit(config: pytest.Config, verdict: Mapping[str, Any]) -> None:
    ci.add_junit_properties(config, verdict)


def _write_sarif(path: Path, verdict: Mapping[str, Any], context: GateContext) -> str:
    from .. import __version__

    doc = ci.sarif(verdict, version=__version__, root_uri=ci.root_uri(context.rootdir))
    atomic.write_json(path, doc, durable=False)
    return f"SARIF written to {path}"


def _workspace_prefix(rootdir: Path) -> str:
    """The rootdir relative to ``$GITHUB_WORKSPACE`` (the repository), for annotation paths."""
    workspace = os.environ.get("GITHUB_WORKSPACE")
    if not workspace:
        return ""
    try:
        rel = Path(rootdir).resolve().relative_to(Path(workspace).resolve())
    except (ValueError, OSError):
        return ""
    text = rel.as_posix()
    return "" if text in ("", ".") else text + "/"


def _sparklines(entries: list[history.Entry]) -> list[str]:
    from . import trend  # imported here: see pytest_release_gates_report

    current = entries[-1].get("metrics") if entries else None
    if not isinstance(current, dict) or not current:
        return []
    series = {k: v for k, v in history.all_series(entries).items() if k in current}
    units = {k: str(v.get("u", "s")) if isinstance(v, dict) else "s" for k, v in current.items()}
    return trend.terminal_lines(series, units)


def metric_medians(context: GateContext) -> dict[str, dict[str, Any]]:
    """Median of each tracked metric this run: ``{key: {"m": median, "u": unit, "h": higher_is_better}}``."""
    values: dict[str, list[float]] = {}
    meta: dict[str, dict[str, Any]] = {}
    for metric in collect(context):
        if not metric.values:
            continue
        values.setdefault(metric.key, []).extend(metric.values)
        meta[metric.key] = {"u": metric.unit, "h": metric.higher_is_better}
    out = {}
    for key, vals in values.items():
        info = {"m": history.round6(statistics.median(vals))}
        info.update({k: v for k, v in meta[key].items() if v not in (False, "s")})  # defaults left out
        out[key] = info
    return out
