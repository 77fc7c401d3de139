"""How the A/B decides one metric from the two sides' rounds: the regression gate's own comparison
(``regression/compare.py``), with the base side as its baseline entry, plus a check of its own (a
slowdown must show in every round). Pure: no git, no subprocess; the gate does the measuring.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from ... import metrics
from ...config import Settings
from ...model import REGRESSION, GateResult, Level, Status
from ..regression import compare as rc
from ..regression import gate as regression
from . import runner


def _compare(current: Sequence[float], base: Sequence[float], sampled: bool, tolerance: float,
             rollback_ratio: float, counted: bool = False) -> rc.Comparison:
    """The regression gate's own comparison, with the base side as its "baseline entry"."""
    entry = {"median": statistics.median(base), "samples": list(base) if sampled else []}
    result: rc.Comparison = rc.compare(current, sampled, False, entry, tolerance, rollback_ratio,
                                                          None, counted)
    return result


def _fmt_ratio(r: float) -> str:
    return str(rc.fmt_ratio(r))


def _fmt(x: float, unit: str) -> str:
    return str(rc.fmt_value(x, unit))


def decide(settings: Settings, key: str, m: metrics.Metric, base: runner.SideResult, cur: runner.SideResult,
           where: str, extra: Mapping[str, Any]) -> GateResult:
    """The result of metric ``m``: current against base, decided as the regression gate decides it."""
    cur_rounds, why = _per_round(cur, m)
    if why is not None:
        return GateResult(REGRESSION, key, Status.FAIL, Level.HOLD,
                          f"not measured on the current code in the A/B: {why} (it passed in this run; a test "
                          "that depends on other tests cannot be measured alone)", metric=m.name,
                          extra=dict(extra))
    base_rounds, why = _per_round(base, m)
    if why is not None:
        return GateResult(REGRESSION, key, Status.WARN, Level.HOLD,
                          f"no base to compare: at {where} {why}", metric=m.name, extra=dict(extra))
    cur_values = [v for r in cur_rounds for v in r]
    base_values = [v for r in base_rounds for v in r]
    if m.counted:  # every round repeats a side's one count: one round's batches are the samples
        cur_values, base_values = list(cur_rounds[0]), list(base_rounds[0])
    tol = regression.metric_tolerance(m)
    if tol is None and m.counted:  # both sides counted in this job, by the same interpreter and Valgrind
        tol = settings.counter_tolerance
    if tol is None:
        tol = settings.compare.tolerance
    if tol is None:
        tol = settings.regression_tolerance
    c = _compare(cur_values, base_values, m.sampled, tol, settings.rollback_ratio, m.counted)
    uneven, slower_in = None, _slower_rounds(cur_rounds, base_rounds)
    if m.sampled and c.outcome == rc.REGRESSED:
        uneven = _uneven(slower_in)
        if uneven:
            c = dataclasses.replace(c, outcome=rc.NOISE, rollback=False)
    desc = (f"{_fmt(c.current, m.unit)} vs {_fmt(c.baseline, m.unit)} per call" if m.counted
            else f"median {_fmt(c.current, m.unit)} vs {_fmt(c.baseline, m.unit)}")
    if c.p is not None:
        desc += f", p={c.p:.2g}"
    if c.note:
        desc += f"; {c.note}"
    if m.counted:  # counted once a side (the probe keeps a side's counts for its later rounds)
        desc += f"; {len(cur_rounds[0])} vs {len(base_rounds[0])} batches, counted under Valgrind"
    else:
        desc += f"; {len(cur_values)} vs {len(base_values)} {'samples' if m.sampled else 'runs'}"
    worse = "more instructions" if m.counted else "slower" if m.unit == "s" else "worse"
    ratio = rc.fmt_ratio(c.ratio, 3) if m.counted else _fmt_ratio(c.ratio)
    tol_text = rc.fmt_tolerance(tol) if m.counted else f"{tol:.0%}"
    status, level = Status.PASS, Level.HOLD
    if c.outcome == rc.REGRESSED:
        status = Status.FAIL
        level = Level.ROLLBACK if c.rollback else Level.HOLD
        what = f"{ratio} {worse} vs {where} ({desc}; tolerance {tol_text}"
        what += f", rollback at {settings.rollback_ratio:g}x)" if c.rollback else ")"
    elif uneven:
        what = f"{ratio} vs {where} but {uneven}: within noise ({desc})"
    elif c.outcome == rc.NOISE:
        what = f"{ratio} vs {where} but not significant: within noise ({desc})"
    elif c.outcome == rc.IMPROVED:
        what = (f"{ratio} vs {where}: fewer instructions than the base ({desc})" if m.counted
                else f"{ratio} vs {where}: faster than the base ({desc})")
    else:
        what = f"{ratio} vs {where}, within tolerance {tol_text} ({desc})"
    data: dict[str, Any] = {
        **extra,
        "current": _round(c.current),
        "baseline": _round(c.baseline),
        "unit": m.unit,
        "source": m.source,
        "samples": [len(cur_values), len(base_values)],
    }
    if c.p is not None:
        data["p_value"] = _round(c.p)
    data["rounds_slower"] = list(slower_in)
    return GateResult(REGRESSION, key, status, level, what, metric="ratio",
                      value=c.ratio if math.isfinite(c.ratio) else None, limit=1 + tol, extra=data)


def _round(x: float) -> float | None:
    return float(f"{x:.6g}") if math.isfinite(x) else None


def _slower_rounds(cur_rounds: Sequence[Sequence[float]], base_rounds: Sequence[Sequence[float]]) -> tuple[int, int]:
    """(rounds in which the current side's median was the slower, rounds with both sides measured)."""
    pairs = [(cr, br) for cr, br in zip(cur_rounds, base_rounds, strict=False) if cr and br]
    return sum(statistics.median(cr) > statistics.median(br) for cr, br in pairs), len(pairs)


def _uneven(slower_in: tuple[int, int]) -> str | None:
    """Why a significant slowdown is not believed (it was not slower in every round), or None.

    The rank test takes the pooled samples as independent, but the samples of
    one round share that round's machine state: a burst of load over the two
    back-to-back current rounds of ABBA (the end of round 1, the start of
    round 2) moves most of the current side at once and reads as significant.
    A real slowdown shows in every round; a burst does not.
    """
    slower, rounds = slower_in
    return None if slower == rounds else f"slower in only {slower} of {rounds} rounds"


def _per_round(side: runner.SideResult, m: metrics.Metric) -> tuple[list[list[float]], str | None]:
    """One side's values of ``m``, round by round, or why there are none."""
    nodeid = m.nodeid
    if side.collected is not None and nodeid not in side.collected:
        errors = [f"{where or 'collection'}: {msg}" for where, msg in side.collection_errors.items()
                  if not where or nodeid.startswith(where)]
        return [], "the test is not collected" + (f" ({errors[0]})" if errors else "")
    if side.failure and not side.rounds:
        return [], side.failure
    per_round: list[list[float]] = []
    for i, rnd in enumerate(side.rounds, 1):
        values: list[float] = []
        per_round.append(values)
        entry = rnd.get(nodeid)
        if not isinstance(entry, dict):
            return [], f"the test did not run in round {i}"
        outcome = entry.get("outcome")
        if outcome != "passed":
            verb = {"failed": "fails", "error": "errors", "skipped": "is skipped"}.get(str(outcome), "does not pass")
            msg = entry.get("message")
            return [], f"the test {verb}" + (f" ({msg})" if msg else "")
        if m.source == "regression":
            d = entry.get("duration")
            if isinstance(d, (int, float)):
                values.append(float(d))
            continue
        found = (entry.get("metrics") or {}).get(m.name)
        if not isinstance(found, dict) or not found.get("values"):
            return [], f"the test does not measure {m.name!r}"
        values.extend(float(v) for v in found["values"] if isinstance(v, (int, float)) and math.isfinite(v))
    if side.failure:
        return [], side.failure
    if not any(per_round):
        return [], "nothing was measured"
    return per_round, None
