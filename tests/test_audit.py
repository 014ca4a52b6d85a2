"""The reviewers' audit as a library (issue 5): every finding type from a broken folder, the
influence and diagnosticity numbers against hand computation, and the diff."""

from __future__ import annotations

import datetime as dt
import math
import shutil
from pathlib import Path

import pytest

from forecaster.analysis.audit import AuditReport, audit_priors
from forecaster.analysis.diff import diff_priors
from forecaster.analysis.findings import rationale_terms
from forecaster.analysis.influence import diagnosticity, disagreement, exact_posterior, influence, leave_one_out
from forecaster.analysis.seeds import citation_problem, find_seeds, load_seeds, read_seed
from forecaster.analysis.tables import beta_cdf, beta_quantile, table_views
from forecaster.core.errors import PriorsError
from forecaster.core.workspace import Workspace
from forecaster.model.evidence import Report, fold
from forecaster.model.loading import load_priors
from forecaster.model.priors import Priors

DATA = Path(__file__).parent / "data"
SEEDS = DATA / "audit_seeds"
TODAY = dt.date(2026, 11, 22)


def _audit(name: str, *, seeds: Path | None = SEEDS, reports: list[Report] | None = None) -> AuditReport:
    return audit_priors(load_priors(DATA / name), reports=reports or [], as_of=TODAY, today=TODAY, seeds_dir=seeds)


def _kinds(report: AuditReport) -> set[tuple[str, str]]:
    return {(f.severity, f.kind) for f in report.findings}


# ----------------------------------------------------------------------------- findings


def test_clean_folder_has_no_findings() -> None:
    report = _audit("audit_clean")
    assert report.findings == ()
    assert not report.failed(strict=True)


@pytest.mark.parametrize(
    ("folder", "expected"),
    [
        ("audit_missing_rationale", {("error", "missing_rationale")}),
        ("audit_missing_citation", {("error", "missing_citation")}),
        (
            "audit_bad_citation",
            {("error", "citation_form"), ("error", "citation_paper"), ("error", "citation_passage")},
        ),
        ("audit_term_range", {("error", "term_range"), ("warning", "term_range")}),
        ("audit_confidence_scale", {("error", "confidence_scale")}),
        ("audit_no_signoff", {("error", "no_signoff")}),
        ("audit_stale_signoff", {("warning", "stale_signoff")}),
        ("audit_copied", {("error", "copied_judgment")}),
        ("audit_flat_indicator", {("error", "no_discrimination")}),
        ("audit_one_expert", {("note", "leave_one_out_refused")}),
    ],
)
def test_each_broken_folder_triggers_its_finding(folder: str, expected: set[tuple[str, str]]) -> None:
    """Each folder is audit_clean with one thing broken: exactly that finding appears."""
    report = _audit(folder)
    assert _kinds(report) == expected
    errors = any(sev == "error" for sev, _ in expected)
    assert report.failed() is errors
    assert report.failed(strict=True) is (errors or any(sev == "warning" for sev, _ in expected))


def test_findings_name_file_line_and_field() -> None:
    [f] = _audit("audit_missing_rationale").findings
    assert (f.file, f.field) == ("audit_missing_rationale/experts/analyst_a.yaml", "hypotheses.encirclement[0]")
    assert f.line == 8 and f.where == "audit_missing_rationale/experts/analyst_a.yaml:8"
    assert "analyst_a" in f.message and "rationale" in f.message

    [c] = _audit("audit_confidence_scale").findings
    assert c.field == "hypotheses.encirclement[0].confidence" and "500" in c.message and "[2, 200]" in c.message

    fields = {f.field for f in _audit("audit_no_signoff").findings}
    assert fields == {"reviewed_by", "reviewed_on"}


def test_term_range_reads_normalised_terms_and_rationale_text() -> None:
    findings = _audit("audit_term_range").findings
    errors = sorted(f.field for f in findings if f.severity == "error")
    # likely + likely + very unlikely normalise to 0.458 / 0.458 / 0.085: outside 'likely' (55–80 %)
    assert errors == ["hypotheses.alignment[1].probabilities.hedging", "hypotheses.alignment[1].probabilities.west"]
    assert all("0.458" in f.message for f in findings if f.severity == "error")
    [warning] = [f for f in findings if f.severity == "warning"]
    assert warning.file.endswith("indicators.yaml") and warning.field == "indicators[1].likelihoods[2].rationale"
    assert "'very likely'" in warning.message and "0.1" in warning.message


def test_copied_judgment_names_both_experts() -> None:
    [f] = _audit("audit_copied").findings
    assert "analyst_b" in f.message and "analyst_a" in f.message and f.field == "hypotheses.escalation[0]"


def test_restating_the_catalogue_is_only_a_note(tmp_path: Path) -> None:
    """An expert departing from the catalogue must restate every row; a verbatim row is a note."""
    folder = shutil.copytree(DATA / "audit_clean", tmp_path / "p")
    expert = folder / "experts" / "analyst_b.yaml"
    expert.write_text(
        expert.read_text().replace(
            "p: 0.5, confidence: low, rationale: The portfolio keeps some eastern buys.",
            "p: 0.3, confidence: low, rationale: Routine modernisation only.",
        )
    )
    report = audit_priors(load_priors(folder), as_of=TODAY, today=TODAY, seeds_dir=SEEDS)
    assert _kinds(report) == {("note", "copied_judgment")}
    assert not report.failed(strict=True)


def test_flat_indicator_is_also_flagged_per_source_and_per_parent(tmp_path: Path) -> None:
    """A flat table from one source is a warning when the pool still discriminates."""
    folder = shutil.copytree(DATA / "audit_clean", tmp_path / "p")
    expert = folder / "experts" / "analyst_b.yaml"
    expert.write_text(
        expert.read_text().replace("{encirclement: heightened}, p: 0.9,", "{encirclement: heightened}, p: 0.5,")
    )
    report = audit_priors(load_priors(folder), as_of=TODAY, today=TODAY, seeds_dir=SEEDS)
    assert _kinds(report) == {("warning", "no_discrimination")}
    [f] = report.findings
    assert "analyst_b" in f.message and "arms_east" in f.message


def test_stale_signoff_threshold_and_future_dates() -> None:
    priors = load_priors(DATA / "audit_stale_signoff")
    young = audit_priors(priors, as_of=TODAY, today=dt.date(2020, 6, 1), max_age_days=365, seeds_dir=SEEDS)
    # analyst_b's sign-off (2026-11-01) lies after that "today": flagged as well
    assert [f.kind for f in young.findings] == ["stale_signoff"] and "future" in young.findings[0].message
    old = audit_priors(priors, as_of=TODAY, today=TODAY, max_age_days=10_000, seeds_dir=SEEDS)
    assert old.findings == ()
    with pytest.raises(PriorsError, match="max-age-days"):
        audit_priors(priors, as_of=TODAY, max_age_days=-1)


def test_without_seed_papers_citations_are_checked_for_form_only() -> None:
    report = _audit("audit_bad_citation", seeds=None)
    assert _kinds(report) == {("note", "seeds_not_found"), ("error", "citation_form")}


# ----------------------------------------------------------------------------- citations and terms


def test_seed_footnotes_in_both_layouts() -> None:
    assert read_seed(SEEDS / "000_44e76504c81b55c5.txt").footnotes == frozenset(range(1, 13))  # Endnotes list
    assert read_seed(SEEDS / "001_8a64ac4567ba3041.txt").footnotes == frozenset(range(1, 41))  # <sup>N</sup>


@pytest.mark.parametrize(
    ("citation", "kind"),
    [
        ("000_44e76504c81b55c5.txt, fn 12", None),
        ("000_44e76504c81b55c5.txt, footnote 3", None),
        ("000_44e76504c81b55c5.txt, Conclusion", None),
        ('000_44e76504c81b55c5.txt, "Escalation Dynamics in Northern Kosovo and Republika Srpska"', None),
        ("001_8a64ac4567ba3041.txt, “Structural Cycles of Insecurity”", None),
        ("001_8a64ac4567ba3041.txt, body text on alignment", None),  # a phrase of three or more words
        ("000_44e76504c81b55c5.txt, fn 13", "citation_passage"),
        ("000_44e76504c81b55c5.txt, Introduction", "citation_passage"),  # a heading of the other paper
        ("001_8a64ac4567ba3041.txt, text", "citation_passage"),
        ("003_ffffffffffffffff.txt, fn 1", "citation_paper"),
        ("000_44e76504c81b55c5.txt", "citation_form"),
        ("fn 12", "citation_form"),
        ("c", "citation_form"),
    ],
)
def test_citation_against_the_seed_papers(citation: str, kind: str | None) -> None:
    problem = citation_problem(citation, load_seeds(SEEDS))
    assert (problem[0] if problem else None) == kind


@pytest.mark.parametrize(
    ("citation", "kind"),
    [
        ("any_paper.txt, fn 12", None),
        ("any_paper.txt, A section heading", None),
        ("any_paper.txt, fn 0", "citation_passage"),
        ("any_paper.txt, fn 4000", "citation_passage"),
        ("any_paper.pdf, fn 12", "citation_form"),
    ],
)
def test_citation_form_without_seeds(citation: str, kind: str | None) -> None:
    problem = citation_problem(citation, None)
    assert (problem[0] if problem else None) == kind


def test_find_seeds_option_environment_and_search(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert find_seeds(tmp_path, SEEDS) == SEEDS
    with pytest.raises(PriorsError, match="no such folder"):
        find_seeds(tmp_path, tmp_path / "missing")
    with pytest.raises(PriorsError, match="no seed papers"):
        find_seeds(tmp_path, tmp_path)
    monkeypatch.setenv("FORECAST_SEEDS", str(SEEDS))
    assert find_seeds(tmp_path) == SEEDS
    monkeypatch.delenv("FORECAST_SEEDS")
    beside = tmp_path / "repo" / "shared" / "seeds"
    shutil.copytree(SEEDS, beside)
    (tmp_path / "repo" / "main" / "priors").mkdir(parents=True)
    assert find_seeds(tmp_path / "repo" / "main" / "priors") == beside


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("Very unlikely while tensions ease.", ["very unlikely"]),
        ("An overt move would almost certainly be preceded by deployments.", ["almost certain"]),
        ("Conscription is less likely without a threat.", []),
        ("Not likely, and no more likely under hedging.", []),
        ("Roughly even odds; unlikely to last.", ["roughly even chance", "unlikely"]),
        ("Likelihood and likeliness are not terms.", []),
    ],
)
def test_rationale_terms(text: str, terms: list[str]) -> None:
    assert rationale_terms(text) == terms


# ----------------------------------------------------------------------------- disagreement, influence, diagnosticity


@pytest.fixture(scope="module")
def clean() -> Priors:
    return load_priors(DATA / "audit_clean")


def test_disagreement_by_hand(clean: Priors) -> None:
    rows = {d.node: d for d in disagreement(clean)}
    enc = rows["encirclement"]
    assert enc.largest == pytest.approx(0.2) and set(enc.between or ()) == {"analyst_a", "analyst_b"}
    # N = Σ m(1−m) / Σ V − 1 with m = 0.5; V_s = ½[.24/21 + .01] + ½[.24/61 + .01] for both states
    v = 0.5 * (0.24 / 21 + 0.01) + 0.5 * (0.24 / 61 + 0.01)
    assert enc.pooled_n == pytest.approx(0.5 / (2 * v) - 1) == pytest.approx(13.139, abs=1e-3)
    single = rows["armed_incident"]
    assert single.sources == ("catalogue",) and single.largest == 0 and single.between is None and single.pooled_n == 20


def test_influence_by_hand(clean: Priors) -> None:
    infl = influence(clean, {})
    assert infl.baseline["encirclement"]["heightened"] == pytest.approx(0.5)  # linear pool of 0.6 and 0.4
    loo = {v.expert: v for v in infl.variants if v.kind == "leave_one_out"}
    assert loo["analyst_b"].posterior["encirclement"]["heightened"] == pytest.approx(0.6)
    assert loo["analyst_a"].posterior["encirclement"]["heightened"] == pytest.approx(0.4)
    assert infl.top_expert is not None and infl.top_expert.shift == pytest.approx(0.1)
    assert infl.pooling is not None and infl.pooling.method == "logarithmic"
    # log pool of (0.6, 0.4) and (0.4, 0.6) with equal weights: ∝ √.24 each, so 0.5
    assert infl.pooling.posterior["encirclement"]["heightened"] == pytest.approx(0.5)
    assert infl.pooling.posterior == exact_posterior(clean, {}, method="logarithmic")


def test_leave_one_out_equals_the_panel_without_that_file() -> None:
    """Leaving analyst_b out on the exact engine is the audit_one_expert folder (analyst_b's file removed)."""
    clean = load_priors(DATA / "audit_clean")
    reports = [
        Report("arms_east", dt.date(2026, 1, 5), True, "B", 2, "wire"),
        Report("armed_incident", dt.date(2026, 3, 1), False, "C", 3, "press"),
    ]
    evidence = fold(reports, clean.grades)
    without_b = {v.expert: v for v in leave_one_out(clean, evidence)}["analyst_b"].posterior
    alone = exact_posterior(load_priors(DATA / "audit_one_expert"), evidence)
    for h, states in alone.items():
        for s, p in states.items():
            assert without_b[h][s] == pytest.approx(p, abs=1e-12)


def test_leave_one_out_on_a_one_expert_panel_is_refused() -> None:
    priors = load_priors(DATA / "audit_one_expert")
    with pytest.raises(PriorsError, match=r"leave-one-out refused: the panel has one expert \(analyst_a\)"):
        leave_one_out(priors, {})
    infl = influence(priors, {})
    assert infl.refused is not None and "one expert" in infl.refused
    assert [v.kind for v in infl.variants] == ["pooling"]  # the pooling comparison still runs


def test_diagnosticity_by_hand(clean: Priors) -> None:
    ranked = diagnosticity(clean)
    top, second = ranked[0], ranked[1]
    # russian_pact: q runs from 0.05 (west, de_escalation) to 0.9 (east, annexation): 10·log10(0.9 / 0.05)
    assert top.indicator == "russian_pact" and top.outcome == "occurred"
    assert top.weight_db == pytest.approx(10 * math.log10(0.9 / 0.05))
    assert top.between == (("east", "annexation"), ("west", "de_escalation"))
    # cfsp_alignment: q = 0.2 / 0.875 ('very likely') / 0.05: 10·log10(0.875 / 0.05)
    assert second.indicator == "cfsp_alignment" and second.weight_db == pytest.approx(10 * math.log10(0.875 / 0.05))
    assert second.between == (("west",), ("east",))
    arms = next(d for d in ranked if d.indicator == "arms_east")
    # pooled q = (0.8 + 0.9)/2 = 0.85 and (0.3 + 0.5)/2 = 0.4; 'not occurred' carries more: 10·log10(0.6 / 0.15)
    assert arms.weight_db == pytest.approx(10 * math.log10(0.6 / 0.15)) and arms.outcome == "not_occurred"
    assert arms.between == (("contained",), ("heightened",))
    assert [d.weight_db for d in ranked] == sorted((d.weight_db for d in ranked), reverse=True)
    assert all(0 <= d.information <= 1 for d in ranked)


def test_flat_indicator_carries_no_information() -> None:
    flat = next(d for d in diagnosticity(load_priors(DATA / "audit_flat_indicator")) if d.indicator == "armed_incident")
    assert flat.weight_db == pytest.approx(0) and flat.information == pytest.approx(0, abs=1e-12)


def test_bundled_priors_pass_with_and_without_the_seed_papers(ws: Workspace) -> None:
    """With the real papers (found beside the repository when present) or with form checks only."""
    priors = load_priors(ws.priors_dir)
    for seeds in {find_seeds(ws.priors_dir), None}:
        report = audit_priors(priors, as_of=TODAY, today=TODAY, seeds_dir=seeds)
        assert report.count("error") == 0, [f for f in report.findings if f.severity == "error"]
        assert not any(f.kind.startswith("citation") for f in report.findings)


def test_audit_report_carries_hash_and_counts(clean: Priors) -> None:
    report = audit_priors(clean, as_of=TODAY, today=TODAY, seeds_dir=SEEDS)
    assert report.hash == clean.hash and len(report.hash) == 16
    assert (report.hypotheses, report.indicators, report.experts) == (3, 4, ("analyst_a", "analyst_b"))
    assert [d.indicator for d in report.diagnosticity][:2] == ["russian_pact", "cfsp_alignment"]


# ----------------------------------------------------------------------------- show


@pytest.mark.parametrize(
    ("q", "a", "b", "x"), [(0.3, 1, 1, 0.3), (0.25, 2, 1, 0.5), (0.5, 2, 2, 0.5), (0.81, 2, 1, 0.9)]
)
def test_beta_quantile_by_hand(q: float, a: float, b: float, x: float) -> None:
    """Beta(1,1) is uniform; Beta(2,1) has cdf x²; Beta(2,2) is symmetric."""
    assert beta_quantile(q, a, b) == pytest.approx(x, abs=1e-9)
    assert beta_cdf(x, a, b) == pytest.approx(q, abs=1e-9)


def test_table_views_pool_spread_and_far_expert(tmp_path: Path) -> None:
    folder = shutil.copytree(DATA / "audit_clean", tmp_path / "p")
    third = (folder / "experts" / "analyst_a.yaml").read_text().replace("analyst_a", "analyst_c")
    third = third.replace("{heightened: 0.6, contained: 0.4}", "{heightened: 0.05, contained: 0.95}")
    (folder / "experts" / "analyst_c.yaml").write_text(third)
    priors = load_priors(folder)
    [view] = table_views(priors, "encirclement")
    [row] = view.rows
    assert [j.source for j in row.judgments] == ["analyst_a", "analyst_b", "analyst_c"]
    assert row.pooled.mean[0] == pytest.approx((0.6 + 0.4 + 0.05) / 3)
    assert row.spread[0] == pytest.approx(0.55)
    # analyst_c against the mean of the other two (0.5): total-variation distance 0.45, over twice their 0.2;
    # analyst_a is 0.375 from the mean of b and c, but b and c are 0.35 apart: not marked
    assert row.distance["analyst_c"] == pytest.approx(0.45) and row.distance["analyst_a"] == pytest.approx(0.375)
    assert row.far == ("analyst_c",)
    lo, hi = row.interval[0]
    assert lo < row.pooled.mean[0] < hi
    with pytest.raises(PriorsError, match="did you mean 'encirclement'"):
        table_views(priors, "encirclment")


# ----------------------------------------------------------------------------- diff


def test_diff_of_a_folder_against_itself_is_empty(clean: Priors) -> None:
    d = diff_priors(clean, load_priors(DATA / "audit_clean"))
    assert d.empty and d.structure == () and d.judgments == () and d.largest_effect == 0


def test_diff_judgment_change_and_its_effect(clean: Priors) -> None:
    d = diff_priors(clean, load_priors(DATA / "audit_copied"))
    assert d.structure == ()
    [c] = d.judgments
    assert (c.change, c.source, c.node, c.config) == ("changed", "analyst_b", "escalation", ("heightened",))
    assert c.fields == ("probabilities", "rationale") and c.largest == pytest.approx(0.15)
    # P(de_escalation) = ½·(pooled row | heightened) + ½·0.5: the row goes from (.3+.15)/2 to (.3+.3)/2
    assert c.shift == pytest.approx(0.5 * (0.3 - 0.225))
    assert d.largest_effect == pytest.approx(c.shift)


def test_diff_removed_expert(clean: Priors) -> None:
    d = diff_priors(clean, load_priors(DATA / "audit_one_expert"))
    assert d.structure == ("expert removed: analyst_b",)
    assert {c.change for c in d.judgments} == {"removed"} and len(d.judgments) == 7
    enc = next(c for c in d.judgments if c.node == "encirclement")
    assert enc.shift == pytest.approx(0.1)
    effect = {(e.hypothesis, e.state): e.new - e.old for e in d.effect}
    assert effect[("encirclement", "heightened")] == pytest.approx(0.1)


def test_diff_structure_change_is_not_attributed_per_judgment(tmp_path: Path, clean: Priors) -> None:
    folder = shutil.copytree(DATA / "audit_clean", tmp_path / "p")
    settings = folder / "settings.yaml"
    settings.write_text(settings.read_text().replace("method: linear", "method: logarithmic"))
    d = diff_priors(clean, load_priors(folder))
    assert d.structure == ("pooling method: linear -> logarithmic",) and d.judgments == ()


# ----------------------------------------------------------------------------- mechanisms (issue 10)

MECH = DATA / "audit_mechanisms"


def _mech_copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(MECH, tmp_path / "audit_mechanisms"))


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_clean_folder_with_a_mechanism_audits_clean_with_influence_and_diagnosticity() -> None:
    report = _audit("audit_mechanisms")
    assert "engine_pending" not in {k for _, k in _kinds(report)} and not report.failed()
    assert report.mechanisms == 1 and report.pending is None
    assert {d.indicator for d in report.diagnosticity} >= {"armed_incident", "kfor_reinforcement"}
    on_mech = next(d for d in report.diagnosticity if d.indicator == "armed_incident")
    assert on_mech.parents == ("escalation",)  # the mechanism summed out: a report's weight on the hypotheses
    assert report.influence.baseline and report.influence.variants


def test_mechanism_judgments_get_rationale_citation_and_term_checks(tmp_path: Path) -> None:
    root = _mech_copy(tmp_path)
    cat, expert = root / "indicators.yaml", root / "experts" / "analyst_b.yaml"
    # the catalogue's mechanism row loses its rationale; its kfor row says 'very likely' at p = 0.3
    _edit(cat, "p: 0.6, rationale: Deniable violence is the grey zone's tool.", "p: 0.6")
    _edit(cat, "p: 0.3, rationale: Unrest can also draw troops.", "p: 0.3, rationale: Unrest is very likely to draw troops.")
    # the expert's mechanism row cites a footnote the paper does not have
    _edit(expert, "rationale: Proxies act often in the north., citation: \"000_44e76504c81b55c5.txt, fn 9\"",
          "rationale: Proxies act often in the north., citation: \"000_44e76504c81b55c5.txt, fn 99\"")
    # and the mechanism's own citation is bad
    _edit(cat, "    parents: [escalation]\n    citation: \"000_44e76504c81b55c5.txt, fn 9\"\n    likelihoods:\n      - {given: {escalation: grey_zone}, p: 0.6}",
          "    parents: [escalation]\n    citation: \"000_44e76504c81b55c5.txt\"\n    likelihoods:\n      - {given: {escalation: grey_zone}, p: 0.6}")
    report = audit_priors(load_priors(root), as_of=TODAY, today=TODAY, seeds_dir=SEEDS)
    by_field = {(f.kind, f.field): f for f in report.findings}
    assert ("missing_rationale", "mechanisms[0].likelihoods[0]") in by_field
    warn = by_field[("term_range", "indicators[2].likelihoods[1].rationale")]
    assert warn.severity == "warning" and "'very likely'" in warn.message and warn.line > 0
    cited = [f for f in report.findings if f.field == "mechanisms.north_crisis[0].citation"]
    assert cited and cited[0].severity == "error" and cited[0].file.endswith("experts/analyst_b.yaml")
    own = [f for f in report.findings if f.field == "mechanisms[0].citation"]
    assert own and "mechanism north_crisis" in own[0].message


def test_a_catalogue_row_citing_its_own_passage_is_checked(tmp_path: Path) -> None:
    root = _mech_copy(tmp_path)
    _edit(root / "indicators.yaml", "p: 0.05, rationale: No crisis leaves no attack.}",
          "p: 0.05, rationale: No crisis leaves no attack., citation: \"000_44e76504c81b55c5.txt, fn 77\"}")
    report = audit_priors(load_priors(root), as_of=TODAY, today=TODAY, seeds_dir=SEEDS)
    assert any(f.field == "indicators[1].likelihoods[1].citation" and f.severity == "error" for f in report.findings)


def test_flat_mechanism_cannot_discriminate(tmp_path: Path) -> None:
    root = _mech_copy(tmp_path)
    cat, expert = root / "indicators.yaml", root / "experts" / "analyst_b.yaml"
    _edit(cat, "p: 0.7, rationale: An overt move in Kosovo", "p: 0.6, rationale: An overt move in Kosovo")
    _edit(cat, "p: 0.2, rationale: Crises fade", "p: 0.6, rationale: Crises fade")
    for old in ("p: 0.8, confidence: low, rationale: Proxies", "p: 0.9, confidence: low, rationale: An overt",
                "p: 0.3, confidence: low, rationale: The window"):
        _edit(expert, old, "p: 0.5" + old[6:])
    report = audit_priors(load_priors(root), as_of=TODAY, today=TODAY, seeds_dir=SEEDS)
    flat = [f for f in report.findings if f.kind == "no_discrimination" and f.severity == "error"]
    assert [f.field for f in flat] == ["mechanisms[0].likelihoods"] and "mechanism north_crisis" in flat[0].message


def test_mechanism_with_no_effect_on_an_indicator_is_a_note(tmp_path: Path) -> None:
    root = _mech_copy(tmp_path)
    cat = root / "indicators.yaml"
    for old, new in (("p: 0.8, rationale: NATO answers", "p: 0.3, rationale: NATO answers"),
                     ("p: 0.6, rationale: An eroded", "p: 0.3, rationale: An eroded"),
                     ("p: 0.7, rationale: An earlier crisis drew", "p: 0.1, rationale: An earlier crisis drew")):
        _edit(cat, old, new)
    report = audit_priors(load_priors(root), as_of=TODAY, today=TODAY, seeds_dir=SEEDS)
    notes = [f for f in report.findings if f.kind == "parent_no_effect"]
    assert [f.field for f in notes] == ["indicators[2].mechanism"] and "never changes with north_crisis" in notes[0].message


def test_disagreement_and_table_views_include_mechanisms() -> None:
    priors = load_priors(MECH)
    rows = {d.node: d for d in disagreement(priors)}
    mech = rows["north_crisis"]
    assert (mech.kind, mech.parents, mech.sources) == ("mechanism", ("escalation",), ("catalogue", "analyst_b"))
    assert mech.largest == pytest.approx(0.2) and mech.config in {("grey_zone",), ("annexation",)}
    assert rows["armed_incident"].parents == ("escalation", "north_crisis")
    views = {v.node: v for v in table_views(priors)}
    assert views["north_crisis"].kind == "mechanism" and len(views["north_crisis"].rows) == 3
    [row] = [r for r in views["north_crisis"].rows if r.config == ("grey_zone",)]
    assert row.pooled.mean[0] == pytest.approx(0.7) and row.spread[0] == pytest.approx(0.2)
    ind = views["armed_incident"]
    assert ind.parents == ("escalation", "north_crisis") and ind.rows[1].config == ("grey_zone", "not_occurred")


def test_the_engine_lays_mechanisms_out() -> None:
    # hand-computed mechanism cases: tests/test_mechanisms.py
    from forecaster.model.network import build_network

    net = build_network(load_priors(MECH))
    assert net.mechanism_ids == ("north_crisis",) and set(net.mechanism_of) >= {-1, 0}


def test_diff_names_mechanism_changes() -> None:
    d = diff_priors(load_priors(DATA / "audit_clean"), load_priors(MECH))
    assert "mechanism added: north_crisis" in d.structure and "indicator added: kfor_reinforcement" in d.structure
    assert "indicator armed_incident: mechanism: None -> north_crisis" in d.structure
    assert d.pending is None and d.effect  # effects computed; changes alone: shapes differ, so no per-change shift
    added = [c for c in d.judgments if c.node == "north_crisis"]
    assert {c.source for c in added} == {"catalogue", "analyst_b"} and all(c.parents == ("escalation",) for c in added)
