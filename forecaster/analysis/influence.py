"""How much each judgment matters: disagreement between sources, influence of each panelist
(leave one out, the other pool) on the current posterior, and each indicator's diagnosticity."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from forecaster.analysis.findings import _EPS, _all_nodes, _kind
from forecaster.core.errors import PriorsError
from forecaster.inference.exact import posterior, posterior_batch
from forecaster.model.evidence import FoldedEvidence
from forecaster.model.network import Network, build_network
from forecaster.model.priors import Priors

# ----------------------------------------------------------------------------- disagreement


@dataclass(frozen=True)
class Disagreement:
    """For one table: the largest difference between two sources' probabilities, and pooled N."""

    node: str
    kind: str  # hypothesis | indicator | mechanism
    parents: tuple[str, ...]  # the table's parents (an indicator's mechanism last)
    sources: tuple[str, ...]
    largest: float
    between: tuple[str, str] | None
    config: tuple[str, ...]
    state: str
    pooled_n: float  # at the row of the largest difference
    min_pooled_n: float


def disagreement(priors: Priors) -> list[Disagreement]:
    out = []
    for node_obj in _all_nodes(priors):
        node = node_obj.id
        kind = _kind(priors, node)
        best: tuple[float, tuple[str, str] | None, tuple[str, ...], str] = (
            0.0,
            None,
            priors.configs(node)[0],
            node_obj.states[0],
        )
        sources: dict[str, None] = {}
        ns = {}
        for cfg in priors.configs(node):
            js = priors.judgments_for(node, cfg)
            sources.update(dict.fromkeys(j.source for j in js))
            ns[cfg] = priors.pooled(node, cfg).concentration
            for a, b in itertools.combinations(js, 2):
                for s, state in enumerate(node_obj.states):
                    d = abs(a.probs[s] - b.probs[s])
                    if d > best[0] + _EPS:
                        best = (d, (a.source, b.source), cfg, state)
        largest, between, config, state = best
        out.append(
            Disagreement(
                node=node,
                kind=kind,
                parents=node_obj.table_parents,
                sources=tuple(sources),
                largest=largest,
                between=between,
                config=config,
                state=state,
                pooled_n=ns[config],
                min_pooled_n=min(ns.values()),
            )
        )
    return out


# ----------------------------------------------------------------------------- influence


Posterior = dict[str, dict[str, float]]  # hypothesis -> state -> probability


def exact_posterior(
    priors: Priors, evidence: Mapping[str, FoldedEvidence], *, method: str | None = None, exclude: str | None = None
) -> Posterior:
    """P(H | E) on the exact engine with the pooled prior means (MODEL.md §4, the exact check)."""
    net = build_network(priors, method=method, exclude=exclude)
    return _posterior(net, evidence)


def _posterior(net: Network, evidence: Mapping[str, FoldedEvidence]) -> Posterior:
    log_lam = net.log_lambda({k: v for k, v in evidence.items() if k in net.indicator_ids})
    margs = posterior(net, log_lam)  # mechanisms in closed form (MODEL.md §4)
    return {
        h: {s: float(m[i]) for i, s in enumerate(states)}
        for h, states, m in zip(net.hypothesis_ids, net.states, margs, strict=True)
    }


def _shift(a: Posterior, b: Posterior) -> tuple[float, str, str]:
    """Largest |b − a| over common states: (size, hypothesis, state)."""
    best = (0.0, "", "")
    for h, states in a.items():
        for s, p in states.items():
            if h in b and s in b[h] and abs(b[h][s] - p) > best[0]:
                best = (abs(b[h][s] - p), h, s)
    return best


@dataclass(frozen=True)
class Variant:
    """The forecast under one alternative choice: one panelist left out, or the other pool."""

    label: str
    kind: str  # leave_one_out | pooling
    expert: str | None
    method: str
    posterior: Posterior
    shift: float
    hypothesis: str
    state: str


@dataclass(frozen=True)
class Influence:
    method: str
    reports: int
    indicators_reported: tuple[str, ...]
    baseline: Posterior
    variants: tuple[Variant, ...]
    refused: str | None = None  # why leave-one-out was not run

    @property
    def top_expert(self) -> Variant | None:
        loo = [v for v in self.variants if v.kind == "leave_one_out"]
        return max(loo, key=lambda v: v.shift) if loo else None

    @property
    def pooling(self) -> Variant | None:
        return next((v for v in self.variants if v.kind == "pooling"), None)


def _loo_refusal(priors: Priors) -> str | None:
    if len(priors.experts) >= 2:
        return None
    only = priors.experts[0].id if priors.experts else "nobody"
    return (
        f"leave-one-out refused: the panel has one expert ({only}); without them no hypothesis table has a judgment "
        "left, so there is nothing to compare. Add a second panelist to measure each one's influence."
    )


def leave_one_out(priors: Priors, evidence: Mapping[str, FoldedEvidence]) -> list[Variant]:
    """The posterior with each panelist left out in turn (MODEL.md §5, sensitivity)."""
    refusal = _loo_refusal(priors)
    if refusal:
        raise PriorsError(refusal)
    base = exact_posterior(priors, evidence)
    out = []
    for e in priors.experts:
        post = exact_posterior(priors, evidence, exclude=e.id)
        size, h, s = _shift(base, post)
        out.append(Variant(f"without {e.id}", "leave_one_out", e.id, priors.method, post, size, h, s))
    return out


def influence(priors: Priors, evidence: Mapping[str, FoldedEvidence]) -> Influence:
    base = exact_posterior(priors, evidence)
    refusal = _loo_refusal(priors)
    variants = [] if refusal else leave_one_out(priors, evidence)
    other = "logarithmic" if priors.method == "linear" else "linear"
    post = exact_posterior(priors, evidence, method=other)
    size, h, s = _shift(base, post)
    variants.append(Variant(f"{other} pool", "pooling", None, other, post, size, h, s))
    reported = tuple(k for k in evidence if k in priors.indicator_ids)
    n_reports = sum(v.reports for k, v in evidence.items() if k in priors.indicator_ids)
    return Influence(priors.method, n_reports, reported, base, tuple(variants), refusal)


# ----------------------------------------------------------------------------- diagnosticity


@dataclass(frozen=True)
class Diagnosticity:
    indicator: str
    parents: tuple[str, ...]
    weight_db: float  # the largest weight of evidence a certain report carries between two configurations
    between: tuple[tuple[str, ...], tuple[str, ...]]
    outcome: str  # occurred | not_occurred: the report that carries it
    spread: float  # max − min pooled P(occurred)
    information: float  # bits, with the best-informed hypothesis, under the pooled prior
    informs: str
    #: "mechanism": the weight of knowing the episode occurred (or not), from its P(occurred | parents);
    #: no report is ever on a mechanism (MODEL.md §1), its indicators' rows are what a report carries
    kind: str = "indicator"


def _observed(net: Network) -> tuple[list[np.ndarray], np.ndarray, list[np.ndarray], np.ndarray, list[np.ndarray]]:
    """Under the pooled prior, no evidence: P(H) per hypothesis (K,), P(I_j occurred) (J,) with
    P(H | I_j occurred) per hypothesis (J, K), and the same for each mechanism (M,), (M, K): one
    batched elimination, each node observed as occurred in a row of its own."""
    n_ind, n_mech = len(net.indicator_ids), len(net.mechanism_ids)
    rows = 1 + n_ind + n_mech
    log_lam = np.zeros((rows, n_ind, 2))
    log_lam[1 + np.arange(n_ind), np.arange(n_ind), 1] = -np.inf
    mech_lam = np.zeros((rows, n_mech, 2))
    mech_lam[1 + n_ind + np.arange(n_mech), np.arange(n_mech), 1] = -np.inf
    margs, log_z = posterior_batch(net, log_lam, mech_lam=mech_lam if n_mech else None)
    p = np.exp(log_z - log_z[0])
    prior = [m[0] for m in margs]
    return prior, p[1 : 1 + n_ind], [m[1 : 1 + n_ind] for m in margs], p[1 + n_ind :], [m[1 + n_ind :] for m in margs]


def _information(px: np.ndarray, p1: np.ndarray, given: np.ndarray) -> np.ndarray:
    """Mutual information (bits) between a binary node and a hypothesis, per node: P(H = x) (K,),
    P(node occurred) (N,), P(H = x | occurred) (N, K)."""
    p1x = p1[:, None] * given
    p0x = px[None, :] - p1x
    p1 = p1[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = np.where(p1x > 0, p1x * np.log2(p1x / (p1 * px)), 0.0)
        t0 = np.where(p0x > 1e-300, p0x * np.log2(p0x / ((1 - p1) * px)), 0.0)
    return (t1 + t0).sum(axis=1)


def _occurrence(net: Network, j: int, states: np.ndarray) -> np.ndarray:
    """P(I_j occurred | s) at the prior means for joint states `states` (N, H), a mechanism summed
    out: m · q_j(occurred) + (1 − m) · q_j(not occurred)."""
    q = net.q_mean
    ind = net.config_rows(net.indicator_parents[j], states)
    k = int(net.mechanism_of[j])
    if k < 0:
        return q[net.q_offsets[j] + ind]
    m = q[net.m_offsets[k] + net.config_rows(net.mechanism_parents[k], states)]
    return m * q[net.q_offsets[j] + 2 * ind] + (1 - m) * q[net.q_offsets[j] + 2 * ind + 1]


def diagnosticity(priors: Priors) -> list[Diagnosticity]:
    """Indicators ranked by how strongly their pooled likelihoods separate the hypothesis states.

    An indicator on a mechanism is judged by what a report on it says about the hypotheses: its
    likelihood with the mechanism summed out, P(I | hypotheses) = m q(occurred) + (1 − m) q(not),
    over the configurations of its and its mechanism's hypothesis parents (`parents`)."""
    net = build_network(priors)
    px, p_ind, given_ind, p_mech, given_mech = _observed(net)
    info = np.stack([_information(px[h], p_ind, given_ind[h]) for h in range(len(px))], axis=1) if len(p_ind) else np.zeros((0, len(px)))
    hpos = {h: i for i, h in enumerate(net.hypothesis_ids)}
    mech_parents = {m.id: m.parents for m in priors.mechanisms}
    out = []
    for j, ind in enumerate(priors.indicators):
        if ind.mechanism:
            parents = tuple(dict.fromkeys((*ind.parents, *mech_parents[ind.mechanism])))
            combos = list(itertools.product(*(range(net.sizes[hpos[p]]) for p in parents)))
            states = np.zeros((len(combos), len(net.sizes)), dtype=np.int64)
            states[:, [hpos[p] for p in parents]] = combos
            occurs = _occurrence(net, j, states)
            q = {
                tuple(net.states[hpos[p]][i] for p, i in zip(parents, idx, strict=True)): min(max(float(o), 1e-6), 1 - 1e-6)
                for idx, o in zip(combos, occurs, strict=True)
            }
            configs = list(q)
        else:
            parents = ind.parents
            configs = priors.configs(ind.id)
            q = {c: min(max(priors.pooled(ind.id, c).mean[0], 1e-6), 1 - 1e-6) for c in configs}
        best = (0.0, (configs[0], configs[0]), "occurred")
        for a, b in itertools.combinations(configs, 2):
            for outcome, (x, y) in (("occurred", (q[a], q[b])), ("not_occurred", (1 - q[a], 1 - q[b]))):
                w = abs(10 * math.log10(x / y))
                if w > best[0]:
                    best = (w, (a, b) if x >= y else (b, a), outcome)
        h = int(np.argmax(info[j]))
        out.append(
            Diagnosticity(
                ind.id,
                parents,
                best[0],
                best[1],
                best[2],
                max(q.values()) - min(q.values()),
                float(max(info[j, h], 0.0)),
                net.hypothesis_ids[h],
            )
        )
    out += _mechanism_rows(priors, net, px, p_mech, given_mech)
    return sorted(out, key=lambda d: (-round(d.weight_db, 9), -d.information, d.indicator))


def _mechanism_rows(
    priors: Priors, net: Network, px: list[np.ndarray], p_mech: np.ndarray, given: list[np.ndarray]
) -> list[Diagnosticity]:
    """Each mechanism as if it were observed: its weight of evidence across parent configurations
    and its mutual information with the best-informed hypothesis under the pooled prior."""
    out = []
    for k, mech in enumerate(priors.mechanisms):
        configs = priors.configs(mech.id)
        m = {c: min(max(priors.pooled(mech.id, c).mean[0], 1e-6), 1 - 1e-6) for c in configs}
        best = (0.0, (configs[0], configs[0]), "occurred")
        for a, b in itertools.combinations(configs, 2):
            for outcome, (x, y) in (("occurred", (m[a], m[b])), ("not_occurred", (1 - m[a], 1 - m[b]))):
                w = abs(10 * math.log10(x / y))
                if w > best[0]:
                    best = (w, (a, b) if x >= y else (b, a), outcome)
        info = [float(_information(px[h], p_mech[k : k + 1], given[h][k : k + 1])[0]) for h in range(len(px))]
        h = int(np.argmax(info))
        out.append(Diagnosticity(mech.id, mech.parents, best[0], best[1], best[2], max(m.values()) - min(m.values()),
                                 max(info[h], 0.0), net.hypothesis_ids[h], "mechanism"))
    return out
