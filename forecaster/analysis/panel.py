"""The panel (MODEL.md §7): feedback on a round (anonymised), convergence across rounds, what
changed in the open round, each expert's forecast, track records and performance weights.

Pure functions on `Priors` (one per round, built by forecaster.workflow.panel from the store's
rounds); nothing here reads a file or the store. Expert ids appear only in what is for the
facilitator (history, status, scores); `feedback` carries letters, never an id, name or file."""

from __future__ import annotations

import difflib
import hashlib
import math
import random
import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from forecaster.core.errors import UsageError
from forecaster.model.priors import CATALOGUE, Judgment, Priors

TableKey = tuple[str, tuple[str, ...]]
SETTLE_MOVE = 0.05  # §7: a table settled when its pooled mean moved by less than this
INTERVAL = (0.05, 0.95)
MIN_RESOLUTIONS = 5  # §7: fewer and the audit warns that performance weights rest on little

# ---------------------------------------------------------------------------------------------
# Tables and their judgments
# ---------------------------------------------------------------------------------------------


def panel_tables(priors: Priors) -> list[TableKey]:
    """Every table (node × parent configuration) that some expert (not only the catalogue)
    judged, in the order the judgments appear."""
    seen: dict[TableKey, None] = {}
    for j in priors.judgments:
        if j.source != CATALOGUE:
            seen.setdefault((j.node, j.config), None)
    return list(seen)


def _by_table(priors: Priors) -> dict[TableKey, list[Judgment]]:
    out: dict[TableKey, list[Judgment]] = {}
    for j in priors.judgments:
        out.setdefault((j.node, j.config), []).append(j)
    return out


def spread(judgments: Sequence[Judgment]) -> tuple[tuple[float, float], ...]:
    """Per state, the (min, max) of the experts' means (the catalogue is not an expert)."""
    js = [j for j in judgments if j.source != CATALOGUE] or list(judgments)
    return tuple((min(j.probs[s] for j in js), max(j.probs[s] for j in js)) for s in range(len(js[0].probs)))


def width(spans: Sequence[tuple[float, float]]) -> float:
    return max(hi - lo for lo, hi in spans)


def _beta_cf(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for num in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def beta_cdf(x: float, a: float, b: float) -> float:
    """The regularised incomplete beta function I_x(a, b), in pure Python: the feedback's
    intervals without importing SciPy (≈0.8 s of a one-second budget)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_cf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_cf(b, a, 1.0 - x) / b


def beta_quantile(q: float, a: float, b: float) -> float:
    """The inverse of `beta_cdf` in x: Newton steps kept inside a shrinking bracket."""
    lo, hi, x = 0.0, 1.0, a / (a + b)
    log_b = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    for _ in range(100):
        f = beta_cdf(x, a, b) - q
        if abs(f) < 1e-13:
            return x
        lo, hi = (x, hi) if f < 0 else (lo, x)
        dens = math.exp((a - 1) * math.log(x) + (b - 1) * math.log1p(-x) - log_b) if 0 < x < 1 else 0.0
        step = x - f / dens if dens > 0 else -1.0
        x = step if lo < step < hi else (lo + hi) / 2
        if hi - lo < 1e-15:
            break
    return x


def _beta_interval(a: float, b: float, quantile: Callable[[float, float, float], float]) -> tuple[float, float]:
    if a <= 0:
        return 0.0, 0.0
    if b <= 0:
        return 1.0, 1.0
    return quantile(INTERVAL[0], a, b), quantile(INTERVAL[1], a, b)


def _intervals(probs: Sequence[float], n: float, quantile: Callable[[float, float, float], float]) -> list[tuple[float, float]]:
    """The 90 % interval of each state's marginal under Dirichlet(n · p): Beta(n p, n (1 − p))."""
    return [_beta_interval(n * p, n * (1 - p), quantile) for p in probs]


def outliers(judgments: Sequence[Judgment], quantile: Callable[[float, float, float], float]) -> list[bool]:
    """§7: a judgment lies outside the range of all the others' 90 % intervals (in any state)."""
    ivs = [_intervals(j.probs, j.n, quantile) for j in judgments]
    flags = []
    for i, j in enumerate(judgments):
        others = [iv for k, iv in enumerate(ivs) if k != i]
        if not others:
            flags.append(False)
            continue
        flags.append(any(
            not (min(o[s][0] for o in others) <= p <= max(o[s][1] for o in others)) for s, p in enumerate(j.probs)
        ))
    return flags


# ---------------------------------------------------------------------------------------------
# Feedback (anonymised)
# ---------------------------------------------------------------------------------------------


def _letter(i: int) -> str:
    letters = string.ascii_uppercase
    return letters[i] if i < 26 else letters[i // 26 - 1] + letters[i % 26]


def letters(round_number: int, secret: str, experts: Sequence[str], previous: Mapping[str, str] | None = None) -> dict[str, str]:
    """Each expert's letter in a round: a shuffle seeded by the round and `secret` (the round's
    content hash, which no panelist holds whole), redrawn until no expert keeps the letter they
    had in `previous` (when two or more experts make that possible), so letters never follow
    an expert from round to round."""
    ids = sorted(experts)
    rng = random.Random(int(hashlib.sha256(f"{round_number}|{secret}".encode()).hexdigest(), 16))
    order = list(range(len(ids)))
    for _ in range(1000):
        rng.shuffle(order)
        out = {e: _letter(order[i]) for i, e in enumerate(ids)}
        if len(ids) < 2 or not previous or all(previous.get(e) != out[e] for e in ids):
            return out
    return out


@dataclass(frozen=True)
class FeedbackJudgment:
    letter: str  # an anonymous letter, or "catalogue"
    probs: tuple[float, ...]
    confidence: str
    rationale: str
    citation: str
    outlier: bool


@dataclass(frozen=True)
class FeedbackTable:
    node: str
    given: tuple[tuple[str, str], ...]  # (parent, state)
    states: tuple[str, ...]
    pooled: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    spread: tuple[tuple[float, float], ...]
    judgments: tuple[FeedbackJudgment, ...]

    @property
    def width(self) -> float:
        return width(self.spread)


@dataclass(frozen=True)
class Feedback:
    round: int
    label: str
    closed_on: str
    experts: int
    tables: tuple[FeedbackTable, ...]


def redactor(priors: Priors) -> Callable[[str | None], str]:
    """Removes from free text every way of naming an expert: id (also with spaces), file name and
    stem, role. An expert who signs a rationale is not named in the feedback."""
    names: set[str] = set()
    for e in priors.experts:
        names.update({e.id, e.id.replace("_", " "), e.file, e.file.rsplit("/", 1)[-1], e.role})
        names.add(e.file.rsplit("/", 1)[-1].rsplit(".", 1)[0])
    words = sorted((n for n in names if n and n.strip()), key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(n) for n in words), re.IGNORECASE) if words else None

    def clean(text: str | None) -> str:
        if not text:
            return ""
        return pattern.sub("[a panelist]", text) if pattern else text

    return clean


def feedback(
    priors: Priors, *, round_number: int, label: str, closed_on: str, letter_of: Mapping[str, str],
    quantile: Callable[[float, float, float], float],
) -> Feedback:
    """§7's feedback on one round: per table the pooled mean and 90 % interval, the spread, every
    judgment under its letter with confidence and rationale, outliers marked; widest first."""
    clean = redactor(priors)
    tables = []
    by_table = _by_table(priors)
    for key in panel_tables(priors):
        node, config = key
        js = by_table[key]
        pooled = priors.pooled(node, config)
        iv = _intervals(pooled.mean, pooled.concentration, quantile)
        flags = outliers(js, quantile)
        rows = [
            FeedbackJudgment(
                CATALOGUE if j.source == CATALOGUE else letter_of[j.source], j.probs, j.confidence,
                clean(j.rationale), clean(j.citation), flag,
            )
            for j, flag in zip(js, flags, strict=True)
        ]
        rows.sort(key=lambda r: (r.letter == CATALOGUE, len(r.letter), r.letter))
        tables.append(FeedbackTable(
            node, tuple(zip(priors.node(node).table_parents, config, strict=True)), priors.node(node).states,
            pooled.mean, tuple(lo for lo, _ in iv), tuple(hi for _, hi in iv), spread(js), tuple(rows),
        ))
    tables.sort(key=lambda t: -t.width)
    experts = len({j.source for j in priors.judgments if j.source != CATALOGUE})
    return Feedback(round_number, label, closed_on, experts, tuple(tables))


# ---------------------------------------------------------------------------------------------
# Changes between rounds, convergence
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Move:
    """An expert's judgment of one table that changed between two rounds (None: not given)."""

    expert: str
    node: str
    config: tuple[str, ...]
    round: int  # the round it changed in (the open round: 0)
    before: tuple[float, ...] | None
    after: tuple[float, ...] | None
    confidence: tuple[str | None, str | None]
    rationale_diff: tuple[str, ...]


def rationale_diff(before: str | None, after: str | None) -> tuple[str, ...]:
    """The changed rationale as a line diff, one sentence a line ("- old", "+ new")."""
    def lines(t: str | None) -> list[str]:
        return [s for s in re.split(r"(?<=[.;!?])\s+", (t or "").strip()) if s]

    return tuple(
        line for line in difflib.unified_diff(lines(before), lines(after), lineterm="", n=0)
        if not line.startswith(("---", "+++", "@@"))
    )


def _expert_judgments(priors: Priors | None, alias: Mapping[str, str]) -> dict[tuple[str, str, tuple[str, ...]], Judgment]:
    if priors is None:
        return {}
    return {(alias.get(j.source, j.source), j.node, j.config): j for j in priors.judgments if j.source != CATALOGUE}


def moves(before: Priors | None, after: Priors, *, round_number: int, alias: Mapping[str, str] | None = None) -> list[Move]:
    """Which experts changed which judgments from `before` to `after` (an expert's old id is
    read through `alias`, old -> new, for a file renamed with `previously:`)."""
    old, new = _expert_judgments(before, alias or {}), _expert_judgments(after, {})
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a is not None and b is not None and (a.probs, a.confidence, a.rationale) == (b.probs, b.confidence, b.rationale):
            continue
        out.append(Move(
            key[0], key[1], key[2], round_number, a.probs if a else None, b.probs if b else None,
            (a.confidence if a else None, b.confidence if b else None),
            rationale_diff(a.rationale if a else None, b.rationale if b else None),
        ))
    return out


@dataclass(frozen=True)
class TableRound:
    round: int
    mean: tuple[float, ...]
    n: float
    spread: tuple[tuple[float, float], ...]
    experts: int

    @property
    def width(self) -> float:
        return width(self.spread)


@dataclass(frozen=True)
class TableHistory:
    node: str
    config: tuple[str, ...]
    states: tuple[str, ...]
    rounds: tuple[TableRound, ...]
    moves: tuple[Move, ...]

    @property
    def settled(self) -> bool | None:
        """§7: moved by less than 0.05 since the previous round and the spread did not widen;
        None with fewer than two rounds."""
        if len(self.rounds) < 2:
            return None
        a, b = self.rounds[-2], self.rounds[-1]
        moved = max(abs(x - y) for x, y in zip(a.mean, b.mean, strict=True))
        return moved < SETTLE_MOVE and b.width <= a.width + 1e-12


def convergence(rounds: Sequence[tuple[int, Priors]], *, aliases: Sequence[Mapping[str, str]] = (), table: str | None = None) -> list[TableHistory]:
    """Per table and round: pooled mean, pooled N and spread, and who moved (by name: for the
    facilitator). `aliases[i]` maps round i's ids to round i+1's (renamed files)."""
    per_round = [(n, p, _by_table(p)) for n, p in rounds]
    all_moves: list[Move] = []
    for i in range(1, len(rounds)):
        alias = aliases[i - 1] if i - 1 < len(aliases) else {}
        all_moves += moves(rounds[i - 1][1], rounds[i][1], round_number=rounds[i][0], alias=alias)
    keys: dict[TableKey, None] = {}
    for _, p, _ in per_round:
        keys.update(dict.fromkeys(panel_tables(p)))
    out = []
    for node, config in keys:
        if table is not None and node != table:
            continue
        rows = []
        for n, p, by in per_round:
            js = by.get((node, config))
            if js:
                pooled = p.pooled(node, config)
                rows.append(TableRound(n, pooled.mean, pooled.concentration, spread(js), sum(j.source != CATALOGUE for j in js)))
        mv = tuple(m for m in all_moves if (m.node, m.config) == (node, config))
        out.append(TableHistory(node, config, per_round[-1][1].node(node).states if per_round else (), tuple(rows), mv))
    return out


# ---------------------------------------------------------------------------------------------
# Experts' forecasts, track records, performance weights
# ---------------------------------------------------------------------------------------------


def expert_view(priors: Priors, expert: str) -> Priors:
    """§7: the network whose tables are `expert`'s own judgments where they gave one, and the
    pool of the others where not."""
    own = {(j.node, j.config) for j in priors.judgments if j.source == expert}
    if not own:
        raise UsageError(f"expert {expert!r} gives no judgment in this round")
    kept = tuple(j for j in priors.judgments if j.source == expert or (j.node, j.config) not in own)
    return replace(priors, judgments=kept)


def prior_marginals(priors: Priors) -> dict[str, np.ndarray]:
    """P(h) with no evidence on the prior-mean network (the exact engine), per hypothesis."""
    from forecaster.inference.exact import infer_exact
    from forecaster.model.network import build_network

    net = build_network(priors)
    prior = infer_exact(net, np.zeros((len(net.indicator_ids), 2))).prior
    return {h: np.asarray(p, dtype=float) for h, p in zip(net.hypothesis_ids, prior, strict=True)}


def equal_weights(priors: Priors) -> Priors:
    """Every source, the catalogue too, at weight 1 (the equal-weight pool)."""
    return priors.with_weights({j.source: 1.0 for j in priors.judgments})


def expert_forecasts(priors: Priors) -> dict[str, dict[str, np.ndarray]]:
    """Each expert's forecast (§7) of every hypothesis: expert id -> hypothesis -> P_k(h)."""
    experts = sorted({j.source for j in priors.judgments if j.source != CATALOGUE})
    return {k: prior_marginals(expert_view(priors, k)) for k in experts}


def performance_weights(
    log_scores: Mapping[str, float], stated: Mapping[str, float], *, tau: float, floor: float
) -> dict[str, float]:
    """§7: w_k ∝ w0_k · exp(τ · Σ ln P_k(o_r)), then floored at `floor` and renormalised. The floor
    holds exactly: a weight below it is fixed at it, the rest share what is left in proportion."""
    experts = sorted(stated)
    if not experts:
        return {}
    if floor * len(experts) > 1:
        raise UsageError(f"floor {floor} is more than 1/{len(experts)}: {len(experts)} experts cannot all get it")
    logw = {k: (math.log(stated[k]) if stated[k] > 0 else -math.inf) + tau * log_scores.get(k, 0.0) for k in experts}
    top = max(logw.values())
    raw = {k: math.exp(v - top) if math.isfinite(v) else 0.0 for k, v in logw.items()}
    if top == -math.inf or sum(raw.values()) <= 0:
        raw = {k: 1.0 for k in experts}
    fixed: set[str] = set()
    while True:
        free = [k for k in experts if k not in fixed]
        left = 1.0 - floor * len(fixed)
        total = sum(raw[k] for k in free)
        w = {k: (floor if k in fixed else left * raw[k] / total if total > 0 else left / len(free)) for k in experts}
        low = {k for k in free if w[k] < floor}
        if not low:
            return w
        fixed |= low


@dataclass(frozen=True)
class WeightBasis:
    """Which pooling weights were used, and on what (MODEL.md §7)."""

    mode: str  # "stated" or "performance"
    weights: Mapping[str, float] = field(default_factory=dict)  # experts', summing to one
    resolutions: tuple[str, ...] = ()  # the resolutions they rest on
    tau: float | None = None
    floor: float | None = None

    @property
    def warning(self) -> str | None:
        if self.mode == "performance" and len(self.resolutions) < MIN_RESOLUTIONS:
            return (f"performance weights rest on {len(self.resolutions)} resolution(s), fewer than "
                    f"{MIN_RESOLUTIONS}: they say little about who forecasts better")
        return None

    def describe(self) -> str:
        if self.mode != "performance":
            return "stated weights (settings.yaml pooling.weights)"
        ws = ", ".join(f"{k} {v:.2f}" for k, v in sorted(self.weights.items()))
        return (f"performance weights (MODEL.md §7, tau {self.tau:g}, floor {self.floor:g}) on "
                f"{len(self.resolutions)} resolution(s): {ws}")

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "weights": {k: round(v, 6) for k, v in sorted(self.weights.items())},
                "resolutions": list(self.resolutions), "tau": self.tau, "floor": self.floor, "warning": self.warning}


def apply_weights(priors: Priors, basis: WeightBasis) -> Priors:
    """`priors` pooled with `basis`' expert weights (summing to one), scaled to the experts'
    stated total so that the catalogue keeps its share of the indicator tables."""
    if basis.mode != "performance":
        return priors
    total = sum(priors.stated_weight(k) for k in basis.weights)
    return priors.with_weights({k: w * total for k, w in basis.weights.items()})


@dataclass(frozen=True)
class WeightsView:
    """The pooling weights in force beside equal weights: each hypothesis state's prior forecast
    under both (the audit shows what the performance weights change)."""

    basis: WeightBasis
    forecasts: tuple[tuple[str, str, float, float], ...]  # hypothesis, state, these weights, equal weights


def weights_view(priors: Priors, basis: WeightBasis) -> WeightsView:
    weighted, equal = prior_marginals(apply_weights(priors, basis)), prior_marginals(equal_weights(priors))
    rows = tuple(
        (h.id, s, float(weighted[h.id][i]), float(equal[h.id][i])) for h in priors.hypotheses for i, s in enumerate(h.states)
    )
    return WeightsView(basis, rows)


@dataclass(frozen=True)
class Case:
    """One resolution (§6) scored in a track record: the state that held over [start, end]."""

    resolution: str
    hypothesis: str
    state: int  # index of the state that held
    start: str
    end: str


@dataclass(frozen=True)
class Scored:
    """A forecaster's mean scores over the resolutions it was scored on."""

    who: str
    resolutions: int
    brier: float | None
    log: float | None


def score_case(p: np.ndarray, o: int) -> tuple[float, float]:
    """(Brier, log score) of one forecast (MODEL.md §6)."""
    from forecaster.analysis.scores import brier, log_score

    return float(brier(p[None, :], np.array([o]))[0]), float(log_score(p[None, :], np.array([o]))[0])


def mean_scores(who: str, scores: Sequence[tuple[float, float]]) -> Scored:
    if not scores:
        return Scored(who, 0, None, None)
    return Scored(who, len(scores), sum(b for b, _ in scores) / len(scores), sum(s for _, s in scores) / len(scores))
