"""Statistics every report shares: the one Wilson interval of a success rate, the one
t-interval of a mean over a few seeds, and the one reader of a result's success rate (old
records name it ``solve_rate``)."""

from __future__ import annotations

import math

__all__ = ["Z95", "wilson_interval", "t_two_sided_probability", "t_quantile", "mean_interval", "success_rate"]

#: The standard normal quantile of 0.975: a two-sided 95% interval.
Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion ``successes / n``."""
    if n <= 0:
        raise ValueError(f"need at least one trial, got n={n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, {n}], got {successes}")
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def success_rate(result: dict) -> float | None:
    """A result's success rate: ``success_rate``, or ``solve_rate`` in records written before
    worlds other than Sokoban (stage 2); None where the world has only returns."""
    return result.get("success_rate", result.get("solve_rate"))


def t_two_sided_probability(t: float, df: int) -> float:
    """``P(|T| < t)`` for Student's t with ``df`` degrees of freedom (``t >= 0``).

    The closed form for integer ``df`` (Abramowitz & Stegun 26.7.3-4), with
    ``theta = atan(t / sqrt(df))``: for odd ``df``
    ``(2 / pi) (theta + sin theta (cos theta + 2/3 cos^3 theta + ... ))``, for even ``df``
    ``sin theta (1 + 1/2 cos^2 theta + 1*3/(2*4) cos^4 theta + ...)``, each series ending at
    ``cos^(df - 2)``."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    theta = math.atan(t / math.sqrt(df))
    c2, s, c = math.cos(theta) ** 2, math.sin(theta), math.cos(theta)
    if df % 2:
        if df == 1:
            return 2 * theta / math.pi
        term = total = c
        for k in range(1, (df - 3) // 2 + 1):
            term *= (2 * k) / (2 * k + 1) * c2
            total += term
        return 2 / math.pi * (theta + s * total)
    term = total = 1.0
    for k in range(1, (df - 2) // 2 + 1):
        term *= (2 * k - 1) / (2 * k) * c2
        total += term
    return s * total


def t_quantile(df: int, confidence: float = 0.95) -> float:
    """The two-sided ``confidence`` quantile of Student's t: ``t`` with ``P(|T| < t) = confidence``
    (df 1: 12.706, 2: 4.303, 4: 2.776), by bisection on :func:`t_two_sided_probability`."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    low, high = 0.0, 1.0
    while t_two_sided_probability(high, df) < confidence:
        high *= 2
    for _ in range(200):
        mid = 0.5 * (low + high)
        if t_two_sided_probability(mid, df) < confidence:
            low = mid
        else:
            high = mid
        if high - low < 1e-12 * max(1.0, high):
            break
    return 0.5 * (low + high)


def mean_interval(values: list[float], confidence: float = 0.95) -> dict:
    """``{"n", "mean", "low", "high"}``: the mean over seeds and its t-interval
    (``mean +- t_{df = n - 1} s / sqrt(n)``); no interval (None) with fewer than two values."""
    n = len(values)
    if n == 0:
        return {"n": 0, "mean": None, "low": None, "high": None}
    mean = sum(values) / n
    if n < 2:
        return {"n": 1, "mean": mean, "low": None, "high": None}
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile(n - 1, confidence) * sd / math.sqrt(n)
    return {"n": n, "mean": mean, "low": mean - half, "high": mean + half}
