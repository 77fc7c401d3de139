"""Is a difference between two sample sets real, or noise? Mann-Whitney U, as asv does.

Timings are not normally distributed (long right tails, bimodal under load),
so a rank test is the sound choice: it asks only whether one sample set tends
to be larger than the other. We use the two-sided test at ``p < 0.002``
(asv's threshold): the exact distribution for small samples without ties,
else the normal approximation with tie and continuity correction.

Properties the regression gate relies on (and the tests check):
* symmetric: ``p_value(a, b) == p_value(b, a)`` exactly (integer arithmetic
  up to the final float step, which only sees order-free quantities);
* identical sample sets give ``p == 1``: never significant;
* the order of the samples never matters.

Pure Python (no scipy): a baseline of 1,000 metrics compares in milliseconds.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from operator import eq
from typing import Final, final

#: asv's significance threshold for "the difference is real".
ALPHA: Final = 0.002
#: Exact distribution (when there are no ties) up to this many samples in total, or whenever the
#: smaller sample has at most ``EXACT_MAX_SMALL`` values (where the normal approximation is poor);
#: the normal approximation beyond.
EXACT_MAX_TOTAL: Final = 50
EXACT_MAX_SMALL: Final = 5


@final
@dataclass(frozen=True, slots=True)
class MannWhitney:
    """Result of one test. ``u`` is the smaller of the two U statistics."""

    u: float
    p: float
    n1: int
    n2: int
    method: str  # "exact", "normal" or "degenerate"

    def significant(self, alpha: float = ALPHA) -> bool:
        return self.p < alpha


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> MannWhitney:
    """Two-sided Mann-Whitney U test of ``a`` against ``b``."""
    n1, n2 = len(a), len(b)
    if n1 == 0 or n2 == 0:
        return MannWhitney(0.0, 1.0, n1, n2, "degenerate")
    # Loop over the smaller sample, bisecting into the sorted larger one; U of the other
    # side is n1*n2 - U, and only the smaller of the two is used: the order of a and b never matters.
    small, large = (a, b) if n1 <= n2 else (b, a)
    sl = sorted(large)
    # Twice U of ``small`` (pairs small > large count 2, ties 1): an integer, so exact.
    two_u = 0
    for x in small:
        lo = bisect_left(sl, x)
        hi = bisect_right(sl, x) if (lo < len(sl) and sl[lo] == x) else lo
        two_u += 2 * lo + (hi - lo)
    two_u_min = min(two_u, 2 * n1 * n2 - two_u)
    u = two_u_min / 2
    merged = sorted(sl + list(small))  # two sorted-ish runs: a cheap merge
    if not any(map(eq, merged, islice(merged, 1, None))):
        tie_term = 0
    else:
        counts = Counter(a)
        counts.update(b)
        tie_term = sum(t * t * t - t for t in counts.values() if t > 1)
    if tie_term == 0 and _exact_regime(n1, n2):
        return MannWhitney(u, _exact_p(two_u_min // 2, n1, n2), n1, n2, "exact")
    n = n1 + n2
    var = n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1)))
    if var <= 0:  # every value equal: nothing to tell apart
        return MannWhitney(u, 1.0, n1, n2, "degenerate")
    mean = n1 * n2 / 2.0
    z = (mean - u - 0.5) / math.sqrt(var)
    p = 1.0 if z <= 0 else min(1.0, math.erfc(z / math.sqrt(2.0)))
    return MannWhitney(u, p, n1, n2, "normal")


def p_value(a: Sequence[float], b: Sequence[float]) -> float:
    return mann_whitney(a, b).p


def significant(a: Sequence[float], b: Sequence[float], alpha: float = ALPHA) -> bool:
    return mann_whitney(a, b).p < alpha


def min_p(n1: int, n2: int) -> float:
    """The smallest two-sided p-value the test can give for these sample sizes.

    When it is not below ``alpha`` the test can never call a difference
    significant (5 against 5 samples: 0.0079 > 0.002), so a caller should
    decide by ratio alone and say so.
    """
    if n1 <= 0 or n2 <= 0:
        return 1.0
    if _exact_regime(n1, n2):
        return min(1.0, 2.0 / math.comb(n1 + n2, n1))
    n = n1 + n2
    z = (n1 * n2 / 2.0 - 0.5) / math.sqrt(n1 * n2 * (n + 1) / 12.0)
    return min(1.0, math.erfc(z / math.sqrt(2.0)))


def _exact_regime(n1: int, n2: int) -> bool:
    return n1 + n2 <= EXACT_MAX_TOTAL or min(n1, n2) <= EXACT_MAX_SMALL


def can_reach(n1: int, n2: int, alpha: float = ALPHA) -> bool:
    return min_p(n1, n2) < alpha


def _exact_p(u_min: int, n1: int, n2: int) -> float:
    """Two-sided exact p: ``2 * P(U <= u_min)`` under the null (no ties)."""
    cdf = _cdf(min(n1, n2), max(n1, n2))
    return min(1.0, 2.0 * cdf[u_min] / math.comb(n1 + n2, n1))


@lru_cache(maxsize=256)
def _cdf(m: int, n: int) -> tuple[int, ...]:
    """Cumulative counts of arrangements with U <= u, u = 0..m*n.

    The counts are the coefficients of the Gaussian binomial
    ``[m+n choose m]_q = prod_{i=1..m} (1 - q^(n+i)) / (1 - q^i)``,
    built one factor at a time in integers.
    """
    size = m * n + 1
    poly = [0] * size
    poly[0] = 1
    for i in range(1, m + 1):
        shift = n + i
        for k in range(size - 1, shift - 1, -1):  # multiply by (1 - q^shift)
            poly[k] -= poly[k - shift]
        for k in range(i, size):  # divide by (1 - q^i)
            poly[k] += poly[k - i]
    out = []
    total = 0
    for c in poly:
        total += c
        out.append(total)
    return tuple(out)


__all__ = ["ALPHA", "MannWhitney", "can_reach", "mann_whitney", "min_p", "p_value", "significant"]
