"""Exact, i.i.d. draws from the posterior of the network's parameters (MODEL.md §4, "Exact
posterior draws"). numpy only: the check of these draws against the PyMC model's own density
lives with the model (forecaster.inference.sampler).

Given the latent discrete states every prior is conjugate, so p(θ, q, m | E) is a finite mixture:
1. a joint hypothesis state s ~ P(s | E), by backward sampling through the elimination order;
2. each mechanism with reports, occurred or not given s and E; each reported indicator's latent
   occurrence given s, its mechanism and its reports;
3. one count for every table row the draw used (`CONJUGATE`): a θ row Dirichlet(α + e_{s_h}), a q
   or m row Beta(a + 1, b) if its node occurred, else Beta(a, b + 1); every other row its prior.
Then P(H | E, θ, q, m) for every draw by one batched elimination.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from forecaster.inference.elimination import categorical, sample_states
from forecaster.inference.exact import network_factors, posterior_batch
from forecaster.model.network import Network


@dataclass(frozen=True)
class Counts:
    """Per draw: one count per θ entry (D, T), and successes / failures per q or m row (D, R)."""

    theta: np.ndarray
    success: np.ndarray
    failure: np.ndarray


@dataclass(frozen=True)
class Rule:
    """The conjugate update: (prior parameters, counts) -> posterior parameters, for θ rows
    (α, counts) and for q rows ((a, b), (successes, failures)). The density check evaluates the
    mixture with the same rule the draws used, so a wrong rule cannot pass it."""

    dirichlet: Callable[[np.ndarray, np.ndarray], np.ndarray]
    beta: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _add(alpha: np.ndarray, counts: np.ndarray) -> np.ndarray:
    return alpha + counts


def _add_beta(a: np.ndarray, b: np.ndarray, success: np.ndarray, failure: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return a + success, b + failure


#: MODEL.md §4: every row the draw used gets one count.
CONJUGATE = Rule(_add, _add_beta)


@dataclass(frozen=True)
class PosteriorDraws:
    """θ (D, T) and q (D, R) in the network's flat layout, P(H | E, θ, q, m) per hypothesis
    (D, K_h), log P(E | θ, q, m) (D,) (λ as scaled by Network.log_lambda), and the counts."""

    theta: np.ndarray
    q: np.ndarray
    marginals: list[np.ndarray]
    log_evidence: np.ndarray
    counts: Counts

    @property
    def n(self) -> int:
        return int(self.theta.shape[0])


def config_rows(net: Network, parents: tuple[str, ...], states: np.ndarray) -> np.ndarray:
    """Each draw's row of a table over `parents` (mixed radix, first parent slowest), (D,)."""
    row = np.zeros(states.shape[0], dtype=np.int64)
    for p in parents:
        h = net.hypothesis_ids.index(p)
        row = row * net.sizes[h] + states[:, h]
    return row


def latent_counts(net: Network, log_lam: np.ndarray, states: np.ndarray, rng: np.random.Generator) -> Counts:
    """Step 2 and the counts of step 3, at the prior means, for joint states (D, H)."""
    n = states.shape[0]
    draws = np.arange(n)
    theta = np.zeros((n, net.theta_mean_flat.size))
    for h in range(len(net.hypothesis_ids)):
        row = config_rows(net, net.hypothesis_parents[h], states)
        theta[draws, net.theta_offsets[h] + row * net.sizes[h] + states[:, h]] = 1.0
    success = np.zeros((n, net.q_a.size))
    failure = np.zeros_like(success)
    q = net.q_mean
    lam = np.exp(log_lam)
    reported = [j for j in range(len(net.indicator_ids)) if np.any(log_lam[j] != 0.0)]

    def occurs(j: int, rows: np.ndarray) -> None:
        """Indicator j's latent occurrence in table rows `rows` (D,), counted there."""
        w1, w0 = lam[j, 0] * q[rows], lam[j, 1] * (1.0 - q[rows])
        yes = rng.random(n) * (w1 + w0) < w1
        success[draws, rows] += yes
        failure[draws, rows] += ~yes

    mech_of = net.mechanism_of
    for j in reported:
        if mech_of[j] < 0:
            occurs(j, net.q_offsets[j] + config_rows(net, net.indicator_parents[j], states))
    for k in range(len(net.mechanism_ids)):
        kids = [j for j in reported if mech_of[j] == k]
        if not kids:
            continue
        m_rows = net.m_offsets[k] + config_rows(net, net.mechanism_parents[k], states)
        bases = [net.q_offsets[j] + 2 * config_rows(net, net.indicator_parents[j], states) for j in kids]
        weight = np.ones((n, 2))  # Π_j L_j given the mechanism occurred, not occurred
        for j, base in zip(kids, bases, strict=True):
            q1, q0 = q[base], q[base + 1]
            weight *= np.stack([lam[j, 0] * q1 + lam[j, 1] * (1 - q1), lam[j, 0] * q0 + lam[j, 1] * (1 - q0)], axis=1)
        m = q[m_rows]
        occurred = categorical(np.stack([m * weight[:, 0], (1 - m) * weight[:, 1]], axis=1), rng) == 0
        success[draws, m_rows] += occurred
        failure[draws, m_rows] += ~occurred
        for j, base in zip(kids, bases, strict=True):
            occurs(j, base + np.where(occurred, 0, 1))
    return Counts(theta, success, failure)


def parameters(net: Network, counts: Counts, rng: np.random.Generator, rule: Rule = CONJUGATE) -> tuple[np.ndarray, np.ndarray]:
    """Step 3: θ (D, T) and q (D, R) drawn from the rows' posteriors under `rule`."""
    n = counts.theta.shape[0]
    alpha = rule.dirichlet(np.concatenate([a.ravel() for a in net.alpha])[None, :], counts.theta)
    gam = rng.standard_gamma(np.broadcast_to(alpha, (n, alpha.shape[1])))
    theta = np.empty_like(gam)
    for h, a in enumerate(net.alpha):
        start, k = net.theta_offsets[h], a.shape[1]
        block = gam[:, start : start + a.size].reshape(n, -1, k)
        theta[:, start : start + a.size] = (block / block.sum(axis=2, keepdims=True)).reshape(n, -1)
    a_post, b_post = rule.beta(net.q_a[None, :], net.q_b[None, :], counts.success, counts.failure)
    x = rng.standard_gamma(np.broadcast_to(a_post, counts.success.shape))
    y = rng.standard_gamma(np.broadcast_to(b_post, counts.success.shape))
    return theta, x / (x + y)


def draw_posterior(net: Network, log_lam: np.ndarray, n: int, *, seed: int, rule: Rule = CONJUGATE) -> PosteriorDraws:
    """n exact i.i.d. draws of (θ, q, m) from their posterior given the evidence, with P(H | E, θ, q, m)."""
    rng = np.random.default_rng(seed)
    states = sample_states(network_factors(net, log_lam), net.sizes, n, rng, names=net.hypothesis_ids)
    counts = latent_counts(net, log_lam, states, rng)
    theta, q = parameters(net, counts, rng, rule)
    margs, log_z = posterior_batch(net, log_lam, theta=theta, q=q)
    return PosteriorDraws(theta, q, margs, log_z, counts)
