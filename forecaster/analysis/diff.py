"""`priors diff`: what changed between two priors folders, judgment by judgment, and what it does
to the posterior on the current evidence."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from forecaster.analysis.findings import _Indexed
from forecaster.analysis.influence import _shift, exact_posterior
from forecaster.core.errors import PriorsError
from forecaster.model.evidence import Report
from forecaster.model.priors import CATALOGUE, Judgment, Priors

# ----------------------------------------------------------------------------- diff


@dataclass(frozen=True)
class JudgmentChange:
    change: str  # added | removed | changed
    source: str
    node: str
    parents: tuple[str, ...]
    config: tuple[str, ...]
    old: Judgment | None
    new: Judgment | None
    fields: tuple[str, ...]  # what changed: probabilities, confidence, terms, rationale, citation
    largest: float  # max |Δp| over states (added/removed: 0)
    shift: float | None  # largest posterior change from this change alone, on the old priors; None if not comparable
    states: tuple[str, ...] = ()  # the node's states, in the order of `probs` (old side first when they differ)
    new_states: tuple[str, ...] = ()


@dataclass(frozen=True)
class StateEffect:
    hypothesis: str
    state: str
    old: float
    new: float


@dataclass(frozen=True)
class PriorsDiff:
    old_root: str
    new_root: str
    old_hash: str
    new_hash: str
    structure: tuple[str, ...]
    judgments: tuple[JudgmentChange, ...]
    effect: tuple[StateEffect, ...]
    not_comparable: tuple[str, ...]  # hypotheses whose states differ between the two
    reports: int
    pending: str | None = None  # why effects were not computed (mechanisms before the engine knows them)

    @property
    def empty(self) -> bool:
        return not self.structure and not self.judgments

    @property
    def largest_effect(self) -> float:
        return max((abs(e.new - e.old) for e in self.effect), default=0.0)


def _compare_by_id(
    kind: str, old_items: Sequence[Any], new_items: Sequence[Any], fields: tuple[str, ...],
    out: list[str], compare: Callable[[str, object, object], None],
) -> None:
    """Items of one kind matched by id: those removed, those added, then each field of those in
    both (sorted by id) through `compare`; parents compared as lists."""
    o, n = {x.id: x for x in old_items}, {x.id: x for x in new_items}
    out.extend(f"{kind} removed: {i}" for i in o if i not in n)
    out.extend(f"{kind} added: {i}" for i in n if i not in o)
    for i in sorted(o.keys() & n.keys()):
        for field in fields:
            a, b = getattr(o[i], field), getattr(n[i], field)
            if field == "parents":
                a, b = list(a), list(b)
            compare(f"{kind} {i}: {field}", a, b)


def _structure_lines(old: Priors, new: Priors) -> list[str]:
    out: list[str] = []

    def compare(label: str, a: object, b: object) -> None:
        if a != b:
            out.append(f"{label}: {a} -> {b}")

    compare("name", old.name, new.name)
    compare("horizon_months", old.horizon_months, new.horizon_months)
    compare("evidence_window_days", old.evidence_window_days, new.evidence_window_days)
    compare("pooling method", old.method, new.method)
    oh, nh = {h.id: h for h in old.hypotheses}, {h.id: h for h in new.hypotheses}
    out += [f"hypothesis removed: {h}" for h in oh if h not in nh]
    out += [f"hypothesis added: {h}" for h in nh if h not in oh]
    for h in oh.keys() & nh.keys():
        a, b = oh[h], nh[h]
        compare(f"hypothesis {h}: states", list(a.states), list(b.states))
        compare(f"hypothesis {h}: parents", list(a.parents), list(b.parents))
        compare(f"hypothesis {h}: claimed state", a.claimed, b.claimed)
        compare(f"hypothesis {h}: question", a.question, b.question)
        for s, d0, d1 in zip(a.states, a.definitions, b.definitions, strict=False):
            if a.states == b.states:
                compare(f"state {h}.{s}: definition", d0, d1)
        if a.states == b.states:
            for s, c0, c1 in zip(a.states, a.citations, b.citations, strict=True):
                compare(f"state {h}.{s}: citation", c0, c1)
    _compare_by_id("indicator", old.indicators, new.indicators, ("parents", "mechanism", "definition", "citation"), out, compare)
    _compare_by_id("mechanism", old.mechanisms, new.mechanisms, ("parents", "definition", "citation"), out, compare)
    _compare_by_id("expert", old.experts, new.experts, ("role", "reviewed_by", "reviewed_on"), out, compare)
    oe, ne = {e.id: e for e in old.experts}, {e.id: e for e in new.experts}
    for src in sorted({*old.weights, *new.weights, *oe, *ne, CATALOGUE}):
        compare(f"weight of {src}", old.weights.get(src, 1.0), new.weights.get(src, 1.0))
    for grade in sorted(set(old.grades.reliability) | set(new.grades.reliability)):
        compare(f"grades: reliability {grade}", old.grades.reliability.get(grade), new.grades.reliability.get(grade))
    for cred in sorted(set(old.grades.credibility) | set(new.grades.credibility)):
        compare(f"grades: credibility {cred}", old.grades.credibility.get(cred), new.grades.credibility.get(cred))
    return out


def _signature(p: Priors) -> tuple[Any, ...]:
    return (
        tuple((h.id, h.states, h.parents) for h in p.hypotheses),
        tuple((i.id, i.parents, i.mechanism) for i in p.indicators),
        tuple((m.id, m.parents) for m in p.mechanisms),
    )


def diff_priors(old: Priors, new: Priors, *, reports: Sequence[Report] = (), as_of: dt.date | None = None) -> PriorsDiff:
    """Judgment-by-judgment changes from `old` to `new` and their effect on the exact posterior.

    Each change's own effect is measured by applying it alone to `old` (when the two share their
    hypotheses, states and indicators); the overall effect compares the two posteriors. The
    reports are folded as `update` folds them (each folder's half-life, aged to `as_of`)."""
    old, new = _Indexed.of(old), _Indexed.of(new)
    ev_new = new.fold([r for r in reports if r.indicator in new.indicator_ids], as_of=as_of)
    ev_old = old.fold([r for r in reports if r.indicator in old.indicator_ids], as_of=as_of)
    key = lambda j: (j.source, j.node, j.config)  # noqa: E731
    om, nm = {key(j): j for j in old.judgments}, {key(j): j for j in new.judgments}
    same_shape = _signature(old) == _signature(new)
    pending = None  # the exact engine knows mechanisms (issue 10): every effect is computed
    base = exact_posterior(old, ev_old) if pending is None else {}
    changes: list[JudgmentChange] = []
    for k in [*om, *(k for k in nm if k not in om)]:
        a, b = om.get(k), nm.get(k)
        if a is not None and b is not None:
            what = []
            if len(a.probs) != len(b.probs) or any(abs(x - y) > 1e-12 for x, y in zip(a.probs, b.probs, strict=False)):
                what.append("probabilities")
            if a.terms != b.terms:
                what.append("terms")
            if a.n != b.n or a.confidence != b.confidence:
                what.append("confidence")
            if (a.rationale or "") != (b.rationale or ""):
                what.append("rationale")
            if (a.citation or "") != (b.citation or ""):
                what.append("citation")
            if not what:
                continue
            largest = max((abs(x - y) for x, y in zip(a.probs, b.probs, strict=False)), default=0.0)
            change = "changed"
        else:
            what, largest, change = [], 0.0, "added" if a is None else "removed"
        shift = None
        if same_shape and pending is None:
            patched = [j for j in old.judgments if key(j) != k] + ([b] if b is not None else [])
            try:
                post = exact_posterior(
                    replace(old, judgments=tuple(patched), weights={**new.weights, **old.weights}), ev_old
                )
                shift = _shift(base, post)[0]
            except PriorsError:
                shift = None  # the change alone would leave a row with no judgment
        parents = (new if b is not None else old).node(k[1]).table_parents
        old_states = tuple(old.node(k[1]).states) if a is not None else ()
        new_states = tuple(new.node(k[1]).states) if b is not None else ()
        changes.append(
            JudgmentChange(
                change, k[0], k[1], parents, k[2], a, b, tuple(what), largest, shift, old_states, new_states
            )
        )
    after = exact_posterior(new, ev_new) if pending is None else {}
    effect, skipped = [], []
    for h, states in base.items():
        if h in after and list(after[h]) == list(states):
            effect += [StateEffect(h, s, states[s], after[h][s]) for s in states]
        else:
            skipped.append(h)
    skipped += [h for h in after if h not in base]
    return PriorsDiff(
        str(old.root),
        str(new.root),
        old.hash,
        new.hash,
        tuple(_structure_lines(old, new)),
        tuple(changes),
        tuple(effect),
        tuple(skipped),
        sum(v.reports for v in ev_new.values()),
        pending,
    )


