"""Statistics every report shares: the one Wilson interval of a success rate, and the one
reader of a result's success rate (old records name it ``solve_rate``)."""

from __future__ import annotations

import math

__all__ = ["Z95", "wilson_interval", "success_rate"]

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
