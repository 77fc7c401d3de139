"""The level policy in one place: what a failing gate asks for, and what ``levels`` changes.

A gate kind fails at a level (hold by default); the ``levels`` table of the config may set a
levelled kind (``GateSpec.levelled``) to ``hold``, ``rollback`` or ``warn`` (a warning never raises
the verdict), and the ``tests`` kind per severity (``critical``, ``major`` = ``tests``, ``minor``).
Policies of single gates (``new_error_types``, ``flaky_level``) are ``hold``, ``warn`` or ``off``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from typing import Final

from .model import TESTS, GateResult, Level, Status

#: What a ``levels`` entry may say.
LEVEL_NAMES: Final = ("hold", "rollback", "warn")
#: What a single gate's policy key may say.
POLICIES: Final = ("hold", "warn", "off")
#: A failing test's level by its ``gate(severity=...)`` marker, when ``levels`` does not say.
SEVERITY_LEVELS: Final[Mapping[str, str]] = {"critical": "rollback", "major": "hold", "minor": "warn"}
#: ``levels`` keys that are severities of the ``tests`` kind, not kinds.
SEVERITIES: Final = ("critical", "minor")


def status_level(name: str) -> tuple[Status, Level]:
    """A level name as (status, level) of a failing gate: ``warn`` warns, the others fail at that level."""
    if name == "warn":
        return Status.WARN, Level.HOLD
    return Status.FAIL, Level.parse(name)


def for_severity(severity: str, levels: Mapping[str, str]) -> tuple[Status, Level]:
    """A failing test's (status, level): ``levels`` by severity (``major`` is ``tests``), else its default."""
    name = levels.get(severity if severity != "major" else TESTS)
    return status_level(name if name is not None else SEVERITY_LEVELS[severity])


def apply(gate: GateResult, levels: Mapping[str, str], levelled: Collection[str]) -> GateResult:
    """``gate`` with the level ``levels`` sets for its kind (only failing gates of levelled kinds change;
    ``tests`` is levelled per severity by its own gate)."""
    name = levels.get(gate.kind) if gate.kind in levelled and gate.kind != TESTS else None
    if name is None or gate.status is not Status.FAIL:
        return gate
    if name == "warn":
        return dataclasses.replace(gate, status=Status.WARN)
    return dataclasses.replace(gate, level=Level.parse(name))
