"""The audit, `priors show` and `priors diff` rendered as JSON and Markdown. Renders only: every
number comes from forecaster.analysis."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

from forecaster.analysis.audit import AuditReport
from forecaster.analysis.diff import PriorsDiff
from forecaster.analysis.findings import CONFIDENCE_SCALE, FAR_FROM_REST, INTERVAL, SEVERITIES
from forecaster.analysis.influence import Influence
from forecaster.analysis.seeds import MAX_FOOTNOTE
from forecaster.analysis.tables import TableSummary, TableView
from forecaster.core.text import markdown_text, plural
from forecaster.model.priors import Judgment, Priors
from forecaster.model.terms import term_for

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
    """One table cell of user text: one line, control characters shown, and nothing that Markdown
    would turn into HTML, a link or a code span (core.text.markdown_text; `|` escaped too)."""
    return markdown_text(" ".join(str(text).split()), newlines=False)


_md = markdown_text  # user text (names, paths, messages) outside tables


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
    md = _audit_header_lines(r, strict=strict)
    md += _findings_lines(r)
    md += _disagreement_lines(r)
    md += ["", "## Influence", ""]
    md += [f"> {_md(r.pending, newlines=False)}", ""] if r.pending else _influence_lines(r.influence)
    md += _diagnosticity_lines(r)
    md += _weights_lines(r)
    md += ["", "## Method", ""]
    md += [f"- {line}" for line in METHOD_NOTES]
    md += ["", f"Priors hash: `{r.hash}`", ""]
    return "\n".join(md)


def _audit_header_lines(r: AuditReport, *, strict: bool) -> list[str]:
    """The title, the verdict and what was audited."""
    infl = r.influence
    verdict, _, counts = summary_line(r, strict=strict).partition(": ")
    return [
        f"# Priors audit: {_md(r.name, newlines=False)}",
        "",
        f"**{verdict}**: {counts}.",
        "",
        f"- priors: {_md(r.root, newlines=False)}, hash `{r.hash}`",
        f"- {plural(r.hypotheses, 'hypothesis', 'hypotheses')}, {plural(r.indicators, 'indicator')}"
        f"{', ' + plural(r.mechanisms, 'mechanism') if r.mechanisms else ''}, {plural(len(r.experts), 'expert')} "
        f"({_md(', '.join(r.experts), newlines=False)}); "
        f"{r.method} pool",
        f"- evidence: {plural(infl.reports, 'report')} on {plural(len(infl.indicators_reported), 'indicator')}, "
        f"as of {r.as_of.isoformat()}",
        f"- seed papers: {_md(r.seeds, newlines=False) if r.seeds else 'not found (citations checked for form only)'}; "
        f"sign-offs older than {r.max_age_days} days are flagged",
        "",
    ]


def _findings_lines(r: AuditReport) -> list[str]:
    """The findings section: a table, or "No findings."."""
    md = ["## Findings", ""]
    if r.findings:
        md += _table(
            ["severity", "where", "field", "kind", "finding"],
            ([f.severity, f.where, f.field or "—", f.kind, f.message] for f in r.findings),
        )
    else:
        md.append("No findings.")
    return md


def _disagreement_lines(r: AuditReport) -> list[str]:
    """The disagreement section: tables with several sources, then a line on single-source ones."""
    md = [
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
            f"{len(single)} tables have a single source ({_md(', '.join(sorted({d.sources[0] for d in single})), newlines=False)}), "
            f"so no disagreement to measure; their lowest pooled N: {min(d.min_pooled_n for d in single):.1f}.",
        ]
    return md


def _diagnosticity_lines(r: AuditReport) -> list[str]:
    """The diagnosticity section: indicators ranked by weight of evidence."""
    md = [
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
                f"{d.indicator} (mechanism, if observed)" if d.kind == "mechanism" else d.indicator,
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
        md += ["", f"> {_md(r.pending, newlines=False)}"]
    return md


def _influence_lines(infl: Influence) -> list[str]:
    md = [
        f"Exact posterior on the current evidence ({plural(infl.reports, 'report')}) under the {infl.method} pool, with each "
        "panelist left out and with the other pooling method.",
        "",
    ]
    if infl.refused:
        md += [f"> {_md(infl.refused, newlines=False)}", ""]
    top, pool = infl.top_expert, infl.pooling
    if top is not None:
        md.append(
            f"- Most influential panelist: **{_md(top.expert, newlines=False)}**: leaving them out moves "
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


def show_list(summaries: Sequence[TableSummary]) -> Any:
    """`priors show` without a node: one line per table (Rich; ids and numbers never split)."""
    from rich.table import Table
    from rich.text import Text

    from forecaster.outputs.columns import never_cut

    t = Table(box=None, pad_edge=False, header_style="bold")
    for name in ("table", "sources", "spread", "kind"):  # 80 columns hold a line of the bundled network
        t.add_column(name, justify="right" if name in ("sources", "spread") else "left")
    for s in summaries:
        kind = f"{s.kind}; given {', '.join(s.parents)}" if s.parents else f"{s.kind}; no parents"
        t.add_row(*(Text(c) for c in (s.node, str(len(s.sources)),
                                      f"{s.spread:.2f}" if len(s.sources) > 1 else "—", kind)))
    return never_cut(t, 0)


def _weights_lines(r: AuditReport) -> list[str]:
    """The performance weights in force (MODEL.md §7) and the prior forecast beside equal weights."""
    if r.weights is None:
        return []
    b = r.weights.basis
    md = ["", "## Pooling weights", "", f"{_md(b.describe(), newlines=False)}.", ""]
    if b.warning:
        md += [f"> {_md(b.warning, newlines=False)}", ""]
    md += _table(["hypothesis", "state", "prior, these weights", "prior, equal weights"],
                 ([h, s, f"{w:.3f}", f"{e:.3f}"] for h, s, w, e in r.weights.forecasts))
    return md


def show_markdown(priors: Priors, views: Sequence[TableView]) -> str:
    md: list[str] = [f"# Priors: {_md(priors.name, newlines=False)} (hash `{priors.hash}`)", ""]
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
    md = [f"# Priors diff: {_md(d.old_root, newlines=False)} → {_md(d.new_root, newlines=False)}", "",
          f"hash `{d.old_hash}` → `{d.new_hash}`", ""]
    if d.empty:
        md.append(
            "No changes."
            if d.old_hash == d.new_hash
            else "No changes to judgments or structure (files differ in comments or layout only)."
        )
        return "\n".join(md) + "\n"
    if d.structure:
        md += ["## Structure and settings", "", *(f"- {_md(s, newlines=False)}" for s in d.structure), ""]
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
                    _probs_text(c.old, c.states),
                    _probs_text(c.new, c.new_states),
                    ", ".join(c.fields) or "—",
                    _pp(c.shift) if c.shift is not None else "n/a",
                ]
                for c in sorted(d.judgments, key=lambda c: -(c.shift or 0.0))
            ),
        )
        md.append("")
    md += ["## Effect on the current posterior", ""]
    if d.pending:
        md += [f"> {_md(d.pending, newlines=False)}"]
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


def _probs_text(j: Judgment | None, states: Sequence[str] = ()) -> str:
    """'heightened 0.60, contained 0.40 (medium)': each probability with its state's name."""
    if j is None:
        return "—"
    if len(states) == len(j.probs):
        return ", ".join(f"{s} {p:.2f}" for s, p in zip(states, j.probs, strict=True)) + f" ({j.confidence})"
    return "/".join(f"{p:.2f}" for p in j.probs) + f" ({j.confidence})"

