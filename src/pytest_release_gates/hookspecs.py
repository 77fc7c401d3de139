"""Extension points: contribute gates, decide the verdict, publish it.

Every built-in gate kind is itself a plugin implementing
``pytest_release_gates_collect``; a conftest or third-party plugin does the
same to add its own gates. See the README, "Writing your own gate".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .baseline import Baseline
    from .model import Decision, GateResult
    from .session import GateContext
    from .spec import GateSpec, Validator

hookspec = pytest.hookspec


@hookspec
def pytest_release_gates_specs() -> GateSpec | Iterable[GateSpec] | None:
    """Declare this plugin's gate kinds: one ``GateSpec`` (or several) each.

    Called once at ``pytest_configure`` (and by the ``release-gate`` command, for the
    plugins installed with a ``pytest11`` entry point). A spec adds its config keys or
    its own ``[tool.release_gates.<kind>]`` table, markers, baseline section with its
    validator, and where its kind sorts; ``factory(settings)`` returns the plugin
    object registered under ``--release-gate``. A spec cannot replace a built-in one.
    """


@hookspec
def pytest_release_gates_collect(context: GateContext) -> Iterable[GateResult] | None:
    """Return the gate results this plugin checked, at the end of the run.

    Called once, on the controller (never on an xdist worker), after every
    test report has arrived. ``context`` gives the settings, the test counts,
    the observations each test shipped (``context.observations(kind)``) and
    the baseline. A hook that raises does not lose the run: it becomes a
    failing ``run`` gate naming the plugin, so the verdict is never deploy.
    """


@hookspec(firstresult=True)
def pytest_release_gates_verdict(gates: Sequence[GateResult], context: GateContext) -> Decision | None:
    """Decide the verdict from all gate results; the first non-None answer wins.

    The built-in policy (``pytest_release_gates.verdict.reduce``) takes the
    worst level of the failing gates. A policy that returns a level below
    that of a failing ``run`` gate is overruled: an incomplete run never
    deploys. A policy that raises, or returns something other than a
    ``Decision``, holds the release with a ``run`` gate saying so.
    """


@hookspec
def pytest_release_gates_update_baseline(context: GateContext, baseline: Baseline) -> Iterable[str] | None:
    """Record this run into ``baseline`` (only with ``--gate-update-baseline``).

    Each gate kind edits its own section and returns lines saying what it
    added, changed or removed. Runs before ``pytest_release_gates_collect``,
    so gates are then checked against what was recorded. If any of these
    hooks raises, nothing is saved (no half-recorded baseline) and the run holds.
    """


@hookspec
def pytest_release_gates_baseline_sections() -> Iterable[tuple[str, Validator]] | None:
    """Declare the baseline sections this plugin keeps, as ``(section, validator)`` pairs.

    ``validator(path, section)`` raises ``pytest_release_gates.UsageError`` with one line naming
    ``path``, the section and the entry when the section is malformed: the run then holds and the
    file is never rewritten. A section that no gate declares is kept as it is, with a warning.
    """


@hookspec
def pytest_release_gates_report(verdict: dict[str, Any], context: GateContext) -> None:
    """Publish the final verdict document (already written to the verdict file).

    For output adapters: history, HTML, CI annotations. An adapter that
    raises is reported as a warning; it cannot change a verdict already
    written.
    """
