"""The ``regression`` gate: tracked metrics against the baseline, noise-aware.

Inputs: every tracked metric (``perf.measure`` and pytest-benchmark samples,
``gate_metric`` values, see ``metrics.py``) and the call duration of tests
marked ``@pytest.mark.regression(tolerance=None)``. Only passing tests count:
the timing of a test that failed says nothing about the code.

Comparison (SPEC "Regressions"): the ratio of medians in the worse
direction. One value per run regresses when the ratio exceeds
``1 + tolerance``. Samples regress when, in addition, a two-sided
Mann-Whitney U test says the difference is real (p < 0.002, as asv); with
too few samples for the test ever to get there, the ratio alone decides and
the message says so. At or past ``rollback_ratio``: rollback. Better beyond
tolerance: a warning that the baseline is stale. Recorded on another
machine: failures only warn unless ``strict_machine``. ``perf.measure``
samples carry the time of a calibration reference measured beside them; when
the entry has one too, the baseline is scaled to the machine's speed now
before anything is compared (``calibration.py``). Instruction counts
(``perf.measure(..., counter="instructions")``) compare against
``counter_tolerance``, with no significance test when each side's batches
counted exactly the same (else the rank test decides too, and the message
says how much they varied); an entry counted in another environment (another
Python build, Valgrind, or CPU as glibc sees it) only warns, saying what
differs.

Accepting (``--gate-update-baseline``): metrics of passing tests are
recorded; a timing still within noise of its entry keeps the entry as it was
(no churn in review, and slow drift keeps being measured against the same
reference); entries of tests that no longer exist are pruned only after a
complete, unfiltered run.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import statistics
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, final

import pytest
from packaging.version import InvalidVersion, Version

from ... import baseline as baseline_mod
from ... import calibration, metrics, tracing, units
from ...config import Settings
from ...measure import instructions
from ...model import REGRESSION, GateResult, Level, Status, UsageError
from ...session import GateContext, observe
from ...significance import ALPHA, can_reach, mann_whitney

SECTION: Final = "regression"
MARKER_KIND: Final = "regression-marker"
DURATION_NAME: Final = "duration"
DURATION_SOURCE: Final = "regression"
#: ``GateSession.extra`` key under which the A/B comparison (compare/) lists the metric keys it decided.
COMPARE_DECIDED_KEY: Final = "compare_decided"
#: Raw samples kept per entry (evenly spaced order statistics, min and max included):
#: enough for the significance test, small enough that 1,000 metrics stay under 1 MB.
SAMPLE_CAP: Final = 40
#: Relative slack on ratio thresholds, so six-digit rounding of the baseline never decides.
_EPS: Final = 2e-6
#: Keys the plugin measures; every other key of an entry (debt, notes) is the user's and survives re-recording.
MEASURED_KEYS: Final = frozenset(
    {"count", "median", "spread", "samples", "direction", "machine", "unit", "source", "reference", "traced",
     "count_env"}
)
#: Baseline ``meta`` key: the environments counted entries were counted in, by id (entry key ``count_env``).
COUNT_ENVS: Final = "count_envs"
_MAX_LINES: Final = 25


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
        baseline_mod.debt_of(entry, where=where)


def regression(tolerance: float | None = None) -> float | None:
    """Signature of the ``regression`` marker: Python rejects unknown keywords."""
    if tolerance is None:
        return None
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not math.isfinite(tolerance):
        raise ValueError(f"tolerance must be a number, got {tolerance!r}")
    if tolerance < 0:
        raise ValueError(f"tolerance must not be negative, got {tolerance!r}")
    return float(tolerance)


# ---------------------------------------------------------------- comparing

OK: Final = "ok"
NOISE: Final = "noise"  # beyond tolerance, but not significant
REGRESSED: Final = "regressed"
IMPROVED: Final = "improved"


@final
@dataclass(frozen=True, slots=True)
class Comparison:
    outcome: str
    ratio: float  # worse-direction ratio: > 1 is worse
    current: float
    baseline: float
    p: float | None  # None when no significance test was made
    note: str  # how it was decided, for the message ("" when by significance test)
    rollback: bool
    scaling: calibration.Scaling | None = None  # calibrated: how the baseline was scaled


def worse_ratio(current: float, base: float, higher_is_better: bool) -> float:
    """current/baseline (lower is better) or baseline/current (higher is better).

    For zero or negative values, where a quotient means nothing, the relative
    change in the worse direction: ``1 + worse_delta / |baseline|``.
    """
    if current == base:
        return 1.0
    if current > 0 and base > 0:
        return base / current if higher_is_better else current / base
    worse_delta = (base - current) if higher_is_better else (current - base)
    if base == 0:
        return math.inf if worse_delta > 0 else 0.0
    return max(0.0, 1.0 + worse_delta / abs(base))


def compare(
    values: Sequence[float],
    sampled: bool,
    higher_is_better: bool,
    entry: Mapping[str, Any],
    tolerance: float,
    rollback_ratio: float,
    calibrated: calibration.Calibration | None = None,
    counted: bool = False,
) -> Comparison:
    """``values`` against ``entry``; ``calibrated``: the calibration measured with them; ``counted``: instruction
    counts per batch (no significance test when both sides repeat exactly)."""
    values = sorted(values)  # once: the median and the rank test both use it (re-sorting sorted data is cheap)
    current = _median_sorted(values)
    recorded = float(entry["median"])
    base_samples: Sequence[float] = entry.get("samples", ())  # validated as numbers on load
    scaled = calibration.scaling(calibrated, entry)
    notes = [] if scaled is not None else [calibration.why_not(calibrated, entry)]
    if scaled is not None:  # the baseline as it would time on the machine as fast as it is now
        base = recorded * scaled.factor
        base_samples = [x * scaled.factor for x in base_samples]
    else:
        base = recorded
    ratio = worse_ratio(current, base, higher_is_better)
    p: float | None = None
    note = ""
    if counted and len(values) > 1 and len(base_samples) > 1:
        varies = max(instructions.spread(values), instructions.spread(base_samples))
        if varies == 0:
            sampled = False  # the same count every batch, on both sides: the ratio is exact
            notes.append("counts repeat exactly: no significance test needed")
        else:
            notes.append(f"counts vary by up to {varies:.2%} between batches"
                         + (" (does the function depend on time, randomness or state outside it?)"
                            if varies > tolerance else "")
                         + ", so the rank test decides too")
    if sampled:
        if len(values) < 2 or len(base_samples) < 2:
            note = (
                "the baseline has no samples: decided by ratio alone"
                if len(base_samples) < 2
                else "one sample: decided by ratio alone"
            )
        elif not can_reach(len(values), len(base_samples)):
            note = (
                f"too few samples ({len(values)} vs {len(base_samples)}) for a significance test: "
                "decided by ratio alone"
            )
        else:
            p = mann_whitney(values, base_samples).p
    significant = p is None or p < ALPHA
    rollback = ratio >= rollback_ratio * (1 - _EPS)
    worse = ratio > (1 + tolerance) * (1 + _EPS) or rollback
    better = ratio * (1 + tolerance) < 1 - _EPS
    if worse:
        outcome = REGRESSED if significant else NOISE
    elif better:
        outcome = IMPROVED if significant else OK
    else:
        outcome = OK
    note = "; ".join(n for n in (*notes, note) if n)
    return Comparison(outcome, ratio, current, recorded, p, note, rollback and outcome == REGRESSED, scaled)


def _median_sorted(values: Sequence[float]) -> float:
    n = len(values)
    mid = n // 2
    return float(values[mid]) if n % 2 else (values[mid - 1] + values[mid]) / 2


# ---------------------------------------------------------------- formatting


def fmt_value(x: float, unit: str) -> str:
    if not math.isfinite(x):
        return str(x)
    if unit == "instructions":  # per call: whole counts read best (1,511,210)
        return f"{x:,.0f}"
    if unit == "s":
        scale, name = units.time_unit(x)
        return f"{x * scale:.3g} {name}"
    return f"{x:.6g}{(' ' + unit) if unit else ''}"


fmt_ratio: Final = units.fmt_ratio


def _ratio(r: float, unit: str) -> str:
    """Counts are exact: their ratio gets three decimals (1.031x), timings two."""
    return fmt_ratio(r, 3 if unit == "instructions" else 2)


def fmt_tolerance(t: float) -> str:
    return f"{t * 100:.3g}%"


def _describe(c: Comparison, unit: str, higher_is_better: bool) -> str:
    if unit == "instructions":
        bits = f"{fmt_value(c.current, unit)} vs {fmt_value(c.baseline, unit)} per call"
    elif c.scaling is None:
        bits = f"median {fmt_value(c.current, unit)} vs {fmt_value(c.baseline, unit)}"
    else:  # the figures compared are the current median and the scaled baseline: say both, then how
        sc = c.scaling
        bits = (f"median {fmt_value(c.current, unit)} vs {fmt_value(c.baseline * sc.factor, unit)}, calibrated: "
                f"the baseline's {fmt_value(c.baseline, unit)} scaled {sc.factor:.2f}x, as the machine's reference "
                f"takes {sc.speed:.2f}x its recorded time, {sc.cpu:.0%} of the time computing")
    if higher_is_better:
        bits += ", higher is better"
    if c.p is not None:
        bits += f", p={c.p:.2g}"
    if c.note:
        bits += f"; {c.note}"
    return bits


def _worse_word(unit: str, higher_is_better: bool) -> str:
    if unit == "instructions" and not higher_is_better:
        return "more instructions"
    return "slower" if unit == "s" and not higher_is_better else "worse"


# ---------------------------------------------------------------- the gate


def metric_tolerance(m: metrics.Metric) -> float | None:
    """The metric's own tolerance (marker or gate_metric), when it is a usable number."""
    t = m.tolerance
    return float(t) if isinstance(t, (int, float)) and not isinstance(t, bool) and t >= 0 else None


def gather(context: GateContext) -> tuple[dict[str, metrics.Metric], dict[str, metrics.Metric]]:
    """(metrics of passing tests, metrics of other tests) by key; the last observation of a key wins."""
    found: dict[str, metrics.Metric] = {}
    for m in metrics.collect(context):
        if m.values:
            found[m.key] = m
    for obs in context.observations(MARKER_KIND):
        rec = context.records.get(obs.nodeid)
        if rec is None or rec.duration is None:
            continue
        data = obs.data if isinstance(obs.data, dict) else {}
        m = metrics.Metric(
            obs.nodeid,
            DURATION_NAME,
            (float(rec.duration),),
            sampled=False,
            tolerance=data.get("tolerance"),
            unit="s",
            source=DURATION_SOURCE,
            traced=_traced(data),
        )
        found[m.key] = m
    passing = {k: m for k, m in found.items() if context.passed(m.nodeid)}
    other = {k: m for k, m in found.items() if k not in passing}
    return passing, other


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
            entry["count_env"] = instructions.environment_id(m.count_env)
    return baseline_mod.normalize(entry)  # type: ignore[no-any-return]


def count_env_differences(baseline: Any, entry: Mapping[str, Any], m: metrics.Metric) -> list[str]:
    """What differs between where a counted entry was counted and where ``m`` was (empty: comparable)."""
    envs = baseline.meta.get(COUNT_ENVS)
    recorded = envs.get(entry.get("count_env")) if isinstance(envs, dict) else None
    return instructions.differences(recorded if isinstance(recorded, dict) else None, m.count_env or {})


def thin(sorted_values: Sequence[float], cap: int) -> list[float]:
    """At most ``cap`` evenly spaced order statistics (min and max kept): deterministic."""
    n = len(sorted_values)
    if n <= cap:
        return list(sorted_values)
    return [sorted_values[round(i * (n - 1) / (cap - 1))] for i in range(cap)]


def _noisy(m: metrics.Metric) -> bool:
    """Timings vary run to run: keep their entry while within noise. Exact values are recorded as they are."""
    return m.sampled or m.unit == "s" or m.source == DURATION_SOURCE


def _traced(entry: Mapping[str, Any]) -> str | None:
    t = entry.get("traced")
    return t if isinstance(t, str) and t else None


def tracer_note(now: str | None, then: str | None) -> str:
    """Why a comparison across tracer states says nothing about the code ("" when both were measured alike)."""
    if now == then:
        return ""
    if then is None:
        return f"measured under {tracing.describe(now or '')}, the baseline without"
    if now is None:
        return f"baseline recorded under {tracing.describe(then)}, this run without"
    return f"measured under {tracing.describe(now)}, the baseline under {tracing.describe(then)}"


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _worst(a: tuple[Status, Level], b: tuple[Status, Level]) -> tuple[Status, Level]:
    rank = {Status.PASS: 0, Status.WARN: 1, Status.FAIL: 2}
    if rank[a[0]] != rank[b[0]]:
        return a if rank[a[0]] > rank[b[0]] else b
    return (a[0], max(a[1], b[1]))


@final
class Gate:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    # -------------------------------------------------- on the test's process

    def on_setup(self, item: pytest.Item, marked: AbstractSet[str]) -> None:
        marker = item.get_closest_marker("regression") if "regression" in marked else None
        if marker is None:
            return
        try:
            tolerance = regression(*marker.args, **marker.kwargs)
        except (TypeError, ValueError) as exc:
            pytest.fail(f"invalid @pytest.mark.regression in {item.nodeid}: {exc}", pytrace=False)
        # The duration is the traced test itself: what traces it (coverage) is recorded with it.
        observe(item, MARKER_KIND, {"tolerance": tolerance, "traced": tracing.state(item)})

    # -------------------------------------------------- on the controller

    def _tolerance(self, m: metrics.Metric) -> float:
        t = metric_tolerance(m)
        if t is not None:
            return t
        return self.settings.counter_tolerance if m.counted else self.settings.regression_tolerance

    def pytest_release_gates_update_baseline(self, context: GateContext, baseline: Any) -> Iterable[str]:
        section = baseline.section(SECTION)
        passing, other = gather(context)
        unmeasured = {u.key for u in metrics.collect_unmeasured(context)}
        fingerprint = baseline_mod.machine_fingerprint()
        here = baseline_mod.machine_id(fingerprint)
        elsewhere: dict[str, list[str]] = {}  # counted entries counted in another environment: what differs
        added: list[str] = []
        changed: list[str] = []
        removed: list[str] = []
        kept = 0
        for key in sorted(passing):
            m = passing[key]
            new = make_entry(m, here)
            old = section.get(key)
            if old is None:
                section[key] = new
                added.append(f"added {key}: {fmt_value(new['median'], m.unit)}")
                continue
            c = compare(m.values, m.sampled, m.higher_is_better, old, self._tolerance(m),
                        self.settings.rollback_ratio, m.calibration, m.counted)
            if m.counted:
                differs = count_env_differences(baseline, old, m) if old.get("unit") == m.unit else []
                if differs:
                    elsewhere[key] = differs
            same_shape = (
                old.get("direction", "lower") == new["direction"]
                and bool(old.get("samples")) == bool(new.get("samples"))
                and (key not in elsewhere if m.counted else old.get("machine", here) == here)
                and old.get("unit", "s") == new["unit"]
                and (c.scaling is not None) == ("reference" in new)  # calibrate entries that could not be
                and _traced(old) == m.traced
            )
            if same_shape and (c.outcome in (OK, NOISE) if _noisy(m) else old.get("median") == new["median"]):
                kept += 1
                continue
            user = {k: v for k, v in old.items() if k not in MEASURED_KEYS}
            debt = baseline_mod.debt_of(old, where=key)
            why = {
                REGRESSED: f"accepted {_ratio(c.ratio, m.unit)} {_worse_word(m.unit, m.higher_is_better)}",
                IMPROVED: f"improved to {_ratio(c.ratio, m.unit)}",
            }.get(c.outcome, "re-recorded")
            was_unit = str(old.get("unit", "s"))
            if was_unit != m.unit:  # timed before, counted now (or back): the ratio means nothing
                why = f"re-recorded in {m.unit} (was {was_unit})"
            elif key in elsewhere:
                why += f" (re-counted in this environment: {'; '.join(elsewhere[key])})"
            elif not m.counted and old.get("machine", here) != here:
                why += " (re-recorded on this machine)"
            elif _traced(old) != m.traced:
                why += (f" (now measured under {tracing.describe(m.traced)})" if m.traced
                        else " (now measured without a tracer)")
            elif "reference" in new and "reference" not in old:
                why += " (now calibrated for machine speed)"
            if was_unit != m.unit:
                pass  # no ratio to judge debt by
            elif debt is not None and c.outcome == IMPROVED:
                user = {k: v for k, v in user.items() if k not in baseline_mod.DEBT_KEYS}
                why += f"; accepted debt paid off ({debt.describe()}), removed"
            elif debt is not None:
                why += f"; still carries accepted debt ({debt.describe()})"
            elif c.outcome == REGRESSED:
                why += " (to accept it for a while only, add reason, owner and expires to its entry)"
            section[key] = {**new, **user}
            changed.append(
                f"changed {key}: {fmt_value(c.baseline, was_unit)} -> {fmt_value(new['median'], m.unit)}, " + why
            )
        measured_elsewhere = {m.nodeid for m in other.values()}
        if context.complete:
            for key in sorted(section):
                if key in passing or key in unmeasured:  # not measured here (no Valgrind): kept as recorded
                    continue
                nodeid = key.rsplit("::", 1)[0]
                rec = context.records.get(nodeid)
                if rec is None:
                    removed.append(f"removed {key}: the test no longer exists")
                elif rec.outcome == "passed" and nodeid not in measured_elsewhere:
                    removed.append(f"removed {key}: the test no longer measures it")
                else:
                    continue
                del section[key]
        lines: list[str] = []
        if other:
            lines.append(
                f"regression: not recorded: {len(other)} metrics of tests that did not pass "
                "(their entries are kept as they were)"
            )
        if not context.complete:
            stale = [k for k in section if k.rsplit("::", 1)[0] not in context.records]
            if stale:
                why = f"partial run: {context.partial}" if context.partial else "the run did not complete"
                lines.append(
                    f"regression: kept {len(stale)} entries of tests not in this run ({why}); "
                    "a complete run without -k/-m/node ids prunes entries of deleted tests"
                )
        self._stamp(baseline, section, fingerprint, here, passing)
        lines.append(
            f"regression baseline: {len(added)} added, {len(changed)} changed, {len(removed)} removed, "
            f"{kept} unchanged (within noise, kept as recorded)"
        )
        details = added + changed + removed
        lines.extend(f"  {d}" for d in details[:_MAX_LINES])
        if len(details) > _MAX_LINES:
            lines.append(f"  ... and {len(details) - _MAX_LINES} more (see `release-gate baseline diff`)")
        if _ci():
            lines.append(
                "WARNING: CI is set: baselines are normally accepted locally and committed; "
                f"this run rewrote {baseline.path.name} on the CI machine"
            )
        return lines

    def _stamp(self, baseline: Any, section: Mapping[str, Any], fingerprint: dict[str, Any], here: str,
               passing: Mapping[str, metrics.Metric]) -> None:
        meta = baseline.meta
        meta.update({k: v for k, v in baseline_mod.run_meta(self.settings.rootdir).items() if v is not None})
        known = meta.get("machines") if isinstance(meta.get("machines"), dict) else {}
        used = {e.get("machine") for e in section.values() if isinstance(e, dict)}
        machines = {mid: desc for mid, desc in known.items() if mid in used}
        if here in used:
            machines[here] = fingerprint
        if machines:
            meta["machines"] = machines
        else:
            meta.pop("machines", None)
        known_envs = dict(meta[COUNT_ENVS]) if isinstance(meta.get(COUNT_ENVS), dict) else {}
        for key, m in passing.items():  # the environment of each entry this run counted, as it is now
            entry = section.get(key)
            if m.counted and m.count_env and isinstance(entry, dict):
                eid = instructions.environment_id(m.count_env)
                if entry.get("count_env") == eid:
                    known_envs[eid] = dict(m.count_env)
        used_envs = {e.get("count_env") for e in section.values() if isinstance(e, dict)}
        envs = {eid: env for eid, env in known_envs.items() if eid in used_envs}
        if envs:
            meta[COUNT_ENVS] = envs
        else:
            meta.pop(COUNT_ENVS, None)

    def pytest_release_gates_collect(self, context: GateContext) -> Iterable[GateResult]:
        baseline = context.baseline
        if baseline is None:  # unreadable: the core already holds, and nothing here can be trusted
            return []
        section = baseline.get(SECTION)
        passing, _other = gather(context)
        # Metrics the same-job A/B (--gate-compare-ref) already decided: one metric, one verdict line.
        for key in context.session.extra.get(COMPARE_DECIDED_KEY) or ():
            passing.pop(key, None)
        here = baseline_mod.machine_id(baseline_mod.machine_fingerprint())
        today = dt.date.today()
        strict = self.settings.strict_machine
        results: list[GateResult] = []
        foreign: dict[str, int] = {}
        elsewhere: dict[str, list[str]] = {}
        counts = {"compared": 0, "new": 0}
        for u in metrics.collect_unmeasured(context):
            if context.passed(u.nodeid):  # fail closed: asked for, not measured, never a silent pass
                results.append(GateResult(REGRESSION, u.key, Status.FAIL, Level.HOLD, f"not measured: {u.why}",
                                          metric=u.name, extra={"unit": u.unit, "source": "perf"}))
        for key in sorted(passing):
            m = passing[key]
            entry = section.get(key)
            if entry is None:
                counts["new"] += 1
                med = statistics.median(m.values)
                under = f" measured under {tracing.describe(m.traced)}" if m.traced else ""
                results.append(
                    GateResult(
                        REGRESSION,
                        key,
                        Status.WARN,
                        Level.HOLD,
                        f"new metric, not in baseline ({fmt_value(med, m.unit)}{under}; "
                        "record it with --gate-update-baseline)",
                        metric=m.name,
                        value=med,
                        extra={"source": m.source, "unit": m.unit, **({"traced": m.traced} if m.traced else {})},
                    )
                )
                continue
            counts["compared"] += 1
            differs = count_env_differences(baseline, entry, m) if m.counted else []
            if differs:
                elsewhere[key] = differs
            results.append(self._check(key, m, entry, here, today, strict, foreign, differs))
        for key in sorted(set(section) - set(passing)):
            debt_gate = self._debt_gate(key, section[key], None, today, unmeasured=True)
            if debt_gate is not None:
                results.append(debt_gate)
        if foreign:
            machines = baseline.meta.get("machines") if isinstance(baseline.meta.get("machines"), dict) else {}
            names = "; ".join(baseline_mod.describe_machine(machines.get(mid)) for mid in sorted(foreign))
            n = sum(foreign.values())
            this = baseline_mod.describe_machine(baseline_mod.machine_fingerprint())
            if strict:
                context.messages.append(
                    f"regression: {n} metrics compared against a baseline from another machine "
                    f"({names}; this one: {this}); strict_machine = true, so they count in full"
                )
            else:
                context.messages.append(
                    f"regression: {n} metrics compared against a baseline from another machine "
                    f"({names}; this one: {this}): their regressions only warn "
                    "(set strict_machine = true to fail on them)"
                )
        if elsewhere:
            context.messages.append(
                f"regression: {len(elsewhere)} instruction-count metrics compared against counts taken in another "
                f"environment ({'; '.join(next(iter(elsewhere.values())))}): counts are exact only within one "
                "interpreter build, Valgrind version and CPU, so they only warn. Re-record the baseline where the "
                "gate runs (in CI: pytest --release-gate --gate-update-baseline in the same image, then commit it), "
                "or count both sides in one job with --gate-compare-ref")
        results.extend(self._version_gates(context, baseline, counts))
        return results

    def _check(
        self,
        key: str,
        m: metrics.Metric,
        entry: Mapping[str, Any],
        here: str,
        today: dt.date,
        strict: bool,
        foreign: dict[str, int],
        elsewhere: Sequence[str] = (),
    ) -> GateResult:
        tol = self._tolerance(m)
        hib = m.higher_is_better
        if entry.get("direction", "lower") != ("higher" if hib else "lower"):
            return GateResult(
                REGRESSION,
                key,
                Status.WARN,
                Level.HOLD,
                f"direction changed since the baseline (it says {entry.get('direction')} is better): "
                "record it again with --gate-update-baseline",
                metric=m.name,
            )
        if entry.get("unit", "s") != m.unit and "instructions" in (m.unit, entry.get("unit")):
            return GateResult(REGRESSION, key, Status.WARN, Level.HOLD,
                              f"measured in {m.unit} now, but the baseline holds {entry.get('unit', 's')}: "
                              "record it again with --gate-update-baseline", metric=m.name)
        c = compare(m.values, m.sampled, hib, entry, tol, self.settings.rollback_ratio, m.calibration, m.counted)
        desc = _describe(c, m.unit, hib)
        tol_text = fmt_tolerance(tol) if m.counted else f"{tol:.0%}"
        ratio = _ratio(c.ratio, m.unit)
        status, level = Status.PASS, Level.HOLD
        mid = entry.get("machine")
        other_machine = isinstance(mid, str) and mid != here and _noisy(m)  # a size or a count is the same anywhere
        if other_machine:
            foreign[str(mid)] = foreign.get(str(mid), 0) + 1
        if c.outcome == REGRESSED:
            status = Status.FAIL
            level = Level.ROLLBACK if c.rollback else Level.HOLD
            what = f"{ratio} {_worse_word(m.unit, hib)} than baseline ({desc}; tolerance {tol_text}"
            if other_machine and not strict:  # the machine first: it is why a big number sits beside a deploy
                status = Status.WARN
                rollback = f"; on the same machine this would roll back at {self.settings.rollback_ratio:g}x" \
                    if c.rollback else ""
                what = ("baseline recorded on another machine, so a warning only (strict_machine = false): "
                        f"{what}{rollback})")
            else:
                what += f", rollback at {self.settings.rollback_ratio:g}x)" if c.rollback else ")"
        elif c.outcome == NOISE:
            what = f"{ratio} but not significant (needs p < {ALPHA:g}): within noise ({desc})"  # p in desc
        elif c.outcome == IMPROVED:
            status = Status.WARN
            what = (
                f"{ratio}: better than baseline beyond tolerance ({desc}): "
                "stale baseline: consider --gate-update-baseline"
            )
        else:
            what = f"{ratio} of baseline, within tolerance {tol_text} ({desc})"
        if elsewhere:  # never a failure, never silent
            status = Status.WARN
            what += (f"; counted in another environment than the baseline ({'; '.join(elsewhere)}): warning only, "
                     "re-record the baseline where the gate runs, or use --gate-compare-ref")
        traced = tracer_note(m.traced, _traced(entry))
        if traced:  # the tracer's overhead is in one side only: the ratio is not the code's
            status = Status.WARN
            what = (f"{traced}: {what}; a tracer slows the measured code, so this comparison only warns "
                    "(compare runs measured alike)")
        outcome = (status, level)
        debt_gate = self._debt_gate(key, entry, c, today, unmeasured=False)
        if debt_gate is not None:
            outcome = _worst(outcome, (debt_gate.status, debt_gate.level))
            what += f"; {debt_gate.message}"
        extra: dict[str, Any] = {
            "current": baseline_mod.round_float(c.current),
            "baseline": baseline_mod.round_float(c.baseline),
            "unit": m.unit,
            "source": m.source,
            "samples": [len(m.values), len(entry.get("samples", ())) or int(entry.get("count", 1))],
        }
        if c.p is not None:
            extra["p_value"] = baseline_mod.round_float(c.p)
        if m.counted:
            extra["counter"] = "instructions"
            if elsewhere:
                extra["counted_elsewhere"] = list(elsewhere)
        if c.scaling is not None:
            extra["speed_factor"] = baseline_mod.round_float(c.scaling.speed)
            extra["baseline_scaled"] = baseline_mod.round_float(c.scaling.factor)
        if m.traced or _traced(entry):
            extra["traced"] = m.traced
            extra["baseline_traced"] = _traced(entry)
        return GateResult(
            REGRESSION,
            key,
            outcome[0],
            outcome[1],
            what,
            metric="ratio",
            value=c.ratio if math.isfinite(c.ratio) else None,
            limit=1 + tol,
            extra=extra,
        )

    def _debt_gate(
        self, key: str, entry: Any, c: Comparison | None, today: dt.date, *, unmeasured: bool
    ) -> GateResult | None:
        if not isinstance(entry, Mapping):
            return None
        debt = baseline_mod.debt_of(entry, where=key)
        if debt is None or debt.expires is None:
            return None
        tail = "; not measured in this run" if unmeasured else ""
        if debt.expired(today):
            if c is not None and c.outcome == IMPROVED:
                return GateResult(
                    REGRESSION,
                    key,
                    Status.WARN,
                    Level.HOLD,
                    f"accepted debt expired on {debt.expires} ({debt.describe()}) but the metric is "
                    "now better than recorded: run --gate-update-baseline to clear it",
                )
            return GateResult(
                REGRESSION,
                key,
                Status.FAIL,
                Level.HOLD,
                f"accepted debt expired on {debt.expires} ({debt.describe()}): fix the regression, "
                f"or extend 'expires' in the baseline entry{tail}",
                extra={"owner": debt.owner, "expires": str(debt.expires)},
            )
        if debt.expires_soon(today):
            left = debt.days_left(today)
            return GateResult(
                REGRESSION,
                key,
                Status.WARN,
                Level.HOLD,
                f"accepted debt expires on {debt.expires} (in {left} days; {debt.describe()}){tail}",
                extra={"owner": debt.owner, "expires": str(debt.expires)},
            )
        return None

    def _version_gates(self, context: GateContext, baseline: Any, counts: Mapping[str, int]) -> list[GateResult]:
        from ...project import project_facts

        if not baseline.exists and not counts["compared"] and not counts["new"]:
            return []
        facts, _problem = project_facts(self.settings.rootdir)
        current = facts.get("version")
        recorded = baseline.project_version
        out: list[GateResult] = []
        older = False
        if isinstance(current, str) and recorded:
            try:
                older = Version(current) < Version(recorded)
            except InvalidVersion:
                older = False
        if older:
            out.append(
                GateResult(
                    REGRESSION,
                    "project version",
                    Status.WARN,
                    Level.HOLD,
                    f"project version {current} is older than the baseline's {recorded}: "
                    "an old branch, or a baseline recorded ahead of this code?",
                    extra={"baseline_version": recorded, "project_version": current},
                )
            )
        where = baseline.path.name if baseline.exists else f"{baseline.path.name} (none yet)"
        msg = f"{counts['compared']} metrics compared with {where}"
        if counts["new"]:
            msg += f", {counts['new']} new"
        if recorded:
            msg += f"; baseline recorded at version {recorded}"
        if isinstance(baseline.meta.get("python"), str):
            msg += f" with Python {baseline.meta['python']}"
        out.append(
            GateResult(
                REGRESSION,
                "baseline",
                Status.PASS,
                Level.HOLD,
                msg,
                extra={
                    "baseline_file": str(baseline.path),
                    "baseline_version": recorded,
                    "project_version": current,
                    "baseline_python": baseline.meta.get("python"),
                },
            )
        )
        return out
