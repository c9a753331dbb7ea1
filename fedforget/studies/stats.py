"""Statistics over seeds: mean, sample standard deviation and a t-based confidence
interval (Student's t with n - 1 degrees of freedom, as for a handful of seeds), and the
paired difference of two methods run on the same seeds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float
    std: float  # sample std (ddof=1); 0 for a single value
    ci_low: float  # t-based confidence interval of the mean; = mean for n < 2
    ci_high: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(values: Sequence[float | None], confidence: float = 0.95) -> Summary | None:
    """Mean, std and ``confidence`` CI of the finite values (None and NaN are left out);
    None when there is none."""
    xs = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(xs)
    if n == 0:
        return None
    mean = math.fsum(xs) / n
    if n < 2:
        return Summary(1, mean, 0.0, mean, mean)
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))
    from scipy import stats

    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return Summary(n, mean, std, mean - half, mean + half)


def paired_difference(a: Sequence[float | None], b: Sequence[float | None], confidence: float = 0.95) -> Summary | None:
    """Summary of ``a[i] - b[i]`` over the pairs where both are finite (same seed)."""
    diffs = [
        float(x) - float(y) for x, y in zip(a, b, strict=True)
        if x is not None and y is not None and math.isfinite(float(x)) and math.isfinite(float(y))
    ]
    return summarize(diffs, confidence)
