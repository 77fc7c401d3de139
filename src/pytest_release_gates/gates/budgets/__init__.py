"""The ``budget`` kind: per-test limits on time, memory and percentiles."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ...config import ConfigError, number
from ...model import BUDGET
from ...spec import ConfigKey, GateSpec, MarkerSpec

BUDGET_KEYS: Final = ("seconds", "memory_mb", "p50", "p95", "p99")
_positive = number(gt=0)


def check_budgets(v: Any) -> Mapping[str, Mapping[str, float]]:
    """The ``budgets`` table: node id or glob -> {seconds, memory_mb, p50, p95, p99}."""
    if not isinstance(v, dict):
        raise ConfigError(f"expected a table of test ids, got {v!r}")
    out: dict[str, dict[str, float]] = {}
    for test_id, limits in v.items():
        if not isinstance(limits, dict):
            raise ConfigError(f"[{test_id!r}]: expected a table such as {{seconds = 1.0}}, got {limits!r}")
        entry: dict[str, float] = {}
        for key, value in limits.items():
            if key not in BUDGET_KEYS:
                raise ConfigError(f"[{test_id!r}].{key}: unknown budget key (one of {', '.join(BUDGET_KEYS)})")
            try:
                entry[key] = _positive(value)
            except ConfigError as exc:
                raise ConfigError(f"[{test_id!r}].{key}: {exc}") from None
        if not entry:
            raise ConfigError(f"[{test_id!r}]: empty budget (give at least one of {', '.join(BUDGET_KEYS)})")
        out[test_id] = entry
    return out


SPEC = GateSpec(
    kind=BUDGET,
    plugin="release-gates-budget",
    factory="pytest_release_gates.gates.budgets.gate:Gate",
    keys=(
        ConfigKey("budgets", check_budgets, {}),
        ConfigKey("warn_fraction", number(gt=0, le=1), 0.8),
    ),
    markers=(MarkerSpec(
        "budget",
        "budget(seconds=None, *, memory_mb=None, p50=None, p95=None, p99=None): performance budget of this "
        "test, checked under --release-gate: seconds of call-phase wall time, peak MB allocated, percentiles "
        "(seconds) of its perf/benchmark samples.",
    ),),
    order=3,
)
