"""Priors validation: each file against its schema (forecaster.model.specs: pydantic, unknown keys
rejected), then the checks that span files: parents, cycles, parent configurations, sums, terms,
limits. Every problem is noted and the checks go on, so `priors validate` lists them all in one
pass: a file with schema problems is parsed leniently (forecaster.model.problems: mended, its
broken items set aside), and the checks that span files skip only what depends on a broken item
(no second, derived message). Each rule is one function of `RULES`, run in order on a shared
`_Folder`. Imported only when a priors folder must really be validated
(`forecaster.model.loading.load_priors` caches the result)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from forecaster.core.errors import PriorsError, Problem, did_you_mean
from forecaster.core.text import plural
from forecaster.core.yamlio import load_yaml_text
from forecaster.model.cliques import check_network, factor_scopes
from forecaster.model.evidence import GradeTable
from forecaster.model.priors import (
    BINARY_STATES,
    CATALOGUE,
    MAIN_FILES,
    Expert,
    HypothesisNode,
    IndicatorNode,
    Judgment,
    MechanismNode,
    Priors,
    _content_hash,
    expert_files,
    main_file,
)
from forecaster.model.problems import Parsed, _line_at, _problem_from_text, loc_text, parse_leniently
from forecaster.model.specs import (
    CatalogueSpec,
    Confidence,
    ExpertSpec,
    JudgmentSpec,
    NetworkSpec,
    SettingsSpec,
    VectorJudgmentSpec,
)
from forecaster.model.terms import term_probability

SUM_TOLERANCE = 1e-6
Loc = Sequence[int | str]
# A stand-in grade table for a settings file whose own has a problem (noted), so that its other keys are checked.
_GRADES_FILLER = {"reliability": dict.fromkeys("ABCDEF", 0.5), "credibility": dict.fromkeys("123456", 0.5)}

# ----------------------------------------------------------------------------- reading


def _where(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root.parent))
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class _File:
    """One priors file as read: its path, its name in problems, and its lenient parse."""

    path: Path
    name: str
    parsed: Parsed

    @property
    def spec(self) -> Any:
        return self.parsed.spec

    @property
    def raw(self) -> Any:
        return self.parsed.raw


def _read(model: type[BaseModel], path: Path, root: Path, problems: list[Problem]) -> _File:
    """A file parsed leniently, its problems noted; spec None when it cannot be read or checked at all."""
    name = _where(path, root)
    empty = _File(path, name, Parsed(None, None))
    try:
        text = path.read_text(encoding="utf-8-sig")
        raw = load_yaml_text(text, name=name, error=PriorsError)
    except PriorsError as e:
        problems.append(_problem_from_text(str(e), name))
        return empty
    except (OSError, UnicodeDecodeError) as e:
        problems.append(Problem(name, 0, "", f"cannot read: {e}"))
        return empty
    if not isinstance(raw, dict):
        problems.append(Problem(name, 0, "", f"expected a mapping (key: value lines) at the top level, got {type(raw).__name__}"))
        return empty
    fillers = {"grades": _GRADES_FILLER} if model is SettingsSpec else None
    parsed, found = parse_leniently(model, raw, name=name, text=text, fillers=fillers)
    problems.extend(found)
    return _File(path, name, parsed)


def _sample_size(conf: Confidence | None, default: Confidence, sizes: Mapping[str, float]) -> tuple[float, str]:
    c = default if conf is None else conf
    if isinstance(c, str):
        return float(sizes[c]), c
    return float(c), f"{c:g}"


# ----------------------------------------------------------------------------- the shared state of the checks


@dataclass
class _Folder:
    """What the checks that span files read and build, in the order RULES runs them."""

    root: Path
    net: _File
    cat: _File
    settings: _File
    experts: list[_File]
    problems: list[Problem]
    hyp_states: dict[str, tuple[str, ...]] = field(default_factory=dict)
    parents: dict[str, tuple[str, ...]] = field(default_factory=dict)
    bad_hyp: set[str] = field(default_factory=set)  # hypotheses set aside, in a cycle or with a parent problem: their own tables not checked
    order: list[str] = field(default_factory=list)
    node_states: dict[str, tuple[str, ...]] = field(default_factory=dict)
    mech_index: dict[str, int] = field(default_factory=dict)
    bad_mech: set[str] = field(default_factory=set)
    ind_ids: set[str] = field(default_factory=set)
    broken: set[str] = field(default_factory=set)  # indicators with a problem of their own: the experts' tables on them skipped
    ind_nodes: list[IndicatorNode] = field(default_factory=list)
    mech_nodes: list[MechanismNode] = field(default_factory=list)
    judgments: list[Judgment] = field(default_factory=list)
    expert_rows: list[Expert] = field(default_factory=list)
    incomplete: set[str] = field(default_factory=set)  # nodes with a table row set aside or wrong

    def note(self, f: _File, loc: Loc, msg: str) -> None:
        """A problem at `loc` of `f`'s spec, located in the file as written."""
        at = f.parsed.at(loc)
        self.problems.append(Problem(f.name, _line_at(f.raw, at), loc_text(at), msg))

    @property
    def sizes(self) -> dict[str, float]:
        return dict(self.settings.spec.pooling.confidence_sizes)


def _aside_ids(f: _File, key: str) -> set[str]:
    """The ids of `key`'s items set aside in `f` (their own problems noted)."""
    out: set[str] = set()
    for loc in f.parsed.set_aside:
        if len(loc) == 2 and loc[0] == key and isinstance(loc[1], int):
            try:
                ident = f.raw[key][loc[1]].get("id")
            except (AttributeError, KeyError, IndexError, TypeError):
                continue
            if isinstance(ident, str):
                out.add(ident)
    return out


# ----------------------------------------------------------------------------- table rows


@dataclass(frozen=True)
class _Table:
    """One table to check: its node, parents, states, who gives it and where."""

    node: str
    par: Sequence[str]
    states: tuple[str, ...]
    source: str
    f: _File
    loc: list[int | str]
    default_conf: Confidence
    default_citation: str | None


def _config_of(c: _Folder, t: _Table, given: Mapping[str, str], rloc: list[int | str]) -> tuple[str, ...] | None:
    """The row's parent configuration, or None with its problems noted."""
    before = len(c.problems)
    for key, state in given.items():
        if key not in t.par:
            c.note(t.f, [*rloc, "given", key], f"{key!r} is not a parent here; parents are {list(t.par) or 'none'}")
        elif state not in c.node_states[key]:
            c.note(t.f, [*rloc, "given", key], f"unknown state {state!r} of {key}{did_you_mean(state, c.node_states[key])}")
    missing = [p for p in t.par if p not in given]
    if missing:
        c.note(t.f, [*rloc, "given"], f"missing parent {missing[0]!r} in this configuration")
    return None if len(c.problems) > before else tuple(given[p] for p in t.par)


def _vector(c: _Folder, t: _Table, row: VectorJudgmentSpec, rloc: list[int | str]) -> tuple[tuple[float, ...], tuple[str | None, ...]] | None:
    """A hypothesis row's probabilities over the states, or None with its problem noted."""
    got = set(row.probabilities)
    if got != set(t.states):
        extra = sorted(got - set(t.states))
        for state in extra:
            c.note(t.f, [*rloc, "probabilities", state], f"unknown state {state!r}{did_you_mean(state, t.states)}")
        if not extra:
            c.note(t.f, [*rloc, "probabilities"], f"missing state {sorted(set(t.states) - got)[0]!r}")
        return None
    values = [row.probabilities[s] for s in t.states]
    terms = tuple(v if isinstance(v, str) else None for v in values)
    nums = [term_probability(v) if isinstance(v, str) else float(v) for v in values]
    if any(term is not None for term in terms):
        total = sum(nums)
        nums = [x / total for x in nums]  # ICD terms are ranges: normalise their midpoints
    elif abs(sum(nums) - 1.0) > SUM_TOLERANCE:
        c.note(t.f, [*rloc, "probabilities"], f"probabilities sum to {sum(nums):.6g}, not 1")
        return None
    return tuple(nums), terms


def _row(c: _Folder, t: _Table, row: JudgmentSpec | VectorJudgmentSpec, rloc: list[int | str], cfg: tuple[str, ...]) -> None:
    """One row whose configuration is known: its sample size, probabilities and edges; a Judgment if sound."""
    n, conf_label = _sample_size(row.confidence, t.default_conf, c.sizes)
    if not (n > 0 and math.isfinite(n)):
        c.note(t.f, [*rloc, "confidence"], f"{row.confidence!r}: expected low, medium, high or a number > 0")
        return
    if isinstance(row, JudgmentSpec):
        p = row.p if row.p is not None else term_probability(str(row.term))
        probs: tuple[float, ...] = (p, 1.0 - p)
        terms: tuple[str | None, ...] = (row.term, None)
        names: Sequence[str] = ("occurred", "not occurred")
    else:
        vector = _vector(c, t, row, rloc)
        if vector is None:
            return
        (probs, terms), names = vector, t.states
    edge = next(((name, x) for name, x in zip(names, probs, strict=True) if not 0.0 < x < 1.0), None)
    if edge is not None:
        c.note(t.f, [*rloc, "p" if isinstance(row, JudgmentSpec) else "probabilities"],
               f"P({edge[0]}) = {edge[1]:g}: a judgment of exactly 0 or 1 says no evidence could ever change it "
               "(and breaks the update); use a value strictly between 0 and 1, e.g. 0.01 or 0.99")
        return
    c.judgments.append(Judgment(
        source=t.source, node=t.node, config=cfg, probs=probs, n=n, confidence=conf_label, terms=terms,
        rationale=row.rationale, citation=row.citation or t.default_citation,
        file=t.f.name, field=loc_text(t.f.parsed.at(rloc)),
    ))


def _table(c: _Folder, t: _Table, rows: Sequence[JudgmentSpec | VectorJudgmentSpec]) -> None:
    """Every row of a table, then every configuration present once (unless a row could not be read)."""
    seen: set[tuple[str, ...]] = set()
    before = len(c.problems)
    unresolved = t.f.parsed.aside(*t.f.parsed.at(t.loc))  # a row set aside: its configuration is unknown
    for r, row in enumerate(rows):
        rloc: list[int | str] = [*t.loc, r]
        cfg = _config_of(c, t, row.given, rloc)
        if cfg is None:
            unresolved = True
        elif cfg in seen:
            c.note(t.f, rloc, f"duplicate parent configuration {dict(zip(t.par, cfg, strict=True))}")
        else:
            seen.add(cfg)
            _row(c, t, row, rloc, cfg)
    for cfg in itertools.product(*(c.node_states[p] for p in t.par)) if not unresolved else ():
        if cfg not in seen:
            c.note(t.f, t.loc, f"missing parent configuration {dict(zip(t.par, cfg, strict=True)) or '{}'}")
    if unresolved or len(c.problems) > before:
        c.incomplete.add(t.node)


# ----------------------------------------------------------------------------- the rules, in order


def _hypothesis_ids(c: _Folder) -> None:
    """Hypotheses: unique ids, unique states, at most one claimed state."""
    net: NetworkSpec = c.net.spec
    for i, h in enumerate(net.hypotheses):
        if h.id in c.hyp_states:
            c.note(c.net, ["hypotheses", i, "id"], f"duplicate hypothesis id {h.id!r}")
            continue
        ids = [s.id for s in h.states]
        if len(set(ids)) != len(ids):
            c.note(c.net, ["hypotheses", i, "states"], "duplicate state id")
        if sum(s.claimed for s in h.states) > 1:
            c.note(c.net, ["hypotheses", i, "states"], "more than one state is marked claimed")
        c.hyp_states[h.id] = tuple(dict.fromkeys(ids))
        c.parents[h.id] = tuple(h.parents)
    # hypotheses set aside (their problems noted): known by name, nothing built on them checked
    c.bad_hyp.update(_aside_ids(c.net, "hypotheses") - set(c.hyp_states))


def _hypothesis_parents(c: _Folder) -> None:
    """Known parents, not itself, no cycle; a child of a hypothesis set aside is not checked further."""
    net: NetworkSpec = c.net.spec
    aside = set(c.bad_hyp)
    for i, h in enumerate(net.hypotheses):
        for k, p in enumerate(h.parents):
            if p in aside:
                c.bad_hyp.add(h.id)
            elif p not in c.hyp_states:
                c.note(c.net, ["hypotheses", i, "parents", k], f"unknown parent {p!r}{did_you_mean(p, c.hyp_states)}")
                c.bad_hyp.add(h.id)
            elif p == h.id:
                c.note(c.net, ["hypotheses", i, "parents", k], f"cycle: {h.id} is its own parent")
                c.bad_hyp.add(h.id)
    index = {h.id: i for i, h in reversed(list(enumerate(net.hypotheses)))}

    def on_cycle(cycle: list[str]) -> None:
        c.note(c.net, ["hypotheses", index[cycle[0]], "parents"], f"cycle among hypotheses: {' -> '.join(cycle)}")
        c.bad_hyp.update(cycle)

    c.order = _topological(c.parents, on_cycle)
    c.node_states.update(c.hyp_states)


def _mechanism_ids(c: _Folder) -> None:
    """Mechanism ids unique, and neither a hypothesis nor an indicator id."""
    cat: CatalogueSpec = c.cat.spec
    c.ind_ids = {ind.id for ind in cat.indicators} | _aside_ids(c.cat, "indicators")
    c.bad_mech.update(_aside_ids(c.cat, "mechanisms"))
    for i, mech in enumerate(cat.mechanisms):
        clash = (f"duplicate mechanism id {mech.id!r}" if mech.id in c.mech_index or mech.id in c.bad_mech
                 else f"{mech.id!r} is already a hypothesis id" if mech.id in c.hyp_states or mech.id in c.bad_hyp
                 else f"{mech.id!r} is already an indicator id" if mech.id in c.ind_ids else None)
        if clash is not None:
            c.note(c.cat, ["mechanisms", i, "id"], clash)
            if mech.id not in c.mech_index:
                c.bad_mech.add(mech.id)
            continue
        c.mech_index[mech.id] = i
    c.node_states.update({m: BINARY_STATES for m in c.mech_index})


def _mechanism_tables(c: _Folder) -> None:
    """A mechanism's parents are hypotheses, each once; its own table P(occurred | parents)."""
    cat: CatalogueSpec = c.cat.spec
    for m, i in c.mech_index.items():
        mech = cat.mechanisms[i]
        before = len(c.problems)
        for k, p in enumerate(mech.parents):
            if p in c.hyp_states or p in c.bad_hyp:
                continue
            what = (" (a mechanism's parents are hypotheses; indicators are its children)" if p in c.ind_ids
                    else " (a mechanism's parents are hypotheses, never other mechanisms)" if p in c.mech_index or p in c.bad_mech
                    else did_you_mean(p, c.hyp_states))
            c.note(c.cat, ["mechanisms", i, "parents", k], f"unknown parent {p!r}{what}")
        if len(set(mech.parents)) != len(mech.parents):
            c.note(c.cat, ["mechanisms", i, "parents"], "a parent is named twice")
        if len(c.problems) > before or any(p not in c.hyp_states for p in mech.parents):  # or a parent set aside
            c.bad_mech.add(m)
            continue
        _table(c, _Table(mech.id, mech.parents, BINARY_STATES, CATALOGUE, c.cat, ["mechanisms", i, "likelihoods"],
                         cat.confidence, mech.citation), mech.likelihoods)


def _indicator_parents(c: _Folder, i: int) -> None:
    """An indicator's hypothesis parents (known, each once) and its one mechanism."""
    ind = c.cat.spec.indicators[i]
    for k, p in enumerate(ind.parents):
        if p in c.hyp_states or p in c.bad_hyp:
            continue
        if p in c.mech_index or p in c.bad_mech:
            c.note(c.cat, ["indicators", i, "parents", k],
                   f"{p!r} is a mechanism: name it with `mechanism: {p}`, not among the hypothesis parents")
        else:
            c.note(c.cat, ["indicators", i, "parents", k], f"unknown parent {p!r}{did_you_mean(p, c.hyp_states)}")
    if len(set(ind.parents)) != len(ind.parents):
        c.note(c.cat, ["indicators", i, "parents"], "a parent is named twice")
    mechanism = ind.mechanism
    if isinstance(mechanism, list):
        named = ", ".join(repr(m) for m in mechanism) or "none"
        c.note(c.cat, ["indicators", i, "mechanism"],
               f"names {plural(len(mechanism), 'mechanism')} ({named}): an indicator has at most one mechanism parent; "
               "give one id (if two episodes really drive it, model them as one mechanism)")
    elif mechanism is not None and mechanism not in c.mech_index and mechanism not in c.bad_mech:
        hint = did_you_mean(mechanism, c.mech_index)
        if not hint and mechanism in c.hyp_states:
            hint = " (a hypothesis: list it under parents)"
        known = f"; mechanisms are {list(c.mech_index)}" if c.mech_index and not hint else (
            "" if c.mech_index else "; the catalogue declares no mechanisms: add it under the top-level `mechanisms:`")
        c.note(c.cat, ["indicators", i, "mechanism"], f"unknown mechanism {mechanism!r}{hint}{known}")


def _indicators(c: _Folder) -> None:
    """The catalogue's indicators: unique ids, parents, mechanism, and their own tables."""
    cat: CatalogueSpec = c.cat.spec
    seen: set[str] = set()
    c.broken.update(_aside_ids(c.cat, "indicators"))
    for i, ind in enumerate(cat.indicators):
        if ind.id in seen:
            c.note(c.cat, ["indicators", i, "id"], f"duplicate indicator id {ind.id!r}")
            continue
        if ind.id in c.hyp_states or ind.id in c.bad_hyp:
            c.note(c.cat, ["indicators", i, "id"], f"{ind.id!r} is already a hypothesis id")
            c.broken.add(ind.id)
            continue
        seen.add(ind.id)
        before = len(c.problems)
        _indicator_parents(c, i)
        mechanism = ind.mechanism
        if len(c.problems) > before or mechanism in c.bad_mech or any(p not in c.hyp_states for p in ind.parents):
            c.broken.add(ind.id)
            continue
        assert not isinstance(mechanism, list)
        table_par = [*ind.parents, *([mechanism] if mechanism else [])]
        _table(c, _Table(ind.id, table_par, BINARY_STATES, CATALOGUE, c.cat, ["indicators", i, "likelihoods"],
                         cat.confidence, ind.citation), ind.likelihoods)
        c.ind_nodes.append(IndicatorNode(ind.id, ind.name, ind.definition, tuple(ind.parents), ind.citation,
                                         mechanism=mechanism))


def _mechanism_children(c: _Folder) -> None:
    """Every mechanism is named by at least one indicator (a report is never about a mechanism)."""
    cat: CatalogueSpec = c.cat.spec
    raw_indicators = c.cat.raw.get("indicators") if isinstance(c.cat.raw, dict) else None
    named_by = {m for ind in raw_indicators if isinstance(ind, dict) and isinstance(m := ind.get("mechanism"), str)} if isinstance(raw_indicators, list) else set()
    for m, i in c.mech_index.items():
        mech = cat.mechanisms[i]
        if m not in named_by:
            c.note(c.cat, ["mechanisms", i],
                   f"mechanism {mech.id!r} has no indicator: no report is ever about a mechanism, so name it in "
                   "at least one indicator's `mechanism:` (or remove it)")
            c.bad_mech.add(m)
            continue
        if m in c.bad_mech:
            continue
        children = tuple(n.id for n in c.ind_nodes if n.mechanism == mech.id)
        c.mech_nodes.append(MechanismNode(mech.id, mech.name, mech.definition, tuple(mech.parents), mech.citation, children))


def _expert_hypotheses(c: _Folder, f: _File) -> None:
    """An expert's hypothesis tables: every hypothesis, no unknown one."""
    spec: ExpertSpec = f.spec
    for hid in c.hyp_states:
        if hid not in spec.hypotheses and not f.parsed.aside("hypotheses", hid):
            c.note(f, ["hypotheses"], f"missing table for hypothesis {hid!r}: every panelist gives every hypothesis table")
    for hid, rows in spec.hypotheses.items():
        if hid in c.bad_hyp:
            continue
        if hid not in c.hyp_states:
            c.note(f, ["hypotheses", hid], f"unknown hypothesis {hid!r}{did_you_mean(hid, c.hyp_states)}")
            continue
        _table(c, _Table(hid, c.parents[hid], c.hyp_states[hid], spec.id, f, ["hypotheses", hid], "medium", None), rows)


def _expert_nodes(c: _Folder, f: _File) -> None:
    """An expert's indicator and mechanism tables (binary nodes), each kind under its own key."""
    spec: ExpertSpec = f.spec
    ind_parents = {n.id: n.table_parents for n in c.ind_nodes}
    mech_parents = {m: c.cat.spec.mechanisms[i].parents for m, i in c.mech_index.items() if m not in c.bad_mech}
    for key, kind, tables, node_parents, skip, other, other_hint in (
        ("indicators", "indicator", spec.indicators, ind_parents, c.broken, mech_parents,
         " (a mechanism: judge it under the top-level `mechanisms:`)"),
        ("mechanisms", "mechanism", spec.mechanisms, mech_parents, c.bad_mech, ind_parents,
         " (an indicator: judge it under `indicators:`)"),
    ):
        for nid, rows in tables.items():
            if nid in skip:
                continue
            if nid not in node_parents:
                hint = other_hint if nid in other else did_you_mean(nid, node_parents)
                c.note(f, [key, nid], f"unknown {kind} {nid!r}{hint}")
                continue
            _table(c, _Table(nid, node_parents[nid], BINARY_STATES, spec.id, f, [key, nid], "medium", None), rows)


def _experts(c: _Folder) -> None:
    """Every expert file: its id, its tables; at least one panelist."""
    for f in c.experts:
        spec: ExpertSpec | None = f.spec
        if spec is None:
            continue
        if spec.id != f.path.stem:
            c.note(f, ["id"], f"{spec.id!r} must equal the file name {f.path.stem!r}")
            continue
        if spec.id == CATALOGUE:
            c.note(f, ["id"], f"{CATALOGUE!r} is reserved for the indicator catalogue")
            continue
        _expert_hypotheses(c, f)
        _expert_nodes(c, f)
        c.expert_rows.append(Expert(spec.id, spec.role, spec.illustrative, spec.reviewed_by, spec.reviewed_on, f.name))
    if not c.experts:
        c.problems.append(Problem(_where(c.root / "experts", c.root), 0, "",
                                  "no expert files: the hypothesis tables need at least one panelist"))


def _weights(c: _Folder) -> None:
    """Pooling weights name the catalogue or an expert (an expert file with problems still counts)."""
    sources = {CATALOGUE, *(f.path.stem for f in c.experts)}
    for name in c.settings.spec.pooling.weights:
        if name not in sources:
            c.note(c.settings, ["pooling", "weights", name], f"unknown expert {name!r}{did_you_mean(name, sources)}")


def _size(c: _Folder) -> None:
    """The exact engine's limit (forecaster.model.cliques): the largest factor variable elimination
    needs, with every indicator reported, at most MAX_FACTOR states. Checked on a sound network only."""
    if c.problems:
        return
    sizes = {h: len(s) for h, s in c.hyp_states.items()} | {m.id: 2 for m in c.mech_nodes}
    scopes = factor_scopes(
        {h: c.parents[h] for h in c.hyp_states}, [(i.parents, i.mechanism) for i in c.ind_nodes],
        {m.id: m.parents for m in c.mech_nodes},
    )
    try:
        check_network(sizes, scopes, list(c.hyp_states))
    except PriorsError as e:
        c.note(c.net, ["hypotheses"], str(e))


RULES: tuple[Callable[[_Folder], None], ...] = (
    _hypothesis_ids, _hypothesis_parents, _mechanism_ids, _mechanism_tables, _indicators, _mechanism_children,
    _experts, _weights, _size,
)


def _topological(parents: Mapping[str, Sequence[str]], on_cycle: Any) -> list[str]:
    """Hypothesis ids, parents first. A cycle is reported once through `on_cycle(its ids, first
    repeated last)` and broken there; parents that are unknown, or the hypothesis itself, are left to their own notes."""
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            on_cycle([*path[path.index(node):], node])
            return
        state[node] = 1
        for p in parents[node]:
            if p in parents and p != node:
                visit(p, [*path, node])
        state[node] = 2
        order.append(node)

    for h in parents:
        visit(h, [])
    return order


# ----------------------------------------------------------------------------- the result


def _priors(c: _Folder, digest: str) -> Priors:
    """The `Priors` of the checked folder; with problems noted, of its sound part only (every node
    whose parents are sound and whose tables are complete), so that the audit's checks can run on
    it in the same pass."""
    net: NetworkSpec = c.net.spec
    settings: SettingsSpec = c.settings.spec
    by_id = {h.id: h for h in net.hypotheses}
    kept: set[str] = set()
    for h in c.order:  # parents first: a hypothesis is kept with its parents
        if h not in c.bad_hyp and set(c.parents[h]) <= kept:
            kept.add(h)
    hyp_nodes = [_hypothesis_node(by_id[h], c.hyp_states[h]) for h in c.order if h in kept]
    mechs = [m for m in c.mech_nodes if m.id not in c.incomplete and set(m.parents) <= kept]
    kept |= {m.id for m in mechs}
    inds = [i for i in c.ind_nodes if i.id not in c.incomplete and set(i.table_parents) <= kept]
    kept |= {i.id for i in inds}
    mechs = [MechanismNode(m.id, m.name, m.definition, m.parents, m.citation,
                           tuple(x for x in m.children if x in kept)) for m in mechs]
    grades = GradeTable(
        reliability=dict(settings.grades.reliability),
        credibility={int(k): v for k, v in settings.grades.credibility.items()},
    )
    return Priors(
        root=c.root, name=net.name, description=net.description, illustrative=net.illustrative,
        horizon_months=net.horizon_months, evidence_window_days=net.evidence_window_days,
        hypotheses=tuple(hyp_nodes), indicators=tuple(inds), experts=tuple(c.expert_rows),
        judgments=tuple(j for j in c.judgments if j.node in kept), method=settings.pooling.method,
        weights=dict(settings.pooling.weights), grades=grades, hash=digest, mechanisms=tuple(mechs),
        half_life_days=None if settings.half_life_days in (None, "none") else float(settings.half_life_days),
    )


def _hypothesis_node(h: Any, states: tuple[str, ...]) -> HypothesisNode:
    claimed = next((s.id for s in h.states if s.claimed), h.states[0].id)
    return HypothesisNode(
        h.id, h.question, tuple(h.parents), states, claimed,
        tuple(s.definition for s in h.states), tuple(s.citation for s in h.states),
        resolution_criteria=None if h.resolution_criteria is None else " ".join(h.resolution_criteria.split()),
        ordered=h.ordered,
    )


def check_priors_folder(root: Path) -> tuple[Priors | None, list[Problem]]:
    """Every problem of a priors folder in one pass, and its `Priors`: whole when there is no
    problem, else its sound part (None when a main file cannot be checked at all). Each file is read
    (a malformed one noted, the others still checked), and the checks that span files run on what parsed."""
    root = Path(root)
    if not root.is_dir():
        raise PriorsError(f"{root}: no priors folder here")
    files = {name: main_file(root, name) for name in MAIN_FILES}
    expert_paths = expert_files(root)
    problems: list[Problem] = [
        Problem(_where(f, root), 0, "", f"missing: a priors folder needs {name}.yaml") for name, f in files.items() if not f.is_file()
    ]
    models: dict[str, type[BaseModel]] = {"network": NetworkSpec, "indicators": CatalogueSpec, "settings": SettingsSpec}
    main = {name: _read(models[name], f, root, problems) if f.is_file() else _File(f, _where(f, root), Parsed(None, None))
            for name, f in files.items()}
    experts = [_read(ExpertSpec, f, root, problems) for f in expert_paths]
    if any(f.spec is None for f in main.values()):
        return None, _in_file_order(problems, [*main.values(), *experts])
    c = _Folder(root, main["network"], main["indicators"], main["settings"], experts, problems)
    for rule in RULES:
        rule(c)
    return _priors(c, _content_hash(root, [*files.values(), *expert_paths])), _in_file_order(c.problems, [*main.values(), *experts])


def _in_file_order(problems: list[Problem], files: Sequence[_File]) -> list[Problem]:
    """Problems file by file (network, indicators, settings, experts), each file's in the order found."""
    rank = {f.name: i for i, f in enumerate(files)}
    return sorted(problems, key=lambda p: rank.get(p.file, -1))


def validate_priors_folder(root: Path) -> Priors:
    """Load and validate a priors folder; raise PriorsError with file:line: field: problem for the
    first problem, carrying every problem found (`PriorsError.problems`)."""
    priors, problems = check_priors_folder(root)
    if problems or priors is None:
        raise PriorsError.of(problems)
    return priors
