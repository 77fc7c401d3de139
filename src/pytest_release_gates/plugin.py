"""pytest hooks. Thin: each hook hands over to the module that owns the work."""

from __future__ import annotations

import sys
from collections.abc import Generator
from typing import Any, Final

import pytest

from . import config as config_mod
from . import evaluate, gates, hookspecs, redact, selection, usage_hold
from .fixtures import gate_metric, integrity, perf  # noqa: F401  (fixtures, found by pytest here)
from .gates import BUILTIN
from .model import UsageError
from .pertest import PerTest
from .report import terminal
from .session import SESSION_KEY, WORKEROUTPUT_KEY, GateSession, Outcome

#: The built-in markers' ``--markers`` lines (each declared by its kind's spec).
MARKERS: Final = tuple(m.line for m in BUILTIN.markers())


_GATE_OPTIONS = (
    ("--gate-verdict", "gate_verdict"),
    ("--gate-baseline", "gate_baseline"),
    ("--gate-update-baseline", "gate_update_baseline"),
    ("--gate-compare-ref", "gate_compare_ref"),
    ("--gate-shard", "gate_shard"),
)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    selection.remember_parser(parser, pluginmanager)
    group = parser.getgroup("release-gates", "release gates (pytest-release-gates)")
    group.addoption(
        "--release-gate",
        action="store_true",
        default=False,
        help="evaluate all release gates, print the release-gate summary and write the verdict file; "
        "exit 0 only for deploy",
    )
    group.addoption(
        "--gate-verdict",
        metavar="PATH",
        default=None,
        help="verdict file to write (default: config verdict_file, else .release-gates/verdict.json)",
    )
    group.addoption(
        "--gate-baseline",
        metavar="PATH",
        default=None,
        help="baseline file to read and update (default: config baseline_file, else release-gates.baseline.json)",
    )
    group.addoption(
        "--gate-update-baseline",
        action="store_true",
        default=False,
        help="accept this run: record its measurements, error types, coverage and findings into the baseline",
    )
    group.addoption(
        "--gate-compare-ref",
        metavar="REV",
        default=None,
        help="measure tracked performance against git revision REV in the same run",
    )
    group.addoption(
        "--gate-shard",
        metavar="I/N",
        default=None,
        help="this run is shard I of N of one CI run: not held as partial; `release-gate merge` refuses "
        "a set of shards with an index missing or repeated",
    )
    # Report adapters (report/adapters.py): command-line paths are relative to the current folder.
    group.addoption(
        "--gate-report",
        metavar="PATH",
        default=None,
        help="write a self-contained HTML report (verdict, reasons, gate table, metric trends)",
    )
    group.addoption(
        "--gate-dotenv",
        metavar="PATH",
        default=None,
        help="write a GitLab dotenv report (RELEASE_GATE_VERDICT=...)",
    )
    group.addoption(
        "--gate-sarif",
        metavar="PATH",
        default=None,
        help="write integrity and content findings as SARIF 2.1.0",
    )


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> Generator[None, None, None]:
    # A conftest that cannot be imported stops pytest with exit 4 before the run starts.
    from _pytest.config import ConftestImportFailure

    try:
        return (yield)
    except ConftestImportFailure as exc:
        cause = f"{type(exc.cause).__name__}: {exc.cause}"
        usage_hold.replace_verdict(early_config, f"ImportError while loading conftest '{exc.path}': {cause}")
        raise
    except pytest.UsageError as exc:
        usage_hold.replace_verdict(early_config, usage_hold.message_of(exc))
        raise


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config: pytest.Config) -> Generator[None, None, Any]:
    # Every usage error after the command line is parsed (ours, pytest's, another plugin's) passes here.
    try:
        return (yield)
    except pytest.UsageError as exc:
        usage_hold.replace_verdict(config, usage_hold.message_of(exc))
        raise


def pytest_configure(config: pytest.Config) -> None:
    try:
        registry = gates.registry(config.pluginmanager)
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    for marker in registry.markers():
        config.addinivalue_line("markers", marker.line)
    is_worker = hasattr(config, "workerinput")
    try:
        if not is_worker:
            selection.check_rootdir(config)
        declared = config.getoption("gate_shard")
        shard = selection.parse_shard(declared) if declared is not None else None
        if shard is not None:
            selection.check_shard_matches_splitter(config, shard)
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    if not config.getoption("release_gate"):
        orphans = [opt for opt, dest in _GATE_OPTIONS if config.getoption(dest)]
        if orphans:
            raise pytest.UsageError(f"{orphans[0]} needs --release-gate (without it the plugin writes nothing)")
        return
    try:
        settings = config_mod.load(
            config.rootpath,
            registry=registry,
            update_baseline=config.getoption("gate_update_baseline") or None,
            compare_ref=config.getoption("gate_compare_ref"),
            verdict_override=config.getoption("gate_verdict"),
            baseline_override=config.getoption("gate_baseline"),
            shard=shard,
        )
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    state = GateSession(settings, is_worker=is_worker, registry=registry)
    config.stash[SESSION_KEY] = state
    config.pluginmanager.register(ReleaseGate(config, state), "release-gates-core")
    # Imported here: a run without --release-gate never pays for the report adapters (~80 ms cumulative,
    # `python -X importtime`, loaded 2-core machine) nor for the gate modules (each spec imports its
    # gate module in spec.make: the regression gate alone ~140 ms).
    from .report.adapters import Reports

    registered: list[Any] = []  # a gate blocked with `-p no:<name>` is neither registered nor called
    for spec in registry:
        gate = spec.make(settings)
        if gate is not None and config.pluginmanager.register(gate, spec.plugin) is not None:
            registered.append(gate)
    reports = Reports(config)
    if config.pluginmanager.register(reports, "release-gates-reports") is not None:
        registered.append(reports)
    config.pluginmanager.register(PerTest(state, registered), "release-gates-per-test")


class ReleaseGate:
    """The core's run-time hooks, registered only under ``--release-gate``."""

    __slots__ = ("config", "state")

    def __init__(self, config: pytest.Config, state: GateSession) -> None:
        self.config = config
        self.state = state

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if self.state.is_worker:
            return
        try:
            evaluate.provisional(self.config, self.state)
        except UsageError as exc:
            raise pytest.UsageError(str(exc)) from None

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.state.collected = len(session.items)

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.state.deselected += len(items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.state.collected = max(self.state.collected, len(ids))
        self.state.worker_count += 1

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed and not self.state.is_worker and report.nodeid not in self.state.collection_errors:
            self.state.collection_errors.append(report.nodeid)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        self.state.merge_worker_output(getattr(node, "workeroutput", {}) or {})
        if error:
            self.state.crashed_workers.append(str(getattr(getattr(node, "gateway", None), "id", node)))

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> Generator[None, None, None]:
        # Decide before other plugins' sessionfinish (junitxml writes its file there) and
        # before the terminal summary (printed after this wrapper's yield).
        self._finish(session, int(exitstatus))
        return (yield)

    def _finish(self, session: pytest.Session, exitstatus: int) -> None:
        config, state = self.config, self.state
        if state.is_worker:
            config.workeroutput[WORKEROUTPUT_KEY] = state.worker_output()  # type: ignore[attr-defined]
            return
        if exitstatus == pytest.ExitCode.USAGE_ERROR:
            # pytest calls sessionfinish while the UsageError (a path argument not found...) propagates.
            exc = sys.exc_info()[1]
            error = usage_hold.message_of(exc) if isinstance(exc, pytest.UsageError) else None
            state.outcome = Outcome(error=error or "pytest stopped with a usage error")
            usage_hold.replace_verdict(config, state.outcome.error or "")
            return
        if session.shouldstop or session.shouldfail:
            state.stopped = str(session.shouldstop or session.shouldfail)
        try:
            outcome = evaluate.evaluate(config, state, exitstatus)
        except UsageError as exc:
            state.outcome = Outcome(error=str(exc))
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
            usage_hold.replace_verdict(config, str(exc))
            return
        doc = outcome.verdict
        assert doc is not None and outcome.context is not None  # evaluate returns both
        try:
            config.hook.pytest_release_gates_report(verdict=doc, context=outcome.context)
        except Exception as exc:  # an adapter cannot change a written verdict
            outcome.warnings.append(f"report adapter failed: {type(exc).__name__}: {exc}")
        if doc["verdict"] == "deploy":
            session.exitstatus = pytest.ExitCode.OK
        elif exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        state = self.state
        if state.is_worker:
            return
        tr = terminalreporter
        outcome = state.outcome
        doc = outcome.verdict
        tr.section("release gate", sep="=", bold=True)
        if outcome.error:
            tr.write_line(redact.text(f"ERROR: {outcome.error}"), red=True, bold=True)
            return
        if doc is None:
            return
        messages = outcome.messages
        verbosity = int(self.config.getoption("verbose", 0))  # config.get_verbosity() needs pytest 8
        order = state.registry.display_order()
        for text, markup in terminal.lines_for(doc, verbosity=verbosity, messages=messages, order=order):
            tr.write_line(redact.text(text), **markup)  # the messages did not pass through the verdict
        tr.write_line(f"  verdict written to {state.settings.verdict_path}")
