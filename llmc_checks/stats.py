"""Small statistics with no dependencies: quantiles and score-interval bounds."""

from __future__ import annotations

import math
from collections.abc import Sequence


def quantile_inclusive(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks.

    numpy's default method and ClickHouse's quantileExactInclusive agree on this
    definition, so the snapshot and live sources report the same p95.
    """
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def one_sided_z(confidence: float) -> float:
    # One-sided: "fail when we are 95% sure the true rate exceeds the ceiling".
    from statistics import NormalDist  # only checks with `confidence` need it (~2 ms import)

    return NormalDist().inv_cdf(confidence)


def wilson_bounds(successes: int, trials: int, confidence: float) -> tuple[float, float]:
    """Wilson score interval with continuity correction, each side one-sided at `confidence`.

    The correction (Newcombe 1998, method 4) keeps the bound honest for tiny counts:
    one error in three items is no evidence that a 5% ceiling is broken, while thirty
    in two hundred is.
    """
    if trials <= 0:
        return 0.0, 1.0
    z = one_sided_z(confidence)
    n, p = trials, successes / trials
    z2 = z * z
    denominator = 2 * (n + z2)
    lower = 0.0
    if successes > 0:
        root = math.sqrt(z2 - 1 / n + 4 * n * p * (1 - p) + (4 * p - 2))
        lower = max(0.0, (2 * n * p + z2 - (z * root + 1)) / denominator)
    upper = 1.0
    if successes < trials:
        root = math.sqrt(z2 - 1 / n + 4 * n * p * (1 - p) - (4 * p - 2))
        upper = min(1.0, (2 * n * p + z2 + (z * root + 1)) / denominator)
    return lower, upper


def difference_bounds(
    k_new: int, n_new: int, k_old: int, n_old: int, confidence: float
) -> tuple[float, float]:
    """Newcombe's hybrid score interval for p_new - p_old, from the corrected Wilson
    intervals above (his method 11)."""
    p_new = k_new / n_new if n_new else 0.0
    p_old = k_old / n_old if n_old else 0.0
    lo_new, hi_new = wilson_bounds(k_new, n_new, confidence)
    lo_old, hi_old = wilson_bounds(k_old, n_old, confidence)
    diff = p_new - p_old
    lower = diff - math.sqrt((p_new - lo_new) ** 2 + (hi_old - p_old) ** 2)
    upper = diff + math.sqrt((hi_new - p_new) ** 2 + (p_old - lo_old) ** 2)
    return lower, upper


def median(values: Sequence[float]) -> float | None:
    return quantile_inclusive(values, 0.5)
