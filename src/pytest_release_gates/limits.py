"""The limits a test carries, read where the measuring needs them (``perf``) and where the gates
check them: its budget (``@pytest.mark.budget`` over the ``[budgets]`` table, cached on the item)
and its pytest-timeout limit. Measurement layer: imports no gate.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, Final, final

import pytest

from . import fmt
from .config import Settings

LIMIT_KEYS: Final = ("seconds", "memory_mb", "p50", "p95", "p99")
PERCENTILES: Final = ("p50", "p95", "p99")
TIMEOUT_PLUGIN: Final = "timeout"  # pytest-timeout's entry-point name (``-p no:timeout`` blocks it)


def budget(
    seconds: float | None = None,
    *,
    memory_mb: float | None = None,
    p50: float | None = None,
    p95: float | None = None,
    p99: float | None = None,
) -> dict[str, float]:
    """Signature of the ``budget`` marker: Python itself rejects unknown keywords."""
    given = {"seconds": seconds, "memory_mb": memory_mb, "p50": p50, "p95": p95, "p99": p99}
    out: dict[str, float] = {}
    for key, value in given.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{key} must be a number, got {value!r}")
        x = float(value)
        if not math.isfinite(x) or x <= 0:
            raise ValueError(f"{key} must be a positive, finite number, got {value!r}")
        out[key] = x
    if not out:
        raise ValueError(f"give at least one limit ({', '.join(LIMIT_KEYS)})")
    return out




def _glob(pattern: str) -> re.Pattern[str]:
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
    return re.compile("".join(parts) + r"\Z", re.DOTALL)


def is_glob(key: str) -> bool:
    return "*" in key or "?" in key


@final
class ConfigBudgets:
    """The ``[budgets]`` table, ready to match node ids."""

    __slots__ = ("exact", "globs")

    def __init__(self, table: Mapping[str, Mapping[str, float]]) -> None:
        self.exact: dict[str, Mapping[str, float]] = {}
        self.globs: list[tuple[str, re.Pattern[str], Mapping[str, float]]] = []
        for key, limits in table.items():
            if is_glob(key):
                self.globs.append((key, _glob(key), limits))
            else:
                self.exact[key] = limits

    def match(self, nodeid: str) -> tuple[str, Mapping[str, float]] | None:
        limits = self.exact.get(nodeid)
        if limits is not None:
            return nodeid, limits
        for key, rx, limits in self.globs:
            if rx.match(nodeid):
                return key, limits
        return None

    def unmatched(self, nodeids: Iterable[str]) -> list[str]:
        """Keys that match none of ``nodeids`` (in file order)."""
        ids = list(nodeids)
        known = set(ids)
        missing = [k for k in self.exact if k not in known]
        missing += [k for k, rx, _ in self.globs if not any(rx.match(n) for n in ids)]
        order = {k: i for i, k in enumerate([*self.exact, *(g[0] for g in self.globs)])}
        return sorted(missing, key=order.__getitem__)


@final
@dataclass(frozen=True, slots=True)
class Resolved:
    """The budget of one test: its limits, where each came from, and what the marker overrode."""

    limits: dict[str, float] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    overrides: tuple[str, ...] = ()
    error: str | None = None


NONE: Final = Resolved()
resolved_key: Final = pytest.StashKey[Resolved]()
_config_key: Final = pytest.StashKey[ConfigBudgets]()
_shared_key: Final = pytest.StashKey[dict[Any, Resolved]]()


def closest_marker(item: pytest.Item, name: str) -> pytest.Mark | None:
    """``item.get_closest_marker(name)``, walked without its three nested generators (once per marked test)."""
    node: Any = item
    while node is not None:
        for mark in node.own_markers:
            if mark.name == name:
                return mark  # type: ignore[no-any-return]
        node = node.parent
    return None


def config_budgets(config: pytest.Config, settings: Settings) -> ConfigBudgets:
    table = config.stash.get(_config_key, None)
    if table is None:
        table = config.stash[_config_key] = ConfigBudgets(settings.budgets)
    return table


def resolve(item: pytest.Item, settings: Settings, marked: AbstractSet[str] | None = None) -> Resolved:
    """This test's budget (cached on the item): marker limits over config limits.

    ``marked``, when given, names the markers the test carries: no ``budget`` in it spares the lookup.
    """
    stash = item.stash
    if resolved_key in stash:  # not stash.get: a miss raises and catches a KeyError, every test
        return stash[resolved_key]
    if marked is not None and "budget" not in marked and not settings.budgets:
        stash[resolved_key] = NONE  # no marker, no [budgets] table: most tests of most suites
        return NONE
    table = config_budgets(item.config, settings)
    found = table.match(item.nodeid) if (table.exact or table.globs) else None
    marker = closest_marker(item, "budget") if marked is None or "budget" in marked else None
    if found is None and marker is None:
        item.stash[resolved_key] = NONE
        return NONE
    # Tests with the same marker and config entry share one (immutable) Resolved: a suite with a
    # budget on every test then allocates per distinct budget, not per test.
    shared = item.config.stash.setdefault(_shared_key, {})
    try:
        cache_key: Any = (found[0] if found else None, marker.args if marker else None,
                          tuple(sorted(marker.kwargs.items())) if marker and marker.kwargs else None)
        res = shared.get(cache_key)
    except TypeError:  # unhashable marker arguments: resolve this one on its own
        cache_key, res = None, None
    if res is None:
        res = _resolve(item, found, marker)
        if cache_key is not None and res.error is None:
            shared[cache_key] = res
    item.stash[resolved_key] = res
    return res


def _resolve(item: pytest.Item, found: tuple[str, Mapping[str, float]] | None, marker: pytest.Mark | None,
             ) -> Resolved:
    limits: dict[str, float] = {}
    sources: dict[str, str] = {}
    overrides: list[str] = []
    if found is not None:
        key, cfg = found
        limits.update(cfg)
        sources.update(dict.fromkeys(cfg, f"[budgets] {key!r}"))
    if marker is not None:
        try:
            mine = budget(*marker.args, **marker.kwargs)
        except (TypeError, ValueError) as exc:
            return Resolved(error=f"invalid @pytest.mark.budget on {item.nodeid}: {exc}")
        for k, v in mine.items():
            if k in limits:
                overrides.append(f"{k}: marker {fmt.limit(k, v)} overrides {sources[k]} {fmt.limit(k, limits[k])}")
            limits[k] = v
            sources[k] = "marker"
    return Resolved(limits, sources, tuple(overrides))


# ------------------------------------------------------------------ pytest-timeout


def global_timeout(config: pytest.Config) -> float | None:
    value = getattr(config, "_env_timeout", None)  # pytest-timeout's resolved --timeout/ini/env value
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def item_timeout(item: pytest.Item) -> float | None:
    """The pytest-timeout limit on this test (its marker, else ``--timeout``/ini/env), or None.

    Read the way pytest-timeout reads it: a marker's first argument or ``timeout=``; a marker
    without one falls back to the global value; 0 means no limit.
    """
    if not item.config.pluginmanager.has_plugin(TIMEOUT_PLUGIN):
        return None
    marker = item.get_closest_marker("timeout")
    value = (marker.args[0] if marker.args else marker.kwargs.get("timeout")) if marker is not None else None
    if value is None:
        return global_timeout(item.config)
    try:
        limit = float(value)
    except (TypeError, ValueError):
        return None  # pytest-timeout reports the bad marker itself
    return limit if limit > 0 else None
