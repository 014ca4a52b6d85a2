"""Monte Carlo standard errors of interval end points from i.i.d. draws (numpy only): the exact
forward draws of the prior interval, and the exact posterior draws (forecaster.inference.iid).

The order-statistic argument: the empirical CDF at the true p-quantile has standard error
δ = sqrt(p (1 − p) / n), so the estimated quantile ± one standard error is about the empirical
quantiles at p ± δ, and se = (Q(p + δ) − Q(p − δ)) / 2 (no density estimate needed). NUTS's
intervals use ArviZ's quantile MCSE instead (`forecaster.inference.sampler`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: The interval: the central 90 % of the draws.
PROBS = (0.05, 0.95)


def _sorted_quantile(xs: np.ndarray, p: np.ndarray) -> np.ndarray:
    """np.quantile's default (linear) rule on columns already sorted along axis 0."""
    pos = np.clip(p, 0.0, 1.0) * (xs.shape[0] - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, xs.shape[0] - 1)
    frac = (pos - lo)[:, None]
    return xs[lo] * (1.0 - frac) + xs[hi] * frac


def quantiles_iid(x: np.ndarray, probs: Sequence[float] = PROBS) -> tuple[np.ndarray, np.ndarray]:
    """(quantiles, their MCSE) of i.i.d. draws x (n, K), each (len(probs), K); the quantiles are
    np.quantile's (linear interpolation)."""
    xs = np.sort(np.asarray(x, dtype=np.float64), axis=0)
    p = np.asarray(probs, dtype=np.float64)
    d = np.sqrt(p * (1.0 - p) / xs.shape[0])
    q = _sorted_quantile(xs, p)
    se = (_sorted_quantile(xs, p + d) - _sorted_quantile(xs, p - d)) / 2.0
    return q, se
