"""Monte Carlo standard errors of interval end points drawn without MCMC (numpy only): the exact
forward draws of the prior interval, and the importance-reweighted draws of a scenario.

Both use the order-statistic argument: the empirical CDF at the true p-quantile has standard
error δ, so the estimated quantile ± one standard error is about the empirical quantiles at
p ± δ, and se = (Q(p + δ) − Q(p − δ)) / 2 (no density estimate needed). For n i.i.d. draws
δ = sqrt(p (1 − p) / n); for weighted draws δ = sqrt(p (1 − p) / n_eff) with n_eff the Kish
effective sample size (Σw)² / Σw², scaled down by the autocorrelation of the draws weighted
(their ESS over their number) when they come from MCMC. The sampler's own intervals use ArviZ's
quantile MCSE instead (`forecaster.inference.sampler`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: The interval: the central 90 % of the draws.
PROBS = (0.05, 0.95)


def kish_ess(weights: np.ndarray) -> float:
    w = np.asarray(weights, dtype=np.float64)
    return float(w.sum() ** 2 / np.sum(w**2))


def _weighted_quantile(xs: np.ndarray, cdf: np.ndarray, p: np.ndarray) -> np.ndarray:
    return np.interp(p, cdf, xs)


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


def quantiles_weighted(
    x: np.ndarray, weights: np.ndarray, probs: Sequence[float] = PROBS, *, n_eff: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(quantiles, their MCSE) of weighted draws x (n, K) with weights (n,): each draw at the middle
    of its weight in the weighted CDF (equal weights: Hazen's rule). `n_eff`: the effective number
    of draws behind the MCSE (default the Kish ESS of the weights)."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    p = np.asarray(probs, dtype=np.float64)
    n = kish_ess(w) if n_eff is None else max(1.0, float(n_eff))
    d = np.sqrt(p * (1.0 - p) / n)
    order = np.argsort(x, axis=0)
    xs = np.take_along_axis(x, order, axis=0)
    ws = w[order]
    cdf = np.cumsum(ws, axis=0) - 0.5 * ws
    q = np.empty((len(p), x.shape[1]))
    se = np.empty_like(q)
    for k in range(x.shape[1]):
        q[:, k] = _weighted_quantile(xs[:, k], cdf[:, k], p)
        lo = _weighted_quantile(xs[:, k], cdf[:, k], np.clip(p - d, 0.0, 1.0))
        hi = _weighted_quantile(xs[:, k], cdf[:, k], np.clip(p + d, 0.0, 1.0))
        se[:, k] = (hi - lo) / 2.0
    return q, se
