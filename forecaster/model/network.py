"""The Bayesian network as arrays: pooled prior tables laid out flat, with the structure the
exact engine (variable elimination, forecaster.inference.exact) and the PyMC model read. No
array here is indexed by joint hypothesis state: nothing grows with the product of the
hypotheses' state counts (MODEL.md §4)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecaster.model.evidence import FoldedEvidence
from forecaster.model.priors import Priors


@dataclass(frozen=True)
class Network:
    """Pooled prior tables, flattened.

    - `alpha[h]`: Dirichlet parameters of hypothesis h, shape (parent configurations, states),
      configurations in mixed-radix order (first parent slowest); `theta_offsets[h]` where its
      rows start in the flat θ vector (row-major).
    - `q_a`, `q_b`: Beta parameters of every indicator table row, then every mechanism table
      row (from `n_indicator_rows` on), one flat vector: one Beta in the PyMC model. Indicator j's
      rows start at `q_offsets[j]`: one per configuration of its hypothesis parents, or, with a
      mechanism parent, two per configuration (mechanism occurred, then not occurred).
    - `mech_of`: (J,) the mechanism parent of each indicator, −1 for none.
    """

    hypothesis_ids: tuple[str, ...]
    states: tuple[tuple[str, ...], ...]
    claimed: tuple[str, ...]
    indicator_ids: tuple[str, ...]
    alpha: tuple[np.ndarray, ...]
    theta_offsets: tuple[int, ...]
    q_a: np.ndarray
    q_b: np.ndarray
    q_offsets: tuple[int, ...]
    method: str
    hypothesis_parents: tuple[tuple[str, ...], ...] = ()
    mechanism_ids: tuple[str, ...] = ()
    mech_of: np.ndarray | None = None
    m_offsets: tuple[int, ...] = ()
    n_indicator_rows: int = -1
    indicator_parents: tuple[tuple[str, ...], ...] = ()  # hypothesis parents of each indicator
    mechanism_parents: tuple[tuple[str, ...], ...] = ()

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(len(s) for s in self.states)

    def index_of(self, parents: tuple[str, ...]) -> tuple[int, ...]:
        pos = {h: i for i, h in enumerate(self.hypothesis_ids)}
        return tuple(pos[p] for p in parents)

    def config_rows(self, parents: tuple[str, ...], states: np.ndarray) -> np.ndarray:
        """The row of a table over `parents` (mixed radix, first parent slowest) for each joint
        state in `states` (N, H: a state index per hypothesis), (N,)."""
        row = np.zeros(states.shape[0], dtype=np.int64)
        for p in parents:
            h = self.hypothesis_ids.index(p)
            row = row * self.sizes[h] + states[:, h]
        return row

    @property
    def mechanism_of(self) -> np.ndarray:
        return np.full(len(self.indicator_ids), -1, dtype=np.int64) if self.mech_of is None else self.mech_of

    def children(self, k: int) -> list[int]:
        return [j for j, m in enumerate(self.mechanism_of) if m == k]

    @property
    def theta_mean_flat(self) -> np.ndarray:
        return np.concatenate([(a / a.sum(axis=1, keepdims=True)).ravel() for a in self.alpha])

    @property
    def q_mean(self) -> np.ndarray:
        return self.q_a / (self.q_a + self.q_b)

    @property
    def n_joint(self) -> int:
        """The number of joint hypothesis states (for messages; nothing is sized by it)."""
        return int(np.prod([len(s) for s in self.states], dtype=object))

    def log_lambda(self, evidence: dict[str, FoldedEvidence]) -> np.ndarray:
        """(J, 2) log λ for every indicator; (0, 0) where nothing was reported (silence is not evidence)."""
        out = np.zeros((len(self.indicator_ids), 2))
        pos = {k: i for i, k in enumerate(self.indicator_ids)}
        for k, ev in evidence.items():
            l1, l0 = ev.log_lambda
            top = max(l1, l0)
            out[pos[k]] = (l1 - top, l0 - top)
        return out


def build_network(priors: Priors, *, method: str | None = None, exclude: str | None = None) -> Network:
    """Pool every table (MODEL.md §2) and lay the network out as arrays.

    `method` overrides the pooling method; `exclude` leaves one expert out (sensitivity analyses).
    """
    method = method or priors.method
    hyps = priors.hypotheses
    alpha, offsets = [], []
    offset = 0
    for h in hyps:
        table = []
        for cfg in priors.configs(h.id):
            pooled = priors.pooled(h.id, cfg, method=method, exclude=exclude)
            table.append(np.asarray(pooled.mean) * pooled.concentration)
        a = np.vstack(table)
        alpha.append(a)
        offsets.append(offset)
        offset += a.size

    q_a: list[float] = []
    q_b: list[float] = []

    def rows_of(node_id: str) -> int:
        configs = priors.configs(node_id)
        for cfg in configs:
            pooled = priors.pooled(node_id, cfg, method=method, exclude=exclude)
            q_a.append(pooled.mean[0] * pooled.concentration)
            q_b.append(pooled.mean[1] * pooled.concentration)
        return len(configs)

    mech_pos = {m.id: k for k, m in enumerate(priors.mechanisms)}
    mech_of = np.array([mech_pos[i.mechanism] if i.mechanism else -1 for i in priors.indicators], dtype=np.int64)
    q_offsets, m_offsets = [], []
    offset = 0
    for ind in priors.indicators:
        q_offsets.append(offset)
        offset += rows_of(ind.id)
    n_indicator_rows = offset
    for mech in priors.mechanisms:
        m_offsets.append(offset)
        offset += rows_of(mech.id)
    return Network(
        hypothesis_ids=tuple(h.id for h in hyps),
        states=tuple(h.states for h in hyps),
        claimed=tuple(h.claimed for h in hyps),
        indicator_ids=tuple(i.id for i in priors.indicators),
        alpha=tuple(alpha),
        theta_offsets=tuple(offsets),
        q_a=np.asarray(q_a, dtype=float),
        q_b=np.asarray(q_b, dtype=float),
        q_offsets=tuple(q_offsets),
        method=method,
        hypothesis_parents=tuple(h.parents for h in hyps),
        mechanism_ids=tuple(priors.mechanism_ids),
        mech_of=mech_of,
        m_offsets=tuple(m_offsets),
        n_indicator_rows=n_indicator_rows,
        indicator_parents=tuple(i.parents for i in priors.indicators),
        mechanism_parents=tuple(m.parents for m in priors.mechanisms),
    )
