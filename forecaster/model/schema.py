"""Priors validation: each file against its schema (forecaster.model.specs: pydantic, unknown keys
rejected), then the checks that span files: parents, cycles, parent configurations, sums, terms,
limits. Every problem is noted and the checks go on, so `priors validate` lists them all. Imported
only when a priors folder must really be validated (`forecaster.model.priors.load_priors` caches
the result)."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from forecaster.core.errors import PriorsError, Problem, did_you_mean
from forecaster.core.yamlio import load_yaml
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
from forecaster.model.problems import (
    _line_at,
    _problem_from_text,
    _validation_problems,
    _without_unknown,
    loc_text,
)
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

# ----------------------------------------------------------------------------- loading


def _where(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root.parent))
    except ValueError:
        return str(path)


def _parse(model: type[BaseModel], data: Any, path: Path, root: Path) -> Any:
    name = _where(path, root)
    if not isinstance(data, dict):
        raise PriorsError(
            f"{name}: expected a mapping at the top level, got {type(data).__name__}",
            [Problem(name, 0, "", f"expected a mapping at the top level, got {type(data).__name__}")],
        )
    try:
        return model.model_validate(data)
    except ValidationError as e:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError):
            text = None
        raise PriorsError.of(_validation_problems(model, data, name, e, text)) from None


_CONF_RE = re.compile(r"^\d+(\.\d+)?$")


def _sample_size(conf: Confidence | None, default: Confidence, sizes: Mapping[str, float]) -> tuple[float, str]:
    c = default if conf is None else conf
    if isinstance(c, str):
        return float(sizes[c]), c
    return float(c), f"{c:g}"


def _check_structure(
    root: Path,
    net: NetworkSpec,
    cat: CatalogueSpec,
    settings: SettingsSpec,
    experts: list[tuple[ExpertSpec, Path, Any]],
    digest: str,
    raw_files: Mapping[str, tuple[Path, Any]],
    earlier: Sequence[Problem] = (),
) -> Priors:
    netf, netraw = raw_files["network"]
    catf, catraw = raw_files["indicators"]
    setf, setraw = raw_files["settings"]

    # Every problem is noted and the checks go on where that is safe, so that `priors validate` can
    # list them all; the first one is the PriorsError's message.
    problems: list[Problem] = list(earlier)

    def note(path: Path, raw: Any, loc: Sequence[int | str], msg: str) -> None:
        problems.append(Problem(_where(path, root), _line_at(raw, loc), loc_text(loc), msg))

    # hypotheses: unique ids and states, known parents, no cycle (the engine's size limit: at the end)
    hyp_states: dict[str, tuple[str, ...]] = {}
    parents: dict[str, tuple[str, ...]] = {}
    for i, h in enumerate(net.hypotheses):
        if h.id in hyp_states:
            note(netf, netraw, ["hypotheses", i, "id"], f"duplicate hypothesis id {h.id!r}")
            continue
        ids = [s.id for s in h.states]
        if len(set(ids)) != len(ids):
            note(netf, netraw, ["hypotheses", i, "states"], "duplicate state id")
        if sum(s.claimed for s in h.states) > 1:
            note(netf, netraw, ["hypotheses", i, "states"], "more than one state is marked claimed")
        hyp_states[h.id] = tuple(dict.fromkeys(ids))
        parents[h.id] = tuple(h.parents)
    bad_hyp: set[str] = set()  # hypotheses with a parent problem noted (or in a cycle): their own tables are not checked
    for i, h in enumerate(net.hypotheses):
        for k, p in enumerate(h.parents):
            if p not in hyp_states:
                note(netf, netraw, ["hypotheses", i, "parents", k], f"unknown parent {p!r}{did_you_mean(p, hyp_states)}")
                bad_hyp.add(h.id)
            elif p == h.id:
                note(netf, netraw, ["hypotheses", i, "parents", k], f"cycle: {h.id} is its own parent")
                bad_hyp.add(h.id)
    hyp_index = {h.id: i for i, h in reversed(list(enumerate(net.hypotheses)))}

    def on_cycle(cycle: list[str]) -> None:
        note(netf, netraw, ["hypotheses", hyp_index[cycle[0]], "parents"], f"cycle among hypotheses: {' -> '.join(cycle)}")
        bad_hyp.update(cycle)

    order = _topological(parents, on_cycle)
    # the states a table row may condition on: hypotheses, and (for indicators naming one) mechanisms
    node_states: dict[str, tuple[str, ...]] = dict(hyp_states)

    def configs_of(par: Sequence[str]) -> list[tuple[str, ...]]:
        return list(itertools.product(*(node_states[p] for p in par)))

    def config_of(given: Mapping[str, str], par: Sequence[str], path: Path, raw: Any, loc: list[int | str]) -> tuple[str, ...] | None:
        """The row's parent configuration, or None with its problems noted."""
        before = len(problems)
        for key, state in given.items():
            if key not in par:
                note(path, raw, [*loc, "given", key], f"{key!r} is not a parent here; parents are {list(par) or 'none'}")
            elif state not in node_states[key]:
                note(path, raw, [*loc, "given", key], f"unknown state {state!r} of {key}{did_you_mean(state, node_states[key])}")
        missing = [p for p in par if p not in given]
        if missing:
            note(path, raw, [*loc, "given"], f"missing parent {missing[0]!r} in this configuration")
        return None if len(problems) > before else tuple(given[p] for p in par)

    sizes = dict(settings.pooling.confidence_sizes)
    judgments: list[Judgment] = []

    def table_rows(
        rows: Sequence[JudgmentSpec | VectorJudgmentSpec],
        *,
        node: str,
        par: Sequence[str],
        states: tuple[str, ...],
        source: str,
        path: Path,
        raw: Any,
        loc: list[int | str],
        default_conf: Confidence,
        default_citation: str | None,
    ) -> None:
        seen: dict[tuple[str, ...], int] = {}
        unresolved = False
        for r, row in enumerate(rows):
            rloc: list[int | str] = [*loc, r]
            cfg = config_of(row.given, par, path, raw, rloc)
            if cfg is None:
                unresolved = True
                continue
            if cfg in seen:
                note(path, raw, rloc, f"duplicate parent configuration {dict(zip(par, cfg, strict=True))}")
                continue
            seen[cfg] = r
            n, conf_label = _sample_size(row.confidence, default_conf, sizes)
            if not (n > 0 and math.isfinite(n)):
                note(path, raw, [*rloc, "confidence"], f"{row.confidence!r}: expected low, medium, high or a number > 0")
                continue
            if isinstance(row, JudgmentSpec):
                p = row.p if row.p is not None else term_probability(str(row.term))
                probs: tuple[float, ...] = (p, 1.0 - p)
                terms: tuple[str | None, ...] = (row.term, None)
            else:
                got = set(row.probabilities)
                if got != set(states):
                    extra = sorted(got - set(states))
                    for state in extra:
                        note(path, raw, [*rloc, "probabilities", state], f"unknown state {state!r}{did_you_mean(state, states)}")
                    if not extra:
                        note(path, raw, [*rloc, "probabilities"], f"missing state {sorted(set(states) - got)[0]!r}")
                    continue
                values = [row.probabilities[s] for s in states]
                terms = tuple(v if isinstance(v, str) else None for v in values)
                nums = [term_probability(v) if isinstance(v, str) else float(v) for v in values]
                if any(t is not None for t in terms):
                    total = sum(nums)
                    nums = [x / total for x in nums]  # ICD terms are ranges: normalise their midpoints
                elif abs(sum(nums) - 1.0) > SUM_TOLERANCE:
                    note(path, raw, [*rloc, "probabilities"], f"probabilities sum to {sum(nums):.6g}, not 1")
                    continue
                probs = tuple(nums)
            names = ("occurred", "not occurred") if isinstance(row, JudgmentSpec) else states
            edge = next(((name, x) for name, x in zip(names, probs, strict=True) if not 0.0 < x < 1.0), None)
            if edge is not None:
                note(path, raw, [*rloc, "p" if isinstance(row, JudgmentSpec) else "probabilities"],
                     f"P({edge[0]}) = {edge[1]:g}: a judgment of exactly 0 or 1 says no evidence could ever change it "
                     "(and breaks the update); use a value strictly between 0 and 1, e.g. 0.01 or 0.99")
                continue
            judgments.append(
                Judgment(
                    source=source, node=node, config=cfg, probs=probs, n=n, confidence=conf_label, terms=terms,
                    rationale=row.rationale, citation=row.citation or default_citation,
                    file=_where(path, root), field=loc_text(rloc),
                )
            )
        for cfg in configs_of(par) if not unresolved else ():
            if cfg not in seen:
                note(path, raw, loc, f"missing parent configuration {dict(zip(par, cfg, strict=True)) or '{}'}")

    # mechanisms (MODEL.md §1): ids, hypothesis parents, their own tables P(occurred | parents).
    # A mechanism with a problem of its own is noted and left out of the checks that build on it
    # (its table; the indicators naming it; the experts' tables on it): no second, derived message.
    all_ind_ids = {ind.id for ind in cat.indicators}
    mech_index: dict[str, int] = {}
    bad_mech: set[str] = set()
    for i, mech in enumerate(cat.mechanisms):
        clash = (f"duplicate mechanism id {mech.id!r}" if mech.id in mech_index or mech.id in bad_mech
                 else f"{mech.id!r} is already a hypothesis id" if mech.id in hyp_states
                 else f"{mech.id!r} is already an indicator id" if mech.id in all_ind_ids else None)
        if clash is not None:
            note(catf, catraw, ["mechanisms", i, "id"], clash)
            if mech.id not in mech_index:
                bad_mech.add(mech.id)
            continue
        mech_index[mech.id] = i
    node_states.update({m: BINARY_STATES for m in mech_index})
    for m, i in mech_index.items():
        mech = cat.mechanisms[i]
        before = len(problems)
        for k, p in enumerate(mech.parents):
            if p not in hyp_states:
                what = (" (a mechanism's parents are hypotheses; indicators are its children)" if p in all_ind_ids
                        else " (a mechanism's parents are hypotheses, never other mechanisms)" if p in mech_index or p in bad_mech
                        else did_you_mean(p, hyp_states))
                note(catf, catraw, ["mechanisms", i, "parents", k], f"unknown parent {p!r}{what}")
        if len(set(mech.parents)) != len(mech.parents):
            note(catf, catraw, ["mechanisms", i, "parents"], "a parent is named twice")
        if len(problems) > before:
            bad_mech.add(m)
            continue
        table_rows(mech.likelihoods, node=mech.id, par=mech.parents, states=BINARY_STATES, source=CATALOGUE,
                   path=catf, raw=catraw, loc=["mechanisms", i, "likelihoods"], default_conf=cat.confidence,
                   default_citation=mech.citation)

    # indicator catalogue
    ind_nodes: list[IndicatorNode] = []
    seen_ind: set[str] = set()
    broken: set[str] = set()  # indicators whose own problems are noted: the experts' tables on them are skipped
    for i, ind in enumerate(cat.indicators):
        if ind.id in seen_ind:
            note(catf, catraw, ["indicators", i, "id"], f"duplicate indicator id {ind.id!r}")
            continue
        if ind.id in hyp_states:
            note(catf, catraw, ["indicators", i, "id"], f"{ind.id!r} is already a hypothesis id")
            broken.add(ind.id)
            continue
        seen_ind.add(ind.id)
        before = len(problems)
        for k, p in enumerate(ind.parents):
            if p in hyp_states:
                continue
            if p in mech_index or p in bad_mech:
                note(catf, catraw, ["indicators", i, "parents", k],
                     f"{p!r} is a mechanism: name it with `mechanism: {p}`, not among the hypothesis parents")
            else:
                note(catf, catraw, ["indicators", i, "parents", k], f"unknown parent {p!r}{did_you_mean(p, hyp_states)}")
        if len(set(ind.parents)) != len(ind.parents):
            note(catf, catraw, ["indicators", i, "parents"], "a parent is named twice")
        mechanism = ind.mechanism
        if isinstance(mechanism, list):
            named = ", ".join(repr(m) for m in mechanism) or "none"
            note(catf, catraw, ["indicators", i, "mechanism"],
                 f"names {len(mechanism)} mechanisms ({named}): an indicator has at most one mechanism parent; "
                 "give one id (if two episodes really drive it, model them as one mechanism)")
        elif mechanism is not None and mechanism not in mech_index and mechanism not in bad_mech:
            hint = did_you_mean(mechanism, mech_index)
            if not hint and mechanism in hyp_states:
                hint = " (a hypothesis: list it under parents)"
            known = f"; mechanisms are {list(mech_index)}" if mech_index and not hint else (
                "" if mech_index else "; the catalogue declares no mechanisms: add it under the top-level `mechanisms:`")
            note(catf, catraw, ["indicators", i, "mechanism"], f"unknown mechanism {mechanism!r}{hint}{known}")
        if len(problems) > before or mechanism in bad_mech:
            broken.add(ind.id)
            continue
        assert not isinstance(mechanism, list)
        table_par = [*ind.parents, *([mechanism] if mechanism else [])]
        table_rows(ind.likelihoods, node=ind.id, par=table_par, states=BINARY_STATES, source=CATALOGUE,
                   path=catf, raw=catraw, loc=["indicators", i, "likelihoods"], default_conf=cat.confidence,
                   default_citation=ind.citation)
        ind_nodes.append(IndicatorNode(ind.id, ind.name, ind.definition, tuple(ind.parents), ind.citation,
                                       mechanism=mechanism))
    ind_parents = {n.id: n.table_parents for n in ind_nodes}

    mech_nodes: list[MechanismNode] = []
    named_by = {ind.mechanism for ind in cat.indicators if isinstance(ind.mechanism, str)}
    for m, i in mech_index.items():
        mech = cat.mechanisms[i]
        if m not in named_by:
            note(catf, catraw, ["mechanisms", i],
                 f"mechanism {mech.id!r} has no indicator: no report is ever about a mechanism, so name it in "
                 "at least one indicator's `mechanism:` (or remove it)")
            bad_mech.add(m)
            continue
        children = tuple(n.id for n in ind_nodes if n.mechanism == mech.id)
        mech_nodes.append(MechanismNode(mech.id, mech.name, mech.definition, tuple(mech.parents), mech.citation, children))
    mech_parents = {m.id: m.parents for m in mech_nodes}

    # experts
    expert_rows: list[Expert] = []
    for spec, path, raw in experts:
        if spec.id == CATALOGUE:
            note(path, raw, ["id"], f"{CATALOGUE!r} is reserved for the indicator catalogue")
            continue
        for hid in hyp_states:
            if hid not in spec.hypotheses:
                note(path, raw, ["hypotheses"], f"missing table for hypothesis {hid!r}: every panelist gives every hypothesis table")
        for hid, rows in spec.hypotheses.items():
            if hid not in hyp_states:
                note(path, raw, ["hypotheses", hid], f"unknown hypothesis {hid!r}{did_you_mean(hid, hyp_states)}")
                continue
            if hid in bad_hyp:
                continue
            table_rows(rows, node=hid, par=parents[hid], states=hyp_states[hid], source=spec.id, path=path, raw=raw,
                       loc=["hypotheses", hid], default_conf="medium", default_citation=None)
        # Indicator and mechanism tables: binary nodes, each kind under its own key.
        for key, kind, tables, node_parents, skip, other, other_hint in (
            ("indicators", "indicator", spec.indicators, ind_parents, broken, mech_parents,
             " (a mechanism: judge it under the top-level `mechanisms:`)"),
            ("mechanisms", "mechanism", spec.mechanisms, mech_parents, bad_mech, ind_parents,
             " (an indicator: judge it under `indicators:`)"),
        ):
            for nid, nrows in tables.items():
                if nid in skip:
                    continue
                if nid not in node_parents:
                    hint = other_hint if nid in other else did_you_mean(nid, node_parents)
                    note(path, raw, [key, nid], f"unknown {kind} {nid!r}{hint}")
                    continue
                table_rows(nrows, node=nid, par=node_parents[nid], states=BINARY_STATES, source=spec.id,
                           path=path, raw=raw, loc=[key, nid], default_conf="medium", default_citation=None)
        expert_rows.append(Expert(spec.id, spec.role, spec.illustrative, spec.reviewed_by, spec.reviewed_on, _where(path, root)))
    if not experts:
        problems.append(
            Problem(_where(root / "experts", root), 0, "", "no expert files: the hypothesis tables need at least one panelist")
        )

    sources = {CATALOGUE, *(e.id for e in expert_rows)}
    for name in settings.pooling.weights:
        if name not in sources:
            note(setf, setraw, ["pooling", "weights", name], f"unknown expert {name!r}{did_you_mean(name, sources)}")
    if not problems:
        _check_size(hyp_states, parents, ind_nodes, mech_nodes, note=lambda msg: note(netf, netraw, ["hypotheses"], msg))
    if problems:
        raise PriorsError.of(problems)

    hyp_nodes = []
    by_id = {h.id: h for h in net.hypotheses}
    for hid in order:
        h = by_id[hid]
        claimed = next((s.id for s in h.states if s.claimed), h.states[0].id)
        hyp_nodes.append(HypothesisNode(
            h.id, h.question, tuple(h.parents), hyp_states[h.id], claimed,
            tuple(s.definition for s in h.states), tuple(s.citation for s in h.states),
            resolution_criteria=None if h.resolution_criteria is None else " ".join(h.resolution_criteria.split()),
            ordered=h.ordered,
        ))

    grades = GradeTable(
        reliability=dict(settings.grades.reliability),
        credibility={int(k): v for k, v in settings.grades.credibility.items()},
    )
    return Priors(
        root=root, name=net.name, description=net.description, illustrative=net.illustrative,
        horizon_months=net.horizon_months, evidence_window_days=net.evidence_window_days,
        hypotheses=tuple(hyp_nodes), indicators=tuple(ind_nodes), experts=tuple(expert_rows),
        judgments=tuple(judgments), method=settings.pooling.method, weights=dict(settings.pooling.weights),
        grades=grades, hash=digest, mechanisms=tuple(mech_nodes),
        half_life_days=None if settings.half_life_days in (None, "none") else float(settings.half_life_days),
    )


def _check_size(
    hyp_states: Mapping[str, Sequence[str]],
    parents: Mapping[str, Sequence[str]],
    ind_nodes: Sequence[IndicatorNode],
    mech_nodes: Sequence[MechanismNode],
    *,
    note: Any,
) -> None:
    """The exact engine's limit (forecaster.model.cliques): the largest factor variable elimination
    needs, with every indicator reported, at most MAX_FACTOR states."""
    sizes = {h: len(s) for h, s in hyp_states.items()} | {m.id: 2 for m in mech_nodes}
    scopes = factor_scopes(
        {h: parents[h] for h in hyp_states}, [(i.parents, i.mechanism) for i in ind_nodes], {m.id: m.parents for m in mech_nodes}
    )
    try:
        check_network(sizes, scopes, list(hyp_states))
    except PriorsError as e:
        note(str(e))


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


def validate_priors_folder(root: Path) -> Priors:
    """Load and validate a priors folder; raise PriorsError with file:line: field: problem for the
    first problem, carrying every problem found (`PriorsError.problems`): each file is read, and the
    checks that span files run once every file has parsed."""
    root = Path(root)
    if not root.is_dir():
        raise PriorsError(f"{root}: no priors folder here")
    files = {name: main_file(root, name) for name in MAIN_FILES}
    expert_paths = expert_files(root)

    problems: list[Problem] = [
        Problem(_where(f, root), 0, "", f"missing: a priors folder needs {name}.yaml")
        for name, f in files.items()
        if not f.is_file()
    ]

    def parsed(model: type[BaseModel], f: Path) -> tuple[Any, Any]:
        """(spec, raw) of one file, or (None, raw) with its problems noted: every file is read. A file
        whose only problems are unknown keys is checked further without them (so the checks that span
        files still run and report their own problems)."""
        try:
            raw_data = load_yaml(f, error=PriorsError)
            return _parse(model, raw_data, f, root), raw_data
        except PriorsError as e:
            problems.extend(e.problems or [_problem_from_text(str(e), _where(f, root))])
            if e.problems and all(p.problem.startswith("unknown key ") for p in e.problems):
                try:
                    return model.model_validate(_without_unknown(model, raw_data)), raw_data
                except (ValidationError, NameError):
                    pass
            return None, None

    models: dict[str, type[BaseModel]] = {"network": NetworkSpec, "indicators": CatalogueSpec, "settings": SettingsSpec}
    missing: tuple[Any, Any] = (None, None)
    specs = {name: parsed(models[name], f) if f.is_file() else missing for name, f in files.items()}
    raw = {name: specs[name][1] for name in files}
    experts: list[tuple[ExpertSpec, Path, Any]] = []
    expert_failures = 0  # files set aside with their problem noted (an id that is not the file name)
    for f in expert_paths:
        spec, raw_expert = parsed(ExpertSpec, f)
        if spec is None:
            continue
        if spec.id != f.stem:
            problems.append(
                Problem(_where(f, root), _line_at(raw_expert, ["id"]), "id", f"{spec.id!r} must equal the file name {f.stem!r}")
            )
            expert_failures += 1
            continue
        experts.append((spec, f, raw_expert))
    if any(spec is None for spec, _ in specs.values()) or len(experts) + expert_failures < len(expert_paths):
        raise PriorsError.of(problems)
    net: NetworkSpec = specs["network"][0]
    cat: CatalogueSpec = specs["indicators"][0]
    settings: SettingsSpec = specs["settings"][0]

    digest = _content_hash(root, [*files.values(), *expert_paths])
    return _check_structure(
        root, net, cat, settings, experts, digest, raw_files={name: (files[name], raw[name]) for name in files},
        earlier=problems,
    )


