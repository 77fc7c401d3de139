"""Machine-speed calibration of perf.measure: recorded, compared, trusted only within bounds, turned off."""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import pytest
from conftest import PERF_SQUARES, GateRun
from hypothesis import given
from hypothesis import strategies as st

from pytest_release_gates import calibration
from pytest_release_gates.gates.regression.compare import IMPROVED, OK, REGRESSED, compare, describe
from pytest_release_gates.gates.regression.entries import make_entry
from pytest_release_gates.metrics import Metric
from pytest_release_gates.significance import ALPHA

RunGate = Callable[..., GateRun]
BASELINE = "release-gates.baseline.json"
KEY = "test_p.py::test_perf::squares"

PERF = PERF_SQUARES


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("F", raising=False)


def read(p: pytest.Pytester) -> dict[str, Any]:
    return json.loads((p.path / BASELINE).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def write(p: pytest.Pytester, doc: dict[str, Any]) -> None:
    (p.path / BASELINE).write_text(json.dumps(doc, indent=2), encoding="utf-8")


def gate(run: GateRun) -> dict[str, Any]:
    found = [g for g in run.gates("regression") if g["subject"] == KEY]
    assert len(found) == 1, run.gates("regression")
    return found[0]


def as_if_recorded_faster(p: pytest.Pytester, factor: float) -> None:
    """Rewrite the entry as a machine ``factor`` times faster would have recorded it: every time, the
    reference's too, divided by ``factor``."""
    doc = read(p)
    e = doc["regression"][KEY]
    e["median"] /= factor
    e["spread"] /= factor
    e["samples"] = [x / factor for x in e["samples"]]
    e["reference"]["seconds"] /= factor
    write(p, doc)


def project(p: pytest.Pytester, extra: str = "") -> None:
    # Tolerance 50%: the same code measured twice on a shared VM must never fail here by chance.
    p.makepyprojecttoml(f"[tool.release_gates]\nregression_tolerance = 0.5\nrollback_ratio = 1.9\n{extra}")
    p.makepyfile(test_p=PERF)


@pytest.mark.timing
def test_entry_records_the_reference_and_the_verdict_the_speed_factor(
    pytester: pytest.Pytester, run_gate: RunGate
) -> None:
    project(pytester)
    run_gate("--gate-update-baseline")
    entry = read(pytester)["regression"][KEY]
    assert entry["reference"]["id"] == calibration.REFERENCE_ID
    assert 1e-6 < entry["reference"]["seconds"] < 1e-2  # tens of microseconds on any machine
    r = run_gate()
    g = gate(r)
    assert g["status"] in ("pass", "warn"), g  # never a regression; "stale" is possible on a noisy machine
    assert 1 / 3 <= g["speed_factor"] <= 3 and "calibrated: the baseline's" in g["message"]
    assert "scaled" in g["message"] and "as the machine's reference takes" in g["message"]


@pytest.mark.timing
def test_a_baseline_from_a_faster_moment_is_not_a_regression(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    """The machine ran 2x faster when the baseline was recorded: raw times read as a rollback (next
    test); calibrated, they compare as the unchanged code they are."""
    project(pytester)
    run_gate("--gate-update-baseline")
    as_if_recorded_faster(pytester, 2.0)
    g = gate(run_gate())
    assert g["status"] in ("pass", "warn") and "speed_factor" in g, g
    # Not pinned to 2.0: the machine's own speed moves between two runs (up to 1.8x seen on a shared VM),
    # and calibration follows that too.


def test_without_calibration_the_same_baseline_rolls_back(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    project(pytester, "perf_calibration = false\n")
    run_gate("--gate-update-baseline")
    entry = read(pytester)["regression"][KEY]
    assert "reference" not in entry
    entry["reference"] = {"id": calibration.REFERENCE_ID, "seconds": 4e-05}  # as if recorded calibrated
    doc = read(pytester)
    doc["regression"][KEY] = entry
    write(pytester, doc)
    as_if_recorded_faster(pytester, 4.0)
    g = gate(run_gate())
    assert g["status"] == "fail" and g["level"] == "rollback", g
    assert "speed_factor" not in g and "calibrated" not in g["message"]


@pytest.mark.timing
def test_a_real_slowdown_is_caught_through_calibration(
    pytester: pytest.Pytester, run_gate: RunGate, monkeypatch: pytest.MonkeyPatch
) -> None:
    project(pytester)
    run_gate("--gate-update-baseline")
    monkeypatch.setenv("F", "6")
    r = run_gate()
    g = gate(r)
    assert g["status"] == "fail" and g["level"] == "rollback" and g["p_value"] < 0.002, g
    assert "speed_factor" in g
    assert r.level == "rollback"


def test_a_speed_factor_beyond_bounds_is_not_trusted(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    """A reference 10x off says something other than the machine's speed changed: raw times decide (fail
    closed), and the message says why. Here everything was recorded 10x faster: calibrated, that would be
    the same speed; compared raw, it is a rollback."""
    project(pytester)
    run_gate("--gate-update-baseline")
    as_if_recorded_faster(pytester, 10.0)
    g = gate(run_gate())
    assert "speed_factor" not in g
    assert "calibration not trusted, raw times compared" in g["message"], g
    assert g["status"] == "fail" and g["level"] == "rollback", g


@pytest.mark.timing  # "within noise" on the third run depends on the machine staying as fast as it was
def test_an_uncalibrated_entry_gains_a_reference_when_accepted(
    pytester: pytest.Pytester, run_gate: RunGate
) -> None:
    project(pytester)
    run_gate("--gate-update-baseline")
    doc = read(pytester)
    del doc["regression"][KEY]["reference"]
    write(pytester, doc)
    r = run_gate("--gate-update-baseline")
    assert f"changed {KEY}" in r.stdout and "now calibrated for machine speed" in r.stdout, r.stdout
    assert read(pytester)["regression"][KEY]["reference"]["id"] == calibration.REFERENCE_ID
    again = run_gate("--gate-update-baseline")  # calibrated and within noise: kept as recorded
    assert "0 added, 0 changed, 0 removed, 1 unchanged" in again.stdout, again.stdout


def test_a_foreign_reference_compares_raw_times(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    project(pytester)
    run_gate("--gate-update-baseline")
    doc = read(pytester)
    doc["regression"][KEY]["reference"]["id"] = "some-future-reference/2"
    write(pytester, doc)
    g = gate(run_gate())
    assert "speed_factor" not in g and "calibrated with another reference" in g["message"], g


@pytest.mark.timing
def test_calibrated_under_xdist(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    pytest.importorskip("xdist")
    project(pytester)
    pytester.makepyfile(test_q=PERF.replace("def test_perf", "def test_other"))
    r = run_gate("--gate-update-baseline", "-n", "2")
    assert r.ret == 0, r.stdout
    entries = read(pytester)["regression"]
    assert {k: e["reference"]["id"] for k, e in entries.items()} == {
        KEY: calibration.REFERENCE_ID,
        "test_q.py::test_other::squares": calibration.REFERENCE_ID,
    }
    g = gate(run_gate("-n", "2"))
    assert "speed_factor" in g and g["status"] in ("pass", "warn"), g


def test_perf_calibration_must_be_a_boolean(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    project(pytester, 'perf_calibration = "yes"\n')
    r = run_gate()
    assert r.ret == 4, r.stdout
    err = r.result.stderr.str()
    assert "perf_calibration" in err and "pyproject.toml" in err and "Traceback" not in err


@pytest.mark.timing
def test_code_that_waits_is_not_scaled_by_the_machine_speed(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    """A sleep takes as long on a slow machine as on a fast one: its measurement records a CPU fraction
    near 0, and a reference 2.5x faster at recording leaves its baseline (almost) as recorded."""
    project(pytester)
    pytester.makepyfile(
        test_p="""
        import time

        def test_perf(perf):
            perf.measure(time.sleep, 0.002, rounds=20, warmup=1, name="squares")
        """
    )
    run_gate("--gate-update-baseline")
    ref = read(pytester)["regression"][KEY]["reference"]
    assert 0 <= ref["cpu"] < 0.2, ref
    doc = read(pytester)
    doc["regression"][KEY]["reference"]["seconds"] /= 2.5  # the machine, not the sleep, was faster
    write(pytester, doc)
    g = gate(run_gate())
    assert g["status"] in ("pass", "warn") and g["baseline_scaled"] < 1.3 and "speed_factor" in g, g


def test_budgets_see_raw_times(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    """Calibration only changes what the regression gate compares: a p50 limit is checked on raw times."""
    pytester.makepyfile(
        test_b="""
        import time

        def test_sleep(perf):
            perf.measure(time.sleep, 0.002, rounds=10, warmup=0, p50=0.001)
        """
    )
    r = run_gate()
    assert r.ret == 1
    assert any("p50" in g["message"] for g in r.gates("budget", "fail")), r.gates("budget")


# ------------------------------------------------------------------ units


def test_time_reference_is_positive_and_lower_of_two() -> None:
    ticks = iter([0, 100, 130])  # first run 100 ns, second 30 ns

    assert calibration.time_reference(lambda: next(ticks)) == 30
    assert calibration.time_reference(time.perf_counter_ns) > 0


def test_adjust_scales_each_round_by_its_reference() -> None:
    assert calibration.adjust([1.0, 2.0, 4.0], [1.0, 2.0, 4.0]) == [2.0, 2.0, 2.0]
    assert calibration.adjust([1.0, 2.0, 4.0], [1.0, 2.0, 4.0], cpu=0.0) == [1.0, 2.0, 4.0]  # all waiting
    half = calibration.adjust([1.5, 2.0], [1.0, 2.0], cpu=0.5)  # median 1.5: 1.5 / (0.5 * 1/1.5 + 0.5)
    assert half == pytest.approx([1.5 / (0.5 / 1.5 + 0.5), 2.0 / (0.5 * 2 / 1.5 + 0.5)])
    with pytest.raises(ValueError, match="one reference time per sample"):
        calibration.adjust([1.0], [1.0, 2.0])


def test_recorder_result_and_unusable_input() -> None:
    rec = calibration.Recorder()
    assert rec.result([1.0]) is None  # nothing timed
    rec.references, rec.cpu_ns, rec.wall_ns = [40_000, 40_000], 3_000, 2_000
    adjusted, cal = rec.result([1.0, 3.0]) or ([], None)
    assert adjusted == [1.0, 3.0] and cal == calibration.Calibration(4e-05, 1.0)  # CPU fraction capped at 1
    rec.references = [0, 40_000]
    assert rec.result([1.0, 3.0]) is None


def test_calibration_data_round_trip_and_rejects() -> None:
    cal = calibration.Calibration(4e-05, 0.25)
    assert calibration.Calibration.from_data(cal.as_data()) == cal
    for bad in (None, {}, {"reference": 0, "cpu": 1}, {"reference": 1e-5, "cpu": 1.5},
                {"reference": True, "cpu": 1}, {"reference": float("nan"), "cpu": 1}):
        assert calibration.Calibration.from_data(bad) is None


def test_scaling_bounds_ids_and_cpu_fraction() -> None:
    entry = {"reference": calibration.Calibration(4e-5, 1.0).as_entry()}
    now = calibration.Calibration
    sc = calibration.scaling(now(8e-5, 1.0), entry)
    assert sc is not None and sc.speed == pytest.approx(2.0) and sc.factor == pytest.approx(2.0)
    waits = calibration.scaling(now(8e-5, 0.0), {"reference": calibration.Calibration(4e-5, 0.0).as_entry()})
    assert waits is not None and waits.factor == pytest.approx(1.0)  # sleeping code does not follow the machine
    mixed = calibration.scaling(now(8e-5, 0.5), entry)  # mean CPU fraction 0.75
    assert mixed is not None and mixed.factor == pytest.approx(0.75 * 2 + 0.25)
    assert calibration.scaling(now(4e-5 * 3.0, 1.0), entry) is not None
    assert calibration.scaling(now(4e-5 * 3.01, 1.0), entry) is None
    assert calibration.scaling(now(4e-5 / 3.01, 1.0), entry) is None
    assert calibration.scaling(None, entry) is None
    assert calibration.scaling(now(4e-5, 1.0), {}) is None
    assert calibration.scaling(now(4e-5, 1.0), {"reference": {"id": "other/9", "seconds": 4e-5}}) is None
    assert calibration.scaling(now(4e-5, 1.0), {"reference": {"id": calibration.REFERENCE_ID, "seconds": 4e-5}})


positive = st.floats(min_value=1e-6, max_value=1e-2, allow_nan=False, allow_infinity=False)
fraction = st.floats(min_value=0.0, max_value=1.0)


@given(
    base=st.lists(positive, min_size=8, max_size=40),
    current=st.lists(positive, min_size=8, max_size=40),
    ref=positive,
    cpu=fraction,
    speed=st.floats(min_value=0.34, max_value=2.9),
)
def test_a_uniformly_slower_machine_changes_no_decision(
    base: list[float], current: list[float], ref: float, cpu: float, speed: float
) -> None:
    """The machine ``speed`` times slower for the reference and for the computing share of the code:
    the same ratio, so the same decision."""
    entry = make_entry(Metric("t", "m", tuple(base), sampled=True, source="perf",
                              calibration=calibration.Calibration(ref, cpu)), "m")
    stored = calibration.Calibration(entry["reference"]["seconds"], entry["reference"]["cpu"])  # rounded
    now = calibration.Calibration(stored.reference * speed, stored.cpu)
    scaled = calibration.scaling(now, entry)
    assert scaled is not None and scaled.factor == pytest.approx(stored.scale_at(speed), rel=1e-9)
    as_recorded = compare(current, True, False, entry, 0.2, 1.5, stored)
    slower = compare([x * scaled.factor for x in current], True, False, entry, 0.2, 1.5, now)
    assert slower.ratio == pytest.approx(as_recorded.ratio, rel=1e-6)
    # Scaling both sides keeps every rank, up to float rounding of near-equal values (a tie made or
    # broken), which can move p across the threshold only when it is already near it.
    on_edge = any(math.isclose(slower.ratio, r, rel_tol=1e-5) for r in (1.2, 1 / 1.2, 1.5))
    near_alpha = any(p is not None and ALPHA / 3 < p < ALPHA * 3 for p in (slower.p, as_recorded.p))
    assert slower.outcome == as_recorded.outcome or on_edge or near_alpha


@given(
    samples=st.lists(positive, min_size=1, max_size=50),
    factors=st.lists(st.floats(min_value=0.2, max_value=5.0), min_size=50, max_size=50),
)
def test_adjust_cancels_per_round_machine_speed(samples: list[float], factors: list[float]) -> None:
    """A round and its reference slowed by the same factor: the adjusted rounds keep their proportions."""
    refs = [4e-5] * len(samples)
    steady = calibration.adjust(samples, refs)
    slowed_refs = [r * f for r, f in zip(refs, factors, strict=False)]
    slowed = calibration.adjust([s * f for s, f in zip(samples, factors, strict=False)], slowed_refs)
    scale = statistics.median(slowed_refs) / 4e-5
    assert [x / scale for x in slowed] == pytest.approx(steady, rel=1e-9)


def test_compare_scales_the_baseline_by_the_speed_factor() -> None:
    recorded = calibration.Calibration(1.0, 1.0)
    entry = make_entry(Metric("t", "m", tuple([1.0] * 20), sampled=True, calibration=recorded), "m")
    c = compare([2.0] * 20, True, False, entry, 0.2, 1.5, calibration.Calibration(2.0, 1.0))  # machine 2x slower
    assert c.outcome == OK and c.ratio == pytest.approx(1.0) and c.scaling is not None
    assert c.scaling.speed == pytest.approx(2.0)
    assert c.baseline == 1.0  # the recorded median (the message shows it scaled, and this too)
    raw = compare([2.0] * 20, True, False, entry, 0.2, 1.5, None)
    assert raw.outcome == REGRESSED and raw.scaling is None


def test_a_calibrated_message_shows_the_figures_it_compared() -> None:
    """269 µs now against 169 µs recorded while the machine ran 1.9x faster: better, and the message
    says "269 µs vs 321 µs" (the scaled baseline), never a bigger number called better."""
    recorded = calibration.Calibration(1.0, 1.0)
    entry = make_entry(Metric("t", "m", tuple([169e-6] * 20), sampled=True, calibration=recorded), "m")
    c = compare([269e-6] * 20, True, False, entry, 0.1, 1.5, calibration.Calibration(1.9, 1.0))
    assert c.outcome == IMPROVED
    text = describe(c, "s", False)
    assert text.startswith("median 269 µs vs 321 µs, calibrated: the baseline's 169 µs scaled 1.90x"), text
