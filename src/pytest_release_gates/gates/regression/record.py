"""Accepting a run (``--gate-update-baseline``): the regression section records the metrics of passing
tests, keeps an entry still within noise as it was, and prunes entries of tests that no longer exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from ... import baseline as baseline_mod
from ... import machine as machine_mod
from ... import metrics, tracing
from ...config import Settings
from ...measure import instructions
from ...session import GateContext
from .compare import (
    IMPROVED,
    NOISE,
    OK,
    REGRESSED,
    compare,
    fmt_value,
    ratio_text,
    worse_word,
)
from .debt import DEBT_KEYS, debt_of
from .entries import COUNT_ENVS, MEASURED_KEYS, SECTION, count_env_differences, make_entry
from .observed import gather, in_ci, noisy, tolerance, tracer_of

#: Lines of an update listed one by one; the rest are counted.
_MAX_LINES: Final = 25


def update(settings: Settings, context: GateContext, baseline: baseline_mod.Baseline) -> Iterable[str]:
    section = baseline.section(SECTION)
    passing, other = gather(context)
    unmeasured = {u.key for u in metrics.collect_unmeasured(context)}
    fingerprint = machine_mod.machine_fingerprint()
    here = machine_mod.machine_id(fingerprint)
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
        c = compare(m.values, m.sampled, m.higher_is_better, old, tolerance(settings, m),
                    settings.rollback_ratio, m.calibration, m.counted)
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
            and tracer_of(old) == m.traced
        )
        if same_shape and (c.outcome in (OK, NOISE) if noisy(m) else old.get("median") == new["median"]):
            kept += 1
            continue
        user = {k: v for k, v in old.items() if k not in MEASURED_KEYS}
        debt = debt_of(old, where=key)
        why = {
            REGRESSED: f"accepted {ratio_text(c.ratio, m.unit)} {worse_word(m.unit, m.higher_is_better)}",
            IMPROVED: f"improved to {ratio_text(c.ratio, m.unit)}",
        }.get(c.outcome, "re-recorded")
        was_unit = str(old.get("unit", "s"))
        if was_unit != m.unit:  # timed before, counted now (or back): the ratio means nothing
            why = f"re-recorded in {m.unit} (was {was_unit})"
        elif key in elsewhere:
            why += f" (re-counted in this environment: {'; '.join(elsewhere[key])})"
        elif not m.counted and old.get("machine", here) != here:
            why += " (re-recorded on this machine)"
        elif tracer_of(old) != m.traced:
            why += (f" (now measured under {tracing.describe(m.traced)})" if m.traced
                    else " (now measured without a tracer)")
        elif "reference" in new and "reference" not in old:
            why += " (now calibrated for machine speed)"
        if was_unit != m.unit:
            pass  # no ratio to judge debt by
        elif debt is not None and c.outcome == IMPROVED:
            user = {k: v for k, v in user.items() if k not in DEBT_KEYS}
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
    _stamp(settings, baseline, section, fingerprint, here, passing)
    lines.append(
        f"regression baseline: {len(added)} added, {len(changed)} changed, {len(removed)} removed, "
        f"{kept} unchanged (within noise, kept as recorded)"
    )
    details = added + changed + removed
    lines.extend(f"  {d}" for d in details[:_MAX_LINES])
    if len(details) > _MAX_LINES:
        lines.append(f"  ... and {len(details) - _MAX_LINES} more (see `release-gate baseline diff`)")
    if in_ci():
        lines.append(
            "WARNING: CI is set: baselines are normally accepted locally and committed; "
            f"this run rewrote {baseline.path.name} on the CI machine"
        )
    return lines

def _stamp(settings: Settings, baseline: baseline_mod.Baseline, section: Mapping[str, Any],
           fingerprint: dict[str, Any], here: str, passing: Mapping[str, metrics.Metric]) -> None:
    meta = baseline.meta
    meta.update({k: v for k, v in baseline_mod.run_meta(settings.rootdir).items() if v is not None})
    recorded = meta.get("machines")
    known = recorded if isinstance(recorded, dict) else {}
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
