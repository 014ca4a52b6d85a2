"""The audit's findings: one check per kind of problem a reviewer looks for in a priors folder
(terms against numbers, confidence scale, citations, copies, sign-off, discrimination)."""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

import yaml

from forecaster.analysis.seeds import SeedPaper, citation_problem
from forecaster.model.priors import CATALOGUE, IndicatorNode, Judgment, MechanismNode, Node, Priors
from forecaster.model.terms import TERMS, term_for

Severity = Literal["error", "warning", "note"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "note")

CONFIDENCE_SCALE = (2.0, 200.0)
FAR_FROM_REST = 0.25
FLAT_TOLERANCE = 1e-6
DEFAULT_MAX_AGE_DAYS = 365
INTERVAL = 0.90
_EPS = 1e-9


# ----------------------------------------------------------------------------- findings


@dataclass(frozen=True)
class Finding:
    """One thing a reviewer should look at, located by file (and line) and field path."""

    severity: Severity
    kind: str
    file: str
    field: str
    message: str
    line: int = 0

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Lines:
    """Line numbers for findings, and the raw files the audit reads beside `Priors`.

    The files already passed `load_priors`; they are composed again with libyaml (when present),
    which costs milliseconds where the line-keeping loader costs a quarter second per large file."""

    _TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")

    def __init__(self, priors: Priors) -> None:
        self.base = priors.root.parent
        self.nodes: dict[str, yaml.Node | None] = {}

    def _node(self, file: str) -> yaml.Node | None:
        if file not in self.nodes:
            try:
                text = (self.base / file).read_text(encoding="utf-8-sig")
                self.nodes[file] = yaml.compose(text, Loader=_FAST_LOADER)
            except (OSError, UnicodeDecodeError, yaml.YAMLError):
                self.nodes[file] = None  # changed since it loaded: only the line number is lost
        return self.nodes[file]

    def data(self, file: str) -> Any:
        """The file's plain data (a safe loader: no tags, no objects)."""
        if self._node(file) is None:
            return None
        return yaml.load((self.base / file).read_text(encoding="utf-8-sig"), Loader=_FAST_LOADER)

    def __call__(self, file: str, field_path: str) -> int:
        node = self._node(file)
        if node is None:
            return 0
        line = node.start_mark.line + 1
        for key, index in self._TOKEN.findall(field_path):
            if isinstance(node, yaml.MappingNode) and not index:
                hit = next(((k, v) for k, v in node.value if getattr(k, "value", None) == key), None)
                if hit is None:
                    break
                line, node = hit[0].start_mark.line + 1, hit[1]
            elif isinstance(node, yaml.SequenceNode) and index and int(index) < len(node.value):
                node = node.value[int(index)]
                line = node.start_mark.line + 1
            else:
                break
        return line


# ----------------------------------------------------------------------------- fast lookups


@dataclass(frozen=True)
class _Indexed(Priors):
    """The same priors with table rows looked up by key rather than by scanning every judgment:
    the audit pools each row about ten times (leave-one-out, the other pool, the checks)."""

    @classmethod
    def of(cls, priors: Priors) -> Priors:
        if isinstance(priors, cls):
            return priors
        return cls(**{f.name: getattr(priors, f.name) for f in fields(priors)})

    @functools.cached_property
    def _rows(self) -> dict[tuple[str, tuple[str, ...]], list[Judgment]]:
        rows: dict[tuple[str, tuple[str, ...]], list[Judgment]] = {}
        for j in self.judgments:
            rows.setdefault((j.node, j.config), []).append(j)
        return rows

    def judgments_for(self, node_id: str, config: tuple[str, ...]) -> list[Judgment]:
        return list(self._rows.get((node_id, config), ()))


# ----------------------------------------------------------------------------- the checks

_TERM_IN_TEXT = re.compile(
    r"\b(almost no chance|very unlikely|unlikely|roughly even (?:chance|odds)"
    r"|very likely|likely|almost certain(?:ly)?)\b",
    re.IGNORECASE,
)
_NOT_ESTIMATIVE = {"more", "less", "most", "least", "as", "equally", "no", "not", "far", "much", "how", "so", "too"}


def rationale_terms(rationale: str) -> list[str]:
    """ICD 203 terms used estimatively in a rationale ("less likely", "not likely" are skipped)."""
    found = []
    for m in _TERM_IN_TEXT.finditer(rationale):
        before = rationale[: m.start()].split()
        if before and before[-1].casefold().strip(",;:(") in _NOT_ESTIMATIVE:
            continue
        word = " ".join(m.group(1).casefold().split())
        word = {"almost certainly": "almost certain", "roughly even odds": "roughly even chance"}.get(word, word)
        found.append(word)
    return found


def _in_range(p: float, term: str) -> bool:
    lo, hi = TERMS[term]
    return lo - _EPS <= p <= hi + _EPS


def _pct(lo: float, hi: float) -> str:
    return f"{lo * 100:g}–{hi * 100:g} %"


def _is_indicator(priors: Priors, node: str) -> bool:
    return node in priors.indicator_ids


def _kind(priors: Priors, node: str) -> str:
    if node in priors.indicator_ids:
        return "indicator"
    return "mechanism" if node in priors.mechanism_ids else "hypothesis"


def _is_binary(priors: Priors, node: str) -> bool:
    """Indicators and mechanisms: tables of P(occurred | parents)."""
    return _kind(priors, node) != "hypothesis"


def _all_nodes(priors: Priors) -> list[Node]:
    return [*priors.hypotheses, *priors.indicators, *priors.mechanisms]


DIFF_PENDING = (
    "effects not computed: the exact engine does not know mechanism nodes yet (issue 10, engine part)"
)
ENGINE_PENDING = (
    "influence and diagnosticity not computed: the exact engine does not know mechanism nodes yet "
    "(issue 10, engine part); the priors' own checks above cover the mechanism tables"
)


def _judgment_findings(priors: Priors, seeds: Mapping[str, SeedPaper] | None, lines: _Lines) -> Iterator[Finding]:
    sizes_label = {"low", "medium", "high"}
    lo_n, hi_n = CONFIDENCE_SCALE
    for j in priors.judgments:
        if not (j.rationale or "").strip():
            yield Finding(
                "error",
                "missing_rationale",
                j.file,
                j.field,
                f"{j.source}: no rationale: say in one line why these numbers",
                lines(j.file, j.field),
            )
        if not (j.citation or "").strip():
            yield Finding(
                "error",
                "missing_citation",
                j.file,
                j.field,
                f"{j.source}: no citation: name the seed paper and the section or footnote",
                lines(j.file, j.field),
            )
        elif j.source != CATALOGUE or j.citation != getattr(priors.node(j.node), "citation", None):
            # the catalogue's rows inherit the indicator's (or mechanism's) citation, checked once below;
            # a catalogue row citing its own passage is checked here
            problem = citation_problem(str(j.citation), seeds)
            if problem:
                yield Finding(
                    "error",
                    problem[0],
                    j.file,
                    f"{j.field}.citation",
                    f"{j.source}: {problem[1]}",
                    lines(j.file, f"{j.field}.citation"),
                )
        if j.confidence not in sizes_label and not lo_n <= j.n <= hi_n:
            yield Finding(
                "error",
                "confidence_scale",
                j.file,
                f"{j.field}.confidence",
                f"{j.source}: confidence {j.confidence} is off the scale: "
                f"an equivalent sample size must lie in [{lo_n:g}, {hi_n:g}]"
                " (low/medium/high read as 5/20/60 by default)",
                lines(j.file, f"{j.field}.confidence"),
            )
        states = priors.node(j.node).states
        for s, term in enumerate(j.terms):
            if term is not None and not _in_range(j.probs[s], term):
                yield Finding(
                    "error",
                    "term_range",
                    j.file,
                    f"{j.field}.probabilities.{states[s]}",
                    f"{j.source}: {states[s]!r} is written {term!r} ({_pct(*TERMS[term])}) "
                    "but the row's terms normalise it to "
                    f"{j.probs[s]:.3f}, outside that range: give numbers, or terms that can sum to one",
                    lines(j.file, f"{j.field}.probabilities.{states[s]}"),
                )
        if _is_binary(priors, j.node) and j.rationale:
            used = rationale_terms(j.rationale)
            p = j.probs[0]
            if used and not any(_in_range(p, t) for t in used):
                says = " / ".join(f"{t!r} ({_pct(*TERMS[t])})" for t in dict.fromkeys(used))
                yield Finding(
                    "warning",
                    "term_range",
                    j.file,
                    f"{j.field}.rationale",
                    f"{j.source}: the rationale says {says} but P(occurred) is {p:g} ({term_for(p)!r})",
                    lines(j.file, f"{j.field}.rationale"),
                )


def _catalogue_field(priors: Priors, indicator: str) -> tuple[str, str]:
    """File and field of an indicator (or a mechanism) in the catalogue."""
    if indicator in priors.mechanism_ids:
        return f"{priors.root.name}/indicators.yaml", f"mechanisms[{priors.mechanism_ids.index(indicator)}]"
    i = [x.id for x in priors.indicators].index(indicator)
    return f"{priors.root.name}/indicators.yaml", f"indicators[{i}]"


def _structure_citation_findings(
    priors: Priors, seeds: Mapping[str, SeedPaper] | None, lines: _Lines
) -> Iterator[Finding]:
    net_file = f"{priors.root.name}/network.yaml"
    raw = lines.data(net_file)
    order = [h.get("id") for h in raw.get("hypotheses", [])] if isinstance(raw, dict) else []
    for h in priors.hypotheses:
        i = order.index(h.id) if h.id in order else 0
        for k, (state, citation) in enumerate(zip(h.states, h.citations, strict=True)):
            problem = citation_problem(citation, seeds)
            if problem:
                fld = f"hypotheses[{i}].states[{k}]"
                yield Finding(
                    "error",
                    problem[0],
                    net_file,
                    f"{fld}.citation",
                    f"state {h.id}.{state}: {problem[1]}",
                    lines(net_file, fld),
                )
    catalogue: list[IndicatorNode | MechanismNode] = [*priors.indicators, *priors.mechanisms]
    for ind in catalogue:
        file, fld = _catalogue_field(priors, ind.id)
        problem = citation_problem(ind.citation, seeds)
        if problem:
            yield Finding(
                "error",
                problem[0],
                file,
                f"{fld}.citation",
                f"{_kind(priors, ind.id)} {ind.id}: {problem[1]}",
                lines(file, fld),
            )


def _settings_findings(priors: Priors, lines: _Lines) -> Iterator[Finding]:
    file = f"{priors.root.name}/settings.yaml"
    raw = lines.data(file)
    half_life = priors.half_life_days
    if half_life is not None and not half_life > 0:
        yield Finding(
            "error",
            "half_life",
            file,
            "half_life_days",
            f"half_life_days is {half_life:g}: expected a positive number of days (or none to switch ageing off)",
            lines(file, "half_life_days"),
        )
    pooling = raw.get("pooling") if isinstance(raw, dict) else None
    sizes = pooling.get("confidence_sizes") if isinstance(pooling, dict) else None
    if not isinstance(sizes, dict):
        return
    lo_n, hi_n = CONFIDENCE_SCALE
    fld = "pooling.confidence_sizes"
    for label in ("low", "medium", "high"):
        n = sizes.get(label)
        if isinstance(n, (int, float)) and not lo_n <= n <= hi_n:
            yield Finding(
                "error",
                "confidence_scale",
                file,
                f"{fld}.{label}",
                f"confidence {label!r} reads as n = {n:g}, off the scale [{lo_n:g}, {hi_n:g}]",
                lines(file, fld),
            )
    values = [float(v) for k in ("low", "medium", "high") if isinstance(v := sizes.get(k), (int, float))]
    if len(values) == 3 and not values[0] < values[1] < values[2]:
        yield Finding(
            "error", "confidence_scale", file, fld, f"low < medium < high must hold; got {values}", lines(file, fld)
        )


def _signoff_findings(priors: Priors, lines: _Lines, *, today: dt.date, max_age_days: int) -> Iterator[Finding]:
    for e in priors.experts:
        missing = [k for k, v in (("reviewed_by", e.reviewed_by), ("reviewed_on", e.reviewed_on)) if not v]
        for k in missing:
            yield Finding("error", "no_signoff", e.file, k, f"{e.id}: no sign-off: {k} is missing", lines(e.file, k))
        if e.reviewed_on is None:
            continue
        age = (today - e.reviewed_on).days
        if age > max_age_days:
            yield Finding(
                "warning",
                "stale_signoff",
                e.file,
                "reviewed_on",
                f"{e.id}: judgments signed off on {e.reviewed_on.isoformat()}, {age} days ago "
                f"(older than {max_age_days} days)",
                lines(e.file, "reviewed_on"),
            )
        elif age < 0:
            yield Finding(
                "warning",
                "stale_signoff",
                e.file,
                "reviewed_on",
                f"{e.id}: reviewed_on {e.reviewed_on.isoformat()} lies in the future (today is {today.isoformat()})",
                lines(e.file, "reviewed_on"),
            )


def _copy_findings(priors: Priors, lines: _Lines) -> Iterator[Finding]:
    first: dict[tuple[Any, ...], Judgment] = {}
    for j in priors.judgments:
        if not (j.rationale or "").strip():
            continue
        said = " ".join((j.rationale or "").casefold().split())
        key = (j.node, j.config, tuple(round(p, 9) for p in j.probs), said)
        seen = first.get(key)
        if seen is None:
            first[key] = j
        elif seen.source != j.source and CATALOGUE in (seen.source, j.source):
            # an expert who departs from the catalogue on one row must restate the others (PRIORS_FORMAT.md)
            yield Finding(
                "note",
                "copied_judgment",
                j.file,
                j.field,
                f"{j.source} restates the catalogue's row for {j.node}{_given(priors, j.node, j.config)} "
                "word for word: "
                "the pooled row counts that view twice",
                lines(j.file, j.field),
            )
        elif seen.source != j.source:
            yield Finding(
                "error",
                "copied_judgment",
                j.file,
                j.field,
                f"{j.source} gives {j.node}{_given(priors, j.node, j.config)} the same probabilities and rationale as "
                f"{seen.source} ({seen.file}: {seen.field}): a copy counts one view twice",
                lines(j.file, j.field),
            )


def _given(priors: Priors, node: str, config: tuple[str, ...]) -> str:
    pairs = [f"{p}={s}" for p, s in zip(priors.node(node).table_parents, config, strict=True)]
    return f" | {', '.join(pairs)}" if pairs else ""


def _discrimination_findings(priors: Priors, lines: _Lines) -> Iterator[Finding]:
    catalogue: list[IndicatorNode | MechanismNode] = [*priors.indicators, *priors.mechanisms]
    for ind in catalogue:
        configs = priors.configs(ind.id)
        file, fld = _catalogue_field(priors, ind.id)
        kind = _kind(priors, ind.id)
        parents = ind.table_parents
        if len(configs) < 2:
            continue
        pooled = [priors.pooled(ind.id, c).mean[0] for c in configs]
        if max(pooled) - min(pooled) <= FLAT_TOLERANCE:
            moves = "its reports move nothing" if kind == "indicator" else "its indicators' reports move no hypothesis"
            yield Finding(
                "error",
                "no_discrimination",
                file,
                f"{fld}.likelihoods",
                f"{kind} {ind.id} cannot discriminate: pooled P(occurred) is {pooled[0]:.3g} "
                "under every configuration of "
                f"{', '.join(parents)}, so {moves}",
                lines(file, fld),
            )
            continue
        by_source: dict[str, dict[tuple[str, ...], float]] = {}
        where: dict[str, Judgment] = {}
        for j in priors.judgments:
            if j.node == ind.id:
                by_source.setdefault(j.source, {})[j.config] = j.probs[0]
                where.setdefault(j.source, j)
        for source, row in by_source.items():
            if max(row.values()) - min(row.values()) <= FLAT_TOLERANCE:
                j = where[source]
                sfld = j.field.rsplit("[", 1)[0]
                yield Finding(
                    "warning",
                    "no_discrimination",
                    j.file,
                    sfld,
                    f"{source} gives {kind} {ind.id} the same P(occurred) ({row[configs[0]]:.3g}) "
                    "under every parent configuration",
                    lines(j.file, j.field),
                )
        if len(parents) > 1:
            table = dict(zip(configs, pooled, strict=True))
            for k, parent in enumerate(parents):
                others = {c[:k] + c[k + 1 :] for c in configs}
                if all(
                    max(v for c, v in table.items() if c[:k] + c[k + 1 :] == o)
                    - min(v for c, v in table.items() if c[:k] + c[k + 1 :] == o)
                    <= FLAT_TOLERANCE
                    for o in others
                ):
                    pfld = f"{fld}.parents[{k}]" if k < len(ind.parents) else f"{fld}.mechanism"
                    yield Finding(
                        "note",
                        "parent_no_effect",
                        file,
                        pfld,
                        f"{kind} {ind.id}: the pooled likelihood never changes with {parent}; the edge can go",
                        lines(file, fld),
                    )




# ----------------------------------------------------------------------------- shared with validate

# The audit's errors that `priors validate` reports too: a judgment's completeness (rationale,
# citation, a sign-off) and consistency (terms against numbers, the confidence scale, copies, an
# indicator that cannot discriminate). They need neither seed papers nor evidence, so validate and
# audit agree on them; the audit adds the citation checks against the seed papers.
VALIDATE_KINDS = frozenset(
    {
        "missing_rationale",
        "missing_citation",
        "term_range",
        "confidence_scale",
        "no_signoff",
        "copied_judgment",
        "no_discrimination",
    }
)


def validation_findings(priors: Priors) -> list[Finding]:
    """The errors of VALIDATE_KINDS, as the audit finds them."""
    indexed = _Indexed.of(priors)
    lines = _Lines(indexed)
    found = [
        *_judgment_findings(indexed, None, lines),
        *_settings_findings(indexed, lines),
        *_signoff_findings(indexed, lines, today=dt.date.today(), max_age_days=DEFAULT_MAX_AGE_DAYS),
        *_copy_findings(indexed, lines),
        *_discrimination_findings(indexed, lines),
    ]
    return [f for f in found if f.severity == "error" and f.kind in VALIDATE_KINDS]
