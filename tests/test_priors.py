"""Priors: ICD 203 terms, pooling (MODEL.md §2), and every validation error."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from forecaster.core.errors import PriorsError
from forecaster.model.loading import load_priors
from forecaster.model.priors import pool
from forecaster.model.terms import TERMS, term_for, term_probability
from tests.helpers import copy_mini, edit_yaml

# --------------------------------------------------------------------------- ICD 203


def test_term_midpoints() -> None:
    assert term_probability("likely") == pytest.approx(0.675)
    assert term_probability("almost no chance") == pytest.approx(0.03)
    assert term_probability("roughly even chance") == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("p", "term"),
    [(0.0, "almost no chance"), (0.03, "almost no chance"), (0.05, "very unlikely"), (0.2, "unlikely"),
     (0.44, "unlikely"), (0.45, "roughly even chance"), (0.5, "roughly even chance"), (0.55, "roughly even chance"),
     (0.56, "likely"), (0.8, "likely"), (0.81, "very likely"), (0.95, "very likely"), (0.96, "almost certain"),
     (1.0, "almost certain")],
)
def test_term_for(p: float, term: str) -> None:
    assert term_for(p) == term


@given(st.floats(min_value=0.0, max_value=1.0))
def test_every_probability_has_a_term_whose_range_holds_it(p: float) -> None:
    lo, hi = TERMS[term_for(p)]
    assert lo <= p <= hi or (p < 0.01 and lo == 0.01) or (p > 0.99 and hi == 0.99)


# --------------------------------------------------------------------------- pooling


def test_one_expert_gives_back_its_own_dirichlet() -> None:
    pooled = pool([(0.6, 0.3, 0.1)], [20.0], [1.0])
    assert pooled.mean == pytest.approx((0.6, 0.3, 0.1))
    assert pooled.concentration == pytest.approx(20.0)


def test_agreeing_experts_keep_concentration_and_disagreement_lowers_it() -> None:
    same = pool([(0.6, 0.4), (0.6, 0.4)], [20.0, 20.0], [1, 1])
    apart = pool([(0.8, 0.2), (0.4, 0.6)], [20.0, 20.0], [1, 1])
    assert same.concentration == pytest.approx(20.0)
    assert apart.mean == pytest.approx((0.6, 0.4))
    assert apart.concentration < same.concentration


def test_moment_matching_by_hand() -> None:
    # two experts, equal weights, n = 10 each, p = 0.8 / 0.4 on a binary table
    m = 0.6
    v = 0.5 * (0.8 * 0.2 / 11 + 0.2**2) + 0.5 * (0.4 * 0.6 / 11 + 0.2**2)
    n_expected = (2 * m * (1 - m)) / (2 * v) - 1
    assert pool([(0.8, 0.2), (0.4, 0.6)], [10, 10], [1, 1]).concentration == pytest.approx(n_expected)


def test_concentration_floor_is_two() -> None:
    assert pool([(0.99, 0.01), (0.01, 0.99)], [1000, 1000], [1, 1]).concentration == 2.0


def test_logarithmic_pool() -> None:
    pooled = pool([(0.8, 0.2), (0.4, 0.6)], [10, 10], [1, 1], method="logarithmic")
    a, b = math.sqrt(0.8 * 0.4), math.sqrt(0.2 * 0.6)
    assert pooled.mean == pytest.approx((a / (a + b), b / (a + b)))


def test_weights_shift_the_linear_pool() -> None:
    assert pool([(0.8, 0.2), (0.4, 0.6)], [10, 10], [3, 1]).mean == pytest.approx((0.7, 0.3))


@given(st.lists(st.tuples(st.floats(0.01, 0.99), st.floats(1, 100), st.floats(0.1, 5)), min_size=1, max_size=5))
def test_pooled_mean_is_a_distribution(experts: list[tuple[float, float, float]]) -> None:
    for method in ("linear", "logarithmic"):
        pooled = pool([(p, 1 - p) for p, _, _ in experts], [n for _, n, _ in experts], [w for _, _, w in experts], method=method)
        assert sum(pooled.mean) == pytest.approx(1.0)
        assert pooled.concentration >= 2.0


def test_bundled_priors_load(ws) -> None:  # type: ignore[no-untyped-def]
    priors = load_priors(ws.priors_dir)
    assert len(priors.indicators) >= 24
    assert len(priors.experts) >= 3
    assert [h.id for h in priors.hypotheses] == ["encirclement", "alignment", "escalation"]
    assert {h.claimed for h in priors.hypotheses} == {"heightened", "hedging", "grey_zone"}
    for e in priors.experts:
        assert "illustrative" in e.illustrative.lower()


def test_catalogue_counts_as_one_more_expert() -> None:
    priors = load_priors(Path("tests/data/mini"))
    # analyst_b adds a judgment on arms_east: pooled with the catalogue's, equal weights
    pooled = priors.pooled("arms_east", ("heightened",))
    assert pooled.mean[0] == pytest.approx((0.8 + 0.9) / 2)
    single = priors.pooled("armed_incident", ("grey_zone",))
    assert single.mean[0] == pytest.approx(0.6)
    assert single.concentration == pytest.approx(20.0)


# --------------------------------------------------------------------------- validation errors


def _broken(tmp_path: Path, file: str, fn) -> Path:  # type: ignore[no-untyped-def]
    root = copy_mini(tmp_path / "p")
    edit_yaml(root / file, fn)
    return root


def _error(root: Path) -> str:
    with pytest.raises(PriorsError) as e:
        load_priors(root)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_sum_not_one(tmp_path: Path) -> None:
    def fn(d):  # type: ignore[no-untyped-def]
        d["hypotheses"]["alignment"][0]["probabilities"]["west"] = 0.11

    msg = _error(_broken(tmp_path, "experts/analyst_a.yaml", fn))
    assert "experts/analyst_a.yaml" in msg and "hypotheses.alignment[0].probabilities" in msg and "sum to 1.01" in msg


def test_sum_within_tolerance_is_accepted(tmp_path: Path) -> None:
    def fn(d):  # type: ignore[no-untyped-def]
        d["hypotheses"]["alignment"][0]["probabilities"] = {"hedging": 0.6 + 5e-7, "west": 0.1, "east": 0.3}

    load_priors(_broken(tmp_path, "experts/analyst_a.yaml", fn))


def test_missing_parent_configuration(tmp_path: Path) -> None:
    def fn(d):  # type: ignore[no-untyped-def]
        d["indicators"][3]["likelihoods"].pop()

    msg = _error(_broken(tmp_path, "indicators.yaml", fn))
    assert "missing parent configuration" in msg and "'alignment': 'east'" in msg and "indicators[3].likelihoods" in msg


def test_cycle(tmp_path: Path) -> None:
    def fn(d):  # type: ignore[no-untyped-def]
        d["hypotheses"][0]["parents"] = ["alignment"]

    msg = _error(_broken(tmp_path, "network.yaml", fn))
    assert "cycle" in msg and "encirclement" in msg and "alignment" in msg


def test_unknown_parent_did_you_mean(tmp_path: Path) -> None:
    def fn(d):  # type: ignore[no-untyped-def]
        d["indicators"][0]["parents"] = ["encirclment"]

    msg = _error(_broken(tmp_path, "indicators.yaml", fn))
    assert "unknown parent 'encirclment'" in msg and "did you mean 'encirclement'" in msg


def test_not_an_icd_term(tmp_path: Path) -> None:
    def fn(d):  # type: ignore[no-untyped-def]
        d["indicators"][2]["likelihoods"][1] = {"given": {"alignment": "west"}, "term": "quite likely"}

    msg = _error(_broken(tmp_path, "indicators.yaml", fn))
    assert "not an ICD 203 term" in msg and "indicators.yaml" in msg


def test_unknown_key(tmp_path: Path) -> None:
    def fn(d):  # type: ignore[no-untyped-def]
        d["evidence_windw_days"] = 10

    msg = _error(_broken(tmp_path, "network.yaml", fn))
    assert "unknown key 'evidence_windw_days'" in msg and "did you mean 'evidence_window_days'" in msg


def test_probability_out_of_range(tmp_path: Path) -> None:
    def fn(d):  # type: ignore[no-untyped-def]
        d["indicators"][0]["likelihoods"][0]["p"] = 1.3

    msg = _error(_broken(tmp_path, "indicators.yaml", fn))
    assert "indicators[0].likelihoods[0].p" in msg and "expected a probability, a number in [0, 1]" in msg  # the schema's words, not pydantic's (issue 21)


def test_malformed_yaml(tmp_path: Path) -> None:
    root = copy_mini(tmp_path / "p")
    (root / "settings.yaml").write_text("pooling: [unclosed\n", encoding="utf-8")
    msg = _error(root)
    assert "settings.yaml" in msg and "malformed YAML" in msg


def test_python_tag_refused(tmp_path: Path) -> None:
    root = copy_mini(tmp_path / "p")
    marker = tmp_path / "pwned"
    (root / "settings.yaml").write_text(f"x: !!python/object/apply:os.system ['touch {marker}']\n", encoding="utf-8")
    with pytest.raises(Exception) as e:
        load_priors(root)
    assert "malformed YAML" in str(e.value) or "could not determine a constructor" in str(e.value)
    assert not marker.exists()


def test_expert_missing_a_hypothesis_table(tmp_path: Path) -> None:
    def fn(d):  # type: ignore[no-untyped-def]
        del d["hypotheses"]["escalation"]

    msg = _error(_broken(tmp_path, "experts/analyst_a.yaml", fn))
    assert "missing table for hypothesis 'escalation'" in msg


def test_unknown_state_in_given(tmp_path: Path) -> None:
    def fn(d):  # type: ignore[no-untyped-def]
        d["indicators"][0]["likelihoods"][0]["given"] = {"encirclement": "heighten"}

    msg = _error(_broken(tmp_path, "indicators.yaml", fn))
    assert "unknown state 'heighten'" in msg and "did you mean 'heightened'" in msg


def test_priors_hash_changes_with_content(tmp_path: Path) -> None:
    a = load_priors(copy_mini(tmp_path / "a")).hash
    b_root = copy_mini(tmp_path / "b")
    assert load_priors(b_root).hash == a
    edit_yaml(b_root / "indicators.yaml", lambda d: d["indicators"][0]["likelihoods"][0].update(p=0.81))
    assert load_priors(b_root).hash != a


def test_validated_priors_are_cached_by_content(tmp_path: Path) -> None:
    import sys

    root = copy_mini(tmp_path / "p")
    first = load_priors(root)
    cached = list((tmp_path / "xdg-cache").rglob("*.json"))  # JSON, never a pickle
    assert len(cached) == 1
    assert load_priors(root) == first
    # an edit changes the hash: revalidated, and an invalid edit is still caught
    edit_yaml(root / "indicators.yaml", lambda d: d["indicators"][0]["likelihoods"][0].update(p=1.5))
    with pytest.raises(PriorsError):
        load_priors(root)
    # a broken cache entry is rebuilt, not trusted
    cached[0].write_bytes(b"not a pickle")
    edit_yaml(root / "indicators.yaml", lambda d: d["indicators"][0]["likelihoods"][0].update(p=0.8))
    again = load_priors(root)
    assert again.pooled("arms_east", ("heightened",)).mean[0] == pytest.approx((0.8 + 0.9) / 2)
    assert again.hash != first.hash
    assert "forecaster.model.schema" in sys.modules


# --------------------------------------------------------------------------- mechanisms (issue 10)

MINI_MECH = Path("tests/data/mini_mech")


def _mech(tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(MINI_MECH, tmp_path / "m"))


def _mech_broken(tmp_path: Path, file: str, fn) -> Path:  # type: ignore[no-untyped-def]
    root = _mech(tmp_path)
    edit_yaml(root / file, fn)
    return root


def test_mechanism_nodes_typed_api() -> None:
    priors = load_priors(MINI_MECH)
    [m] = priors.mechanisms
    assert priors.mechanism_ids == ["north_crisis"]
    assert (m.parents, m.children, m.states) == (("escalation",), ("armed_incident", "kfor_reinforcement"),
                                                 ("occurred", "not_occurred"))
    assert priors.node("north_crisis") is m
    ind = priors.node("armed_incident")
    assert ind.mechanism == "north_crisis" and ind.parents == ("escalation",)  # type: ignore[union-attr]
    assert ind.table_parents == ("escalation", "north_crisis")
    assert priors.node("arms_east").table_parents == ("encirclement",)
    # hypothesis parents first, the mechanism last and fastest
    assert priors.configs("armed_incident") == [
        ("grey_zone", "occurred"), ("grey_zone", "not_occurred"), ("annexation", "occurred"),
        ("annexation", "not_occurred"), ("de_escalation", "occurred"), ("de_escalation", "not_occurred"),
    ]
    assert priors.configs("north_crisis") == [("grey_zone",), ("annexation",), ("de_escalation",)]
    [j] = priors.judgments_for("armed_incident", ("annexation", "not_occurred"))
    assert j.probs == pytest.approx((0.1, 0.9)) and j.field == "indicators[1].likelihoods[3]"


def test_mechanism_tables_pool_like_indicator_tables() -> None:
    priors = load_priors(MINI_MECH)
    # catalogue (medium, n = 20) and analyst_b (low, n = 5) on north_crisis | grey_zone, equal weights
    got = priors.pooled("north_crisis", ("grey_zone",))
    by_hand = pool([(0.6, 0.4), (0.8, 0.2)], [20.0, 5.0], [1.0, 1.0])
    assert got.mean == pytest.approx(by_hand.mean) and got.concentration == pytest.approx(by_hand.concentration)
    assert got.mean[0] == pytest.approx(0.7)
    assert priors.pooled("north_crisis", ("grey_zone",), exclude="analyst_b").mean[0] == pytest.approx(0.6)
    assert priors.pooled("kfor_reinforcement", ("annexation", "occurred")).mean[0] == pytest.approx(0.6)


def test_priors_without_mechanisms_still_build() -> None:
    from dataclasses import fields

    from forecaster.model.priors import Priors

    priors = load_priors(Path("tests/data/mini"))
    assert priors.mechanisms == () and priors.mechanism_ids == []
    rebuilt = Priors(**{f.name: getattr(priors, f.name) for f in fields(priors) if f.name != "mechanisms"})
    assert rebuilt.mechanisms == ()


def test_cache_key_carries_the_format_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import forecaster.model.loading as fp

    root = copy_mini(tmp_path / "p")
    a = fp._cache_path(root, "abc")
    monkeypatch.setattr(fp, "CACHE_FORMAT", fp.CACHE_FORMAT - 1)
    assert fp._cache_path(root, "abc") != a and fp.CACHE_FORMAT >= 1


def test_unknown_mechanism_did_you_mean(tmp_path: Path) -> None:
    msg = _error(_mech_broken(tmp_path, "indicators.yaml", lambda d: d["indicators"][1].update(mechanism="north_crsis")))
    assert "indicators.yaml:" in msg and "indicators[1].mechanism" in msg
    assert "unknown mechanism 'north_crsis'" in msg and "did you mean 'north_crisis'" in msg


def test_unknown_mechanism_without_any_declared(tmp_path: Path) -> None:
    msg = _error(_broken(tmp_path, "indicators.yaml", lambda d: d["indicators"][1].update(mechanism="north_crisis")))
    assert "unknown mechanism 'north_crisis'" in msg and "declares no mechanisms" in msg


def test_mechanism_with_no_indicator(tmp_path: Path) -> None:
    def fn(d):  # type: ignore[no-untyped-def]
        extra = dict(d["mechanisms"][0], id="rs_push")
        d["mechanisms"].append(extra)

    msg = _error(_mech_broken(tmp_path, "indicators.yaml", fn))
    assert "mechanisms[1]" in msg and "mechanism 'rs_push' has no indicator" in msg


@pytest.mark.parametrize("value", [["north_crisis", "rs_push"], ["north_crisis"]])
def test_indicator_naming_two_mechanisms(tmp_path: Path, value: list[str]) -> None:
    msg = _error(_mech_broken(tmp_path, "indicators.yaml", lambda d: d["indicators"][1].update(mechanism=value)))
    assert "indicators[1].mechanism" in msg and "at most one mechanism parent" in msg
    assert f"names {len(value)} mechanism" in msg


def test_mechanism_named_among_the_parents(tmp_path: Path) -> None:
    def fn(d):  # type: ignore[no-untyped-def]
        d["indicators"][0]["parents"] = ["encirclement", "north_crisis"]

    msg = _error(_mech_broken(tmp_path, "indicators.yaml", fn))
    assert "indicators[0].parents[1]" in msg and "is a mechanism: name it with `mechanism: north_crisis`" in msg


def test_mechanism_table_missing_configuration(tmp_path: Path) -> None:
    msg = _error(_mech_broken(tmp_path, "indicators.yaml", lambda d: d["mechanisms"][0]["likelihoods"].pop()))
    assert "mechanisms[0].likelihoods" in msg and "missing parent configuration {'escalation': 'de_escalation'}" in msg


def test_mechanism_table_duplicate_configuration(tmp_path: Path) -> None:
    def fn(d):  # type: ignore[no-untyped-def]
        rows = d["mechanisms"][0]["likelihoods"]
        rows[2] = dict(rows[0])

    msg = _error(_mech_broken(tmp_path, "indicators.yaml", fn))
    assert "mechanisms[0].likelihoods[2]" in msg and "duplicate parent configuration {'escalation': 'grey_zone'}" in msg


def test_mechanism_conditioned_indicator_missing_configuration(tmp_path: Path) -> None:
    msg = _error(_mech_broken(tmp_path, "indicators.yaml", lambda d: d["indicators"][1]["likelihoods"].pop()))
    assert "indicators[1].likelihoods" in msg
    assert "missing parent configuration {'escalation': 'de_escalation', 'north_crisis': 'not_occurred'}" in msg


def test_mechanism_conditioned_indicator_duplicate_configuration(tmp_path: Path) -> None:
    def fn(d):  # type: ignore[no-untyped-def]
        rows = d["indicators"][1]["likelihoods"]
        rows[1] = dict(rows[0], p=0.5)

    msg = _error(_mech_broken(tmp_path, "indicators.yaml", fn))
    assert "indicators[1].likelihoods[1]" in msg
    assert "duplicate parent configuration {'escalation': 'grey_zone', 'north_crisis': 'occurred'}" in msg


def test_mechanism_conditioned_row_without_the_mechanism(tmp_path: Path) -> None:
    def fn(d):  # type: ignore[no-untyped-def]
        d["indicators"][1]["likelihoods"][0]["given"] = {"escalation": "grey_zone"}

    msg = _error(_mech_broken(tmp_path, "indicators.yaml", fn))
    assert "indicators[1].likelihoods[0].given" in msg and "missing parent 'north_crisis'" in msg


def test_mechanism_state_did_you_mean(tmp_path: Path) -> None:
    def fn(d):  # type: ignore[no-untyped-def]
        d["indicators"][1]["likelihoods"][0]["given"]["north_crisis"] = "occured"

    msg = _error(_mech_broken(tmp_path, "indicators.yaml", fn))
    assert "unknown state 'occured' of north_crisis" in msg and "did you mean 'occurred'" in msg


@pytest.mark.parametrize(
    ("parent", "expected"),
    [
        ("armed_incident", "a mechanism's parents are hypotheses; indicators are its children"),
        ("escalaton", "did you mean 'escalation'"),
    ],
)
def test_mechanism_parent_must_be_a_hypothesis(tmp_path: Path, parent: str, expected: str) -> None:
    msg = _error(_mech_broken(tmp_path, "indicators.yaml", lambda d: d["mechanisms"][0].update(parents=[parent])))
    assert "mechanisms[0].parents[0]" in msg and f"unknown parent {parent!r}" in msg and expected in msg


@pytest.mark.parametrize(
    ("new_id", "expected"),
    [("escalation", "already a hypothesis id"), ("arms_east", "already an indicator id")],
)
def test_mechanism_id_clashes(tmp_path: Path, new_id: str, expected: str) -> None:
    def fn(d):  # type: ignore[no-untyped-def]
        d["mechanisms"][0]["id"] = new_id
        for ind in d["indicators"]:
            if ind.get("mechanism") == "north_crisis":
                ind["mechanism"] = new_id

    msg = _error(_mech_broken(tmp_path, "indicators.yaml", fn))
    assert "mechanisms[0].id" in msg and f"{new_id!r} is {expected}" in msg


def test_duplicate_mechanism_id(tmp_path: Path) -> None:
    msg = _error(_mech_broken(tmp_path, "indicators.yaml", lambda d: d["mechanisms"].append(dict(d["mechanisms"][0]))))
    assert "mechanisms[1].id" in msg and "duplicate mechanism id 'north_crisis'" in msg


def test_unknown_key_in_a_mechanism_did_you_mean(tmp_path: Path) -> None:
    def fn(d):  # type: ignore[no-untyped-def]
        d["mechanisms"][0]["definiton"] = "typo"

    msg = _error(_mech_broken(tmp_path, "indicators.yaml", fn))
    assert "mechanisms[0].definiton" in msg and "unknown key 'definiton'" in msg and "did you mean 'definition'" in msg


def test_expert_judging_an_unknown_mechanism(tmp_path: Path) -> None:
    def fn(d):  # type: ignore[no-untyped-def]
        d["mechanisms"]["north_crises"] = d["mechanisms"].pop("north_crisis")

    msg = _error(_mech_broken(tmp_path, "experts/analyst_b.yaml", fn))
    assert "experts/analyst_b.yaml:" in msg and "mechanisms.north_crises" in msg
    assert "unknown mechanism 'north_crises'" in msg and "did you mean 'north_crisis'" in msg


def test_expert_judging_a_mechanism_as_an_indicator(tmp_path: Path) -> None:
    def fn(d):  # type: ignore[no-untyped-def]
        d["indicators"]["north_crisis"] = d.pop("mechanisms")["north_crisis"]

    msg = _error(_mech_broken(tmp_path, "experts/analyst_b.yaml", fn))
    assert "unknown indicator 'north_crisis'" in msg and "judge it under the top-level `mechanisms:`" in msg


def test_expert_mechanism_table_missing_configuration(tmp_path: Path) -> None:
    msg = _error(_mech_broken(tmp_path, "experts/analyst_b.yaml", lambda d: d["mechanisms"]["north_crisis"].pop(0)))
    assert "mechanisms.north_crisis" in msg and "missing parent configuration {'escalation': 'grey_zone'}" in msg


def test_expert_indicator_table_must_cover_the_mechanism(tmp_path: Path) -> None:
    def fn(d):  # type: ignore[no-untyped-def]
        d["indicators"]["kfor_reinforcement"] = [
            {"given": {"escalation": s}, "p": 0.5, "rationale": "r", "citation": "c"}
            for s in ("grey_zone", "annexation", "de_escalation")
        ]

    msg = _error(_mech_broken(tmp_path, "experts/analyst_b.yaml", fn))
    assert "indicators.kfor_reinforcement[0].given" in msg and "missing parent 'north_crisis'" in msg


def test_expert_mechanism_conditioned_indicator_rows_pool(tmp_path: Path) -> None:
    def fn(d):  # type: ignore[no-untyped-def]
        d["indicators"]["kfor_reinforcement"] = [
            {"given": {"escalation": s, "north_crisis": m}, "p": 0.5, "rationale": "r", "citation": "c"}
            for s in ("grey_zone", "annexation", "de_escalation")
            for m in ("occurred", "not_occurred")
        ]

    priors = load_priors(_mech_broken(tmp_path, "experts/analyst_b.yaml", fn))
    assert priors.pooled("kfor_reinforcement", ("grey_zone", "occurred")).mean[0] == pytest.approx((0.8 + 0.5) / 2)


def test_bundled_mechanisms(ws) -> None:  # type: ignore[no-untyped-def]
    priors = load_priors(ws.priors_dir)
    children = {m.id: set(m.children) for m in priors.mechanisms}
    assert children["north_kosovo_armed_crisis"] == {
        "armed_incident_north_kosovo", "serbian_border_deployment", "kfor_reinforcement"}
    assert children["rs_secession_push"] == {
        "rs_laws_against_state_institutions", "rs_border_police", "rs_secession_referendum_step",
        "eufor_reinforcement", "russian_veto_request_eufor"}
    assert children["counter_alignment_round"] == {
        "minilateral_defence_declaration", "encirclement_threat_rhetoric", "counter_alignment_pact"}
    # every judgment of a mechanism or a mechanism-conditioned indicator keeps a rationale and a citation
    touched = set(children) | set().union(*children.values())
    for j in priors.judgments:
        if j.node in touched:
            assert (j.rationale or "").strip() and (j.citation or "").strip(), (j.node, j.config)
    # a mechanism's indicators are likelier given it occurred, under every hypothesis configuration
    for m in priors.mechanisms:
        for ind in m.children:
            for cfg in priors.configs(ind)[::2]:
                occ = priors.pooled(ind, cfg).mean[0]
                assert cfg[-1] == "occurred" and occ > priors.pooled(ind, (*cfg[:-1], "not_occurred")).mean[0]
