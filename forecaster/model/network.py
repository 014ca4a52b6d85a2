"""The Bayesian network as arrays: pooled prior tables and the index arrays that let the exact
engine and the sampler evaluate every joint hypothesis state at once (MODEL.md §4)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from forecaster.model.evidence import FoldedEvidence
from forecaster.model.priors import Priors


@dataclass(frozen=True)
class Network:
    """Pooled prior tables, flattened.

    - `alpha[h]`: Dirichlet parameters of hypothesis h, shape (configs, states).
    - `theta_index`: (H, S) position of θ[h, pa_h(s)][s_h] in the concatenated flat θ vector.
    - `q_a`, `q_b`: Beta parameters of every indicator table row, then every mechanism table
      row (from `n_indicator_rows` on), one flat vector: one Beta in the PyMC model.
    - `q_index`: (J, S) row of indicator j's table used under joint state s (and, for an
      indicator with a mechanism parent, the mechanism occurred); `q_index_not`: the same with
      the mechanism not occurred (equal to `q_index` for an indicator without mechanism).
    - `mech_of`: (J,) the mechanism parent of each indicator, −1 for none.
    - `m_index`: (M, S) row (in the flat vector) of mechanism k's table under joint state s.
    - `joint`: (S, H) the state index of every hypothesis in joint state s.
    """

    hypothesis_ids: tuple[str, ...]
    states: tuple[tuple[str, ...], ...]
    claimed: tuple[str, ...]
    indicator_ids: tuple[str, ...]
    alpha: tuple[np.ndarray, ...]
    theta_offsets: tuple[int, ...]
    theta_index: np.ndarray
    q_a: np.ndarray
    q_b: np.ndarray
    q_offsets: tuple[int, ...]
    q_index: np.ndarray
    joint: np.ndarray
    method: str
    mechanism_ids: tuple[str, ...] = ()
    q_index_not: np.ndarray | None = None
    mech_of: np.ndarray | None = None
    m_index: np.ndarray | None = None
    m_offsets: tuple[int, ...] = ()
    n_indicator_rows: int = -1
    indicator_parents: tuple[tuple[str, ...], ...] = ()  # hypothesis parents of each indicator
    mechanism_parents: tuple[tuple[str, ...], ...] = ()

    @property
    def q_not(self) -> np.ndarray:
        return self.q_index if self.q_index_not is None else self.q_index_not

    @property
    def mechanism_of(self) -> np.ndarray:
        return np.full(len(self.indicator_ids), -1, dtype=np.int64) if self.mech_of is None else self.mech_of

    @property
    def members(self) -> np.ndarray:
        """(M, J) 1 where indicator j is a child of mechanism k."""
        out = np.zeros((len(self.mechanism_ids), len(self.indicator_ids)))
        for j, k in enumerate(self.mechanism_of):
            if k >= 0:
                out[k, j] = 1.0
        return out

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
        return int(self.joint.shape[0])

    def marginal_matrices(self) -> list[np.ndarray]:
        """For each hypothesis, the (S, K) one-hot map from joint states to its states."""
        out = []
        for h, states in enumerate(self.states):
            m = np.zeros((self.n_joint, len(states)))
            m[np.arange(self.n_joint), self.joint[:, h]] = 1.0
            out.append(m)
        return out

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
    hid = [h.id for h in hyps]
    pos = {h: i for i, h in enumerate(hid)}
    joint = np.array(list(itertools.product(*(range(len(h.states)) for h in hyps))), dtype=np.int64)
    if joint.ndim == 1:  # pragma: no cover - a network always has at least one hypothesis
        joint = joint.reshape(-1, len(hyps))

    def config_index(parents: tuple[str, ...]) -> np.ndarray:
        """Mixed-radix index of each joint state's parent configuration (first parent slowest)."""
        idx = np.zeros(joint.shape[0], dtype=np.int64)
        for p in parents:
            idx = idx * len(hyps[pos[p]].states) + joint[:, pos[p]]
        return idx

    alpha, offsets, rows = [], [], []
    offset = 0
    for h in hyps:
        table = []
        for cfg in priors.configs(h.id):
            pooled = priors.pooled(h.id, cfg, method=method, exclude=exclude)
            table.append(np.asarray(pooled.mean) * pooled.concentration)
        a = np.vstack(table)
        alpha.append(a)
        offsets.append(offset)
        rows.append(offset + config_index(h.parents) * len(h.states) + joint[:, pos[h.id]])
        offset += a.size
    theta_index = np.vstack(rows)

    q_a, q_b, q_offsets, q_rows, q_rows_not = [], [], [], [], []
    mech_pos = {m.id: k for k, m in enumerate(priors.mechanisms)}
    mech_of = np.full(len(priors.indicators), -1, dtype=np.int64)
    offset = 0

    def rows_of(node_id: str) -> None:
        for cfg in priors.configs(node_id):
            pooled = priors.pooled(node_id, cfg, method=method, exclude=exclude)
            q_a.append(pooled.mean[0] * pooled.concentration)
            q_b.append(pooled.mean[1] * pooled.concentration)

    for j, ind in enumerate(priors.indicators):
        q_offsets.append(offset)
        rows_of(ind.id)
        hyp_cfg = config_index(ind.parents)
        if ind.mechanism:
            # the mechanism is the last table parent, varying fastest: occurred 0, not_occurred 1
            mech_of[j] = mech_pos[ind.mechanism]
            q_rows.append(offset + 2 * hyp_cfg)
            q_rows_not.append(offset + 2 * hyp_cfg + 1)
        else:
            q_rows.append(offset + hyp_cfg)
            q_rows_not.append(offset + hyp_cfg)
        offset += len(priors.configs(ind.id))
    n_indicator_rows = offset
    m_offsets, m_rows = [], []
    for mech in priors.mechanisms:
        m_offsets.append(offset)
        rows_of(mech.id)
        m_rows.append(offset + config_index(mech.parents))
        offset += len(priors.configs(mech.id))
    empty = np.zeros((0, joint.shape[0]), dtype=np.int64)
    return Network(
        hypothesis_ids=tuple(hid),
        states=tuple(h.states for h in hyps),
        claimed=tuple(h.claimed for h in hyps),
        indicator_ids=tuple(i.id for i in priors.indicators),
        alpha=tuple(alpha),
        theta_offsets=tuple(offsets),
        theta_index=theta_index,
        q_a=np.asarray(q_a),
        q_b=np.asarray(q_b),
        q_offsets=tuple(q_offsets),
        q_index=np.vstack(q_rows) if q_rows else empty,
        joint=joint,
        method=method,
        mechanism_ids=tuple(priors.mechanism_ids),
        q_index_not=np.vstack(q_rows_not) if q_rows_not else empty,
        mech_of=mech_of,
        m_index=np.vstack(m_rows) if m_rows else empty,
        m_offsets=tuple(m_offsets),
        n_indicator_rows=n_indicator_rows,
        indicator_parents=tuple(i.parents for i in priors.indicators),
        mechanism_parents=tuple(m.parents for m in priors.mechanisms),
    )
