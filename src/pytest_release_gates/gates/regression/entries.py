"""The ``regression`` section of the baseline: its entries, how one is made from a metric, how a
file's section is checked. Read by the gate (``gate.py``) and by ``release-gate baseline``.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from ... import baseline as baseline_mod
from ... import metrics
from ...model import UsageError
from .debt import debt_of

SECTION: Final = "regression"
#: Raw samples kept per entry (evenly spaced order statistics, min and max included):
#: enough for the significance test, small enough that 1,000 metrics stay under 1 MB.
SAMPLE_CAP: Final = 40
#: Keys the plugin measures; every other key of an entry (debt, notes) is the user's and survives re-recording.
MEASURED_KEYS: Final = frozenset(
    {"count", "median", "spread", "samples", "direction", "machine", "unit", "source", "reference", "traced",
     "count_env"}
)
#: Baseline ``meta`` key: the environments counted entries were counted in, by id (entry key ``count_env``).
COUNT_ENVS: Final = "count_envs"


def validate_section(path: Path, section: dict[str, Any]) -> None:
    """Baseline validator of the ``regression`` section: numbers where numbers belong, a known
    direction, valid debt."""
    is_number, short = baseline_mod.is_number, baseline_mod.short
    for key, entry in section.items():
        where = f"{path}: regression entry {key!r}"
        if not isinstance(entry, dict):
            raise UsageError(f"{where} must be an object, got {short(entry)}")
        if "median" not in entry:
            raise UsageError(f"{where}: 'median' is missing")
        if not is_number(entry["median"]):
            raise UsageError(f"{where}: 'median' must be a number, got {short(entry['median'])}")
        count = entry.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise UsageError(f"{where}: 'count' must be a whole number of at least 1, got {short(count)}")
        if "spread" in entry and not is_number(entry["spread"]):
            raise UsageError(f"{where}: 'spread' must be a number, got {short(entry['spread'])}")
        samples = entry.get("samples", [])
        if not isinstance(samples, list) or not baseline_mod.all_numbers(samples):
            raise UsageError(f"{where}: 'samples' must be a list of numbers")
        if entry.get("direction", "lower") not in ("lower", "higher"):
            raise UsageError(f"{where}: 'direction' must be 'lower' or 'higher', got {short(entry['direction'])}")
        for k in ("machine", "unit", "source", "traced", "count_env"):
            if k in entry and not isinstance(entry[k], str):
                raise UsageError(f"{where}: {k!r} must be a string, got {short(entry[k])}")
        if "reference" in entry:
            ref = entry["reference"]
            ok = (
                isinstance(ref, dict)
                and isinstance(ref.get("id"), str)
                and is_number(ref.get("seconds"))
                and ref["seconds"] > 0
                and (is_number(ref.get("cpu", 0)) and 0 <= ref.get("cpu", 0) <= 1)
            )
            if not ok:
                raise UsageError(
                    f"{where}: 'reference' must be {{\"id\": <string>, \"seconds\": <positive number>, "
                    f"\"cpu\": <0 to 1>}}, got {short(ref)}"
                )
        debt_of(entry, where=where)


def make_entry(m: metrics.Metric, machine: str) -> dict[str, Any]:
    vals = sorted(m.values)
    med = statistics.median(vals)
    entry: dict[str, Any] = {
        "count": len(vals),
        "median": med,
        "direction": "higher" if m.higher_is_better else "lower",
        "machine": machine,
        "source": m.source or "metric",
        "unit": m.unit,
    }
    if m.sampled and len(vals) > 1:
        entry["samples"] = thin(vals, SAMPLE_CAP)
        entry["spread"] = statistics.median(abs(v - med) for v in vals)
    if m.calibration is not None:
        entry["reference"] = m.calibration.as_entry()
    if m.traced:
        entry["traced"] = m.traced
    if m.counted:  # the same on any machine with the same environment: that, not the machine, is recorded
        del entry["machine"]
        if m.count_env:
            from ...measure.count_env import environment_id  # imported here: see count_env_differences

            entry["count_env"] = environment_id(m.count_env)
    return baseline_mod.normalize(entry)  # type: ignore[no-any-return]


def count_env_differences(baseline: baseline_mod.Baseline, entry: Mapping[str, Any], m: metrics.Metric) -> list[str]:
    """What differs between where a counted entry was counted and where ``m`` was (empty: comparable)."""
    envs = baseline.meta.get(COUNT_ENVS)
    recorded = envs.get(entry.get("count_env")) if isinstance(envs, dict) else None
    # Imported here: only counted metrics need it; measure.instructions and its helpers cost a run that counts
    # nothing ~25 M instructions of imports (valgrind, `python -c` importing the plugin, 2026-12-05).
    from ...measure.count_env import differences

    return differences(recorded if isinstance(recorded, dict) else None, m.count_env or {})


def thin(sorted_values: Sequence[float], cap: int) -> list[float]:
    """At most ``cap`` evenly spaced order statistics (min and max kept): deterministic."""
    n = len(sorted_values)
    if n <= cap:
        return list(sorted_values)
    return [sorted_values[round(i * (n - 1) / (cap - 1))] for i in range(cap)]
