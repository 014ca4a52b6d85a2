"""Exact inference by enumeration over joint hypothesis states (MODEL.md §4), with the pooled
prior means as tables and every reported indicator as likelihood evidence. The reference for
the sampler and for every derived analysis; numpy only, so it loads in a blink.

Mechanisms are summed out in closed form per joint state: each mechanism k whose indicators
have reports adds log(m_k · Π_j L_j(occurred) + (1 − m_k) · Π_j L_j(not_occurred)), so they add
no joint dimension. Every function here also takes parameter draws with a leading batch axis
(θ of shape (D, P), q of shape (D, R)): the scenario reweighting uses the same formulas."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from forecaster.model.network import Network


@dataclass(frozen=True)
class Terms:
    """The pieces of log P(s, E | θ, q, m) for every joint state s (shapes (..., S) or (..., J, S)).

    - `log_prior`: Σ_h log θ[h, pa_h(s)][s_h];
    - `t1`, `t0`: log L_j(s) with the indicator's mechanism occurred / not occurred (equal for an
      indicator without mechanism; 0 for an indicator with no report);
    - `log_m`, `log_not_m`: (..., M, S) log m_k(s) and log(1 − m_k(s));
    - `mech`: (..., M, S) each mechanism's closed-form term (0 when none of its indicators is reported).
    """

    log_prior: np.ndarray
    t1: np.ndarray
    t0: np.ndarray
    log_m: np.ndarray
    log_not_m: np.ndarray
    members: np.ndarray  # (M, J)
    independent: np.ndarray  # (J,) 1.0 for an indicator without mechanism

    @property
    def a(self) -> np.ndarray:
        return np.einsum("kj,...js->...ks", self.members, self.t1)

    @property
    def b(self) -> np.ndarray:
        return np.einsum("kj,...js->...ks", self.members, self.t0)

    @property
    def mech(self) -> np.ndarray:
        return np.logaddexp(self.log_m + self.a, self.log_not_m + self.b)

    @property
    def total(self) -> np.ndarray:
        """log P(s, E | θ, q, m), (..., S)."""
        indep = np.einsum("j,...js->...s", self.independent, self.t1)
        return self.log_prior + indep + self.mech.sum(axis=-2)

    def without_indicator(self, j: int, mech_of: int, total: np.ndarray | None = None) -> np.ndarray:
        """The total with indicator j's reports removed."""
        total = self.total if total is None else total
        if mech_of < 0:
            return total - self.t1[..., j, :]
        k = mech_of
        a, b = self.a[..., k, :], self.b[..., k, :]
        kept = np.logaddexp(self.log_m[..., k, :] + a - self.t1[..., j, :], self.log_not_m[..., k, :] + b - self.t0[..., j, :])
        return total - self.mech[..., k, :] + kept

    def without_mechanism(self, k: int, total: np.ndarray | None = None) -> np.ndarray:
        """The total with all of mechanism k's indicators' reports removed (the episode as a whole)."""
        total = self.total if total is None else total
        return total - self.mech[..., k, :]


def terms_for(net: Network, log_lam: np.ndarray, *, theta: np.ndarray | None = None, q: np.ndarray | None = None) -> Terms:
    theta = net.theta_mean_flat if theta is None else theta
    q = net.q_mean if q is None else q
    log_prior = np.log(theta)[..., net.theta_index].sum(axis=-2)
    lam = np.exp(log_lam)  # scaled so max(λ) = 1 per indicator: no overflow
    q1 = q[..., net.q_index]  # (..., J, S)
    q0 = q[..., net.q_not]
    t1 = np.log(lam[:, :1] * q1 + lam[:, 1:] * (1.0 - q1))
    t0 = np.log(lam[:, :1] * q0 + lam[:, 1:] * (1.0 - q0))
    m_index = net.m_index if net.m_index is not None else np.zeros((0, net.n_joint), dtype=np.int64)
    m = q[..., m_index]  # (..., M, S)
    with np.errstate(divide="ignore"):
        log_m, log_not_m = np.log(m), np.log1p(-m)
    independent = (net.mechanism_of < 0).astype(float)
    return Terms(log_prior, t1, t0, log_m, log_not_m, net.members, independent)


def log_joint_terms(net: Network, log_lam: np.ndarray, *, theta: np.ndarray | None = None, q: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(log prior per joint state (S,), per-indicator log-likelihood terms (J, S)).

    The terms add up to log P(E | s) only for a network without mechanisms (an indicator on a
    mechanism gets its term with the mechanism occurred); use `terms_for` for the closed form."""
    t = terms_for(net, log_lam, theta=theta, q=q)
    return t.log_prior, t.t1


def _softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def log_joint(net: Network, log_lam: np.ndarray, *, theta: np.ndarray | None = None, q: np.ndarray | None = None) -> np.ndarray:
    """log P(s, E | θ, q, m) for every joint state, (..., S)."""
    return terms_for(net, log_lam, theta=theta, q=q).total


def joint_posterior(net: Network, log_lam: np.ndarray) -> np.ndarray:
    return _softmax(log_joint(net, log_lam))


def marginals(net: Network, joint: np.ndarray) -> list[np.ndarray]:
    """Hypothesis marginals from joint-state probabilities (..., S) -> list of (..., K_h)."""
    return [joint @ m for m in net.marginal_matrices()]


def reported_indicators(log_lam: np.ndarray) -> list[int]:
    return [j for j in range(log_lam.shape[0]) if np.any(log_lam[j] != 0.0)]


@dataclass(frozen=True)
class ExactResult:
    prior: list[np.ndarray]
    posterior: list[np.ndarray]
    without: dict[str, list[np.ndarray]]  # posterior with one reported indicator's reports removed
    #: posterior with all of one mechanism's indicators' reports removed (mechanisms with reports)
    without_mechanism: dict[str, list[np.ndarray]] = field(default_factory=dict)


def infer_exact(net: Network, log_lam: np.ndarray) -> ExactResult:
    """Prior, posterior, and leave-one-out posteriors (per indicator and per mechanism), in one
    vectorised pass."""
    t = terms_for(net, log_lam)
    reported = reported_indicators(log_lam)
    mech_of = net.mechanism_of
    mechs = sorted({int(mech_of[j]) for j in reported if mech_of[j] >= 0})
    total = t.total
    batch = np.vstack([
        t.log_prior,
        total,
        *(t.without_indicator(j, int(mech_of[j]), total) for j in reported),
        *(t.without_mechanism(k, total) for k in mechs),
    ])
    margs = marginals(net, _softmax(batch))
    prior = [m[0] for m in margs]
    post = [m[1] for m in margs]
    without = {net.indicator_ids[j]: [m[2 + i] for m in margs] for i, j in enumerate(reported)}
    base = 2 + len(reported)
    without_m = {net.mechanism_ids[k]: [m[base + i] for m in margs] for i, k in enumerate(mechs)}
    return ExactResult(prior, post, without, without_m)
