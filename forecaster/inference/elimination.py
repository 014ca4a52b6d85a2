"""Variable elimination over the hypothesis DAG (MODEL.md §4): exact marginals, the log
evidence and exact joint-state draws, without ever building the joint table.

A *factor* is an array over a few hypotheses (its scope, kept in ascending hypothesis order, so
that two factors broadcast against each other without transposing) with a leading batch axis:
one row per evidence variant (leave-one-out, value of information) or per parameter draw. The
network's factors are its hypothesis tables and, for every reported indicator and every
mechanism with reports, the evidence as a factor on its hypothesis parents
(`forecaster.inference.factors` builds them). Eliminating a hypothesis multiplies the factors
that hold it and sums it out; the cost is that of the largest product (the elimination clique),
which `MAX_FACTOR` bounds. Elimination orders come from `forecaster.model.cliques` (min-fill).

Every intermediate factor is rescaled to a maximum of 1 per batch row and the scale kept in
log space, so long evidence never underflows. numpy only: no pymc here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from forecaster.model.cliques import MAX_FACTOR, Plan, check_size, ordered, plan

__all__ = ["MAX_FACTOR", "Plan", "check_size", "ordered", "plan"]

#: Batched work is split so that one intermediate array holds at most this many numbers (~64 MB).
CHUNK_CELLS = 8_000_000


@dataclass(frozen=True)
class Factor:
    """Values over `scope` (ascending hypothesis indices), shape (B, *sizes of scope), B ≥ 1.

    `child`: the hypothesis whose table this is (None for evidence): such a factor sums to one
    over its child, so it can be dropped when nothing below it is asked or observed."""

    scope: tuple[int, ...]
    values: np.ndarray
    child: int | None = None

    @property
    def batch(self) -> int:
        return int(self.values.shape[0])


def factor(scope: Sequence[int], values: np.ndarray, *, child: int | None = None) -> Factor:
    """A factor whose axes (after the batch axis) follow `scope` in any order, put in ascending order."""
    scope = tuple(int(v) for v in scope)
    perm = sorted(range(len(scope)), key=lambda i: scope[i])
    if perm != list(range(len(scope))):
        values = values.transpose(0, *(1 + p for p in perm))
    return Factor(tuple(scope[p] for p in perm), values, child)


def expand(values: np.ndarray, scope: Sequence[int], into: Sequence[int], sizes: Sequence[int]) -> np.ndarray:
    """A factor's values reshaped to broadcast over `into` (both ascending): size-1 axes where it has none."""
    present = set(scope)
    return values.reshape(values.shape[0], *(sizes[v] if v in present else 1 for v in into))


# ----------------------------------------------------------------------------- contraction


def relevant(factors: Sequence[Factor], keep: Sequence[int]) -> list[Factor]:
    """Drop the tables of hypotheses that are neither kept, observed below, nor their ancestors
    (barren nodes sum out to one)."""
    needed = set(keep)
    for f in factors:
        if f.child is None:
            needed.update(f.scope)
    parents = {f.child: [v for v in f.scope if v != f.child] for f in factors if f.child is not None}
    stack = list(needed)
    while stack:
        for p in parents.get(stack.pop(), ()):
            if p not in needed:
                needed.add(p)
                stack.append(p)
    return [f for f in factors if f.child is None or f.child in needed]


def _product(parts: Sequence[Factor], sizes: Sequence[int]) -> tuple[tuple[int, ...], np.ndarray]:
    scope = tuple(sorted({v for f in parts for v in f.scope}))
    out = expand(parts[0].values, parts[0].scope, scope, sizes)
    for f in parts[1:]:
        out = out * expand(f.values, f.scope, scope, sizes)
    return scope, out


def _rescale(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """values / max per batch row, and log of that max (0 where the row is all zero)."""
    top = values.reshape(values.shape[0], -1).max(axis=1)
    safe = np.where(top > 0, top, 1.0)
    return values / safe.reshape(-1, *([1] * (values.ndim - 1))), np.log(safe)


@dataclass
class _Step:
    """One elimination: variable `v`, the product ψ of what held it over `scope` (kept only when
    asked), the message Σ_v ψ it sent on (scaled to a maximum of 1), and the steps whose messages
    ψ took in."""

    v: int
    scope: tuple[int, ...]
    product: np.ndarray | None
    message: np.ndarray
    children: list[int]


@dataclass
class _Collected:
    steps: list[_Step]
    left: list[Factor]  # what no step took: factors over kept variables only
    log_scale: np.ndarray  # (B,): the scales taken out of the inputs and the messages
    batch: int


def _collect(factors: Sequence[Factor], order: Sequence[int], sizes: Sequence[int], *, keep_products: bool) -> _Collected:
    """Eliminate `order` from the product of `factors`: every input scaled to a maximum of 1 (tiny
    inputs never underflow a product), every message too, the scales summed in log space. A
    variable no factor holds is summed over a factor of ones."""
    work: list[tuple[Factor, int]] = []  # (factor, the step whose message it is; -1 for an input)
    log_scale = np.zeros(1)
    for f in factors:
        values, log_m = _rescale(f.values)
        work.append((Factor(f.scope, values, f.child), -1))
        log_scale = log_scale + log_m
    batch = max((f.batch for f in factors), default=1)
    log_scale = np.broadcast_to(log_scale, (batch,)).copy()
    steps: list[_Step] = []
    for i, v in enumerate(order):
        holding = [w for w in work if v in w[0].scope] or [(Factor((v,), np.ones((1, sizes[v]))), -1)]
        work = [w for w in work if v not in w[0].scope]
        scope, prod = _product([f for f, _ in holding], sizes)
        message, log_m = _rescale(prod.sum(axis=1 + scope.index(v)))
        log_scale = log_scale + log_m
        steps.append(_Step(v, scope, prod if keep_products else None, message, [src for _, src in holding if src >= 0]))
        work.append((Factor(tuple(u for u in scope if u != v), message), i))
    return _Collected(steps, [f for f, _ in work], log_scale, batch)


@dataclass(frozen=True)
class Contracted:
    """P(kept | E) per batch row, shape (B, *sizes of keep), and log P(E) (B,)."""

    keep: tuple[int, ...]
    probs: np.ndarray
    log_z: np.ndarray


def choose(scopes: Sequence[Sequence[int]], sizes: Sequence[int], keep: Sequence[int], structure: Sequence[Sequence[int]] = ()) -> Plan:
    """Min-fill's plan for these scopes, or, when it is larger, the order min-fill finds on the whole
    network's `structure` (what validation bounded): min-fill is greedy, and on a subset of the
    factors it can pick a worse order, while a fixed order never needs more on fewer factors."""
    p = plan(scopes, sizes, keep)
    if structure and p.largest > MAX_FACTOR:
        q = ordered(scopes, sizes, plan(structure, sizes, keep).order, keep)
        if q.largest < p.largest:
            return q
    return p


def contract(
    factors: Sequence[Factor], sizes: Sequence[int], keep: Sequence[int], *, names: Sequence[str] = (),
    order: Sequence[int] | None = None, structure: Sequence[Sequence[int]] = (),
) -> Contracted:
    """Sum every variable but `keep` out of the product of `factors` (batched), in the order
    `choose` finds (`structure`: every factor scope the network can have), or the given `order`
    (every variable of the relevant factors but `keep`, once each)."""
    keep = tuple(sorted(keep))
    work = relevant(factors, keep)
    if order is None:
        p = choose([f.scope for f in work], sizes, keep, structure)
        check_size(p, sizes, names or [str(v) for v in range(len(sizes))])
        order = p.order
    done = _collect(work, order, sizes, keep_products=False)
    work, batch, log_scale = done.left, done.batch, done.log_scale
    if work:
        scope, prod = _product(work, sizes)
        total = np.broadcast_to(expand(prod, scope, keep, sizes), (batch, *(sizes[v] for v in keep)))
    else:
        total = np.ones((batch, *(sizes[v] for v in keep)))
    z = total.reshape(batch, -1).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        probs = total / z.reshape(-1, *([1] * len(keep)))
        log_z = np.log(z) + log_scale
    return Contracted(keep, probs, log_z)


def marginals(
    factors: Sequence[Factor], sizes: Sequence[int], targets: Sequence[int], *, names: Sequence[str] = (),
    structure: Sequence[Sequence[int]] = (),
) -> tuple[list[np.ndarray], np.ndarray]:
    """P(v | E) for every target variable, each (B, K_v), and log P(E) (B,), by one calibration of
    the elimination tree (two passes, `calibrate`), whatever the number of targets."""
    beliefs, log_z = calibrate(factors, sizes, names=names, structure=structure)
    out = []
    for v in targets:
        scope, belief = beliefs[v]
        m = belief.sum(axis=tuple(1 + i for i, u in enumerate(scope) if u != v)) if len(scope) > 1 else belief
        out.append(m / m.sum(axis=1, keepdims=True))
    return out, log_z


def calibrate(
    factors: Sequence[Factor], sizes: Sequence[int], *, names: Sequence[str] = (), structure: Sequence[Sequence[int]] = ()
) -> tuple[dict[int, tuple[tuple[int, ...], np.ndarray]], np.ndarray]:
    """Collect and distribute on the elimination tree (Hugin style): eliminate every variable
    (collect: clique products ψ_i and their messages m_i, as `contract` does), then from the last
    clique back, send each clique the message of its parent's calibrated belief divided by the
    message it had sent up (0/0 read as 0: a configuration the evidence rules out stays out).
    Returns each variable's calibrated clique belief (unnormalised) and log P(E) (B,)."""
    every = sorted({v for f in factors for v in f.scope})
    p = choose([f.scope for f in factors] + [(v,) for v in every], sizes, (), structure)
    check_size(p, sizes, names or [str(v) for v in range(len(sizes))])
    done = _collect(factors, p.order, sizes, keep_products=True)
    steps = done.steps
    parent = {c: i for i, step in enumerate(steps) for c in step.children}
    total = np.ones((done.batch,))  # what is left: messages over no variable (all summed)
    for f in done.left:
        total = total * f.values.reshape(f.values.shape[0])
    log_z = np.log(total) + done.log_scale
    beliefs: dict[int, tuple[tuple[int, ...], np.ndarray]] = {}
    calibrated: dict[int, np.ndarray] = {}
    for i in range(len(steps) - 1, -1, -1):
        step = steps[i]
        assert step.product is not None
        belief = step.product
        if i in parent:
            up = steps[parent[i]]
            separator = tuple(u for u in step.scope if u != step.v)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = calibrated[parent[i]] / expand(step.message, separator, up.scope, sizes)
            ratio = np.where(np.isfinite(ratio), ratio, 0.0)
            axes = tuple(1 + k for k, u in enumerate(up.scope) if u not in separator)
            down, _ = _rescale(ratio.sum(axis=axes) if axes else ratio)
            belief = belief * expand(down, separator, step.scope, sizes)
        belief, _ = _rescale(belief)
        calibrated[i] = belief
        beliefs[step.v] = (step.scope, belief)
    return beliefs, log_z


# ----------------------------------------------------------------------------- exact joint draws


@dataclass(frozen=True)
class BackwardSampler:
    """The cliques of a full elimination (each hypothesis' product when it was summed out, scaled),
    from which joint states are drawn backwards: the last hypothesis eliminated from its own
    clique, then each earlier one from its clique given the hypotheses drawn after it."""

    sizes: tuple[int, ...]
    cliques: tuple[tuple[int, tuple[int, ...], np.ndarray], ...]  # (hypothesis, clique scope, table with it last)

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n i.i.d. joint states, (n, H)."""
        drawn = np.zeros((n, len(self.sizes)), dtype=np.int64)
        for v, given, table in reversed(self.cliques):
            rows = table[tuple(drawn[:, u] for u in given)] if given else np.broadcast_to(table, (n, self.sizes[v]))
            drawn[:, v] = categorical(rows, rng)
        return drawn


def backward_sampler(
    factors: Sequence[Factor], sizes: Sequence[int], *, names: Sequence[str] = (), structure: Sequence[Sequence[int]] = ()
) -> BackwardSampler:
    """Eliminate every variable in the order `choose` finds (factors with one batch row), keeping each clique."""
    if any(f.batch != 1 for f in factors):
        raise ValueError("backward sampling takes factors with one batch row")
    every = tuple(range(len(sizes)))
    p = choose([f.scope for f in factors] + [(v,) for v in every], sizes, (), structure)
    check_size(p, sizes, names or [str(v) for v in every])
    cliques = []
    for step in _collect(factors, p.order, sizes, keep_products=True).steps:
        assert step.product is not None
        table, _ = _rescale(step.product)
        given = tuple(u for u in step.scope if u != step.v)
        cliques.append((step.v, given, np.moveaxis(table[0], step.scope.index(step.v), -1)))
    return BackwardSampler(tuple(sizes), tuple(cliques))


def categorical(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw per row of an (n, K) array of nonnegative weights (not necessarily normalised)."""
    cdf = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0]) * cdf[:, -1]
    return np.minimum((cdf < u[:, None]).sum(axis=1), probs.shape[1] - 1)
