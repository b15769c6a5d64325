"""Statistics over seeds: means with Student-t confidence intervals, paired ratios.

A bench run over K seeds gives K values of each metric per policy. The
mean's confidence interval is Student's t (K - 1 degrees of freedom): the
seeds are independent draws of the workload, and K is small. A ratio of
two policies is paired: both ran on the same K traces, so the interval is
that of the per-seed ratios, which removes the variance the traces share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _scipy_stats

DEFAULT_LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    """A mean over seeds and its confidence interval (lo == hi == mean for one seed)."""

    mean: float
    lo: float
    hi: float
    n: int
    sd: float

    @property
    def half_width(self) -> float:
        return (self.hi - self.lo) / 2.0

    def to_json(self) -> dict[str, float | int]:
        return {
            "mean": round(self.mean, 6),
            "ci_lo": round(self.lo, 6),
            "ci_hi": round(self.hi, 6),
            "sd": round(self.sd, 6),
            "n": self.n,
        }


def mean_ci(values: Sequence[float] | np.ndarray, level: float = DEFAULT_LEVEL) -> Estimate:
    """The mean of ``values`` with its two-sided Student-t interval at ``level``."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or len(x) == 0:
        raise ValueError("mean_ci needs a non-empty 1-D sequence")
    if not np.all(np.isfinite(x)):
        raise ValueError("mean_ci needs finite values")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    mean = float(x.mean())
    if len(x) == 1:
        return Estimate(mean, mean, mean, 1, 0.0)
    sd = float(x.std(ddof=1))
    t = float(_scipy_stats.t.ppf(0.5 + level / 2.0, len(x) - 1))
    half = t * sd / math.sqrt(len(x))
    return Estimate(mean, mean - half, mean + half, len(x), sd)


def paired_ratio_ci(
    numerator: Sequence[float] | np.ndarray,
    denominator: Sequence[float] | np.ndarray,
    level: float = DEFAULT_LEVEL,
) -> Estimate | None:
    """The mean of the per-seed ratios numerator[i] / denominator[i] and its
    interval; None when a denominator is 0 (the ratio is undefined)."""
    a = np.asarray(numerator, dtype=np.float64)
    b = np.asarray(denominator, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired values differ in length: {len(a)} and {len(b)}")
    if len(b) == 0 or np.any(b == 0):
        return None
    return mean_ci(a / b, level)
