"""The exact engine against hand-computed cases, and against pyAgrum on the exported network."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from forecaster.inference.exact import infer_exact
from forecaster.model.evidence import DEFAULT_GRADES, Report, fold
from forecaster.model.loading import load_priors
from forecaster.model.network import build_network
from forecaster.outputs.export import to_bif, to_xmlbif
from tests.helpers import state, write_priors

MINI = Path(__file__).parent / "data" / "mini"


def report(indicator: str, occurred: bool = True, grade: str = "B2", date: str = "2025-01-01") -> Report:
    return Report(indicator, dt.date.fromisoformat(date), occurred, grade[0], int(grade[1]), "test")


def tiny(tmp_path: Path) -> Path:
    """One hypothesis h (a, b), P(a) = 0.3; one indicator i with P(i | a) = 0.9, P(i | b) = 0.2."""
    return write_priors(
        tmp_path / "tiny",
        hypotheses=[{"id": "h", "parents": [], "states": [state("a"), state("b")]}],
        indicators=[{"id": "i", "definition": "d", "parents": ["h"], "citation": "c",
                     "likelihoods": [{"given": {"h": "a"}, "p": 0.9}, {"given": {"h": "b"}, "p": 0.2}]}],
        experts={"e": {"hypotheses": {"h": [{"given": {}, "probabilities": {"a": 0.3, "b": 0.7}}]}}},
    )


def test_hand_computed_single_report(tmp_path: Path) -> None:
    priors = load_priors(tiny(tmp_path))
    net = build_network(priors)
    a = DEFAULT_GRADES.accuracy("B", 2)
    assert a == pytest.approx(0.5 + 0.5 * 0.8 * 0.8)
    res = infer_exact(net, net.log_lambda(fold([report("i")], priors.grades)))
    like_a = a * 0.9 + (1 - a) * 0.1
    like_b = a * 0.2 + (1 - a) * 0.8
    expected = 0.3 * like_a / (0.3 * like_a + 0.7 * like_b)
    assert res.prior[0] == pytest.approx([0.3, 0.7])
    assert res.posterior[0][0] == pytest.approx(expected)


def test_hand_computed_not_occurred_and_two_reports(tmp_path: Path) -> None:
    priors = load_priors(tiny(tmp_path))
    net = build_network(priors)
    a = DEFAULT_GRADES.accuracy("A", 1)
    res = infer_exact(net, net.log_lambda(fold([report("i", False, "A1"), report("i", False, "A1")], priors.grades)))
    l1, l0 = (1 - a) ** 2, a**2  # two reports multiply
    like_a = l1 * 0.9 + l0 * 0.1
    like_b = l1 * 0.2 + l0 * 0.8
    assert res.posterior[0][0] == pytest.approx(0.3 * like_a / (0.3 * like_a + 0.7 * like_b))


def test_silence_is_not_evidence() -> None:
    priors = load_priors(MINI)
    net = build_network(priors)
    res = infer_exact(net, net.log_lambda({}))
    for p, q in zip(res.prior, res.posterior, strict=True):
        assert p == pytest.approx(q)


def test_hand_computed_chain_mini() -> None:
    """Brute force over the mini network's 18 joint states with explicit loops."""
    priors = load_priors(MINI)
    net = build_network(priors)
    reps = [report("armed_incident"), report("russian_pact", grade="C3"), report("cfsp_alignment", False)]
    ev = fold(reps, priors.grades)
    res = infer_exact(net, net.log_lambda(ev))
    h = {x.id: x for x in priors.hypotheses}
    mean = {}
    for node in [*priors.hypotheses, *priors.indicators]:
        for cfg in priors.configs(node.id):
            mean[(node.id, cfg)] = priors.pooled(node.id, cfg).mean
    post = {k: {} for k in h}
    total = 0.0
    for e in h["encirclement"].states:
        for al in h["alignment"].states:
            for es in h["escalation"].states:
                s = {"encirclement": e, "alignment": al, "escalation": es}
                p = mean[("encirclement", ())][h["encirclement"].states.index(e)]
                p *= mean[("alignment", (e,))][h["alignment"].states.index(al)]
                p *= mean[("escalation", (e,))][h["escalation"].states.index(es)]
                for ind in priors.indicators:
                    if ind.id not in ev:
                        continue
                    q = mean[(ind.id, tuple(s[x] for x in ind.parents))][0]
                    l1, l0 = ev[ind.id].likelihood
                    p *= l1 * q + l0 * (1 - q)
                total += p
                for k in h:
                    post[k][s[k]] = post[k].get(s[k], 0.0) + p
    for i, hyp in enumerate(priors.hypotheses):
        for k, sid in enumerate(hyp.states):
            assert res.posterior[i][k] == pytest.approx(post[hyp.id][sid] / total)


def test_leave_one_out_shift_matches_refit() -> None:
    priors = load_priors(MINI)
    net = build_network(priors)
    reps = [report("armed_incident"), report("arms_east", grade="A1")]
    res = infer_exact(net, net.log_lambda(fold(reps, priors.grades)))
    alone = infer_exact(net, net.log_lambda(fold(reps[:1], priors.grades)))
    for a, b in zip(res.without["arms_east"], alone.posterior, strict=True):
        assert a == pytest.approx(b)


GRADES = [f"{r}{c}" for r in "ABCDE" for c in "12345"]


@given(st.sampled_from(GRADES), st.sampled_from(GRADES), st.booleans())
def test_better_grade_never_weakens_a_report(g1: str, g2: str, occurred: bool) -> None:
    better = g1[0] <= g2[0] and g1[1] <= g2[1]
    if not better:
        return
    l1 = DEFAULT_GRADES.likelihood(occurred, g1[0], int(g1[1]))
    l2 = DEFAULT_GRADES.likelihood(occurred, g2[0], int(g2[1]))
    assert abs(math.log(l1[0] / l1[1])) >= abs(math.log(l2[0] / l2[1])) - 1e-12


def test_e5_is_close_to_no_information_and_a1_close_to_certain() -> None:
    assert DEFAULT_GRADES.accuracy("E", 5) == pytest.approx(0.505)
    assert DEFAULT_GRADES.accuracy("A", 1) > 0.98


@given(st.lists(st.tuples(st.sampled_from(["arms_east", "armed_incident", "cfsp_alignment", "russian_pact"]),
                          st.booleans(), st.sampled_from(GRADES)), max_size=12))
def test_posteriors_are_distributions(rows: list[tuple[str, bool, str]]) -> None:
    priors = load_priors(MINI)
    net = build_network(priors)
    res = infer_exact(net, net.log_lambda(fold([report(i, o, g) for i, o, g in rows], priors.grades)))
    for p in res.posterior:
        assert p.sum() == pytest.approx(1.0)
        assert np.all(p >= 0)


# --------------------------------------------------------------------------- export vs pyAgrum


def _pyagrum_posteriors(bif_path: Path, evidence: dict[str, tuple[float, float]], nodes: list[str]) -> dict[str, list[float]]:
    gum = pytest.importorskip("pyagrum")
    bn = gum.loadBN(str(bif_path))
    ie = gum.LazyPropagation(bn)
    ie.setEvidence({k: list(v) for k, v in evidence.items()})  # soft (likelihood) evidence
    ie.makeInference()
    return {n: list(ie.posterior(n).toarray()) for n in nodes}


@pytest.mark.parametrize("fmt", ["bif", "xmlbif"])
def test_export_matches_pyagrum(tmp_path: Path, fmt: str) -> None:
    priors = load_priors(MINI)
    net = build_network(priors)
    path = tmp_path / ("net.bif" if fmt == "bif" else "net.bifxml")
    path.write_text(to_bif(priors, net) if fmt == "bif" else to_xmlbif(priors, net), encoding="utf-8")
    reps = [report("armed_incident"), report("russian_pact", grade="C3"), report("cfsp_alignment", False)]
    ev = fold(reps, priors.grades)
    res = infer_exact(net, net.log_lambda(ev))
    agrum = _pyagrum_posteriors(path, {k: v.likelihood for k, v in ev.items()}, list(net.hypothesis_ids))
    for i, hid in enumerate(net.hypothesis_ids):
        assert agrum[hid] == pytest.approx(list(res.posterior[i]), abs=1e-6)
