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

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from forecaster.analysis.findings import (
    DEFAULT_MAX_AGE_DAYS,
    SEVERITIES,
    Finding,
    Severity,
    _copy_findings,
    _discrimination_findings,
    _Indexed,
    _judgment_findings,
    _Lines,
    _settings_findings,
    _signoff_findings,
    _structure_citation_findings,
)
from forecaster.analysis.influence import Diagnosticity, Disagreement, Influence, diagnosticity, disagreement, influence
from forecaster.analysis.panel import WeightBasis, WeightsView, weights_view
from forecaster.analysis.seeds import SEEDS_ENV, load_seeds
from forecaster.core.errors import PriorsError
from forecaster.model.evidence import Report
from forecaster.model.priors import Priors

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
    weights: WeightsView | None = None  # performance weights in force (MODEL.md §7), beside equal weights

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
    weights: WeightBasis | None = None,
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
    evidence = priors.fold(reports, as_of=as_of)  # as `update` folds them: aged to as_of, origins folded
    pending = None  # mechanisms are in the exact engine (issue 10): influence and diagnosticity cover them
    infl = influence(priors, evidence)
    diag = diagnosticity(priors)
    if infl.refused:
        findings.append(Finding("note", "leave_one_out_refused", f"{priors.root.name}/experts", "", infl.refused))
    view = weights_view(priors, weights) if weights is not None and weights.mode == "performance" else None
    if view is not None and view.basis.warning:
        findings.append(Finding("warning", "performance_weights_thin", f"{priors.root.name}/settings.yaml", "weights", view.basis.warning))
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
        weights=view,
    )


