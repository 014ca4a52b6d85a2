"""Exact inference by enumeration over joint hypothesis states (MODEL.md §4), with the pooled
prior means as tables and every reported indicator as likelihood evidence. The reference for
the sampler and for every derived analysis; numpy only, so it loads in a blink."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecaster.model.network import Network


def log_joint_terms(net: Network, log_lam: np.ndarray, *, theta: np.ndarray | None = None, q: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(log prior per joint state (S,), per-indicator log-likelihood terms (J, S))."""
    theta = net.theta_mean_flat if theta is None else theta
    q = net.q_mean if q is None else q
    log_prior = np.log(theta)[net.theta_index].sum(axis=0)
    lam = np.exp(log_lam)  # scaled so max(λ) = 1 per indicator: no overflow
    qs = q[net.q_index]  # (J, S)
    terms = np.log(lam[:, :1] * qs + lam[:, 1:] * (1.0 - qs))
    return log_prior, terms


def _softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def joint_posterior(net: Network, log_lam: np.ndarray) -> np.ndarray:
    log_prior, terms = log_joint_terms(net, log_lam)
    return _softmax(log_prior + terms.sum(axis=0))


def marginals(net: Network, joint: np.ndarray) -> list[np.ndarray]:
    """Hypothesis marginals from joint-state probabilities (..., S) -> list of (..., K_h)."""
    return [joint @ m for m in net.marginal_matrices()]


@dataclass(frozen=True)
class ExactResult:
    prior: list[np.ndarray]
    posterior: list[np.ndarray]
    without: dict[str, list[np.ndarray]]  # posterior with one reported indicator's reports removed


def infer_exact(net: Network, log_lam: np.ndarray) -> ExactResult:
    """Prior, posterior, and leave-one-indicator-out posteriors, in one vectorised pass."""
    log_prior, terms = log_joint_terms(net, log_lam)
    reported = [j for j in range(len(net.indicator_ids)) if np.any(log_lam[j] != 0.0)]
    total = log_prior + terms.sum(axis=0)
    batch = np.vstack([log_prior, total, *(total - terms[j] for j in reported)])
    margs = marginals(net, _softmax(batch))
    prior = [m[0] for m in margs]
    post = [m[1] for m in margs]
    without = {net.indicator_ids[j]: [m[2 + i] for m in margs] for i, j in enumerate(reported)}
    return ExactResult(prior, post, without)
