"""Built-in gate kinds, one package each: ``gates/<kind>/__init__.py`` holds its light ``SPEC``
(config keys, markers, baseline section, order), ``gate.py`` the plugin object that checks it.

Adding a kind, built in or a plugin's, is one ``GateSpec``: here one package and one line below,
in a plugin one ``pytest_release_gates_specs`` hook. The plugin object implements
``pytest_release_gates_collect`` and any session-level pytest hooks it needs, and its per-test work
as plain methods that ``pertest.PerTest`` calls (``on_setup``, ``on_makereport``, ``on_report``,
``on_logreport``: one hookimpl per test phase for all gates, not one each).
"""

from __future__ import annotations

import importlib.metadata
from typing import TYPE_CHECKING, Any, Final

from ..spec import GateSpec, Registry

if TYPE_CHECKING:
    import pytest

from . import ab, budgets, coverage, error_types, flaky, integrity, regression, run, tests, timeouts

#: Every built-in gate kind, in plugin registration order (which is also the order of their results).
BUILTIN: Final = Registry([
    run.SPEC,
    tests.SPEC,
    budgets.SPEC,
    timeouts.SPEC,
    flaky.SPEC,
    error_types.SPEC,
    regression.SPEC,
    coverage.SPEC,
    integrity.SPEC,
    ab.SPEC,
])

def registry(pluginmanager: pytest.PytestPluginManager) -> Registry:
    """The built-in kinds, then those plugins declare with ``pytest_release_gates_specs``."""
    declared: list[GateSpec] = []
    for answer in pluginmanager.hook.pytest_release_gates_specs():
        declared.extend(_specs_of(answer))
    return BUILTIN.extended(declared)


def installed() -> Registry:
    """The built-in kinds and those of installed plugins (``pytest11`` entry points), for the
    ``release-gate`` command, which runs without pytest: it reads such a plugin's config too.
    A plugin that cannot be imported declares nothing (its table then stays an unknown key)."""
    declared: list[GateSpec] = []
    for ep in importlib.metadata.entry_points(group="pytest11"):
        try:
            hook = getattr(ep.load(), "pytest_release_gates_specs", None)
            if callable(hook):
                declared.extend(_specs_of(hook()))
        except Exception:
            continue
    return BUILTIN.extended(declared)


def _specs_of(answer: Any) -> list[GateSpec]:
    if answer is None:
        return []
    if isinstance(answer, GateSpec):
        return [answer]
    return list(answer)
