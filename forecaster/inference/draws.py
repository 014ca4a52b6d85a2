"""Exact, i.i.d. draws from the posterior of the network's parameters (MODEL.md §4, "Exact
posterior draws"). numpy only: the check of these draws against the PyMC model's own density
lives with the model (forecaster.inference.pymc_model).

Given the latent discrete states every prior is conjugate, so p(θ, q, m | E) is a finite mixture:
1. a joint state of the hypotheses and mechanisms (s, m) ~ P(s, m | E), by backward sampling
   through the elimination order;
2. each reported indicator's latent occurrence given s, its mechanism and its reports;
3. one count for every table row the draw used (`CONJUGATE`): a θ row Dirichlet(α + e_{s_h}), a q
   or m row Beta(a + 1, b) if its node occurred, else Beta(a, b + 1); every other row its prior.
Then P(H | E, θ, q, m) for every draw by one batched elimination.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from forecaster.inference.elimination import BackwardSampler
from forecaster.inference.exact import joint_sampler, posterior_batch
from forecaster.model.network import Network


@dataclass(frozen=True)
class Rule:
    """The conjugate update: (prior parameters, counts) -> posterior parameters, for θ rows
    (α, counts) and for q rows ((a, b), (successes, failures)). The density check evaluates the
    mixture with the same rule the draws used, so a wrong rule cannot pass it."""

    #: (α, counts, flat θ positions of the last axis) -> posterior α
    dirichlet: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    #: (a, b, successes, failures, flat q rows of the last axis) -> posterior (a, b)
    beta: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _add(alpha: np.ndarray, counts: np.ndarray, index: np.ndarray) -> np.ndarray:
    return alpha + counts


def _add_beta(
    a: np.ndarray, b: np.ndarray, success: np.ndarray, failure: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    return a + success, b + failure


#: MODEL.md §4: every row the draw used gets one count.
CONJUGATE = Rule(_add, _add_beta)


#: Draws are made in chunks of this many (memory: chunk × table rows).
CHUNK = 20_000
#: Draws whose full parameter vector (θ and every q row) is kept, for the density check.
KEPT = 128


@dataclass(frozen=True)
class PosteriorDraws:
    """P(H | E, θ, q, m) per hypothesis (D, K_h) for every draw; θ (C, T) and q (C, R), the full
    parameter vectors in the network's flat layout, for the first C draws (`KEPT`)."""

    marginals: list[np.ndarray]
    theta: np.ndarray
    q: np.ndarray

    @property
    def n(self) -> int:
        return int(self.marginals[0].shape[0])


def used_rows(net: Network, log_lam: np.ndarray) -> np.ndarray:
    """The q rows P(H | E, θ, q, m) reads: every row of a reported indicator and of a mechanism
    with a reported indicator. The others keep their prior and move no posterior."""
    bounds = [*net.q_offsets, *net.m_offsets, len(net.q_a)]
    rows: list[int] = []
    mech_of = net.mechanism_of
    reported = [j for j in range(len(net.indicator_ids)) if np.any(log_lam[j] != 0.0)]
    for j in reported:
        rows.extend(range(bounds[j], bounds[j + 1]))
    for k in sorted({int(mech_of[j]) for j in reported if mech_of[j] >= 0}):
        i = len(net.indicator_ids) + k
        rows.extend(range(bounds[i], bounds[i + 1]))
    return np.asarray(rows, dtype=np.int64)


def latent_counts(
    net: Network, log_lam: np.ndarray, states: np.ndarray, rng: np.random.Generator, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Step 2 and the counts of step 3 for joint states of the hypotheses and mechanisms (D, H + M),
    at the prior means: a count per θ entry (D, T), and successes and failures per q row of
    `rows` (D, len(rows)). A mechanism's state comes with the joint draw (backward sampling
    draws it with the hypotheses); each reported indicator's latent occurrence given it."""
    n = states.shape[0]
    draws = np.arange(n)
    theta = np.zeros((n, net.theta_mean_flat.size))
    for h in range(len(net.hypothesis_ids)):
        row = net.config_rows(net.hypothesis_parents[h], states)
        theta[draws, net.theta_offsets[h] + row * net.sizes[h] + states[:, h]] = 1.0
    column = np.full(len(net.q_a), -1, dtype=np.int64)
    column[rows] = np.arange(len(rows))
    success = np.zeros((n, len(rows)))
    failure = np.zeros_like(success)
    q = net.q_mean
    lam = np.exp(log_lam)
    reported = [j for j in range(len(net.indicator_ids)) if np.any(log_lam[j] != 0.0)]

    def count(at: np.ndarray, yes: np.ndarray) -> None:
        success[draws, column[at]] += yes
        failure[draws, column[at]] += ~yes

    def occurs(j: int, at: np.ndarray) -> None:
        """Indicator j's latent occurrence, its table row `at` (D,) given the draw's states."""
        w1, w0 = lam[j, 0] * q[at], lam[j, 1] * (1.0 - q[at])
        count(at, rng.random(n) * (w1 + w0) < w1)

    mech_of = net.mechanism_of
    for j in reported:
        if mech_of[j] < 0:
            occurs(j, net.q_offsets[j] + net.config_rows(net.indicator_parents[j], states))
    hyps = len(net.sizes)
    for k in range(len(net.mechanism_ids)):
        kids = [j for j in reported if mech_of[j] == k]
        if not kids:
            continue
        not_occurred = states[:, hyps + k]  # the mechanism's state, drawn with the hypotheses: 0 occurred
        count(net.m_offsets[k] + net.config_rows(net.mechanism_parents[k], states), not_occurred == 0)
        for j in kids:
            occurs(j, net.q_offsets[j] + 2 * net.config_rows(net.indicator_parents[j], states) + not_occurred)
    return theta, success, failure


def dirichlet_rows(net: Network, alpha: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """θ (D, T): every Dirichlet row drawn from its parameters in `alpha` (D, T), flat layout."""
    gam = rng.standard_gamma(alpha)
    theta = np.empty_like(gam)
    n = gam.shape[0]
    for h, a in enumerate(net.alpha):
        start, k = net.theta_offsets[h], a.shape[1]
        block = gam[:, start : start + a.size].reshape(n, -1, k)
        theta[:, start : start + a.size] = (block / block.sum(axis=2, keepdims=True)).reshape(n, -1)
    return theta


def _chunk(
    net: Network, log_lam: np.ndarray, sampler: BackwardSampler, rows: np.ndarray, n: int, rng: np.random.Generator, rule: Rule
) -> tuple[np.ndarray, np.ndarray]:
    """n draws: θ (n, T) and q (n, R), the rows outside `rows` left at their prior means (unread)."""
    counts, success, failure = latent_counts(net, log_lam, sampler.draw(n, rng), rng, rows)
    alpha = np.concatenate([a.ravel() for a in net.alpha])[None, :]
    theta = dirichlet_rows(net, np.broadcast_to(rule.dirichlet(alpha, counts, np.arange(alpha.shape[1])), counts.shape), rng)
    q = np.broadcast_to(net.q_mean, (n, len(net.q_a))).copy()
    if len(rows):
        a, b = rule.beta(net.q_a[rows][None, :], net.q_b[rows][None, :], success, failure, rows)
        q[:, rows] = rng.beta(np.broadcast_to(a, success.shape), np.broadcast_to(b, success.shape))
    return theta, q


def draw_posterior(net: Network, log_lam: np.ndarray, n: int, *, seed: int, rule: Rule = CONJUGATE, kept: int = KEPT) -> PosteriorDraws:
    """n exact i.i.d. draws of (θ, q, m) from their posterior given the evidence, as P(H | E, θ, q, m)
    per draw; the first `kept` draws' full parameters (their unread q rows drawn from the rule with
    no count, as every draw's would be)."""
    rng = np.random.default_rng(seed)
    sampler = joint_sampler(net, log_lam)
    rows = used_rows(net, log_lam)
    margs: list[list[np.ndarray]] = [[] for _ in net.sizes]
    theta_kept, q_kept = np.zeros((0, net.theta_mean_flat.size)), np.zeros((0, len(net.q_a)))
    for start in range(0, n, CHUNK):
        theta, q = _chunk(net, log_lam, sampler, rows, min(CHUNK, n - start), rng, rule)
        part, _ = posterior_batch(net, log_lam, theta=theta, q=q)
        for h, m in enumerate(part):
            margs[h].append(m)
        if start == 0:
            theta_kept, q_kept = theta[:kept], q[:kept].copy()
    unread = np.setdiff1d(np.arange(len(net.q_a)), rows)
    if len(unread) and len(q_kept):
        zero = np.zeros((len(q_kept), len(unread)))
        a, b = rule.beta(net.q_a[unread][None, :], net.q_b[unread][None, :], zero, zero, unread)
        q_kept[:, unread] = rng.beta(np.broadcast_to(a, zero.shape), np.broadcast_to(b, zero.shape))
    return PosteriorDraws([np.concatenate(m) for m in margs], theta_kept, q_kept)
