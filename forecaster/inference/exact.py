"""Exact inference on the prior-mean network (MODEL.md §4) by variable elimination: the
posterior of every hypothesis, leave-one-out posteriors ("what moved it"), the log evidence and
exact joint-state draws. The reference for the sampler and for every derived analysis; numpy
only, so it loads in a blink.

The network becomes factors (forecaster.inference.elimination) over its hypotheses (variables
0..H−1) and its mechanisms (H..H+M−1, two states: occurred, not occurred): each hypothesis table
on its parents; each reported indicator, L_j = λ1 q_j + λ0 (1 − q_j) on its hypothesis parents
(and its mechanism, whose two rows it has); each mechanism with a reported indicator, its table
m_k on its parents. Summing a mechanism out gives MODEL.md §4's closed form
m Π_j L_j(occurred) + (1 − m) Π_j L_j(not occurred); leaving that to the elimination order keeps
the factors small (the closed form spans every hypothesis any of its indicators depends on).
Every function takes evidence with a leading batch axis (B, J, 2) and parameters with one
((D, T) θ, (D, R) q), so leave-one-out, value of information and per-draw posteriors are one
batched pass each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from forecaster.inference import elimination as ve
from forecaster.inference.elimination import Factor
from forecaster.model.cliques import check_network, factor_scopes, network_plan
from forecaster.model.network import Network


def _batched(x: np.ndarray, ndim: int) -> np.ndarray:
    return x[None] if x.ndim == ndim else x


def _table(net: Network, flat: np.ndarray, start: int, parents: tuple[int, ...], tail: tuple[int, ...] = ()) -> np.ndarray:
    """Rows of a flat parameter vector (B, ·) from `start`, shaped (B, *parent sizes, *tail)."""
    shape = tuple(net.sizes[p] for p in parents) + tail
    n = int(np.prod(shape, dtype=np.int64))
    return flat[:, start : start + n].reshape(flat.shape[0], *shape)


def network_factors(
    net: Network,
    log_lam: np.ndarray,
    *,
    theta: np.ndarray | None = None,
    q: np.ndarray | None = None,
    mech_lam: np.ndarray | None = None,
    q_fail: np.ndarray | None = None,
    mechanisms: Sequence[int] = (),
) -> list[Factor]:
    """The factors of P(s, m, E | θ, q, m) (MODEL.md §4). `log_lam` (J, 2) or (B, J, 2); `theta`
    (T,) or (D, T), `q` (R,) or (D, R), default the prior means; `mech_lam` (M, 2) or (B, M, 2),
    optional likelihoods on the mechanisms themselves (a mechanism observed, for diagnosticity).
    `q_fail`: the weight of each row's node *not* occurring, default 1 − q (the exact draws'
    density check passes other weights). Indicators and mechanisms with no report in any batch
    row add no factor (they sum out to one), but for the `mechanisms` asked for by index."""
    sizes = net.sizes
    theta = _batched(net.theta_mean_flat if theta is None else np.asarray(theta, dtype=float), 1)
    q = _batched(net.q_mean if q is None else np.asarray(q, dtype=float), 1)
    q_not = 1.0 - q if q_fail is None else _batched(np.asarray(q_fail, dtype=float), 1)
    log_lam = _batched(np.asarray(log_lam, dtype=float), 2)
    lam = np.exp(log_lam)  # (B, J, 2)
    reported = np.any(log_lam != 0.0, axis=(0, 2))
    out: list[Factor] = []
    for h in range(len(sizes)):
        parents = net.index_of(net.hypothesis_parents[h])
        out.append(ve.factor((*parents, h), _table(net, theta, net.theta_offsets[h], parents, (sizes[h],)), child=h))
    mech_of = net.mechanism_of
    for j in (int(x) for x in np.flatnonzero(reported)):
        parents = net.index_of(net.indicator_parents[j])
        k = int(mech_of[j])
        tail = () if k < 0 else (2,)  # with a mechanism: rows given it occurred, not occurred
        rows, fail = (_table(net, x, net.q_offsets[j], parents, tail) for x in (q, q_not))
        shape = (-1, *([1] * (rows.ndim - 1)))
        values = lam[:, j, 0].reshape(shape) * rows + lam[:, j, 1].reshape(shape) * fail
        out.append(ve.factor(parents if k < 0 else (*parents, len(sizes) + k), values))
    observed = np.zeros(len(net.mechanism_ids), dtype=bool)
    if mech_lam is not None:
        mech_lam = _batched(np.asarray(mech_lam, dtype=float), 2)
        observed = np.any(mech_lam != 0.0, axis=(0, 2))
    for k in range(len(net.mechanism_ids)):
        if not observed[k] and k not in mechanisms and not any(reported[j] for j in net.children(k)):
            continue
        parents = net.index_of(net.mechanism_parents[k])
        m, m_not = (_table(net, x, net.m_offsets[k], parents) for x in (q, q_not))
        values = np.stack(np.broadcast_arrays(m, m_not), axis=-1)
        if observed[k]:
            assert mech_lam is not None
            values = values * np.exp(mech_lam[:, k, :]).reshape(-1, *([1] * len(parents)), 2)
        out.append(ve.factor((*parents, len(sizes) + k), values, child=len(sizes) + k))
    return out


def variable_sizes(net: Network) -> tuple[int, ...]:
    """State counts of the engine's variables: the hypotheses, then the mechanisms (2 each)."""
    return net.sizes + (2,) * len(net.mechanism_ids)


def variable_names(net: Network) -> tuple[str, ...]:
    return net.hypothesis_ids + net.mechanism_ids


def posterior_batch(
    net: Network,
    log_lam: np.ndarray,
    *,
    theta: np.ndarray | None = None,
    q: np.ndarray | None = None,
    mech_lam: np.ndarray | None = None,
    q_fail: np.ndarray | None = None,
) -> tuple[list[np.ndarray], np.ndarray]:
    """P(H_h | E, θ, q, m) for every hypothesis, each (B, K_h), and log P(E | θ, q, m) (B,),
    for a batch of evidence rows and/or parameter draws; work split into chunks of bounded size."""
    factors = network_factors(net, log_lam, theta=theta, q=q, mech_lam=mech_lam, q_fail=q_fail)
    batch = max(f.batch for f in factors)
    sizes, names, targets = variable_sizes(net), variable_names(net), range(len(net.sizes))
    structure = index_scopes(net)
    widest = max(ve.choose([f.scope for f in factors], sizes, (), structure).largest, 1)
    step = max(1, ve.CHUNK_CELLS // widest)
    if batch <= step:
        margs, log_z = ve.marginals(factors, sizes, targets, names=names, structure=structure)
        return _filled(margs, log_z, _rows_asked(log_lam, theta, q))
    parts = [
        _filled(*ve.marginals([_rows(f, start, step) for f in factors], sizes, targets, names=names, structure=structure),
                min(step, batch - start))
        for start in range(0, batch, step)
    ]
    margs = [np.concatenate([p[0][h] for p in parts]) for h in range(len(net.sizes))]
    return margs, np.concatenate([p[1] for p in parts])


def cells_per_draw(net: Network, log_lam: np.ndarray) -> int:
    """The work of P(H | E, θ, q, m) for one parameter draw: the clique states of one elimination
    of every variable (a calibration makes about three such passes). The exact sampler's budget counts it."""
    factors = network_factors(net, log_lam)
    every = sorted({v for f in factors for v in f.scope})
    scopes = [f.scope for f in factors] + [(v,) for v in every]
    return ve.choose(scopes, variable_sizes(net), (), index_scopes(net)).cells


def _filled(margs: list[np.ndarray], log_z: np.ndarray, rows: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Every answer with `rows` rows: a hypothesis that no batched factor reaches (rows that differ
    only where nothing is reported, or a part of the network apart from every report) has one."""
    margs = [m if m.shape[0] == rows else np.repeat(m, rows, axis=0) for m in margs]
    return margs, log_z if log_z.shape[0] == rows else np.repeat(log_z, rows)


def _rows_asked(log_lam: np.ndarray, theta: np.ndarray | None, q: np.ndarray | None) -> int:
    sizes = [np.shape(log_lam)[0] if np.ndim(log_lam) == 3 else 1]
    sizes += [np.shape(x)[0] for x in (theta, q) if x is not None and np.ndim(x) == 2]
    return max(sizes)


def _rows(f: Factor, start: int, n: int) -> Factor:
    return f if f.batch == 1 else Factor(f.scope, f.values[start : start + n], f.child)


def posterior(net: Network, log_lam: np.ndarray) -> list[np.ndarray]:
    """P(H_h | E) on the prior-mean network, (K_h,) per hypothesis."""
    margs, _ = posterior_batch(net, log_lam)
    return [m[0] for m in margs]


def reported_indicators(log_lam: np.ndarray) -> list[int]:
    return [j for j in range(log_lam.shape[0]) if np.any(log_lam[j] != 0.0)]


@dataclass(frozen=True)
class ExactResult:
    prior: list[np.ndarray]
    posterior: list[np.ndarray]
    without: dict[str, list[np.ndarray]]  # posterior with one reported indicator's reports removed
    #: posterior with all of one mechanism's indicators' reports removed (mechanisms with reports)
    without_mechanism: dict[str, list[np.ndarray]] = field(default_factory=dict)
    log_evidence: float = 0.0  # log P(E) on the prior-mean network (λ as scaled by Network.log_lambda)


def infer_exact(net: Network, log_lam: np.ndarray) -> ExactResult:
    """Prior, posterior, and leave-one-out posteriors (per indicator and per mechanism), in one
    batched elimination: row 0 no evidence, row 1 all of it, then one row per left-out unit."""
    reported = reported_indicators(log_lam)
    mech_of = net.mechanism_of
    mechs = sorted({int(mech_of[j]) for j in reported if mech_of[j] >= 0})
    rows = [np.zeros_like(log_lam), log_lam]
    for j in reported:
        r = log_lam.copy()
        r[j] = 0.0
        rows.append(r)
    for k in mechs:
        r = log_lam.copy()
        r[mech_of == k] = 0.0
        rows.append(r)
    margs, log_z = posterior_batch(net, np.stack(rows))
    prior = [m[0] for m in margs]
    post = [m[1] for m in margs]
    without = {net.indicator_ids[j]: [m[2 + i] for m in margs] for i, j in enumerate(reported)}
    base = 2 + len(reported)
    without_m = {net.mechanism_ids[k]: [m[base + i] for m in margs] for i, k in enumerate(mechs)}
    return ExactResult(prior, post, without, without_m, float(log_z[1]))


def sample_joint(net: Network, log_lam: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n i.i.d. joint hypothesis states from P(s | E) on the prior-mean network, (n, H)."""
    return joint_sampler(net, log_lam).draw(n, rng)[:, : len(net.sizes)]


def joint_sampler(net: Network, log_lam: np.ndarray) -> ve.BackwardSampler:
    """Backward sampling of (hypotheses, mechanisms) from P(s, m | E) on the prior-mean network. A
    mechanism without reports has no factor: its column is drawn over ones and never read."""
    return ve.backward_sampler(
        network_factors(net, log_lam), variable_sizes(net), names=variable_names(net), structure=index_scopes(net)
    )


def structure_scopes(net: Network) -> list[tuple[str, ...]]:
    """The scope of every factor the network can have (every indicator reported), by name."""
    mechanism = [net.mechanism_ids[k] if k >= 0 else None for k in net.mechanism_of]
    return factor_scopes(
        dict(zip(net.hypothesis_ids, net.hypothesis_parents, strict=True)),
        list(zip(net.indicator_parents, mechanism, strict=True)),
        dict(zip(net.mechanism_ids, net.mechanism_parents, strict=True)),
    )


def index_scopes(net: Network) -> list[tuple[int, ...]]:
    """`structure_scopes` as sorted variable indices (hypotheses, then mechanisms)."""
    pos = {v: i for i, v in enumerate(variable_names(net))}
    return [tuple(sorted(pos[v] for v in scope)) for scope in structure_scopes(net)]


def _sizes(net: Network) -> dict[str, int]:
    return dict(zip(variable_names(net), variable_sizes(net), strict=True))


def network_bound(net: Network) -> tuple[ve.Plan, list[str]]:
    """The largest clique any contraction on `net` needs (what `priors validate` checks), with the
    variables' names by index."""
    return network_plan(_sizes(net), structure_scopes(net), net.hypothesis_ids)


def check_network_size(net: Network) -> None:
    """A PriorsError naming the clique when the network is past the engine's limit (docs/LIMITS.md)."""
    check_network(_sizes(net), structure_scopes(net), net.hypothesis_ids)
