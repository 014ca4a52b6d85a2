"""The reviewers' audit of a priors folder (issue 5): who said what, why, and how much it matters.

Everything here runs on the exact engine (numpy), never on the sampler, so an audit of the bundled
priors takes about a second and never imports pymc or arviz. The library half computes frozen
result objects (`audit_priors`, `table_views`, `diff_priors`); the bottom of the module renders them
as Markdown and JSON, which the terminal shows through Rich (`forecast priors …`).

Readings the issue leaves open, stated once here and in the report's method notes:

- **ICD 203 term against the number.** A judgment written as a term has no separate number, so
  two cases are checked: (a) a hypothesis row mixing terms (and numbers) is normalised to sum to
  one; when a normalised value leaves its term's range, the number the model uses contradicts the
  words the panelist wrote (*error*); (b) an indicator judgment's rationale that uses an ICD 203
  term (not in a comparison such as "less likely", nor negated) none of whose ranges holds the
  judgment's P(occurred) (*warning*: a text heuristic). Ranges are closed: 0.20 is "unlikely".
- **Confidence off the scale.** A numeric confidence (equivalent sample size `n`) outside
  `CONFIDENCE_SCALE` = [2, 200]: below 2 the Dirichlet is flatter than uniform, above 200 one
  panelist outweighs any plausible panel. The settings' low/medium/high sizes are held to the same
  scale and must increase.
- **Citations.** A citation must read `<paper>.txt, <section heading or fn N>`. With the seed
  papers at hand (`find_seeds`) the paper must be one of them and the passage must exist: `fn N`
  among its footnote numbers, a heading equal to a line of the paper or a phrase of three or more
  words found in it. Without them the form is checked and N must lie in 1..`MAX_FOOTNOTE`.
- **Copied judgments.** Two experts giving one table row the same probabilities and the same
  rationale text (case and spacing ignored) (*error*). An expert restating the catalogue's row
  word for word is a *note*: the format makes an expert who departs from the catalogue on one row
  restate the others.
- **Sign-off.** A panelist file without `reviewed_by` or `reviewed_on` (*error*); a `reviewed_on`
  older than `max_age_days` or in the future (*warning*).
- **Cannot discriminate.** An indicator whose pooled P(occurred) is the same (within 1e-6) under
  every parent configuration: its reports move nothing (*error*). A single source's flat table
  is a *warning*; a parent under which no row changes is a *note*.
- **Expert far from the rest** (`priors show`): the total-variation distance between a source's
  row and the weighted linear pool of the other sources is at least `FAR_FROM_REST` and at least
  twice the others' mean distance from one another (so a source is not marked merely because the
  others disagree among themselves); only in rows with three or more sources (with two, each is
  equally far from the other).
- **Diagnosticity**: for each indicator, the largest weight of evidence a certain report could
  carry between two parent configurations, `max |10·log10(q_c / q_c')|` over pairs and over both
  outcomes (occurred: q; not occurred: 1 − q), in decibans; ties broken by the mutual information
  (bits) between the indicator and its best-informed hypothesis under the pooled prior.
- **Influence**: the exact posterior on the current evidence with each panelist left out, and
  with the other pooling method; the shift is the largest absolute change over all hypothesis
  states, in percentage points.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import itertools
import math
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml

from forecaster.engine import _softmax, log_joint_terms, marginals
from forecaster.errors import PriorsError, UsageError, did_you_mean
from forecaster.evidence import FoldedEvidence, Report, fold
from forecaster.network import Network, build_network
from forecaster.priors import CATALOGUE, IndicatorNode, Judgment, MechanismNode, Node, Pooled, Priors
from forecaster.terms import TERMS, term_for

Severity = Literal["error", "warning", "note"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "note")

CONFIDENCE_SCALE = (2.0, 200.0)
MAX_FOOTNOTE = 300
FAR_FROM_REST = 0.25
FLAT_TOLERANCE = 1e-6
DEFAULT_MAX_AGE_DAYS = 365
SEEDS_ENV = "FORECAST_SEEDS"
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


def _normal(text: str) -> str:
    """Casefolded, quotes and dashes unified, markdown markers and surrounding quotes dropped."""
    t = unicodedata.normalize("NFKC", text).casefold()
    for a, b in (("’", "'"), ("‘", "'"), ("“", '"'), ("”", '"'), ("–", "-"), ("—", "-"), ("‑", "-")):
        t = t.replace(a, b)
    t = re.sub(r"[#*_>`]", " ", t)
    t = " ".join(t.split())
    return t.strip(" \"'.:;")


# ----------------------------------------------------------------------------- seed papers


@dataclass(frozen=True)
class SeedPaper:
    name: str
    lines: frozenset[str]  # every line, normalised (headings are among them)
    text: str  # the whole paper, normalised
    footnotes: frozenset[int]


_SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")


def read_seed(path: Path) -> SeedPaper:
    """A seed paper's lines and footnote numbers (`<sup>N</sup>`, superscript digits, or the
    numbered entries under an Endnotes/Notes/Footnotes heading)."""
    raw = path.read_text(encoding="utf-8", errors="replace")
    notes = {int(n) for n in re.findall(r"<sup>\s*(\d{1,3})\s*</sup>", raw)}
    notes |= {int(s.translate(_SUPERSCRIPT)) for s in re.findall(r"[⁰¹²³⁴⁵⁶⁷⁸⁹]{1,3}", raw)}
    heading = re.search(r"(?mi)^\W*(endnotes|notes|footnotes)\W*$", raw)
    if heading:
        notes |= {int(n) for n in re.findall(r"(?m)^\s*[-*]?\s*(\d{1,3})[\s.)]", raw[heading.end() :])}
    lines = frozenset(_normal(x) for x in raw.splitlines() if x.strip())
    return SeedPaper(path.name, lines, _normal(raw), frozenset(n for n in notes if n > 0))


def load_seeds(directory: Path) -> dict[str, SeedPaper]:
    return {p.name: read_seed(p) for p in sorted(directory.glob("*.txt"))}


def find_seeds(priors_root: Path, explicit: Path | None = None) -> Path | None:
    """The folder holding the seed papers: `explicit`, else $FORECAST_SEEDS, else `seeds/` or
    `shared/seeds/` beside the priors folder or any folder above it, else the same search from
    the bundled defaults (a workspace made by `forecast init` cites the papers shipped beside
    them). None when no folder with a .txt paper is found."""
    named = [(f"--seeds {explicit}", explicit)] if explicit is not None else []
    if not named and os.environ.get(SEEDS_ENV):
        named = [(f"${SEEDS_ENV}={os.environ[SEEDS_ENV]}", Path(os.environ[SEEDS_ENV]))]
    for label, folder in named:
        if not folder.is_dir():
            raise PriorsError(f"{label}: no such folder")
        if not any(folder.glob("*.txt")):
            raise PriorsError(f"{label}: no seed papers (*.txt) in this folder")
        return folder
    from forecaster.workspace import defaults_dir

    starts = [priors_root.resolve()]
    with contextlib.suppress(UsageError):  # no bundled defaults: search beside the priors only
        starts.append(defaults_dir().resolve())
    for start in starts:
        for folder in (start, *start.parents):
            for cand in (folder / "seeds", folder / "shared" / "seeds"):
                if cand.is_dir() and any(cand.glob("*.txt")):
                    return cand
    return None


_CITATION = re.compile(r"^\s*(?P<paper>[^,]+?\.txt)\s*,\s*(?P<passage>\S.*?)\s*$")
_FOOTNOTE = re.compile(r"^(?:fn|footnote|endnote|note)\.?\s*(?P<n>\d+)$", re.IGNORECASE)


def citation_problem(citation: str, seeds: Mapping[str, SeedPaper] | None) -> tuple[str, str] | None:
    """(kind, message) when a citation names no passage of the seed papers, else None."""
    m = _CITATION.match(citation)
    if not m:
        return "citation_form", f"citation {citation!r} is not of the form '<paper>.txt, <section heading or fn N>'"
    paper_name, passage = m.group("paper"), m.group("passage")
    fn = _FOOTNOTE.match(passage)
    if seeds is None:
        if fn and not 1 <= int(fn.group("n")) <= MAX_FOOTNOTE:
            return (
                "citation_passage",
                f"citation {citation!r}: fn {fn.group('n')} is not a plausible footnote number (1–{MAX_FOOTNOTE})",
            )
        if not fn and len(_normal(passage)) < 3:
            return "citation_passage", f"citation {citation!r}: the passage is too short to find"
        return None
    paper = seeds.get(paper_name)
    if paper is None:
        return (
            "citation_paper",
            f"citation {citation!r} names no seed paper{did_you_mean(paper_name, seeds)}; seeds are {', '.join(seeds)}",
        )
    if fn:
        n = int(fn.group("n"))
        if n not in paper.footnotes:
            top = max(paper.footnotes, default=0)
            return (
                "citation_passage",
                f"citation {citation!r}: {paper.name} has no footnote {n} (its notes run 1–{top})",
            )
        return None
    want = _normal(passage)
    if want in paper.lines or (len(want.split()) >= 3 and want in paper.text):
        return None
    return "citation_passage", f"citation {citation!r}: no section or passage {passage!r} in {paper.name}"


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
    sizes = ((raw or {}).get("pooling") or {}).get("confidence_sizes") if isinstance(raw, dict) else None
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


# ----------------------------------------------------------------------------- disagreement


@dataclass(frozen=True)
class Disagreement:
    """For one table: the largest difference between two sources' probabilities, and pooled N."""

    node: str
    kind: str  # hypothesis | indicator | mechanism
    parents: tuple[str, ...]  # the table's parents (an indicator's mechanism last)
    sources: tuple[str, ...]
    largest: float
    between: tuple[str, str] | None
    config: tuple[str, ...]
    state: str
    pooled_n: float  # at the row of the largest difference
    min_pooled_n: float


def disagreement(priors: Priors) -> list[Disagreement]:
    out = []
    for node_obj in _all_nodes(priors):
        node = node_obj.id
        kind = _kind(priors, node)
        best: tuple[float, tuple[str, str] | None, tuple[str, ...], str] = (
            0.0,
            None,
            priors.configs(node)[0],
            node_obj.states[0],
        )
        sources: dict[str, None] = {}
        ns = {}
        for cfg in priors.configs(node):
            js = priors.judgments_for(node, cfg)
            sources.update(dict.fromkeys(j.source for j in js))
            ns[cfg] = priors.pooled(node, cfg).concentration
            for a, b in itertools.combinations(js, 2):
                for s, state in enumerate(node_obj.states):
                    d = abs(a.probs[s] - b.probs[s])
                    if d > best[0] + _EPS:
                        best = (d, (a.source, b.source), cfg, state)
        largest, between, config, state = best
        out.append(
            Disagreement(
                node=node,
                kind=kind,
                parents=node_obj.table_parents,
                sources=tuple(sources),
                largest=largest,
                between=between,
                config=config,
                state=state,
                pooled_n=ns[config],
                min_pooled_n=min(ns.values()),
            )
        )
    return out


# ----------------------------------------------------------------------------- influence


Posterior = dict[str, dict[str, float]]  # hypothesis -> state -> probability


def exact_posterior(
    priors: Priors, evidence: Mapping[str, FoldedEvidence], *, method: str | None = None, exclude: str | None = None
) -> Posterior:
    """P(H | E) on the exact engine with the pooled prior means (MODEL.md §4, the exact check)."""
    net = build_network(priors, method=method, exclude=exclude)
    return _posterior(net, evidence)


def _posterior(net: Network, evidence: Mapping[str, FoldedEvidence]) -> Posterior:
    log_lam = net.log_lambda({k: v for k, v in evidence.items() if k in net.indicator_ids})
    log_prior, terms = log_joint_terms(net, log_lam)
    margs = marginals(net, _softmax(log_prior + terms.sum(axis=0)))
    return {
        h: {s: float(m[i]) for i, s in enumerate(states)}
        for h, states, m in zip(net.hypothesis_ids, net.states, margs, strict=True)
    }


def _shift(a: Posterior, b: Posterior) -> tuple[float, str, str]:
    """Largest |b − a| over common states: (size, hypothesis, state)."""
    best = (0.0, "", "")
    for h, states in a.items():
        for s, p in states.items():
            if h in b and s in b[h] and abs(b[h][s] - p) > best[0]:
                best = (abs(b[h][s] - p), h, s)
    return best


@dataclass(frozen=True)
class Variant:
    """The forecast under one alternative choice: one panelist left out, or the other pool."""

    label: str
    kind: str  # leave_one_out | pooling
    expert: str | None
    method: str
    posterior: Posterior
    shift: float
    hypothesis: str
    state: str


@dataclass(frozen=True)
class Influence:
    method: str
    reports: int
    indicators_reported: tuple[str, ...]
    baseline: Posterior
    variants: tuple[Variant, ...]
    refused: str | None = None  # why leave-one-out was not run

    @property
    def top_expert(self) -> Variant | None:
        loo = [v for v in self.variants if v.kind == "leave_one_out"]
        return max(loo, key=lambda v: v.shift) if loo else None

    @property
    def pooling(self) -> Variant | None:
        return next((v for v in self.variants if v.kind == "pooling"), None)


def _loo_refusal(priors: Priors) -> str | None:
    if len(priors.experts) >= 2:
        return None
    only = priors.experts[0].id if priors.experts else "nobody"
    return (
        f"leave-one-out refused: the panel has one expert ({only}); without them no hypothesis table has a judgment "
        "left, so there is nothing to compare. Add a second panelist to measure each one's influence."
    )


def leave_one_out(priors: Priors, evidence: Mapping[str, FoldedEvidence]) -> list[Variant]:
    """The posterior with each panelist left out in turn (MODEL.md §5, sensitivity)."""
    refusal = _loo_refusal(priors)
    if refusal:
        raise PriorsError(refusal)
    base = exact_posterior(priors, evidence)
    out = []
    for e in priors.experts:
        post = exact_posterior(priors, evidence, exclude=e.id)
        size, h, s = _shift(base, post)
        out.append(Variant(f"without {e.id}", "leave_one_out", e.id, priors.method, post, size, h, s))
    return out


def influence(priors: Priors, evidence: Mapping[str, FoldedEvidence]) -> Influence:
    base = exact_posterior(priors, evidence)
    refusal = _loo_refusal(priors)
    variants = [] if refusal else leave_one_out(priors, evidence)
    other = "logarithmic" if priors.method == "linear" else "linear"
    post = exact_posterior(priors, evidence, method=other)
    size, h, s = _shift(base, post)
    variants.append(Variant(f"{other} pool", "pooling", None, other, post, size, h, s))
    reported = tuple(k for k in evidence if k in priors.indicator_ids)
    n_reports = sum(v.reports for k, v in evidence.items() if k in priors.indicator_ids)
    return Influence(priors.method, n_reports, reported, base, tuple(variants), refusal)


# ----------------------------------------------------------------------------- diagnosticity


@dataclass(frozen=True)
class Diagnosticity:
    indicator: str
    parents: tuple[str, ...]
    weight_db: float  # the largest weight of evidence a certain report carries between two configurations
    between: tuple[tuple[str, ...], tuple[str, ...]]
    outcome: str  # occurred | not_occurred: the report that carries it
    spread: float  # max − min pooled P(occurred)
    information: float  # bits, with the best-informed hypothesis, under the pooled prior
    informs: str


def diagnosticity(priors: Priors) -> list[Diagnosticity]:
    """Indicators ranked by how strongly their pooled likelihoods separate the hypothesis states."""
    net = build_network(priors)
    log_prior, _ = log_joint_terms(net, np.zeros((len(net.indicator_ids), 2)))
    joint = _softmax(log_prior)  # (S,)
    qs = net.q_mean[net.q_index]  # (J, S)
    info = np.zeros((len(net.indicator_ids), len(net.hypothesis_ids)))
    for h, m in enumerate(net.marginal_matrices()):
        px = joint @ m  # (K,)
        p1x = (joint * qs) @ m  # (J, K): P(I=1, x)
        p0x = px - p1x
        p1 = p1x.sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            t1 = np.where(p1x > 0, p1x * np.log2(p1x / (p1 * px)), 0.0)
            t0 = np.where(p0x > 0, p0x * np.log2(p0x / ((1 - p1) * px)), 0.0)
        info[:, h] = (t1 + t0).sum(axis=1)
    out = []
    for j, ind in enumerate(priors.indicators):
        configs = priors.configs(ind.id)
        q = {c: min(max(priors.pooled(ind.id, c).mean[0], 1e-6), 1 - 1e-6) for c in configs}
        best = (0.0, (configs[0], configs[0]), "occurred")
        for a, b in itertools.combinations(configs, 2):
            for outcome, (x, y) in (("occurred", (q[a], q[b])), ("not_occurred", (1 - q[a], 1 - q[b]))):
                w = abs(10 * math.log10(x / y))
                if w > best[0]:
                    best = (w, (a, b) if x >= y else (b, a), outcome)
        h = int(np.argmax(info[j]))
        out.append(
            Diagnosticity(
                ind.id,
                ind.parents,
                best[0],
                best[1],
                best[2],
                max(q.values()) - min(q.values()),
                float(max(info[j, h], 0.0)),
                net.hypothesis_ids[h],
            )
        )
    return sorted(out, key=lambda d: (-round(d.weight_db, 9), -d.information, d.indicator))


# ----------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class AuditReport:
    name: str
    root: str
    hash: str
    hypotheses: int
    indicators: int
    experts: tuple[str, ...]
    method: str
    as_of: dt.date
    max_age_days: int
    seeds: str | None
    findings: tuple[Finding, ...]
    disagreement: tuple[Disagreement, ...]
    influence: Influence
    diagnosticity: tuple[Diagnosticity, ...]
    pending: str | None = None  # what the audit could not compute yet (mechanisms before the engine knows them)
    mechanisms: int = 0

    def count(self, severity: Severity) -> int:
        return sum(f.severity == severity for f in self.findings)

    def failed(self, *, strict: bool = False) -> bool:
        """Errors fail the audit; with `strict`, warnings too."""
        return self.count("error") > 0 or (strict and self.count("warning") > 0)


def audit_priors(
    priors: Priors,
    *,
    reports: Sequence[Report] = (),
    as_of: dt.date,
    today: dt.date | None = None,
    max_age_days: int = DEFAULT_MAX_AGE_DAYS,
    seeds_dir: Path | None = None,
) -> AuditReport:
    """Every check of issue 5 on a loaded priors folder, with `reports` as the current evidence.

    `seeds_dir` is the folder of seed papers (see `find_seeds`); None checks citations for form only.
    Sign-off ages are measured against `today` (default: the real today, not `as_of`)."""
    if max_age_days < 0:
        raise PriorsError(f"--max-age-days {max_age_days}: expected a number of days ≥ 0")
    today = today or dt.date.today()
    priors = _Indexed.of(priors)
    seeds = load_seeds(seeds_dir) if seeds_dir is not None else None
    if seeds is not None and not seeds:
        seeds = None
    lines = _Lines(priors)
    findings: list[Finding] = []
    if seeds is None:
        findings.append(
            Finding(
                "note",
                "seeds_not_found",
                priors.root.name,
                "citation",
                f"seed papers not found (give --seeds DIR or ${SEEDS_ENV}): citations were checked for form only",
            )
        )
    findings += _judgment_findings(priors, seeds, lines)
    findings += _structure_citation_findings(priors, seeds, lines)
    findings += _settings_findings(priors, lines)
    findings += _signoff_findings(priors, lines, today=today, max_age_days=max_age_days)
    findings += _copy_findings(priors, lines)
    findings += _discrimination_findings(priors, lines)
    evidence = fold(reports, priors.grades)
    pending = None
    if priors.mechanisms:
        # TODO(issue 10, engine part): influence (leave-one-out, other pool) and diagnosticity need the
        # exact engine with mechanism nodes (MODEL.md §4: the mechanism summed out per joint state). Once
        # `build_network` lays mechanisms out, drop this branch; diagnosticity should then rank the
        # mechanisms too (a mechanism's weight of evidence: its P(occurred | parents) across configurations,
        # an indicator's: its likelihood with the mechanism summed out at the pooled prior).
        pending = ENGINE_PENDING
        reported = tuple(k for k in evidence if k in priors.indicator_ids)
        n_reports = sum(v.reports for k, v in evidence.items() if k in priors.indicator_ids)
        infl = Influence(priors.method, n_reports, reported, {}, (), None)
        diag: list[Diagnosticity] = []
        findings.append(Finding("note", "engine_pending", f"{priors.root.name}/indicators.yaml", "mechanisms", pending))
    else:
        infl = influence(priors, evidence)
        diag = diagnosticity(priors)
    if infl.refused:
        findings.append(Finding("note", "leave_one_out_refused", f"{priors.root.name}/experts", "", infl.refused))
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    findings.sort(key=lambda f: (rank[f.severity], f.file, f.line, f.field))
    return AuditReport(
        name=priors.name,
        root=str(priors.root),
        hash=priors.hash,
        hypotheses=len(priors.hypotheses),
        indicators=len(priors.indicators),
        experts=tuple(e.id for e in priors.experts),
        method=priors.method,
        as_of=as_of,
        max_age_days=max_age_days,
        seeds=str(seeds_dir) if seeds is not None else None,
        findings=tuple(findings),
        disagreement=tuple(disagreement(priors)),
        influence=infl,
        diagnosticity=tuple(diag),
        pending=pending,
        mechanisms=len(priors.mechanisms),
    )


# ----------------------------------------------------------------------------- show: the tables


def beta_cdf(x: float, a: float, b: float) -> float:
    """The regularised incomplete beta function I_x(a, b) (continued fraction; numpy/scipy-free)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def _betacf(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        for num in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-12:
            break
    return h


def beta_quantile(q: float, a: float, b: float) -> float:
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if beta_cdf(mid, a, b) < q:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


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


def table_views(priors: Priors, node: str | None = None) -> list[TableView]:
    """Every table (or one node's): each source's judgment, the pooled mean and interval, the spread."""
    priors = _Indexed.of(priors)
    nodes: list[Node] = [priors.node(node)] if node is not None else _all_nodes(priors)
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
    oi, ni = {i.id: i for i in old.indicators}, {i.id: i for i in new.indicators}
    out += [f"indicator removed: {i}" for i in oi if i not in ni]
    out += [f"indicator added: {i}" for i in ni if i not in oi]
    for i in sorted(oi.keys() & ni.keys()):
        a_i, b_i = oi[i], ni[i]
        compare(f"indicator {i}: parents", list(a_i.parents), list(b_i.parents))
        compare(f"indicator {i}: mechanism", a_i.mechanism, b_i.mechanism)
        compare(f"indicator {i}: definition", a_i.definition, b_i.definition)
        compare(f"indicator {i}: citation", a_i.citation, b_i.citation)
    om_, nm_ = {m.id: m for m in old.mechanisms}, {m.id: m for m in new.mechanisms}
    out += [f"mechanism removed: {m}" for m in om_ if m not in nm_]
    out += [f"mechanism added: {m}" for m in nm_ if m not in om_]
    for m in sorted(om_.keys() & nm_.keys()):
        a_m, b_m = om_[m], nm_[m]
        compare(f"mechanism {m}: parents", list(a_m.parents), list(b_m.parents))
        compare(f"mechanism {m}: definition", a_m.definition, b_m.definition)
        compare(f"mechanism {m}: citation", a_m.citation, b_m.citation)
    oe, ne = {e.id: e for e in old.experts}, {e.id: e for e in new.experts}
    out += [f"expert removed: {e}" for e in oe if e not in ne]
    out += [f"expert added: {e}" for e in ne if e not in oe]
    for e in sorted(oe.keys() & ne.keys()):
        compare(f"expert {e}: role", oe[e].role, ne[e].role)
        compare(f"expert {e}: reviewed_by", oe[e].reviewed_by, ne[e].reviewed_by)
        compare(f"expert {e}: reviewed_on", oe[e].reviewed_on, ne[e].reviewed_on)
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


def diff_priors(old: Priors, new: Priors, *, reports: Sequence[Report] = ()) -> PriorsDiff:
    """Judgment-by-judgment changes from `old` to `new` and their effect on the exact posterior.

    Each change's own effect is measured by applying it alone to `old` (when the two share their
    hypotheses, states and indicators); the overall effect compares the two posteriors."""
    old, new = _Indexed.of(old), _Indexed.of(new)
    ev_new = fold([r for r in reports if r.indicator in new.indicator_ids], new.grades)
    ev_old = fold([r for r in reports if r.indicator in old.indicator_ids], old.grades)
    key = lambda j: (j.source, j.node, j.config)  # noqa: E731
    om, nm = {key(j): j for j in old.judgments}, {key(j): j for j in new.judgments}
    same_shape = _signature(old) == _signature(new)
    # TODO(issue 10, engine part): effects of changes need the exact engine with mechanism nodes
    pending = DIFF_PENDING if (old.mechanisms or new.mechanisms) else None
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
        changes.append(JudgmentChange(change, k[0], k[1], parents, k[2], a, b, tuple(what), largest, shift))
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


# ----------------------------------------------------------------------------- renderers: JSON


def to_jsonable(obj: Any) -> Any:
    """Result objects -> plain JSON values (dataclasses as objects, tuples as lists, floats rounded)."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, float):
        return obj if not math.isfinite(obj) else round(obj, 6)
    if isinstance(obj, (dt.date, Path)):
        return str(obj) if isinstance(obj, Path) else obj.isoformat()
    return obj


def audit_json(report: AuditReport, *, strict: bool = False) -> dict[str, Any]:
    data = to_jsonable(report)
    for item, f in zip(data["findings"], report.findings, strict=True):
        item["where"] = f.where
    data["summary"] = {s: report.count(s) for s in SEVERITIES}
    data["strict"] = strict
    data["passed"] = not report.failed(strict=strict)
    infl = report.influence
    top = infl.top_expert
    data["influence"]["most_influential_expert"] = top.expert if top else None
    data["influence"]["pooling_shift"] = round(infl.pooling.shift, 6) if infl.pooling else None
    return data


# ----------------------------------------------------------------------------- renderers: Markdown


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return out


def _pp(x: float) -> str:
    return f"{x * 100:.1f} pp"


def _cfg_text(parents: Sequence[str], config: Sequence[str]) -> str:
    return ", ".join(f"{p}={s}" for p, s in zip(parents, config, strict=True)) or "—"


METHOD_NOTES = (
    "Severities: *error* fails the audit (exit 1); *warning* fails it with `--strict`; *note* never does.",
    "ICD 203 terms: a hypothesis row's terms are normalised to sum to one; a value pushed outside its term's range "
    "is an error. An indicator rationale using a term none of whose ranges holds P(occurred) is a warning "
    "(comparisons such as 'less likely' and negations are skipped). Ranges are closed.",
    f"Confidence: a numeric equivalent sample size outside [{CONFIDENCE_SCALE[0]:g}, {CONFIDENCE_SCALE[1]:g}] is "
    "off the scale.",
    "Citations: '<paper>.txt, <section heading or fn N>'; with the seed papers the footnote or heading must exist "
    f"in that paper, without them the form is checked and N must lie in 1–{MAX_FOOTNOTE}.",
    "Copies: identical probabilities and rationale from two experts are an error; an expert restating the "
    "catalogue's row is a note.",
    "Influence: exact engine with the pooled prior means (MODEL.md §4); shift = largest absolute change of any "
    "hypothesis state, in percentage points.",
    "Diagnosticity: the largest weight of evidence (decibans) a certain report carries between two parent "
    "configurations; information: mutual information with the best-informed hypothesis under the pooled prior.",
)


def summary_line(report: AuditReport, *, strict: bool = False) -> str:
    """'pass: 0 errors, 5 warnings, 1 note' — the one line a CI log needs."""
    counts = ", ".join(f"{report.count(s)} {s}{'s' if report.count(s) != 1 else ''}" for s in SEVERITIES)
    verdict = "FAIL" if report.failed(strict=strict) else "pass"
    return f"{verdict}{' (strict: warnings count as errors)' if strict else ''}: {counts}"


def audit_markdown(report: AuditReport, *, strict: bool = False) -> str:
    """The reviewer's report, ready to paste into a review."""
    r = report
    infl = r.influence
    verdict, _, counts = summary_line(r, strict=strict).partition(": ")
    md = [
        f"# Priors audit: {r.name}",
        "",
        f"**{verdict}**: {counts}.",
        "",
        f"- priors: `{r.root}`, hash `{r.hash}`",
        f"- {r.hypotheses} hypotheses, {r.indicators} indicators"
        f"{f', {r.mechanisms} mechanisms' if r.mechanisms else ''}, {len(r.experts)} experts ({', '.join(r.experts)}); "
        f"{r.method} pool",
        f"- evidence: {infl.reports} reports on {len(infl.indicators_reported)} indicators, "
        f"as of {r.as_of.isoformat()}",
        f"- seed papers: {f'`{r.seeds}`' if r.seeds else 'not found (citations checked for form only)'}; "
        f"sign-offs older than {r.max_age_days} days are flagged",
        "",
        "## Findings",
        "",
    ]
    if r.findings:
        md += _table(
            ["severity", "where", "field", "kind", "finding"],
            ([f.severity, f.where, f.field or "—", f.kind, f.message] for f in r.findings),
        )
    else:
        md.append("No findings.")
    md += [
        "",
        "## Disagreement",
        "",
        "Largest difference between two sources' probabilities in each table, and the pooled N "
        "(equivalent sample size after moment matching: disagreement lowers it).",
        "",
    ]
    several = [d for d in r.disagreement if len(d.sources) > 1]
    md += _table(
        ["table", "kind", "sources", "largest difference", "between", "where", "pooled N there", "lowest pooled N"],
        (
            [
                d.node,
                d.kind,
                len(d.sources),
                f"{d.largest:.2f}",
                " vs ".join(d.between) if d.between else "identical",
                f"{_cfg_text(d.parents, d.config)} · {d.state}" if d.parents else d.state,
                f"{d.pooled_n:.1f}",
                f"{d.min_pooled_n:.1f}",
            ]
            for d in sorted(several, key=lambda d: -d.largest)
        ),
    )
    single = [d for d in r.disagreement if len(d.sources) == 1]
    if single:
        md += [
            "",
            f"{len(single)} tables have a single source ({', '.join(sorted({d.sources[0] for d in single}))}), "
            f"so no disagreement to measure; their lowest pooled N: {min(d.min_pooled_n for d in single):.1f}.",
        ]
    md += ["", "## Influence", ""]
    md += [f"> {r.pending}", ""] if r.pending else _influence_lines(infl)
    md += [
        "",
        "## Diagnosticity",
        "",
        "Indicators ranked by the largest weight of evidence a certain report carries between two "
        "parent configurations (decibans; 10 dB = 10:1), with the mutual information between the indicator and its "
        "best-informed hypothesis under the pooled prior.",
        "",
    ]
    md += _table(
        [
            "rank",
            "indicator",
            "parents",
            "max weight (dB)",
            "report",
            "favours",
            "over",
            "P(occurred) spread",
            "information (bits)",
        ],
        (
            [
                k,
                d.indicator,
                ", ".join(d.parents),
                f"{d.weight_db:.1f}",
                d.outcome,
                _cfg_text(d.parents, d.between[0]),
                _cfg_text(d.parents, d.between[1]),
                f"{d.spread:.2f}",
                f"{d.information:.3f} ({d.informs})",
            ]
            for k, d in enumerate(r.diagnosticity, 1)
        ),
    )
    if r.pending:
        md += ["", f"> {r.pending}"]
    md += ["", "## Method", ""]
    md += [f"- {line}" for line in METHOD_NOTES]
    md += ["", f"Priors hash: `{r.hash}`", ""]
    return "\n".join(md)


def _influence_lines(infl: Influence) -> list[str]:
    md = [
        f"Exact posterior on the current evidence ({infl.reports} reports) under the {infl.method} pool, with each "
        "panelist left out and with the other pooling method.",
        "",
    ]
    if infl.refused:
        md += [f"> {infl.refused}", ""]
    top, pool = infl.top_expert, infl.pooling
    if top is not None:
        md.append(
            f"- Most influential panelist: **{top.expert}**: leaving them out moves "
            f"{top.hypothesis}.{top.state} by {_pp(top.shift)}."
        )
    if pool is not None:
        md.append(f"- Pooling: the {pool.method} pool moves {pool.hypothesis}.{pool.state} by {_pp(pool.shift)}.")
    moves = [v for v in infl.variants if v.shift > 0]
    if moves:
        most = max(moves, key=lambda v: v.shift)
        md.append(f"- The choice that moves the forecast most: **{most.label}** ({_pp(most.shift)}).")
    md.append("")
    header = ["hypothesis", "state", f"baseline ({infl.method})", *(v.label for v in infl.variants)]
    rows = []
    for h, states in infl.baseline.items():
        for s, p in states.items():
            rows.append(
                [
                    h,
                    s,
                    f"{p:.3f}",
                    *(f"{v.posterior[h][s]:.3f} ({(v.posterior[h][s] - p) * 100:+.1f})" for v in infl.variants),
                ]
            )
    md += _table(header, rows)
    md += ["", "Variants show the posterior and, in brackets, its change in percentage points."]
    return md


def show_markdown(priors: Priors, views: Sequence[TableView]) -> str:
    md: list[str] = [f"# Priors: {priors.name} (hash `{priors.hash}`)", ""]
    for v in views:
        parents = f"given {', '.join(v.parents)}" if v.parents else "no parents"
        md += [f"## {v.node} ({v.kind}; {parents})", ""]
        shown = v.states if v.kind == "hypothesis" else ("occurred",)
        head = ["given", "source", *(f"P({s})" for s in shown), "confidence", "rationale", "citation"]
        rows: list[list[object]] = []
        for row in v.rows:
            given = _cfg_text(v.parents, row.config)
            for j in row.judgments:
                mark = f" ⚑ far from the rest ({row.distance[j.source]:.2f})" if j.source in row.far else ""
                cells = [_prob_text(j.probs[s], j.terms[s] if s < len(j.terms) else None) for s in range(len(shown))]
                rows.append(
                    [
                        given,
                        j.source + mark,
                        *cells,
                        f"{j.confidence} (n={j.n:g})",
                        j.rationale or "—",
                        j.citation or "—",
                    ]
                )
                given = ""
            iv = [f"{m:.2f} [{lo:.2f}, {hi:.2f}]" for m, (lo, hi) in zip(row.pooled.mean, row.interval, strict=True)]
            rows.append(
                ["", f"pooled ({priors.method}, N={row.pooled.concentration:.1f})", *iv[: len(shown)], "", "", ""]
            )
            if len(row.judgments) > 1:
                rows.append(["", "spread (max − min)", *(f"{s:.2f}" for s in row.spread[: len(shown)]), "", "", ""])
        md += _table(head, rows)
        md.append("")
    md.append(
        f"Pooled intervals: central {INTERVAL:.0%} of each state's marginal Beta. ⚑: total-variation distance "
        f"≥ {FAR_FROM_REST} from the pool of the other sources, and at least twice their distance from one another "
        "(rows with three or more sources)."
    )
    return "\n".join(md)


def _prob_text(p: float, term: str | None) -> str:
    if term is not None:
        return f"{term} → {p:.2f}"
    return f"{p:.2f} ({term_for(p)})"


def diff_markdown(d: PriorsDiff) -> str:
    md = [f"# Priors diff: `{d.old_root}` → `{d.new_root}`", "", f"hash `{d.old_hash}` → `{d.new_hash}`", ""]
    if d.empty:
        md.append(
            "No changes."
            if d.old_hash == d.new_hash
            else "No changes to judgments or structure (files differ in comments or layout only)."
        )
        return "\n".join(md) + "\n"
    if d.structure:
        md += ["## Structure and settings", "", *(f"- {s}" for s in d.structure), ""]
    if d.judgments:
        md += [
            "## Judgments",
            "",
            "Effect: the largest change in any hypothesis state's posterior when this change alone is "
            f"applied to the old priors ({d.reports} reports).",
            "",
        ]
        md += _table(
            ["change", "source", "table", "given", "old", "new", "what changed", "effect"],
            (
                [
                    c.change,
                    c.source,
                    c.node,
                    _cfg_text(c.parents, c.config),
                    _probs_text(c.old),
                    _probs_text(c.new),
                    ", ".join(c.fields) or "—",
                    _pp(c.shift) if c.shift is not None else "n/a",
                ]
                for c in sorted(d.judgments, key=lambda c: -(c.shift or 0.0))
            ),
        )
        md.append("")
    md += ["## Effect on the current posterior", ""]
    if d.pending:
        md += [f"> {d.pending}"]
    if d.effect:
        md += _table(
            ["hypothesis", "state", "old", "new", "change"],
            (
                [e.hypothesis, e.state, f"{e.old:.3f}", f"{e.new:.3f}", f"{(e.new - e.old) * 100:+.1f} pp"]
                for e in d.effect
            ),
        )
    if d.not_comparable:
        md += ["", f"Not comparable (states differ): {', '.join(d.not_comparable)}."]
    return "\n".join(md) + "\n"


def _probs_text(j: Judgment | None) -> str:
    if j is None:
        return "—"
    return "/".join(f"{p:.2f}" for p in j.probs) + f" ({j.confidence})"


__all__ = [
    "AuditReport",
    "Finding",
    "Disagreement",
    "Influence",
    "Variant",
    "Diagnosticity",
    "TableView",
    "RowView",
    "PriorsDiff",
    "JudgmentChange",
    "StateEffect",
    "audit_priors",
    "leave_one_out",
    "influence",
    "diagnosticity",
    "disagreement",
    "exact_posterior",
    "table_views",
    "diff_priors",
    "find_seeds",
    "load_seeds",
    "citation_problem",
    "rationale_terms",
    "audit_json",
    "audit_markdown",
    "summary_line",
    "show_markdown",
    "diff_markdown",
    "to_jsonable",
]
