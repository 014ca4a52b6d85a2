"""How robust is the call (MODEL.md §5, "Critical reports" and "Interactions"), on the exact engine.

- **Critical reports**: a report in force is critical for a hypothesis when the posterior without
  it has another most likely state, or moves a state by `SHIFT` (0.10) or more.
- **Robustness**: the number of reports whose removal changes the most likely state, found
  greedily: remove the report whose removal lowers the call's probability the most, repeat, up to
  `LIMIT` removals ("more than 10"). Ties (within `TIE`) go to the first report in id order.
- **Interactions**: for two reported indicators and a state, the shift of removing both
  ("together") against the sum of the shifts of removing each with the other already removed
  ("apart": what each moves on its own, the rest of the evidence in place): less is overlap
  (redundancy, explaining away: the second adds little once the first is known), more is
  reinforcement. (Each measured from the full evidence instead, leave-one-out, the difference
  keeps its size and flips its sign: two reports that say the same thing would read as
  reinforcing, the opposite of what MODEL.md says overlap means.)

Removing a report re-folds its indicator's remaining reports with the caller's `fold`
(model.evidence.fold with the priors' grades and ageing), never just drops a λ: removing the
strongest of two same-origin reports leaves the other counting. Every step is one batched
elimination (exact.posterior_batch) over all the rows it needs, identical rows evaluated once.
A report's removal touches only its indicator's λ, so each row re-folds one indicator."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from forecaster.inference.exact import posterior_batch, reported_indicators
from forecaster.inference.states import hypothesis_json, state_json
from forecaster.model.evidence import FoldedEvidence, Report
from forecaster.model.network import Network

LIMIT = 10  # greedy removals tried before "more than N"
SHIFT = 0.10  # a removal that moves a state this much makes the report critical
TIE = 1e-9  # greedy choices closer than this are ties (broken by report order)
INTERACTIONS_TOP = 5  # per hypothesis
INTERACTION_MIN = 0.005  # |together − apart| below half a percentage point is not worth a line

Fold = Callable[[Sequence[Report]], Mapping[str, FoldedEvidence]]


@dataclass(frozen=True)
class CriticalReport:
    """A report whose removal changes the call (`flips`) or moves a state by SHIFT or more."""

    report: str
    indicator: str
    flips: bool
    without: tuple[float, ...]  # the hypothesis' posterior without it, state by state


@dataclass(frozen=True)
class Step:
    """One greedy removal and the call's probability once it (and every earlier one) is removed."""

    report: str
    indicator: str
    call_probability: float


@dataclass(frozen=True)
class HypothesisRobustness:
    hypothesis: str
    states: tuple[str, ...]
    claimed: str | None
    prior: tuple[float, ...]
    posterior: tuple[float, ...]
    call: str
    removals: int | None  # reports whose removal changes the call; None: it held through every step
    steps: tuple[Step, ...]
    after: tuple[float, ...] | None  # the posterior once the call changed
    exhausted: bool  # every report in force removed and the call held: it is the prior's
    critical: tuple[CriticalReport, ...]

    @property
    def tried(self) -> int:
        return len(self.steps)

    @property
    def prior_call(self) -> bool:
        """Whether the call is also the prior's most likely state (no report needed for it)."""
        return self.states[_argmax(self.prior)] == self.call

    def new_call(self) -> str | None:
        """The most likely state once the removals changed the call."""
        return None if self.after is None else self.states[_argmax(self.after)]

    def states_json(self, values: Sequence[float]) -> dict[str, Any]:
        """This hypothesis with `values` as its posterior, in the shared state shape (`change`:
        against the posterior with every report)."""
        return hypothesis_json(self.hypothesis, [
            state_json(s, claimed=s == self.claimed, prior=self.prior[k], posterior=v, exact=v,
                       change=v - self.posterior[k])
            for k, (s, v) in enumerate(zip(self.states, values, strict=True))
        ])

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.hypothesis,
            "call": self.call,
            "robustness": self.removals,
            "more_than": None if self.removals is not None else self.tried,
            "exhausted": self.exhausted,
            "removed": [{"report": s.report, "indicator": s.indicator, "call_probability": round(s.call_probability, 6)}
                        for s in self.steps],
            "new_call": self.new_call(),
            "after": None if self.after is None else self.states_json(self.after),
            "critical": [{"report": c.report, "indicator": c.indicator, "flips": c.flips,
                          "without": self.states_json(c.without)} for c in self.critical],
        }


@dataclass(frozen=True)
class Interaction:
    """Two reported indicators and the state of `hypothesis` on which they interact most."""

    hypothesis: str
    state: str
    first: str
    second: str
    together: float  # posterior minus posterior without both indicators' reports
    apart: float  # the shifts each makes on its own (the other's reports removed), added up

    @property
    def kind(self) -> str:
        return "overlap" if abs(self.together) < abs(self.apart) else "reinforce"

    @property
    def sentence(self) -> str:
        """'X and Y overlap: together they move grey_zone by +0.12, apart by +0.21'."""
        verb = "overlap" if self.kind == "overlap" else "reinforce each other"
        two = f"{self.together:+.2f}" != f"{self.apart:+.2f}" and min(abs(self.together), abs(self.apart)) >= 0.005
        digits = 2 if two else 3  # never "+0.05, apart by +0.05" nor "-0.00"
        return (f"{self.first} and {self.second} {verb}: together they move {self.state} by "
                f"{self.together:+.{digits}f}, apart by {self.apart:+.{digits}f}")

    def to_json(self) -> dict[str, Any]:
        return {"hypothesis": self.hypothesis, "state": self.state, "indicators": [self.first, self.second],
                "kind": self.kind, "together": round(self.together, 6), "apart": round(self.apart, 6),
                "sentence": self.sentence}


@dataclass(frozen=True)
class Robustness:
    limit: int
    reports: int  # reports in force (candidates for removal)
    hypotheses: tuple[HypothesisRobustness, ...]
    interactions: tuple[Interaction, ...] | None = None  # computed on request (update --explain)

    def of(self, hypothesis: str) -> HypothesisRobustness | None:
        return next((h for h in self.hypotheses if h.hypothesis == hypothesis), None)

    def to_json(self, *, explain: bool = False) -> dict[str, Any]:
        """The JSON of `update` (README "JSON"); `interactions` only with `explain` (never recorded)."""
        out: dict[str, Any] = {"limit": self.limit, "reports": self.reports, "shift": SHIFT,
                               "hypotheses": [h.to_json() for h in self.hypotheses]}
        if explain:
            out["interactions"] = None if self.interactions is None else [i.to_json() for i in self.interactions]
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None, hypotheses: Iterable[Any]) -> Robustness | None:
        """A recorded run's robustness; `hypotheses` its HypothesisResults (states, prior, posterior)."""
        if not data:
            return None
        known = {h.id: h for h in hypotheses}
        return cls(int(data["limit"]), int(data["reports"]),
                   tuple(_hypothesis_from_json(h, known[h["id"]]) for h in data["hypotheses"]),
                   None if data.get("interactions") is None
                   else tuple(_interaction_from_json(i) for i in data["interactions"]))


def _posteriors(values: Mapping[str, Any]) -> tuple[float, ...]:
    return tuple(float(s["posterior"]) for s in values["states"])


def _hypothesis_from_json(d: Mapping[str, Any], h: Any) -> HypothesisRobustness:
    claimed = next((s.id for s in h.states if s.claimed), None)
    return HypothesisRobustness(
        d["id"], tuple(s.id for s in h.states), claimed, tuple(s.prior for s in h.states),
        tuple(s.posterior for s in h.states), d["call"], d["robustness"],
        tuple(Step(s["report"], s["indicator"], float(s["call_probability"])) for s in d["removed"]),
        None if d["after"] is None else _posteriors(d["after"]), bool(d["exhausted"]),
        tuple(CriticalReport(c["report"], c["indicator"], bool(c["flips"]), _posteriors(c["without"]))
              for c in d["critical"]),
    )


def _interaction_from_json(d: Mapping[str, Any]) -> Interaction:
    first, second = d["indicators"]
    return Interaction(d["hypothesis"], d["state"], first, second, float(d["together"]), float(d["apart"]))


# ---------------------------------------------------------------------------------------------
# Computing
# ---------------------------------------------------------------------------------------------


def _argmax(p: Sequence[float] | np.ndarray) -> int:
    """The most likely state (the first on an exact tie, as HypothesisResult.most_likely)."""
    return int(np.argmax(np.asarray(p)))


def changed(p: Sequence[float] | np.ndarray, call: int) -> bool:
    """Whether another state than `call` is now strictly more likely."""
    p = np.asarray(p, dtype=float)
    return bool(np.any(np.delete(p, call) > p[call]))


def report_label(report: Report, n: int) -> str:
    """A report's id; a report without one (an --events file) by indicator, date and position."""
    return report.id or f"{report.indicator}@{report.date.isoformat()}#{n + 1}"


class Removals:
    """The evidence with chosen reports removed: each touched indicator re-folded from its
    remaining reports (memoised per indicator and removed subset)."""

    def __init__(self, net: Network, reports: Sequence[Report], fold: Fold) -> None:
        self.net, self.fold = net, fold
        self.reports = list(reports)
        self.pos = {k: i for i, k in enumerate(net.indicator_ids)}
        self.on: dict[str, frozenset[int]] = {}
        for n, r in enumerate(self.reports):
            self.on[r.indicator] = self.on.get(r.indicator, frozenset()) | {n}
        self.base = net.log_lambda(dict(fold(self.reports)))
        self._rows: dict[tuple[str, frozenset[int]], np.ndarray] = {}

    def _indicator_row(self, indicator: str, gone: frozenset[int]) -> np.ndarray:
        key = (indicator, gone)
        row = self._rows.get(key)
        if row is None:
            kept = [self.reports[n] for n in sorted(self.on[indicator] - gone)]
            folded = {k: v for k, v in self.fold(kept).items() if k == indicator}
            row = self._rows[key] = self.net.log_lambda(folded)[self.pos[indicator]]
        return row

    def evidence(self, removed: frozenset[int]) -> np.ndarray:
        """(J, 2) log λ with the reports `removed` (indices into `reports`) taken out."""
        lam = self.base.copy()
        for ind in {self.reports[n].indicator for n in removed}:
            lam[self.pos[ind]] = self._indicator_row(ind, removed & self.on[ind])
        return lam


def evaluate(net: Network, rows: Sequence[np.ndarray]) -> list[np.ndarray]:
    """P(H_h | row) for every row, per hypothesis (B, K_h), in one batched call; identical rows once."""
    index: dict[bytes, int] = {}
    unique: list[np.ndarray] = []
    which = []
    for r in rows:
        key = r.tobytes()
        if key not in index:
            index[key] = len(unique)
            unique.append(r)
        which.append(index[key])
    margs, _ = posterior_batch(net, np.stack(unique))
    return [m[which] for m in margs]


def in_force(reports: Iterable[Report], net: Network, as_of: dt.date) -> list[tuple[str, Report]]:
    """(label, report) of every report that can count (known indicator, not dated after `as_of`), by label."""
    known = set(net.indicator_ids)
    rows = [(report_label(r, n), r) for n, r in enumerate(reports) if r.indicator in known and r.date <= as_of]
    return sorted(rows, key=lambda x: x[0])


Posteriors = list[np.ndarray]  # one (K_h,) array per hypothesis


def analyse(
    net: Network, reports: Iterable[Report], fold: Fold, *, as_of: dt.date, limit: int = LIMIT,
    interactions: bool = False,
) -> Robustness:
    """Critical reports and robustness of every hypothesis' call on `reports` (already the evidence
    window's), and, with `interactions`, the interacting pairs of reported indicators. `fold` folds a
    list of reports as the update does (the priors' grades and ageing to `as_of`)."""
    labelled = in_force(reports, net, as_of)
    labels = [label for label, _ in labelled]
    rm = Removals(net, [r for _, r in labelled], fold)
    singles = [frozenset({n}) for n in range(len(labels))]
    first = evaluate(net, [np.zeros_like(rm.base), rm.base, *(rm.evidence(s) for s in singles)])
    prior, post = [m[0] for m in first], [m[1] for m in first]
    memo = {s: [m[2 + n] for m in first] for n, s in enumerate(singles)}
    calls = [_argmax(p) for p in post]
    paths = greedy(net, rm, calls, memo, limit)
    hyps = tuple(
        _hypothesis(net, h, labels, rm, (prior[h], post[h]), [memo[s][h] for s in singles], paths[h])
        for h in range(len(net.hypothesis_ids))
    )
    found = pair_interactions(net, rm.base, post) if interactions else None
    return Robustness(limit, len(labels), hyps, found)


@dataclass(frozen=True)
class Path:
    """One hypothesis' greedy removals (indices into the reports), the call's probability after
    each, and the posterior once the call changed (None: it held)."""

    removed: tuple[int, ...]
    probabilities: tuple[float, ...]
    after: np.ndarray | None


def greedy(net: Network, rm: Removals, calls: Sequence[int], memo: dict[frozenset[int], Posteriors], limit: int) -> list[Path]:
    """Every hypothesis' greedy path at once: each step is one batched evaluation of the removal
    sets not yet in `memo` (removed so far plus one candidate), for every hypothesis still holding."""
    n = len(rm.reports)
    removed: list[list[int]] = [[] for _ in calls]
    probs: list[list[float]] = [[] for _ in calls]
    after: list[np.ndarray | None] = [None for _ in calls]
    for _ in range(min(limit, n)):
        active = [h for h in range(len(calls)) if after[h] is None]
        if not active:
            break
        options = {h: [frozenset(removed[h]) | {c} for c in range(n) if c not in removed[h]] for h in active}
        missing = list(dict.fromkeys(k for h in active for k in options[h] if k not in memo))
        if missing:
            margs = evaluate(net, [rm.evidence(k) for k in missing])
            memo.update({k: [m[i] for m in margs] for i, k in enumerate(missing)})
        for h in active:
            values = [float(memo[k][h][calls[h]]) for k in options[h]]
            low = min(values)
            pick = next(i for i, v in enumerate(values) if v <= low + TIE)  # ties: the first in report order
            chosen = options[h][pick]
            removed[h].append(next(iter(chosen - frozenset(removed[h]))))
            probs[h].append(values[pick])
            if changed(memo[chosen][h], calls[h]):
                after[h] = memo[chosen][h]
    return [Path(tuple(removed[h]), tuple(probs[h]), after[h]) for h in range(len(calls))]


def _hypothesis(
    net: Network, h: int, labels: Sequence[str], rm: Removals, prior_post: tuple[np.ndarray, np.ndarray],
    singles: Posteriors, path: Path,
) -> HypothesisRobustness:
    prior, post = prior_post
    call = _argmax(post)
    critical = []
    for n, w in enumerate(singles):
        flips, moved = changed(w, call), float(np.max(np.abs(w - post))) >= SHIFT - 1e-12
        if flips or moved:
            critical.append((not flips, -float(np.max(np.abs(w - post))), labels[n], n, flips, w))
    critical.sort(key=lambda c: c[:3])  # the flips first, then the largest move
    states = net.states[h]
    return HypothesisRobustness(
        net.hypothesis_ids[h], tuple(states), net.claimed[h], _floats(prior), _floats(post), states[call],
        None if path.after is None else len(path.removed),
        tuple(Step(labels[n], rm.reports[n].indicator, p) for n, p in zip(path.removed, path.probabilities, strict=True)),
        None if path.after is None else _floats(path.after),
        path.after is None and len(path.removed) == len(labels),
        tuple(CriticalReport(labels[n], rm.reports[n].indicator, flips, _floats(w)) for *_, n, flips, w in critical),
    )


def _floats(x: np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in x)


def pair_interactions(net: Network, log_lam: np.ndarray, post: Posteriors, top: int = INTERACTIONS_TOP) -> tuple[Interaction, ...]:
    """Per hypothesis, the `top` pairs of reported indicators whose joint removal differs most from
    their two single removals added up (on the state where it differs most), in one batched call."""
    reported = reported_indicators(log_lam)
    pairs = [(a, b) for a in range(len(reported)) for b in range(a + 1, len(reported))]
    if not pairs:
        return ()
    rows = np.repeat(log_lam[None], len(reported) + len(pairs), axis=0)
    for i, j in enumerate(reported):
        rows[i, j] = 0.0
    for i, (a, b) in enumerate(pairs, len(reported)):
        rows[i, [reported[a], reported[b]]] = 0.0
    margs, _ = posterior_batch(net, rows)
    first, second = (np.array([p[x] for p in pairs]) for x in (0, 1))
    out: list[Interaction] = []
    for h, hid in enumerate(net.hypothesis_ids):
        without = margs[h][: len(reported)]  # (J, K): each indicator's reports removed
        both = margs[h][len(reported):]  # (P, K): both indicators' reports removed
        together = post[h][None] - both
        apart = (without[second] - both) + (without[first] - both)  # each on its own, the other removed
        gap = np.abs(together - apart)
        state = np.argmax(gap, axis=1)
        size = gap[np.arange(len(pairs)), state]
        ids = [(net.indicator_ids[reported[a]], net.indicator_ids[reported[b]]) for a, b in pairs]
        ranked = sorted((i for i in range(len(pairs)) if size[i] >= INTERACTION_MIN), key=lambda i: (-size[i], ids[i]))
        out += [Interaction(hid, net.states[h][state[i]], *ids[i], float(together[i, state[i]]), float(apart[i, state[i]]))
                for i in ranked[:top]]
    return tuple(out)
