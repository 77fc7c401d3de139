"""The significance test and the comparison rule, as units: dense logic, checked against scipy's numbers."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_release_gates.gates.regression.compare import IMPROVED, NOISE, OK, REGRESSED, compare, worse_ratio
from pytest_release_gates.gates.regression.entries import thin
from pytest_release_gates.significance import ALPHA, can_reach, mann_whitney, min_p, p_value

# p-values from scipy.stats.mannwhitneyu(a, b, alternative="two-sided", use_continuity=True), scipy 1.17.
REFERENCE = [
    ([1, 2, 3, 4, 5], [6, 7, 8, 9, 10], "exact", 0.007936507936507936),
    ([1.5, 2.5, 3.1, 4.2, 5.9, 6.3, 7.7], [3.3, 4.4, 8.8, 9.1, 10.5, 11.2, 12.9, 13.0], "exact", 0.013986013986013986),
    ([1, 2, 2, 3, 3, 3, 4], [3, 4, 4, 5, 5, 6], "normal", 0.012999854364387305),
    (list(range(30)), [x + 10.5 for x in range(40)], "normal", 1.174623309265782e-06),
    ([1.0] * 10, [1.0] * 10 + [2.0], "normal", 0.3908282308519907),
]


@pytest.mark.parametrize(("a", "b", "method", "expected"), REFERENCE)
def test_matches_scipy(a: list[float], b: list[float], method: str, expected: float) -> None:
    result = mann_whitney(a, b)
    assert result.method == method
    assert result.p == pytest.approx(expected, rel=1e-9)


def test_random_cases_match_scipy_when_installed() -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = random.Random(7)
    for _ in range(200):
        a = [round(rng.gauss(0, 1), rng.choice([1, 9])) for _ in range(rng.randint(1, 40))]
        b = [round(rng.gauss(rng.choice([0, 1]), 1), rng.choice([1, 9])) for _ in range(rng.randint(1, 60))]
        ours = mann_whitney(a, b)
        method = "exact" if ours.method == "exact" else "asymptotic"
        ref = stats.mannwhitneyu(a, b, alternative="two-sided", method=method).pvalue
        assert ours.p == pytest.approx(ref, rel=1e-9, abs=1e-15)


def test_min_p_says_when_significance_is_out_of_reach() -> None:
    assert min_p(5, 5) == pytest.approx(2 / 252)
    assert not can_reach(5, 5)
    assert not can_reach(6, 6)  # 2/924 = 0.00216
    assert can_reach(6, 7)
    assert not can_reach(1, 998)  # 2/999
    assert can_reach(2, 1000)  # exact for small samples: 2/C(1002, 2)
    assert min_p(2, 1000) == pytest.approx(2 / math.comb(1002, 2))
    assert p_value([5.0, 6.0], [float(i) / 1000 for i in range(1000)]) == pytest.approx(min_p(2, 1000))
    assert can_reach(40, 100) and min_p(40, 100) < 1e-12
    # The exact test really reaches min_p for complete separation:
    assert p_value([1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12, 13]) == pytest.approx(min_p(6, 7))


def test_degenerate_inputs_are_never_significant() -> None:
    assert p_value([], [1.0, 2.0]) == 1.0
    assert p_value([3.0] * 50, [3.0] * 80) == 1.0


samples = st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=70)


@settings(max_examples=300, deadline=None)
@given(samples, samples)
def test_symmetric(a: list[float], b: list[float]) -> None:
    assert p_value(a, b) == p_value(b, a)


@settings(max_examples=300, deadline=None)
@given(samples)
def test_identical_samples_are_never_significant(a: list[float]) -> None:
    assert p_value(a, list(a)) == 1.0
    assert p_value(a, list(reversed(a))) == 1.0


@settings(max_examples=300, deadline=None)
@given(samples, samples, st.randoms(use_true_random=False))
def test_shuffling_never_changes_the_result(a: list[float], b: list[float], rnd: random.Random) -> None:
    a2, b2 = list(a), list(b)
    rnd.shuffle(a2)
    rnd.shuffle(b2)
    assert mann_whitney(a, b) == mann_whitney(a2, b2)


@settings(max_examples=200, deadline=None)
@given(samples, samples)
def test_p_is_a_probability(a: list[float], b: list[float]) -> None:
    p = p_value(a, b)
    assert 0.0 < p <= 1.0


# ------------------------------------------------------------------ compare


def entry(values: list[float]) -> dict[str, object]:
    s = sorted(values)
    return {
        "median": s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2,
        "samples": s,
        "count": len(s),
    }


def noisy(center: float, n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [center * rng.lognormvariate(0, 0.05) for _ in range(n)]


def test_worse_ratio_direction_and_zero() -> None:
    assert worse_ratio(12, 10, False) == pytest.approx(1.2)
    assert worse_ratio(8, 10, True) == pytest.approx(1.25)  # baseline/current
    assert worse_ratio(0, 0, False) == 1.0
    assert math.isinf(worse_ratio(1, 0, False))
    assert worse_ratio(-1, 0, False) == 0.0
    assert worse_ratio(-5, -10, False) == pytest.approx(1.5)  # 5 worse than |-10|


def test_unsampled_ratio_alone_at_the_edge() -> None:
    assert compare([12.0], False, False, {"median": 10.0}, 0.2, 1.5).outcome == OK  # exceeds, not equals
    assert compare([12.01], False, False, {"median": 10.0}, 0.2, 1.5).outcome == REGRESSED
    c = compare([15.0], False, False, {"median": 10.0}, 0.2, 1.5)
    assert c.outcome == REGRESSED and c.rollback
    assert compare([8.0], False, False, {"median": 10.0}, 0.2, 1.5).outcome == IMPROVED


def test_tolerance_never_replaces_rollback_ratio() -> None:
    c = compare([16.0], False, False, {"median": 10.0}, 1.0, 1.5)
    assert c.outcome == REGRESSED and c.rollback


def test_sampled_needs_significance() -> None:
    base = noisy(1.0, 40, 1)
    slow = noisy(1.3, 100, 2)
    c = compare(slow, True, False, entry(base), 0.2, 1.5)
    assert c.outcome == REGRESSED and c.p is not None and c.p < ALPHA and not c.rollback
    # The same medians with only a few overlapping samples: not significant, so noise.
    wide = [0.5, 1.0, 1.6, 2.0, 0.9, 1.4, 1.3, 1.35]
    c2 = compare(wide, True, False, entry([0.6, 1.0, 1.1, 1.9, 0.8, 1.05, 1.2, 1.0]), 0.2, 1.5)
    assert c2.ratio > 1.2 and c2.outcome == NOISE


def test_too_few_samples_decide_by_ratio_and_say_so() -> None:
    c = compare([1.3, 1.31, 1.29], True, False, entry([1.0, 1.01, 0.99]), 0.2, 1.5)
    assert c.outcome == REGRESSED and c.p is None
    assert "too few samples (3 vs 3)" in c.note and "ratio alone" in c.note


def test_identical_sampled_metric_is_ok() -> None:
    base = noisy(1.0, 40, 3)
    assert compare(base, True, False, entry(base), 0.0, 1.5).outcome == OK


def test_thin_keeps_extremes_and_order() -> None:
    values = sorted(noisy(1.0, 1000, 4))
    kept = thin(values, 40)
    assert len(kept) == 40 and kept[0] == values[0] and kept[-1] == values[-1] and kept == sorted(kept)
    assert thin(values[:10], 40) == values[:10]
