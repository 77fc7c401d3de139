"""End of run: gather gate results, decide, write the verdict. Controller only.

The order is fixed: load the baseline, record into it when accepting a run,
collect every gate (a gate that crashes becomes a failing ``run`` gate),
apply configured levels, decide, and write the verdict file atomically.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from . import baseline as baseline_mod
from . import levels, selection, verdict_file
from .config import Settings
from .model import RUN, Decision, GateResult, Level, Status, UsageError
from .session import GateContext, GateSession, Outcome
from .spec import Registry
from .verdict import reduce


def partial_reason(config: pytest.Config, settings: Settings) -> str | None:
    """Why this run is not the whole suite, or None: the command line narrowed it
    (``selection.py``), or it is a declared shard, a subset by design that the ``run``
    gate does not hold on but every gate comparing against the whole suite must see."""
    why = selection.of(config).partial
    if settings.shard is None:
        return why
    index, count = settings.shard
    return f"shard {index} of {count}" + (f", {why}" if why else "")


def evaluate(config: pytest.Config, state: GateSession, exitstatus: int) -> Outcome:
    """Run every gate, write the verdict file and return what the summary prints (also ``state.outcome``)."""
    settings = state.settings
    gates: list[GateResult] = []
    project_problem = verdict_file.ensure_facts(state).problem
    if project_problem:
        gates.append(GateResult(RUN, "project-version", Status.WARN, Level.HOLD, project_problem))
    registry = state.registry
    baseline = _load_baseline(config, settings.baseline_path, gates, registry)
    context = GateContext(config, state, exitstatus, partial_reason(config, settings), baseline)

    if settings.update_baseline:
        gates.extend(_update_baseline(config, context))

    hook = config.hook.pytest_release_gates_collect
    for impl in reversed(hook.get_hookimpls()):
        name = config.pluginmanager.get_name(impl.plugin) or impl.plugin_name
        try:
            produced = impl.function(*(dict(context=context)[a] for a in impl.argnames))
            gates.extend(_checked(produced, name))
        except Exception as exc:  # a crashing gate must not lose the run
            gates.append(_crash("", exc, subject=f"gate:{name}"))  # reads "gate:NAME crashed: ..."
    gates = [levels.apply(g, settings.levels, registry.levelled_kinds) for g in gates]
    decision = _decide(config, gates, context, registry.reason_ranks())
    doc = verdict_file.build(config, state, context, gates, decision, complete=True)
    verdict_file.write(settings.verdict_path, doc)
    state.outcome = Outcome(verdict=doc, context=context)
    return state.outcome


def _load_baseline(
    config: pytest.Config, path: Path, gates: list[GateResult], registry: Registry
) -> baseline_mod.Baseline | None:
    """The baseline, each section checked by the gate kind that keeps it (built-in or a plugin's);
    None when it cannot be read, with a failing ``run`` gate saying how to fix the file."""
    declared: dict[str, baseline_mod.Validator] = {}
    for impl in reversed(config.hook.pytest_release_gates_baseline_sections.get_hookimpls()):
        name = config.pluginmanager.get_name(impl.plugin) or impl.plugin_name
        try:
            declared.update((str(k), v) for k, v in _iterable(impl.function()) or ())
        except Exception as exc:  # a broken declaration must not let the run pass
            gates.append(_crash(f"sections declared by {name}", exc, subject="baseline"))
    validators = {**declared, **registry.validators()}  # a hook cannot relax a spec's section
    try:
        baseline = baseline_mod.load(path, validators=validators)
    except UsageError as exc:
        gates.append(GateResult(
            RUN, "baseline", Status.FAIL, Level.HOLD,
            f"unreadable: {exc}; fix the file or restore it from version control (it is never overwritten, "
            "with or without --gate-update-baseline)",
        ))
        return None
    for name in baseline.unchecked:
        gates.append(GateResult(
            RUN, "baseline", Status.WARN, Level.HOLD,
            f"section {name!r} of {path} belongs to no gate this run knows: kept as it is, not checked "
            "(a misspelt section, or a gate plugin that does not declare it)",
        ))
    return baseline


def _update_baseline(config: pytest.Config, context: GateContext) -> list[GateResult]:
    baseline = context.baseline
    if baseline is None:  # unreadable: never overwritten
        return []
    lines: list[str] = []
    for impl in reversed(config.hook.pytest_release_gates_update_baseline.get_hookimpls()):
        name = config.pluginmanager.get_name(impl.plugin) or impl.plugin_name
        kwargs = {"context": context, "baseline": baseline}
        try:
            produced = _iterable(impl.function(*(kwargs[a] for a in impl.argnames)))
            lines.extend(str(line) for line in produced or ())
        except Exception as exc:  # a half-recorded baseline is never saved
            return [_crash(f"update by {name}", exc, subject="baseline")]
    try:
        written = baseline.save(machine_dir=context.rootdir / baseline_mod.MACHINE_DIR)
    except UsageError as exc:  # nothing was written: say so, never "updated"
        return [GateResult(RUN, "baseline", Status.FAIL, Level.HOLD, f"update not written: {exc}")]
    context.messages.extend(lines)
    context.messages.append(f"baseline {'updated' if written else 'unchanged'}: {baseline.path}")
    return []


def _crash(what: str, exc: BaseException, *, subject: str) -> GateResult:
    """A failing ``run`` gate for code of ours or a plugin's that raised: one line, with where."""
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" ({tb[-1].filename}:{tb[-1].lineno})" if tb else ""
    what = f"{what} crashed" if what else "crashed"  # the subject names the gate: no "gate:x gate x crashed"
    return GateResult(RUN, subject, Status.FAIL, Level.HOLD, f"{what}: {type(exc).__name__}: {exc}{where}")


def _iterable(produced: object) -> Iterable[Any] | None:
    """What a hook returned, as something to iterate over (None: nothing); else Python's own TypeError."""
    if produced is None or isinstance(produced, Iterable):
        return produced
    raise TypeError(f"{type(produced).__name__!r} object is not iterable")


def _checked(produced: object, plugin: str) -> list[GateResult]:
    items = list(_iterable(produced) or ())
    out = [g for g in items if isinstance(g, GateResult)]
    if len(out) != len(items):
        bad = next(g for g in items if not isinstance(g, GateResult))
        raise TypeError(f"{plugin} returned {type(bad).__name__}, not GateResult")
    return out


def _decide(
    config: pytest.Config, gates: list[GateResult], context: GateContext, ranks: Mapping[str, int]
) -> Decision:
    default = reduce(gates, ranks)
    try:
        decision = config.hook.pytest_release_gates_verdict(gates=gates, context=context)
        if decision is not None and not isinstance(decision, Decision):
            raise TypeError(f"returned {type(decision).__name__}, not a Decision")
    except Exception as exc:  # a broken policy decides nothing: hold, with the built-in reasons
        crash = _crash("(pytest_release_gates_verdict)", exc, subject="verdict-policy")
        gates.append(crash)
        return Decision(max(default.level, Level.HOLD), (*default.reasons, crash.reason))
    if decision is None:
        return default
    run_floor = max((g.level for g in gates if g.kind == RUN and g.status is Status.FAIL), default=Level.DEPLOY)
    if decision.level < run_floor:  # an incomplete run never deploys, whatever the policy
        return Decision(run_floor, tuple(dict.fromkeys(default.reasons)))
    return decision


def provisional(config: pytest.Config, state: GateSession) -> None:
    """Write the 'hold, incomplete' verdict that stands until the run ends."""
    doc = verdict_file.build(
        config,
        state,
        None,
        [],
        Decision(Level.HOLD, (verdict_file.PROVISIONAL_REASON,)),
        complete=False,
    )
    verdict_file.write(state.settings.verdict_path, doc)
