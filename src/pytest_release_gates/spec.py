"""What a gate kind declares, and the registry built from those declarations.

A gate kind, built in or a plugin's, is one ``GateSpec``: its config keys (top-level, or its own
``[tool.release_gates.<kind>]`` table), markers, baseline section and validator, the plugin that
checks it, where it sorts, and whether ``levels`` may change it. The config schema, the kinds,
marker registration, baseline validators and kind order are read from a ``Registry`` of specs,
so adding a kind edits no module of the core. Core: imports no gate, report or measurement module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, final

from .model import UsageError

#: ``validator(path, section)`` raises ``UsageError`` naming the path, the section and the entry.
Validator = Callable[[Path, dict[str, Any]], None]

#: Reasons of kinds with no rank sort after those with one, then by kind name (SPEC's order).
UNRANKED: Final = 9
#: Display position of kinds that declare none: after every built-in kind, then by name.
UNORDERED: Final = 1000


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


@final
@dataclass(frozen=True, slots=True)
class ConfigKey:
    """One config key. ``check(raw)`` returns the value or raises ``ValueError`` with why, no key name."""

    name: str
    check: Callable[[Any], Any]
    default: Any = None
    type: str = ""  # for the reference, e.g. "float > 0"
    help: str = ""


@final
@dataclass(frozen=True, slots=True)
class MarkerSpec:
    """A marker and its ``--markers`` line (``name(signature): help``)."""

    name: str
    line: str


@final
@dataclass(frozen=True, slots=True)
class GateSpec:
    """Everything the core needs to know about one gate kind.

    ``factory(settings)`` returns the plugin object (or None: nothing to do this run); a
    ``"module:attr"`` string is imported only under ``--release-gate``, so a light spec module
    keeps the plugin's import free. ``keys`` are top-level config keys (built-in kinds: each one
    a ``Settings`` field); ``table`` the keys of the kind's own ``[tool.release_gates.<kind>]``
    table, read back with ``Settings.table(kind)``. ``enabled`` decides before the factory is
    even imported.
    """

    kind: str
    plugin: str
    factory: Callable[[Any], object] | str | None = None  # Any: the run's ``config.Settings``
    keys: tuple[ConfigKey, ...] = ()
    table: tuple[ConfigKey, ...] = ()
    markers: tuple[MarkerSpec, ...] = ()
    section: str | None = None
    validator: Validator | str | None = None
    order: int = UNORDERED  # where the terminal summary lists the kind
    reason_rank: int = UNRANKED  # at one level, reasons of lower ranks come first
    levelled: bool = True  # a `levels` entry may change it
    enabled: Callable[[Any], bool] | None = None

    def make(self, settings: object) -> object:
        """The plugin object for this run, or None."""
        if self.factory is None or (self.enabled is not None and not self.enabled(settings)):
            return None
        return resolve(self.factory)(settings)

    def section_validator(self) -> Validator | None:
        return None if self.validator is None else resolve(self.validator)


def resolve(ref: Any) -> Any:
    """``"package.module:attr"`` -> the object; anything else as it is."""
    if not isinstance(ref, str):
        return ref
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


@final
class Registry:
    """The registered gate specs, in registration order (which is also hook registration order)."""

    __slots__ = ("_specs",)

    def __init__(self, specs: Iterable[GateSpec] = ()) -> None:
        self._specs: list[GateSpec] = []
        for spec in specs:
            self.add(spec)

    def add(self, spec: GateSpec) -> None:
        if not isinstance(spec, GateSpec):
            raise UsageError(f"a gate spec must be a GateSpec, got {type(spec).__name__}")
        if any(s.plugin == spec.plugin for s in self._specs):
            raise UsageError(f"gate plugin {spec.plugin!r} is registered twice")
        taken = {k.name for s in self._specs for k in s.keys} | {s.kind for s in self._specs if s.table}
        for key in spec.keys:
            if key.name in taken:
                raise UsageError(f"config key {key.name!r} of gate {spec.plugin!r} is already declared")
        if spec.table and spec.kind in taken:
            raise UsageError(f"config table [{spec.kind}] of gate {spec.plugin!r} is already declared")
        if spec.section is not None and any(s.section == spec.section for s in self._specs):
            raise UsageError(f"baseline section {spec.section!r} of gate {spec.plugin!r} is already declared")
        self._specs.append(spec)

    def extended(self, specs: Iterable[GateSpec]) -> Registry:
        """A new registry with ``specs`` after these (built-ins first: a plugin cannot replace one)."""
        return Registry([*self._specs, *specs])

    def __iter__(self) -> Iterator[GateSpec]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def _first(self) -> dict[str, GateSpec]:
        out: dict[str, GateSpec] = {}
        for s in self._specs:
            out.setdefault(s.kind, s)
        return out

    @property
    def kinds(self) -> tuple[str, ...]:
        """Every kind, in display order."""
        return tuple(sorted(self._first(), key=self.order_of))

    @property
    def levelled_kinds(self) -> tuple[str, ...]:
        """The kinds a ``levels`` entry may name, in display order."""
        first = self._first()
        return tuple(k for k in self.kinds if first[k].levelled)

    def order_of(self, kind: str) -> tuple[int, str]:
        spec = self._first().get(kind)
        return (spec.order if spec is not None else UNORDERED, kind)

    def display_order(self) -> dict[str, int]:
        """kind -> position in the terminal summary; kinds not listed come after, by name."""
        return {k: i for i, k in enumerate(self.kinds) if self._first()[k].order != UNORDERED}

    def reason_ranks(self) -> dict[str, int]:
        """kind -> rank of its reasons at one level (``verdict.reduce``)."""
        return {k: s.reason_rank for k, s in self._first().items() if s.reason_rank != UNRANKED}

    def keys(self) -> dict[str, ConfigKey]:
        """Top-level config keys of every kind, by name."""
        return {k.name: k for s in self._specs for k in s.keys}

    def tables(self) -> dict[str, tuple[ConfigKey, ...]]:
        """kind -> the keys of its own config table."""
        return {s.kind: s.table for s in self._specs if s.table}

    def markers(self) -> list[MarkerSpec]:
        return [m for s in self._specs for m in s.markers]

    def validators(self) -> dict[str, Validator]:
        """Baseline section -> its validator, for ``baseline.load``."""
        out: dict[str, Validator] = {}
        for s in self._specs:
            v = s.section_validator()
            if s.section is not None and v is not None:
                out[s.section] = v
        return out

    def sections(self) -> tuple[tuple[str, Validator], ...]:
        return tuple(self.validators().items())


def table_defaults(keys: Iterable[ConfigKey]) -> dict[str, Any]:
    return {k.name: k.default for k in keys}


def frozen(values: Mapping[str, Any]) -> Mapping[str, Any]:
    """A read-only view, so a kind's table in ``Settings`` stays immutable."""
    return MappingProxyType(dict(values))
