"""Elimination orders and the engine's size limit (MODEL.md §4, docs/LIMITS.md).

Variable elimination costs what its largest intermediate factor holds: the product of the state
counts of the hypotheses in the largest elimination clique. The order comes from the min-fill
heuristic (ties: the smaller clique, then the lower index), one per (factor scopes, kept
hypotheses), cached per process. `network_plan` bounds every contraction a network can need
(every indicator reported; mechanisms are binary variables), so `priors validate`
refuses a network past `MAX_FACTOR` before any update tries it. Standard library only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from forecaster.core.errors import PriorsError

#: The largest intermediate factor (states of the largest elimination clique) the engine takes:
#: 8 MB per batch row. docs/LIMITS.md.
MAX_FACTOR = 1_000_000


@dataclass(frozen=True)
class Plan:
    """An elimination order for a set of factor scopes, keeping `keep`; `largest` is the size of
    its largest clique (or of the kept factor) and `clique` the hypotheses in it."""

    order: tuple[int, ...]
    keep: tuple[int, ...]
    largest: int
    clique: tuple[int, ...]
    cells: int = 0  # the states of every clique summed: the work of one contraction


_PLANS: dict[tuple[tuple[tuple[int, ...], ...], tuple[int, ...], tuple[int, ...]], Plan] = {}


def plan(scopes: Sequence[Sequence[int]], sizes: Sequence[int], keep: Sequence[int] = ()) -> Plan:
    """The min-fill elimination order of every variable in `scopes` but `keep` (cached)."""
    key = (tuple(sorted({tuple(s) for s in scopes})), tuple(sorted(keep)), tuple(sizes))
    found = _PLANS.get(key)
    if found is None:
        found = _min_fill(key[0], sizes, key[1])
        if len(_PLANS) > 4096:
            _PLANS.clear()
        _PLANS[key] = found
    return found


def _min_fill(scopes: Sequence[tuple[int, ...]], sizes: Sequence[int], keep: tuple[int, ...]) -> Plan:
    adj: dict[int, set[int]] = {v: set() for s in scopes for v in s}
    for v in keep:
        adj.setdefault(v, set())
    for s in scopes:
        for v in s:
            adj[v].update(u for u in s if u != v)
    kept = math.prod(sizes[v] for v in keep)
    largest, clique = kept, tuple(keep)
    cells = kept
    order = []
    left = [v for v in sorted(adj) if v not in keep]
    while left:
        best = None
        for v in left:
            nbrs = adj[v]
            fill = sum(1 for a in nbrs for b in nbrs if a < b and b not in adj[a])
            weight = sizes[v] * math.prod(sizes[u] for u in nbrs)
            cand = (fill, weight, v)
            if best is None or cand < best:
                best = cand
        assert best is not None
        _, weight, v = best
        cells += weight
        if weight > largest:
            largest, clique = weight, tuple(sorted({v, *adj[v]}))
        nbrs = adj.pop(v)
        for a in nbrs:
            adj[a].discard(v)
            adj[a].update(u for u in nbrs if u != a)
        order.append(v)
        left.remove(v)
    return Plan(tuple(order), keep, largest, clique, cells)


def ordered(scopes: Sequence[Sequence[int]], sizes: Sequence[int], order: Sequence[int], keep: Sequence[int] = ()) -> Plan:
    """The plan that eliminates in `order` (only the variables present in `scopes`, `keep` excepted)."""
    adj: dict[int, set[int]] = {v: set() for s in scopes for v in s}
    for s in scopes:
        for v in s:
            adj[v].update(u for u in s if u != v)
    keep = tuple(sorted(keep))
    largest, clique = math.prod(sizes[v] for v in keep), keep
    cells = largest
    steps = [v for v in order if v in adj and v not in keep]
    steps += [v for v in sorted(adj) if v not in keep and v not in steps]
    for v in steps:
        nbrs = adj.pop(v)
        weight = sizes[v] * math.prod(sizes[u] for u in nbrs)
        cells += weight
        if weight > largest:
            largest, clique = weight, tuple(sorted({v, *nbrs}))
        for a in nbrs:
            adj[a].discard(v)
            adj[a].update(u for u in nbrs if u != a)
    return Plan(tuple(steps), keep, largest, clique, cells)


def check_size(p: Plan, sizes: Sequence[int], names: Sequence[str], *, limit: int = MAX_FACTOR) -> None:
    """A PriorsError naming the variables of a clique over `limit` states."""
    if p.largest > limit:
        who = ", ".join(f"{names[v]} ({sizes[v]})" for v in p.clique)
        raise PriorsError(
            f"network too large for exact inference: eliminating the variables {who} makes a factor of "
            f"{p.largest:,} states (limit {limit:,}); give indicators and mechanisms fewer hypothesis parents, "
            "or merge states"
        )



def network_plan(
    sizes: Mapping[str, int], scopes: Sequence[Sequence[str]], targets: Sequence[str]
) -> tuple[Plan, list[str]]:
    """The plan with the largest clique among every contraction on a network: each target kept in
    turn, and none kept (joint draws). `sizes`: every variable's state count by name (hypotheses
    and mechanisms); `scopes`: every factor's variables by name. Returns the plan and the
    variables' names by index."""
    names = list(sizes)
    pos = {v: i for i, v in enumerate(names)}
    size = [sizes[v] for v in names]
    index = [tuple(sorted({pos[v] for v in s})) for s in scopes]
    plans = [plan(index, size, ())] + [plan(index, size, (pos[t],)) for t in targets]
    return max(plans, key=lambda p: p.largest), names


def factor_scopes(
    hypotheses: Mapping[str, Sequence[str]],
    indicators: Sequence[tuple[Sequence[str], str | None]],
    mechanisms: Mapping[str, Sequence[str]],
) -> list[tuple[str, ...]]:
    """Every factor a network can have, by variable name (every indicator reported): each
    hypothesis' table on its parents, each indicator on its hypothesis parents and its mechanism
    (given as (parents, mechanism or None)), each mechanism's table on its parents."""
    scopes = [(*par, h) for h, par in hypotheses.items()]
    scopes += [(*par, *([mech] if mech else [])) for par, mech in indicators]
    return scopes + [(*par, m) for m, par in mechanisms.items()]


def check_network(sizes: Mapping[str, int], scopes: Sequence[Sequence[str]], targets: Sequence[str]) -> None:
    """A PriorsError naming the clique when a contraction on the network would pass MAX_FACTOR
    (`network_plan`'s arguments)."""
    worst, names = network_plan(sizes, scopes, targets)
    check_size(worst, [sizes[v] for v in names], names)
