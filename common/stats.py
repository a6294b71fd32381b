"""Small statistics helpers for reports: proportions and means with 95% confidence intervals."""

import math
from collections.abc import Sequence

Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval for a proportion (well-behaved for small n and p near 0 or 1)."""
    if n <= 0:
        return None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def proportion(successes: int, n: int) -> dict:
    interval = wilson_interval(successes, n)
    return {
        "n": n,
        "value": (successes / n) if n else None,
        "ci95": list(interval) if interval else None,
    }


def mean_interval(values: Sequence[float], z: float = Z95) -> dict:
    """Mean with a normal-approximation 95% interval (t would be wider for n < 30; n is reported)."""
    n = len(values)
    if n == 0:
        return {"n": 0, "value": None, "ci95": None}
    mean = sum(values) / n
    if n == 1:
        return {"n": 1, "value": mean, "ci95": None}
    variance = sum((v - mean) ** 2 for v in values) / (n - 1)
    half = z * math.sqrt(variance / n)
    return {"n": n, "value": mean, "ci95": [mean - half, mean + half]}
