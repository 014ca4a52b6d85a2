"""Mechanisms (MODEL.md §1, §4), ageing and origins (§3): hand-computed cases, brute-force
enumeration with the mechanism as an extra joint dimension, and property tests."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecaster.inference.exact import infer_exact
from forecaster.model.evidence import DEFAULT_GRADES, Report, aged_accuracy, fold
from forecaster.model.loading import load_priors
from forecaster.model.network import build_network
from tests.helpers import state, write_priors

MINI_MECH = Path(__file__).parent / "data" / "mini_mech"

P_A = 0.3
M = {"a": 0.7, "b": 0.2}  # P(M occurred | h)
Q1 = {("a", "occurred"): 0.9, ("a", "not_occurred"): 0.1, ("b", "occurred"): 0.8, ("b", "not_occurred"): 0.05}
Q2 = {("a", "occurred"): 0.6, ("a", "not_occurred"): 0.2, ("b", "occurred"): 0.7, ("b", "not_occurred"): 0.1}
Q3 = {"a": 0.4, "b": 0.25}  # an indicator without mechanism


def report(indicator: str, occurred: bool = True, grade: str = "B2", date: str = "2025-01-01", origin: str | None = None) -> Report:
    return Report(indicator, dt.date.fromisoformat(date), occurred, grade[0], int(grade[1]), "test", origin=origin)


def mech_priors(tmp_path: Path, half_life_days: object = "absent") -> Path:
    """h (a, b), P(a) = 0.3; mechanism m over h; i1, i2 on m; i3 on h alone."""
    def rows(q: dict[tuple[str, str], float]) -> list[dict[str, object]]:
        return [{"given": {"h": h, "m": x}, "p": p} for (h, x), p in q.items()]

    return write_priors(
        tmp_path / "mech",
        hypotheses=[{"id": "h", "parents": [], "states": [state("a"), state("b")]}],
        mechanisms=[{"id": "m", "name": "m", "definition": "d", "parents": ["h"], "citation": "c",
                     "likelihoods": [{"given": {"h": h}, "p": p} for h, p in M.items()]}],
        indicators=[
            {"id": "i1", "definition": "d", "parents": ["h"], "mechanism": "m", "citation": "c", "likelihoods": rows(Q1)},
            {"id": "i2", "definition": "d", "parents": ["h"], "mechanism": "m", "citation": "c", "likelihoods": rows(Q2)},
            {"id": "i3", "definition": "d", "parents": ["h"], "citation": "c",
             "likelihoods": [{"given": {"h": h}, "p": p} for h, p in Q3.items()]},
        ],
        experts={"e": {"hypotheses": {"h": [{"given": {}, "probabilities": {"a": P_A, "b": 1 - P_A}}]}}},
        half_life_days=half_life_days,
    )


def brute_force(lams: dict[str, tuple[float, float]]) -> float:
    """P(h = a | E) by summing over h, the mechanism and every indicator's state (a joint dimension each)."""
    post = {"a": 0.0, "b": 0.0}
    for h, mx, x1, x2, x3 in itertools.product("ab", ("occurred", "not_occurred"), (1, 0), (1, 0), (1, 0)):
        p = P_A if h == "a" else 1 - P_A
        p *= M[h] if mx == "occurred" else 1 - M[h]
        for ind, q, x in (("i1", Q1[(h, mx)], x1), ("i2", Q2[(h, mx)], x2), ("i3", Q3[h], x3)):
            p *= q if x else 1 - q
            if ind in lams:
                p *= lams[ind][0] if x else lams[ind][1]
        post[h] += p
    return post["a"] / (post["a"] + post["b"])


def test_two_indicators_on_one_mechanism_by_hand(tmp_path: Path) -> None:
    priors = load_priors(mech_priors(tmp_path))
    net = build_network(priors)
    a = DEFAULT_GRADES.accuracy("B", 2)
    res = infer_exact(net, net.log_lambda(fold([report("i1"), report("i2")], priors.grades)))
    # by hand: P(E | h) = Σ_x P(x | h) L1(h, x) L2(h, x), L(h, x) = a q + (1 − a)(1 − q)
    def like(h: str) -> float:
        return sum(
            (M[h] if x == "occurred" else 1 - M[h])
            * (a * Q1[(h, x)] + (1 - a) * (1 - Q1[(h, x)]))
            * (a * Q2[(h, x)] + (1 - a) * (1 - Q2[(h, x)]))
            for x in ("occurred", "not_occurred")
        )
    expected = P_A * like("a") / (P_A * like("a") + (1 - P_A) * like("b"))
    assert res.posterior[0][0] == pytest.approx(expected, abs=1e-12)
    assert res.posterior[0][0] == pytest.approx(brute_force({"i1": (a, 1 - a), "i2": (a, 1 - a)}), abs=1e-12)
    # leave one out: the indicator, then the episode as a whole (all its indicators' reports)
    assert res.without["i1"][0][0] == pytest.approx(brute_force({"i2": (a, 1 - a)}), abs=1e-12)
    assert res.without_mechanism["m"][0][0] == pytest.approx(P_A, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["i1", "i2", "i3"]), st.booleans(), st.sampled_from(["A1", "B2", "C3", "E5"])),
                min_size=0, max_size=5))
def test_enumeration_with_the_mechanism_as_a_joint_dimension(tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[str, bool, str]]) -> None:
    priors = load_priors(mech_priors(tmp_path_factory.mktemp("p")))
    net = build_network(priors)
    reports = [report(i, o, g) for i, o, g in rows]
    folded = fold(reports, priors.grades)
    res = infer_exact(net, net.log_lambda(folded))
    lams = {k: v.likelihood for k, v in folded.items()}
    assert res.posterior[0][0] == pytest.approx(brute_force(lams), abs=1e-10)
    for ind in folded:
        if any(v != 1.0 for v in lams[ind]):
            rest = {k: v for k, v in lams.items() if k != ind}
            assert res.without[ind][0][0] == pytest.approx(brute_force(rest), abs=1e-10)
    if "m" in res.without_mechanism:
        rest = {k: v for k, v in lams.items() if k == "i3"}
        assert res.without_mechanism["m"][0][0] == pytest.approx(brute_force(rest), abs=1e-10)


def test_one_episode_moves_less_than_independent_indicators(tmp_path: Path) -> None:
    """The bundled priors: the reports of the armed-crisis episode move escalation once."""
    priors = load_priors(MINI_MECH)
    net = build_network(priors)
    res = infer_exact(net, net.log_lambda(fold([report("armed_incident", grade="A1"), report("kfor_reinforcement", grade="A1")], priors.grades)))
    assert set(res.without_mechanism) == {"north_crisis"}
    for a, b in zip(res.without_mechanism["north_crisis"], res.prior, strict=True):
        assert np.allclose(a, b)


# ------------------------------------------------------------------------------ ageing


def test_ageing_by_hand() -> None:
    a = DEFAULT_GRADES.accuracy("A", 1)
    assert aged_accuracy(a, 365, 365.0) == pytest.approx(0.5 + (a - 0.5) / 2)
    assert aged_accuracy(a, 730, 365.0) == pytest.approx(0.5 + (a - 0.5) / 4)
    assert aged_accuracy(a, 730, None) == a
    r = report("i3", grade="A1", date="2025-01-01")
    f = fold([r], DEFAULT_GRADES, as_of=dt.date(2026, 1, 1), half_life_days=365.0)["i3"]
    a_t = 0.5 + (a - 0.5) * 2 ** (-365 / 365)
    assert f.likelihood == pytest.approx((1.0, (1 - a_t) / a_t))
    assert f.weights[0].aged == pytest.approx(a_t)
    # a report dated after the as-of date is left out
    assert fold([r], DEFAULT_GRADES, as_of=dt.date(2024, 12, 31), half_life_days=365.0) == {}


def test_half_life_from_settings(tmp_path: Path) -> None:
    priors = load_priors(mech_priors(tmp_path / "x"))
    assert priors.half_life_days == 365.0
    off = load_priors(mech_priors(tmp_path / "y", half_life_days="none"))
    assert off.half_life_days is None
    r = [report("i3", grade="A1", date="2024-01-01")]
    assert off.fold(r, as_of=dt.date(2026, 1, 1))["i3"].likelihood == fold(r, DEFAULT_GRADES)["i3"].likelihood


# ------------------------------------------------------------------------------ origins


def test_same_origin_folds_into_the_strongest_by_hand() -> None:
    reps = [report("i3", grade="B2", origin="wire-1"), report("i3", grade="A1", origin="Wire-1 "),
            report("i3", grade="C3")]
    f = fold(reps, DEFAULT_GRADES)["i3"]
    a1, c3 = DEFAULT_GRADES.accuracy("A", 1), DEFAULT_GRADES.accuracy("C", 3)
    assert (f.reports, f.origins) == (3, 2)
    l1, l0 = a1 * c3, (1 - a1) * (1 - c3)
    assert f.likelihood == pytest.approx((1.0, l0 / l1))
    assert [w.counted for w in f.weights] == [False, True, True]


def test_same_origin_picks_the_highest_aged_accuracy() -> None:
    """An older A1 and a fresh B2 of one origin: the fold keeps whichever weighs more now."""
    old = report("i3", grade="A1", date="2020-01-01", origin="o")
    new = report("i3", grade="B2", date="2025-12-01", origin="o")
    f = fold([old, new], DEFAULT_GRADES, as_of=dt.date(2026, 1, 1), half_life_days=365.0)["i3"]
    assert [w.counted for w in f.weights] == [False, True]


grades = st.sampled_from([f"{r}{c}" for r in "ABCDEF" for c in range(1, 7)])


@settings(max_examples=60, deadline=None)
@given(grades, grades, st.booleans(), st.integers(0, 2000))
def test_a_same_origin_weaker_report_changes_nothing(g1: str, g2: str, occurred: bool, age: int) -> None:
    as_of = dt.date(2026, 1, 1)
    date = (as_of - dt.timedelta(days=age)).isoformat()
    strong = report("i3", occurred, g1, date=date, origin="o")
    other = report("i3", occurred, g2, date="2025-06-01", origin="o")
    fa = fold([strong], DEFAULT_GRADES, as_of=as_of, half_life_days=365.0)["i3"]
    fb = fold([strong, other], DEFAULT_GRADES, as_of=as_of, half_life_days=365.0)["i3"]
    wa = aged_accuracy(DEFAULT_GRADES.accuracy(g1[0], int(g1[1])), age, 365.0)
    wb = aged_accuracy(DEFAULT_GRADES.accuracy(g2[0], int(g2[1])), (as_of - other.date).days, 365.0)
    if wb <= wa:
        assert fb.likelihood == pytest.approx(fa.likelihood)
    else:  # the other one is the stronger: the pair counts as it alone
        alone = fold([other], DEFAULT_GRADES, as_of=as_of, half_life_days=365.0)["i3"]
        assert fb.likelihood == pytest.approx(alone.likelihood)


@settings(max_examples=60, deadline=None)
@given(grades, st.booleans(), st.integers(0, 3000), st.integers(0, 3000), st.sampled_from([30.0, 365.0, 1000.0]))
def test_an_older_report_is_never_stronger(g: str, occurred: bool, t1: int, t2: int, half_life: float) -> None:
    young, old = sorted((t1, t2))
    as_of = dt.date(2030, 1, 1)
    def strength(age: int) -> float:
        r = report("i3", occurred, g, date=(as_of - dt.timedelta(days=age)).isoformat())
        l1, l0 = fold([r], DEFAULT_GRADES, as_of=as_of, half_life_days=half_life)["i3"].log_lambda
        return abs(l1 - l0)
    assert strength(old) <= strength(young) + 1e-12


@settings(max_examples=60, deadline=None)
@given(st.sampled_from("ABCDE"), st.sampled_from("ABCDE"), st.integers(1, 5), st.integers(1, 5), st.integers(0, 3000))
def test_a_better_grade_is_never_weaker(r1: str, r2: str, c1: int, c2: int, age: int) -> None:
    (ra, rb), (ca, cb) = sorted((r1, r2)), sorted((c1, c2))  # A before E, 1 before 5: a better, b worse
    as_of = dt.date(2030, 1, 1)
    date = (as_of - dt.timedelta(days=age)).isoformat()
    def strength(g: str) -> float:
        l1, l0 = fold([report("i3", True, g, date=date)], DEFAULT_GRADES, as_of=as_of, half_life_days=365.0)["i3"].log_lambda
        return abs(l1 - l0)
    assert strength(f"{ra}{ca}") >= strength(f"{rb}{cb}") - 1e-12


# ------------------------------------------------------------------------- export vs pyAgrum

BUNDLED = Path(__file__).parents[1] / "priors"


@pytest.mark.parametrize("fmt", ["bif", "xmlbif"])
@pytest.mark.parametrize("folder", ["mini_mech", "bundled"])
def test_export_with_mechanisms_matches_pyagrum(tmp_path: Path, fmt: str, folder: str) -> None:
    """Mechanisms exported as ordinary binary nodes: pyAgrum, with the reports as likelihood
    (virtual) evidence, reproduces the exact engine's posterior within 1e-6."""
    gum = pytest.importorskip("pyagrum")
    from forecaster.outputs.export import to_bif, to_xmlbif

    priors = load_priors(MINI_MECH if folder == "mini_mech" else BUNDLED)
    net = build_network(priors)
    assert net.mechanism_ids
    path = tmp_path / ("net.bif" if fmt == "bif" else "net.bifxml")
    path.write_text(to_bif(priors, net) if fmt == "bif" else to_xmlbif(priors, net), encoding="utf-8")
    # two reports on each mechanism's first two indicators, one on an indicator without mechanism
    chosen: list[Report] = []
    for k in range(len(net.mechanism_ids)):
        kids = net.children(k)[:2]
        chosen += [report(net.indicator_ids[j], j % 2 == 0, "A2") for j in kids]
    free = next(j for j, k in enumerate(net.mechanism_of) if k < 0)
    chosen.append(report(net.indicator_ids[free], False, "C3"))
    ev = fold(chosen, priors.grades)
    res = infer_exact(net, net.log_lambda(ev))
    bn = gum.loadBN(str(path))
    assert set(net.mechanism_ids) <= set(bn.names())
    ie = gum.LazyPropagation(bn)
    ie.setEvidence({k: list(v.likelihood) for k, v in ev.items()})
    ie.makeInference()
    for i, hid in enumerate(net.hypothesis_ids):
        assert list(ie.posterior(hid).toarray()) == pytest.approx(list(res.posterior[i]), abs=1e-6)
    # and leaving a mechanism's reports out agrees with pyAgrum on the rest
    k0 = net.mechanism_ids[0]
    rest = {k: v for k, v in ev.items() if net.mechanism_of[net.indicator_ids.index(k)] != 0}
    ie2 = gum.LazyPropagation(bn)
    ie2.setEvidence({k: list(v.likelihood) for k, v in rest.items()})
    ie2.makeInference()
    for i, hid in enumerate(net.hypothesis_ids):
        assert list(ie2.posterior(hid).toarray()) == pytest.approx(list(res.without_mechanism[k0][i]), abs=1e-6)


# ------------------------------------------------------------------- collect / VOI, diagnosticity


def test_a_hypothetical_report_goes_through_the_mechanism(tmp_path: Path) -> None:
    """VOI of a report on i2 when i1 (same mechanism) is reported: the shift it predicts for a
    'yes' equals the exact engine with that report added, by brute force over the mechanism."""
    from forecaster.inference.voi import information_values

    priors = load_priors(mech_priors(tmp_path))
    net = build_network(priors)
    a = DEFAULT_GRADES.accuracy("B", 2)
    recorded = [report("i1", grade="A1")]
    folded = fold(recorded, priors.grades)
    [value] = information_values(net, net.log_lambda(folded), accuracy=a, indicators=["i2"])
    lam1 = folded["i1"].likelihood
    base = brute_force({"i1": lam1})
    yes = brute_force({"i1": lam1, "i2": (a, 1 - a)})
    no = brute_force({"i1": lam1, "i2": (1 - a, a)})
    assert value.if_yes["h"]["a"] == pytest.approx(yes - base, abs=1e-12)
    assert value.if_no["h"]["a"] == pytest.approx(no - base, abs=1e-12)
    # without the mechanism's other report, the same indicator is worth less to know about... or
    # at least differently: the mechanism's posterior is what links them
    [alone] = information_values(net, np.zeros((3, 2)), accuracy=a, indicators=["i2"])
    assert alone.if_yes["h"]["a"] == pytest.approx(brute_force({"i2": (a, 1 - a)}) - P_A, abs=1e-12)


def test_diagnosticity_of_an_indicator_on_a_mechanism_sums_the_mechanism_out(tmp_path: Path) -> None:
    import math

    from forecaster.analysis.influence import diagnosticity

    priors = load_priors(mech_priors(tmp_path))
    by_id = {d.indicator: d for d in diagnosticity(priors)}
    marg = {h: M[h] * Q1[(h, "occurred")] + (1 - M[h]) * Q1[(h, "not_occurred")] for h in "ab"}
    best = max(abs(10 * math.log10(marg["a"] / marg["b"])), abs(10 * math.log10((1 - marg["a"]) / (1 - marg["b"]))))
    assert by_id["i1"].parents == ("h",) and by_id["i1"].weight_db == pytest.approx(best)


def test_diagnosticity_ranks_the_mechanisms_too(tmp_path: Path) -> None:
    import math

    from forecaster.analysis.influence import diagnosticity

    priors = load_priors(mech_priors(tmp_path))
    [m] = [d for d in diagnosticity(priors) if d.kind == "mechanism"]
    assert m.indicator == "m" and m.weight_db == pytest.approx(10 * math.log10(M["a"] / M["b"]))
    assert m.outcome == "occurred" and m.between == (("a",), ("b",)) and 0 < m.information < 1
