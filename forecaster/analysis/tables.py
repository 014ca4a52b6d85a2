"""`priors show`: each table row's sources, the pool, and pooled intervals from the Beta/Dirichlet
marginals."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from forecaster.analysis.findings import FAR_FROM_REST, INTERVAL, _all_nodes, _Indexed, _kind
from forecaster.model.priors import Judgment, Node, Pooled, Priors

# ----------------------------------------------------------------------------- show: the tables


def beta_cdf(x: float, a: float, b: float) -> float:
    """The regularised incomplete beta function I_x(a, b) (SciPy's; imported here, not at start-up)."""
    from scipy.special import betainc

    return float(betainc(a, b, min(max(x, 0.0), 1.0)))


def beta_quantile(q: float, a: float, b: float) -> float:
    """The inverse of `beta_cdf` in x (SciPy's)."""
    from scipy.special import betaincinv

    return float(betaincinv(a, b, q))


@dataclass(frozen=True)
class RowView:
    config: tuple[str, ...]
    judgments: tuple[Judgment, ...]
    pooled: Pooled
    interval: tuple[tuple[float, float], ...]  # central INTERVAL of each state's pooled marginal Beta
    spread: tuple[float, ...]  # per state: max − min over the sources
    distance: Mapping[str, float]  # total-variation distance of each source to the pool of the others
    far: tuple[str, ...]


@dataclass(frozen=True)
class TableView:
    node: str
    kind: str
    parents: tuple[str, ...]
    states: tuple[str, ...]
    rows: tuple[RowView, ...]


def _tv(p: Sequence[float], q: Sequence[float]) -> float:
    """Total-variation distance: the probability mass that would have to move."""
    return 0.5 * sum(abs(a - b) for a, b in zip(p, q, strict=True))


def table_views(priors: Priors, node: str | Sequence[str] | None = None) -> list[TableView]:
    """Every table (or one node's, or those of `node` when a list): each source's judgment, the
    pooled mean and interval, the spread."""
    priors = _Indexed.of(priors)
    chosen = [node] if isinstance(node, str) else node
    nodes: list[Node] = [priors.node(n) for n in chosen] if chosen is not None else _all_nodes(priors)
    tail = (1 - INTERVAL) / 2
    out = []
    for n in nodes:
        rows = []
        for cfg in priors.configs(n.id):
            js = priors.judgments_for(n.id, cfg)
            pooled = priors.pooled(n.id, cfg)
            big_n = pooled.concentration
            interval = tuple(
                (beta_quantile(tail, big_n * m, big_n * (1 - m)), beta_quantile(1 - tail, big_n * m, big_n * (1 - m)))
                if 0 < m < 1
                else (m, m)
                for m in pooled.mean
            )
            spread = tuple(max(j.probs[s] for j in js) - min(j.probs[s] for j in js) for s in range(len(n.states)))
            distance: dict[str, float] = {}
            far: list[str] = []
            for j in js if len(js) >= 2 else ():
                others = [o for o in js if o is not j]
                w = [priors.weights.get(o.source, 1.0) for o in others]
                total = sum(w) or float(len(w))
                rest = [
                    sum(wi * o.probs[s] for wi, o in zip(w, others, strict=True)) / total for s in range(len(n.states))
                ]
                distance[j.source] = _tv(j.probs, rest)
                among = [_tv(a.probs, b.probs) for a, b in itertools.combinations(others, 2)]
                if len(js) >= 3 and distance[j.source] >= max(FAR_FROM_REST, 2 * sum(among) / len(among)):
                    far.append(j.source)
            rows.append(RowView(cfg, tuple(js), pooled, interval, spread, distance, tuple(far)))
        out.append(TableView(n.id, _kind(priors, n.id), n.table_parents, n.states, tuple(rows)))
    return out




# ----------------------------------------------------------------------------- show: the list


@dataclass(frozen=True)
class TableSummary:
    """One line of `priors show`: a table, how many rows and sources it has, how far they spread."""

    node: str
    kind: str
    parents: tuple[str, ...]
    rows: int
    sources: tuple[str, ...]
    spread: float  # the largest max − min of one state's probability over a row's sources


def bearing_on(priors: Priors, hypothesis: str) -> list[str]:
    """The nodes whose tables bear on `hypothesis`: itself, the mechanisms it is a parent of, and the
    indicators it (or such a mechanism) is a parent of; in `priors show`'s order."""
    priors.node(hypothesis)  # unknown: PriorsError with did-you-mean
    if hypothesis not in priors.hypothesis_ids:
        from forecaster.core.errors import UsageError

        raise UsageError(f"{hypothesis!r} is not a hypothesis")
    mechanisms = {m.id for m in priors.mechanisms if hypothesis in m.parents}
    keep = {hypothesis, *mechanisms} | {
        i.id for i in priors.indicators if hypothesis in i.parents or i.mechanism in mechanisms
    }
    return [n.id for n in _all_nodes(priors) if n.id in keep]


def table_summaries(priors: Priors, nodes: Sequence[str] | None = None) -> list[TableSummary]:
    """Every table (or `nodes`'), summarised without pooling: cheap enough for a listing."""
    priors = _Indexed.of(priors)
    chosen = [priors.node(n) for n in nodes] if nodes is not None else _all_nodes(priors)
    out = []
    for n in chosen:
        sources: dict[str, None] = {}
        spread = 0.0
        configs = priors.configs(n.id)
        for cfg in configs:
            js = priors.judgments_for(n.id, cfg)
            sources.update((j.source, None) for j in js)
            if len(js) > 1:
                spread = max(spread, *(max(j.probs[s] for j in js) - min(j.probs[s] for j in js)
                                      for s in range(len(n.states))))
        out.append(TableSummary(n.id, _kind(priors, n.id), n.table_parents, len(configs), tuple(sources), spread))
    return out
