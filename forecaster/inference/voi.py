"""What to collect next (MODEL.md §5): the value of information of a report not yet in hand.

For every indicator with no report in the evidence window, a hypothetical report on it at a
stated grade (accuracy `a`) says *occurred* with probability, in joint hypothesis state `s`,

    P(R = yes | s) = a · q_j(s) + (1 − a) · (1 − q_j(s))

(for an indicator on a mechanism k, q_j(s) = P(I_j occurred | s, E) goes through the mechanism:
P(M_k | s, E) · q_j(s, occurred) + (1 − P(M_k | s, E)) · q_j(s, not occurred), where
P(M_k | s, E) already weighs the reports on k's other indicators, MODEL.md §4)

on the exact engine (the prior-mean network, MODEL.md §4). With the posterior P(s | E) on the
evidence so far, that gives the joint P(s, R | E), hence for each hypothesis H:

- the mutual information I(H; R | E) in bits — what the report is expected to tell about H;
- P(R = yes | E), and the posterior shift P(H | E, R) − P(H | E) if it says yes and if it says no;
- the expected absolute shift, Σ_r P(r | E) · ½ Σ_x |P(x | E, r) − P(x | E)|: the probability
  mass a report moves on average (the expected signed shift is always zero).

Also I(H₁, …, H_n; R | E), about all hypotheses jointly, the default ranking. All indicators are
computed at once with numpy; no pymc here, so `forecast collect` answers in well under a second.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from forecaster.core.errors import UsageError, did_you_mean
from forecaster.inference import elimination as ve
from forecaster.inference.exact import (
    _table,
    index_scopes,
    network_factors,
    posterior,
    posterior_batch,
    variable_names,
    variable_sizes,
)
from forecaster.model.evidence import Report, parse_grade
from forecaster.model.network import Network, build_network
from forecaster.model.priors import Priors

ZERO_BITS = 1e-12  # below this an information value is rounding error: reported as exactly 0


@dataclass(frozen=True)
class IndicatorValue:
    """What a report on one unreported indicator would be worth."""

    indicator: str
    bits_joint: float  # I(all hypotheses; R | E)
    bits: Mapping[str, float]  # hypothesis -> I(H; R | E)
    p_occurs: float  # P(indicator occurred | E)
    p_report_yes: float  # P(a report at the grade says occurred | E)
    if_yes: Mapping[str, Mapping[str, float]]  # hypothesis -> state -> shift if the report says occurred
    if_no: Mapping[str, Mapping[str, float]]  # ... if it says not occurred
    expected_shift: Mapping[str, float]  # hypothesis -> expected absolute shift (total variation)

    def score(self, hypothesis: str | None = None) -> float:
        return self.bits_joint if hypothesis is None else self.bits[hypothesis]

    def largest_shift(self, hypothesis: str | None = None) -> tuple[str, str, float, float]:
        """(hypothesis, state, shift if yes, shift if no) for the state a yes would move most."""
        hyps = [hypothesis] if hypothesis else list(self.if_yes)
        h, s = max(((h, s) for h in hyps for s in self.if_yes[h]), key=lambda hs: abs(self.if_yes[hs[0]][hs[1]]))
        return h, s, self.if_yes[h][s], self.if_no[h][s]


@dataclass(frozen=True)
class CollectionPlan:
    """Every unreported indicator ranked by the information a report on it would give."""

    grade: str
    accuracy: float
    hypothesis: str | None  # the ranking: one hypothesis, or None for all jointly
    reports: int  # reports in the evidence so far
    reported: tuple[str, ...]  # indicators that have reports (not ranked)
    posterior: Mapping[str, Mapping[str, float]]  # P(H | E) on the exact engine
    ranked: tuple[IndicatorValue, ...]
    prior: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # P(H), the same engine
    claimed: Mapping[str, str] = field(default_factory=dict)  # hypothesis -> the state network.yaml marks claimed

    def _hypotheses_json(self) -> list[dict[str, object]]:
        """The forecast in the shared shape (forecaster.inference.states): exact engine, no interval."""
        from forecaster.inference.states import hypothesis_json, state_json

        return [
            hypothesis_json(
                h,
                [
                    state_json(
                        s, claimed=self.claimed.get(h) == s, prior=self.prior.get(h, {}).get(s), posterior=p, exact=p
                    )
                    for s, p in st.items()
                ],
            )
            for h, st in self.posterior.items()
        ]

    def to_json(self) -> dict[str, object]:
        return {
            "grade": self.grade,
            "accuracy": round(self.accuracy, 6),
            "ranked_by": self.hypothesis or "all hypotheses jointly",
            "reports": self.reports,
            "reported_indicators": list(self.reported),
            "posterior": {h: {s: round(p, 6) for s, p in st.items()} for h, st in self.posterior.items()},
            "hypotheses": self._hypotheses_json(),
            "indicators": [
                {
                    "rank": i,
                    "indicator": v.indicator,
                    "bits": round(v.score(self.hypothesis), 6),
                    "bits_joint": round(v.bits_joint, 6),
                    "bits_by_hypothesis": {h: round(b, 6) for h, b in v.bits.items()},
                    "p_occurs": round(v.p_occurs, 6),
                    "p_report_occurred": round(v.p_report_yes, 6),
                    "shift_if_occurred": _rounded(v.if_yes),
                    "shift_if_not_occurred": _rounded(v.if_no),
                    "expected_abs_shift": {h: round(x, 6) for h, x in v.expected_shift.items()},
                }
                for i, v in enumerate(self.ranked, 1)
            ],
        }


def _rounded(shift: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    return {h: {s: round(x, 6) for s, x in st.items()} for h, st in shift.items()}


def _bits(pxr: np.ndarray) -> np.ndarray:
    """Mutual information (bits) of each (..., X, R) joint table, over its last two axes."""
    px = pxr.sum(axis=-1, keepdims=True)
    pr = pxr.sum(axis=-2, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(pxr > 0, pxr * np.log2(pxr / (px * pr)), 0.0)
    mi = terms.sum(axis=(-2, -1))
    return np.where(mi < ZERO_BITS, 0.0, mi)


def report_given_family(net: Network, log_lam: np.ndarray, j: int, accuracy: float) -> tuple[np.ndarray, np.ndarray]:
    """(P(F | E), P(R_j = yes | F, E)) over the hypotheses F a report on unreported indicator j
    depends on: its parents, and for an indicator on mechanism k also k's parents and its reported
    indicators' parents, whose reports move P(M_k | F, E) (MODEL.md §4). The mechanism is a
    variable of the elimination: it is kept with F, and summed here against j's two rows."""
    k = int(net.mechanism_of[j])
    parents = net.index_of(net.indicator_parents[j])
    sizes = variable_sizes(net)
    family = set(parents)
    if k >= 0:
        kids = (i for i in net.children(k) if i != j and np.any(log_lam[i] != 0.0))
        family.update(net.index_of(net.mechanism_parents[k]), (p for i in kids for p in net.index_of(net.indicator_parents[i])))
    variables = (*parents, len(net.sizes) + k) if k >= 0 else parents
    keep = tuple(sorted(family)) + ((len(net.sizes) + k,) if k >= 0 else ())
    factors = network_factors(net, log_lam, mechanisms=(k,) if k >= 0 else ())
    joint = ve.contract(factors, sizes, keep, names=variable_names(net), structure=index_scopes(net)).probs[0]
    q = ve.factor(variables, _table(net, net.q_mean[None], net.q_offsets[j], parents, (2,) if k >= 0 else ()))
    occurs = ve.expand(q.values, q.scope, keep, sizes)[0]
    yes = joint * (accuracy * occurs + (1.0 - accuracy) * (1.0 - occurs))
    if k >= 0:  # the mechanism summed out
        joint, yes = joint.sum(axis=-1), yes.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return joint, np.where(joint > 0, yes / joint, 0.0)


def _entropy(p: np.ndarray) -> np.ndarray:
    """Binary entropy in bits."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(p > 0, -p * np.log2(p), 0.0) + np.where(p < 1, -(1 - p) * np.log2(1 - p), 0.0)
    return t


def information_values(
    net: Network,
    log_lam: np.ndarray,
    *,
    accuracy: float,
    indicators: Sequence[str] | None = None,
) -> list[IndicatorValue]:
    """The value of a report at `accuracy` on each of `indicators` (default: every indicator whose
    row of `log_lam` is zero, i.e. unreported), in one batched elimination: for each candidate, the
    evidence with a report saying yes, one saying no, and the indicator known to have occurred
    (row 0: the evidence alone); P(R = r | E) is the ratio of their evidence to the evidence alone."""
    pos = {k: i for i, k in enumerate(net.indicator_ids)}
    if indicators is None:
        indicators = [k for k in net.indicator_ids if not np.any(log_lam[pos[k]] != 0.0)]
    if not indicators:
        return []
    cand = [pos[k] for k in indicators]
    yes = (math.log(accuracy), math.log1p(-accuracy))
    rows = [log_lam]
    for j in cand:
        for lam in (yes, yes[::-1], (0.0, -math.inf)):
            r = log_lam.copy()
            r[j] = lam
            rows.append(r)
    with np.errstate(divide="ignore"):
        margs, log_z = posterior_batch(net, np.stack(rows))
    rel = np.exp(log_z[1:] - log_z[0]).reshape(len(cand), 3)  # P(yes | E), P(no | E), P(occurred | E)
    p_r = rel[:, :2] / rel[:, :2].sum(axis=1, keepdims=True)  # (C, 2), sums to 1 up to rounding
    per_h = []
    for m in margs:
        before = m[0]
        after = m[1:].reshape(len(cand), 3, -1)[:, :2, :].transpose(0, 2, 1)  # (C, K, 2)
        pxr = after * p_r[:, None, :]
        shift = after - before[None, :, None]
        expected = (p_r * 0.5 * np.abs(shift).sum(axis=1)).sum(axis=1)
        per_h.append((_bits(pxr), shift, expected))
    bits_joint = np.array([_joint_bits(net, log_lam, j, accuracy) for j in cand])

    out = []
    for c, ind in enumerate(indicators):
        out.append(
            IndicatorValue(
                indicator=ind,
                bits_joint=float(bits_joint[c]),
                bits={hid: float(per_h[h][0][c]) for h, hid in enumerate(net.hypothesis_ids)},
                p_occurs=float(rel[c, 2]),
                p_report_yes=float(p_r[c, 0]),
                if_yes={
                    hid: {s: float(per_h[h][1][c, k, 0]) for k, s in enumerate(net.states[h])}
                    for h, hid in enumerate(net.hypothesis_ids)
                },
                if_no={
                    hid: {s: float(per_h[h][1][c, k, 1]) for k, s in enumerate(net.states[h])}
                    for h, hid in enumerate(net.hypothesis_ids)
                },
                expected_shift={hid: float(per_h[h][2][c]) for h, hid in enumerate(net.hypothesis_ids)},
            )
        )
    return out


def _joint_bits(net: Network, log_lam: np.ndarray, j: int, accuracy: float) -> float:
    """I(H₁, …, H_n; R_j | E) = H(R | E) − Σ P(F | E) H(R | F, E): R depends on the joint state only
    through the hypotheses F of `report_given_family`."""
    family, yes = report_given_family(net, log_lam, j, accuracy)
    p_yes = float((family * yes).sum())
    mi = float(_entropy(np.array(p_yes))) - float((family * _entropy(yes)).sum())
    return 0.0 if mi < ZERO_BITS else mi


def plan_collection(
    priors: Priors,
    reports: Iterable[Report],
    *,
    grade: str = "B2",
    hypothesis: str | None = None,
    net: Network | None = None,
    as_of: dt.date | None = None,
) -> CollectionPlan:
    """Every indicator without a report in `reports`, ranked by the information (bits) a report on
    it at `grade` would give about `hypothesis` (default: all hypotheses jointly), most first.
    With `as_of`, the recorded reports are aged to it (the hypothetical report is fresh)."""
    reliability, credibility = parse_grade(grade)
    if hypothesis is not None and hypothesis not in priors.hypothesis_ids:
        raise UsageError(
            f"unknown hypothesis {hypothesis!r}{did_you_mean(hypothesis, priors.hypothesis_ids)}; "
            f"hypotheses: {', '.join(priors.hypothesis_ids)}"
        )
    reports = list(reports)
    net = net or build_network(priors)
    folded = priors.fold(reports, as_of=as_of)
    log_lam = net.log_lambda(folded)
    accuracy = priors.grades.accuracy(reliability, credibility)
    unreported = [k for k in net.indicator_ids if k not in folded]
    values = information_values(net, log_lam, accuracy=accuracy, indicators=unreported)
    values.sort(key=lambda v: (-v.score(hypothesis), v.indicator))
    return CollectionPlan(
        grade=f"{reliability}{credibility}",
        accuracy=accuracy,
        hypothesis=hypothesis,
        reports=len(reports),
        reported=tuple(sorted(folded)),
        posterior=_marginals(net, log_lam),
        ranked=tuple(values),
        prior=_marginals(net, net.log_lambda({})),
        claimed=dict(zip(net.hypothesis_ids, net.claimed, strict=True)),
    )


def _marginals(net: Network, log_lam: np.ndarray) -> dict[str, dict[str, float]]:
    post = posterior(net, log_lam)
    return {
        hid: {s: float(p) for s, p in zip(net.states[h], post[h], strict=True)}
        for h, hid in enumerate(net.hypothesis_ids)
    }
