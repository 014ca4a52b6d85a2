"""The variable-elimination engine (forecaster/inference/elimination.py, exact.py; the limit in
forecaster/model/cliques.py), checked:

1. `infer_exact` against the independent enumeration oracle (tests/oracle.py) and against
   pyAgrum's LazyPropagation on the exported BIF, to 1e-9, on random networks up to the new
   limits (10 hypotheses × 3 states, chain and tree; 16 × 4 tree for pyAgrum alone), with
   mechanisms, ageing, same-origin folding and both pools: the prior, the posterior, the log
   evidence and every leave-one-out entry (`without`, `without_mechanism`);
2. eliminating in any order gives the same marginals and log evidence (hypothesis), on small
   random factor sets (against brute force) and on random networks' `network_factors`;
3. `sample_joint`'s 200,000 draws match the exact marginals, the oracle's pairwise joints and,
   on a small network, its whole joint, within 4 binomial standard errors;
4. a network whose largest elimination clique is past MAX_FACTOR is refused by `load_priors`
   and by `forecast -w WS priors validate` (one line, exit 2), naming the clique; networks
   with many joint states but small cliques are accepted.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from forecaster.core.errors import PriorsError
from forecaster.inference import elimination as ve
from forecaster.inference.exact import (
    check_network_size,
    infer_exact,
    network_bound,
    network_factors,
    sample_joint,
    variable_sizes,
)
from forecaster.model.cliques import MAX_FACTOR
from forecaster.model.evidence import FoldedEvidence, Report
from forecaster.model.loading import load_priors
from forecaster.model.network import Network, build_network
from forecaster.model.priors import Priors
from tests import oracle as O
from tests.randnet import AS_OF, random_net, random_reports

HALF_LIFE = 365.0
TOL = 1e-9


# ----------------------------------------------------------------------------- shared helpers


def reports_of(rows: Sequence[dict[str, Any]]) -> list[Report]:
    """randnet's report dicts as Reports, origins kept (randnet.to_reports drops them)."""
    return [
        Report(r["indicator"], dt.date.fromisoformat(str(r["date"])), bool(r["occurred"]), str(r["grade"])[0],
               int(str(r["grade"])[1]), str(r["source"]), origin=r.get("origin"))
        for r in rows
    ]


Spec = tuple[tuple[str, Any], ...]


class _Loaded:
    """Random folders written and loaded once per module (validation costs ~0.3 s a folder)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cache: dict[tuple[int, Spec], Priors] = {}

    def get(self, seed: int, **spec: Any) -> Priors:
        key = (seed, tuple(sorted(spec.items())))
        if key not in self.cache:
            dest = self.root / f"n{len(self.cache)}"
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv("FORECAST_NO_CACHE", "1")
                self.cache[key] = load_priors(random_net(seed, **spec).write(dest))
        return self.cache[key]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> _Loaded:
    return _Loaded(tmp_path_factory.mktemp("elimination"))


class Case:
    """A loaded random network with random reports (ageing and origins), folded two ways."""

    def __init__(self, priors: Priors, seed: int, n_reports: int) -> None:
        self.priors = priors
        self.net: Network = build_network(priors)
        self.rows = random_reports(priors, seed, n_reports)
        self.folded: dict[str, FoldedEvidence] = priors.fold(reports_of(self.rows), as_of=AS_OF, half_life_days=HALF_LIFE)
        self.log_lam = self.net.log_lambda(self.folded)
        self.res = infer_exact(self.net, self.log_lam)

    def kids(self, mid: str) -> set[str]:
        return {self.net.indicator_ids[j] for j in self.net.children(self.net.mechanism_ids.index(mid))}


def _close(mine: Sequence[np.ndarray], theirs: Sequence[np.ndarray], what: str) -> None:
    assert len(mine) == len(theirs)
    for h, (a, b) in enumerate(zip(mine, theirs, strict=True)):
        np.testing.assert_allclose(a, b, rtol=0, atol=TOL, err_msg=f"{what}, hypothesis {h}")


def _check_bookkeeping(case: Case) -> None:
    """The leave-one-out keys: every reported indicator, every mechanism with a reported child."""
    res, net = case.res, case.net
    assert set(res.without) == set(case.folded)
    with_reports = {net.mechanism_ids[int(net.mechanism_of[net.indicator_ids.index(i)])]
                    for i in case.folded if net.mechanism_of[net.indicator_ids.index(i)] >= 0}
    assert set(res.without_mechanism) == with_reports
    for p in (*res.prior, *res.posterior):
        assert p.sum() == pytest.approx(1.0, abs=1e-12) and np.all(p >= 0)


def _check_oracle(case: Case) -> None:
    onet = O.oracle_net_from_priors(case.priors)
    assert onet.hypothesis_ids == list(case.net.hypothesis_ids)
    evidence = O.fold_reports(case.rows, onet.accuracy, as_of=AS_OF, half_life=HALF_LIFE)
    assert set(evidence) == set(case.folded)
    res = case.res
    _close(res.prior, O.exact_prior(onet), "prior")
    _close(res.posterior, O.exact_posterior(onet, evidence), "posterior")
    # log evidence: the engine scales each indicator's λ to a maximum of 1; the oracle does not
    _, log_ev = O.marginals_given(onet, O.prior_means(onet), evidence)
    tops = sum(max(v) for v in evidence.values())
    assert res.log_evidence == pytest.approx(float(log_ev[0]) - tops, abs=TOL)
    for ind, post in res.without.items():
        rest = {i: v for i, v in evidence.items() if i != ind}
        _close(post, O.exact_posterior(onet, rest), f"without {ind}")
    for mid, post in res.without_mechanism.items():
        kids = case.kids(mid)
        rest = {i: v for i, v in evidence.items() if i not in kids}
        _close(post, O.exact_posterior(onet, rest), f"without mechanism {mid}")


def _check_pyagrum(case: Case, tmp_path: Path) -> None:
    """pyAgrum's LazyPropagation on the exported network, the reports as likelihood evidence.

    To 1e-9 on the XMLBIF export; the BIF export to 1e-6 only: pyAgrum (3.3) parses a BIF
    file's probabilities as single-precision floats (0.341 reads as 0.34099999), XMLBIF's as
    doubles. Both carry 12 significant digits (forecaster.outputs.export)."""
    gum = pytest.importorskip("pyagrum")
    from forecaster.outputs.export import to_bif, to_xmlbif

    hyps = list(case.net.hypothesis_ids)
    res = case.res

    def infer(bn: Any, evidence: dict[str, FoldedEvidence]) -> tuple[list[np.ndarray], float]:
        ie = gum.LazyPropagation(bn)
        ie.setEvidence({k: list(v.likelihood) for k, v in evidence.items()})
        ie.makeInference()
        log_p = math.log(ie.evidenceProbability()) if evidence else 0.0
        return [np.asarray(ie.posterior(h).toarray()) for h in hyps], log_p

    bif = tmp_path / "net.bif"
    bif.write_text(to_bif(case.priors, case.net), encoding="utf-8")
    post, _ = infer(gum.loadBN(str(bif)), case.folded)
    for h, (a, b) in enumerate(zip(res.posterior, post, strict=True)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6, err_msg=f"posterior (pyAgrum, BIF), hypothesis {h}")

    xml = tmp_path / "net.bifxml"
    xml.write_text(to_xmlbif(case.priors, case.net), encoding="utf-8")
    bn = gum.loadBN(str(xml))
    _close(res.prior, infer(bn, {})[0], "prior (pyAgrum)")
    post, log_p = infer(bn, case.folded)
    _close(res.posterior, post, "posterior (pyAgrum)")
    assert res.log_evidence == pytest.approx(log_p, abs=TOL)
    for ind, got in res.without.items():
        rest = {i: v for i, v in case.folded.items() if i != ind}
        _close(got, infer(bn, rest)[0], f"without {ind} (pyAgrum)")
    for mid, got in res.without_mechanism.items():
        kids = case.kids(mid)
        rest = {i: v for i, v in case.folded.items() if i not in kids}
        _close(got, infer(bn, rest)[0], f"without mechanism {mid} (pyAgrum)")


# ----------------------------------------------------------------------------- 1. against the oracle and pyAgrum

SMALL = [(seed, seed % 3, ("linear", "logarithmic")[seed % 2]) for seed in range(6)]


@pytest.mark.parametrize(("seed", "mechanisms", "method"), SMALL)
def test_small_random_dags_match_the_oracle_and_pyagrum(loaded: _Loaded, tmp_path: Path, seed: int, mechanisms: int, method: str) -> None:
    priors = loaded.get(seed, mechanisms=mechanisms, method=method)
    assert priors.method == method and len(priors.mechanisms) == mechanisms
    case = Case(priors, seed, 20)
    _check_bookkeeping(case)
    _check_oracle(case)
    _check_pyagrum(case, tmp_path)


def test_the_small_cases_exercise_ageing_and_origins(loaded: _Loaded) -> None:
    """The reports above are aged (as_of, half-life) and some share an origin on one indicator,
    so that folding, not only the engine, is under test."""
    folded_some, aged = False, False
    for seed, mechanisms, method in SMALL:
        case = Case(loaded.get(seed, mechanisms=mechanisms, method=method), seed, 20)
        folded_some |= any(f.origins < f.reports for f in case.folded.values())
        aged |= any(w.aged != w.accuracy for f in case.folded.values() for w in f.weights)
    assert folded_some and aged


@pytest.mark.parametrize(("dag", "method"), [("chain", "linear"), ("tree", "logarithmic")])
def test_ten_hypotheses_of_three_states_match_the_oracle_and_pyagrum(loaded: _Loaded, tmp_path: Path, dag: str, method: str) -> None:
    """59,049 joint states (the oracle enumerates them), 40 indicators, 2 mechanisms, 30 reports."""
    priors = loaded.get(1, hypotheses=10, states=3, dag=dag, indicators=40, mechanisms=2, method=method)
    assert len(priors.hypotheses) == 10 and all(len(h.states) == 3 for h in priors.hypotheses)
    case = Case(priors, 1, 30)
    assert case.net.n_joint == 3**10 and len(case.res.without_mechanism) == 2
    _check_bookkeeping(case)
    _check_oracle(case)
    _check_pyagrum(case, tmp_path)


@pytest.mark.parametrize(("indicators", "mechanisms", "method"), [(40, 0, "linear"), (15, 2, "logarithmic")])
def test_sixteen_hypotheses_of_four_states_match_pyagrum(loaded: _Loaded, tmp_path: Path, indicators: int, mechanisms: int, method: str) -> None:
    """4^16 joint states: past any enumeration, well inside the factor limit (a tree)."""
    priors = loaded.get(1, hypotheses=16, states=4, dag="tree", indicators=indicators, mechanisms=mechanisms, method=method)
    case = Case(priors, 1, 30)
    assert case.net.n_joint == 4**16
    _check_bookkeeping(case)
    _check_pyagrum(case, tmp_path)


# ----------------------------------------------------------------------------- 2. any elimination order


def _brute(factors: Sequence[ve.Factor], sizes: Sequence[int], keep: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """P(keep) and log Z from the full product over every variable (B, *sizes)."""
    every = tuple(range(len(sizes)))
    batch = max(f.batch for f in factors)
    total = np.ones((batch, *sizes))
    for f in factors:
        total = total * ve.expand(f.values, f.scope, every, sizes)
    drop = tuple(1 + v for v in every if v not in keep)
    kept = total.sum(axis=drop) if drop else total
    z = kept.reshape(batch, -1).sum(axis=1)
    # a variable no factor mentions (a mechanism without reports) is not in the model's sum
    free = [v for v in every if v not in keep and not any(v in f.scope for f in factors)]
    return kept / z.reshape(-1, *([1] * len(keep))), np.log(z) - sum(math.log(sizes[v]) for v in free)


@st.composite
def factor_sets(draw: st.DrawFn) -> tuple[list[ve.Factor], list[int], tuple[int, ...], list[int], np.ndarray]:
    """Up to 6 variables of 1–3 states, up to 7 factors over 0–3 of them (every variable in one
    at least), batches of 1 or B rows, values over several orders of magnitude; a kept set; an
    elimination order (a permutation of the rest); and a log scale per factor."""
    n = draw(st.integers(1, 6))
    sizes = draw(st.lists(st.integers(1, 3), min_size=n, max_size=n))
    scopes = draw(st.lists(st.lists(st.integers(0, n - 1), max_size=3, unique=True), min_size=1, max_size=7))
    covered = {v for s in scopes for v in s}
    scopes += [[v] for v in range(n) if v not in covered]
    batch = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    factors = []
    for s in scopes:
        rows = batch if draw(st.booleans()) else 1
        values = np.exp(rng.uniform(-4.0, 4.0, size=(rows, *(sizes[v] for v in s))))
        factors.append(ve.factor(s, values))  # scope in any order: factor() sorts it
    keep = tuple(sorted(draw(st.lists(st.integers(0, n - 1), max_size=2, unique=True))))
    order = draw(st.permutations([v for v in range(n) if v not in keep]))
    log_scales = np.asarray(draw(st.lists(st.floats(-60.0, 0.0), min_size=len(factors), max_size=len(factors))))
    return factors, sizes, keep, order, log_scales


@settings(max_examples=200, deadline=None)
@given(factor_sets())
def test_any_elimination_order_gives_the_same_answer(case: tuple[list[ve.Factor], list[int], tuple[int, ...], list[int], np.ndarray]) -> None:
    factors, sizes, keep, order, log_scales = case
    probs, log_z = _brute(factors, sizes, keep)
    for got in (ve.contract(factors, sizes, keep), ve.contract(factors, sizes, keep, order=order)):
        assert got.keep == keep
        np.testing.assert_allclose(got.probs, probs, rtol=0, atol=TOL)
        np.testing.assert_allclose(got.log_z, log_z, rtol=0, atol=TOL)
    # each factor scaled down: the probabilities stay, log Z moves by the sum of the scales
    small = [ve.Factor(f.scope, f.values * math.exp(s), f.child) for f, s in zip(factors, log_scales, strict=True)]
    got = ve.contract(small, sizes, keep, order=order)
    np.testing.assert_allclose(got.probs, probs, rtol=0, atol=TOL)
    np.testing.assert_allclose(got.log_z, log_z + log_scales.sum(), rtol=0, atol=TOL)


@pytest.mark.parametrize("keep", [(), (0,), (11,), (3, 8)])
def test_long_evidence_does_not_underflow(keep: tuple[int, ...]) -> None:
    """A chain of 12 binary variables under 240 factors of about e^-10 each (Z ≈ e^-2400, far
    below the smallest double): every elimination's product stays in range, and the log scale
    kept aside gives log Z exactly, in any order."""
    rng = np.random.default_rng(0)
    n, sizes = 12, [2] * 12
    factors, shift = [], 0.0
    for k in range(240):
        v = k % (n - 1)
        scope = (v, v + 1) if k % 2 else (v,)
        values = np.exp(rng.uniform(-1.0, 1.0, size=(1, *(2 for _ in scope))))
        factors.append((scope, values))
        shift -= 10.0
    plain = [ve.factor(s, v) for s, v in factors]
    scaled = [ve.factor(s, v * math.exp(-10.0)) for s, v in factors]
    probs, log_z = _brute(plain, sizes, keep)
    rest = [v for v in range(n) if v not in keep]
    for order in (None, rest, rest[::-1], list(rng.permutation(rest))):
        got = ve.contract(scaled, sizes, keep, order=order)
        np.testing.assert_allclose(got.probs, probs, rtol=0, atol=TOL)
        np.testing.assert_allclose(got.log_z, log_z + shift, rtol=1e-12, atol=TOL)
        assert got.log_z[0] < -2000


NETWORK_SPECS = [
    (2, {"mechanisms": 2, "hypotheses": 4}),
    (5, {"mechanisms": 1, "hypotheses": 4, "method": "logarithmic"}),
    (1, {"mechanisms": 2, "hypotheses": 6, "states": 3, "indicators": 20}),
]


@pytest.fixture(scope="module")
def order_cases(loaded: _Loaded) -> list[tuple[Network, list[ve.Factor]]]:
    """Random networks' factors with a batch of evidence rows (none, all, each left out)."""
    out = []
    for seed, spec in NETWORK_SPECS:
        case = Case(loaded.get(seed, **spec), seed, 24)
        rows = [np.zeros_like(case.log_lam), case.log_lam]
        for j in range(len(case.log_lam)):
            if np.any(case.log_lam[j] != 0):
                r = case.log_lam.copy()
                r[j] = 0.0
                rows.append(r)
        out.append((case.net, network_factors(case.net, np.stack(rows))))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_order_on_network_factors(order_cases: list[tuple[Network, list[ve.Factor]]], data: st.DataObject) -> None:
    net, factors = data.draw(st.sampled_from(order_cases))
    sizes = variable_sizes(net)  # the hypotheses, then the mechanisms (binary variables)
    keep = tuple(sorted(data.draw(st.lists(st.integers(0, len(sizes) - 1), max_size=2, unique=True))))
    scope = {v for f in ve.relevant(factors, keep) for v in f.scope} - set(keep)
    order = data.draw(st.permutations(sorted(scope)))
    ref = ve.contract(factors, sizes, keep)
    got = ve.contract(factors, sizes, keep, order=order)
    np.testing.assert_allclose(got.probs, ref.probs, rtol=0, atol=TOL)
    np.testing.assert_allclose(got.log_z, ref.log_z, rtol=0, atol=TOL)
    # and both against the whole product (barren tables included: they sum to one)
    probs, log_z = _brute(factors, sizes, keep)
    np.testing.assert_allclose(got.probs, probs, rtol=0, atol=TOL)
    np.testing.assert_allclose(got.log_z, log_z, rtol=0, atol=TOL)


# ----------------------------------------------------------------------------- 3. exact joint draws

N_DRAWS = 200_000


def _within_binomial(freq: np.ndarray, p: np.ndarray, n: int, what: str) -> None:
    se = np.sqrt(p * (1 - p) / n)
    z = (freq - p) / np.where(se > 0, se, np.nan)
    assert np.all(np.abs(freq - p) <= 4 * se + 1e-12), (what, np.nanmax(np.abs(z)))


def _frequencies(draws: np.ndarray, cols: Sequence[int], sizes: Sequence[int]) -> np.ndarray:
    shape = tuple(sizes[c] for c in cols)
    flat = np.ravel_multi_index(tuple(draws[:, c] for c in cols), shape)
    return np.bincount(flat, minlength=math.prod(shape)).reshape(shape) / draws.shape[0]


def _oracle_joint(case: Case) -> np.ndarray:
    onet = O.oracle_net_from_priors(case.priors)
    evidence = O.fold_reports(case.rows, onet.accuracy, as_of=AS_OF, half_life=HALF_LIFE)
    return O.exact_joint(onet, evidence).reshape(case.net.sizes)  # first hypothesis slowest


def _pair(joint: np.ndarray, a: int, b: int) -> np.ndarray:
    return joint.sum(axis=tuple(v for v in range(joint.ndim) if v not in (a, b)))


def test_joint_draws_on_a_small_network_match_the_oracle_joint(loaded: _Loaded) -> None:
    """Every joint state's frequency, every pair's and every marginal, on 4 hypotheses with 2
    mechanisms; and with no evidence, the prior."""
    priors = loaded.get(2, mechanisms=2, hypotheses=4)
    case = Case(priors, 2, 20)
    sizes = case.net.sizes
    assert len(sizes) == 4 and case.net.n_joint <= 256
    draws = sample_joint(case.net, case.log_lam, N_DRAWS, np.random.default_rng(11))
    assert draws.shape == (N_DRAWS, 4) and draws.dtype.kind == "i"
    assert np.all((draws >= 0) & (draws < np.asarray(sizes)))
    joint = _oracle_joint(case)
    _within_binomial(_frequencies(draws, range(4), sizes), joint, N_DRAWS, "joint")
    for a, b in itertools.combinations(range(4), 2):
        _within_binomial(_frequencies(draws, (a, b), sizes), _pair(joint, a, b), N_DRAWS, f"pair {a}, {b}")
    for h in range(4):
        _within_binomial(_frequencies(draws, (h,), sizes), case.res.posterior[h], N_DRAWS, f"marginal {h}")
    # the evidence moved something, so the check has teeth
    assert max(np.abs(p - q).max() for p, q in zip(case.res.prior, case.res.posterior, strict=True)) > 0.02
    prior_draws = sample_joint(case.net, np.zeros_like(case.log_lam), N_DRAWS, np.random.default_rng(12))
    for h in range(4):
        _within_binomial(_frequencies(prior_draws, (h,), sizes), case.res.prior[h], N_DRAWS, f"prior {h}")


def test_joint_draws_on_ten_hypotheses_match_the_exact_marginals(loaded: _Loaded) -> None:
    priors = loaded.get(1, hypotheses=10, states=3, dag="chain", indicators=40, mechanisms=2, method="linear")
    case = Case(priors, 1, 30)
    sizes = case.net.sizes
    draws = sample_joint(case.net, case.log_lam, N_DRAWS, np.random.default_rng(3))
    for h in range(len(sizes)):
        _within_binomial(_frequencies(draws, (h,), sizes), case.res.posterior[h], N_DRAWS, f"marginal {h}")
    joint = _oracle_joint(case)
    for a, b in [(0, 9), (2, 3), (4, 7)]:  # far apart and neighbours on the chain
        _within_binomial(_frequencies(draws, (a, b), sizes), _pair(joint, a, b), N_DRAWS, f"pair {a}, {b}")


def test_joint_draws_are_reproducible(loaded: _Loaded) -> None:
    case = Case(loaded.get(2, mechanisms=2, hypotheses=4), 2, 20)
    a = sample_joint(case.net, case.log_lam, 500, np.random.default_rng(5))
    b = sample_joint(case.net, case.log_lam, 500, np.random.default_rng(5))
    assert np.array_equal(a, b)


# ----------------------------------------------------------------------------- 4. the factor-size limit


def _folder(dest: Path, sizes: Sequence[int], parents: Sequence[Sequence[int]], indicators: Sequence[Sequence[int]]) -> tuple[Path, list[str]]:
    """A minimal valid priors folder written by hand: hypotheses `kappa_<i>` with the given
    state counts and parents (indices, parents first), one indicator on each scope in
    `indicators` (`link_<a>_<b>`), one panelist."""
    ids = [f"kappa_{i:02d}" for i in range(len(sizes))]
    states = {h: [f"s{k}" for k in range(n)] for h, n in zip(ids, sizes, strict=True)}
    hyp_parents = {h: [ids[p] for p in parents[i]] for i, h in enumerate(ids)}
    cite = "000_44e76504c81b55c5.txt, fn 4"
    network = {
        "name": "handmade", "description": "A hand-built network for the size limit.", "illustrative": "Test data.",
        "horizon_months": 12, "evidence_window_days": 1460,
        "hypotheses": [
            {"id": h, "question": f"Which {h}?", "parents": hyp_parents[h],
             "states": [{"id": s, **({"claimed": True} if k == 0 else {}), "definition": f"{h} is {s}.", "citation": cite}
                        for k, s in enumerate(states[h])]}
            for h in ids
        ],
    }

    def configs(ps: Sequence[str]) -> list[dict[str, str]]:
        return [dict(zip(ps, c, strict=True)) for c in itertools.product(*(states[p] for p in ps))]

    links = []
    for n, scope in enumerate(indicators):
        ps = [ids[v] for v in scope]
        rows = [{"given": cfg, "p": round(0.1 + 0.8 * ((k * 7 + n) % 11) / 10, 2), "rationale": "r"} for k, cfg in enumerate(configs(ps))]
        links.append({"id": "link_" + "_".join(f"{v:02d}" for v in scope), "definition": "d", "parents": ps, "citation": cite, "likelihoods": rows})
    tables = {}
    for h in ids:
        k = len(states[h])
        probs = [round(1 / k, 4)] * (k - 1)
        probs.append(round(1 - sum(probs), 4))
        tables[h] = [{"given": cfg, "probabilities": dict(zip(states[h], probs, strict=True)), "confidence": "medium",
                      "rationale": "r", "citation": cite} for cfg in configs(hyp_parents[h])]
    expert = {"id": "panel_a", "role": "Test", "illustrative": "Test data.", "reviewed_by": "tests",
              "reviewed_on": dt.date(2026, 11, 1), "hypotheses": tables}
    settings_doc = {
        "pooling": {"method": "linear", "confidence_sizes": {"low": 5, "medium": 20, "high": 60}},
        "grades": {"reliability": {"A": 0.98, "B": 0.8, "C": 0.6, "D": 0.4, "E": 0.1, "F": 0.5},
                   "credibility": {"1": 0.98, "2": 0.8, "3": 0.6, "4": 0.4, "5": 0.1, "6": 0.5}},
    }
    (dest / "experts").mkdir(parents=True)
    for rel, doc in {"network.yaml": network, "indicators.yaml": {"confidence": "medium", "indicators": links},
                     "settings.yaml": settings_doc, "experts/panel_a.yaml": expert}.items():
        (dest / rel).write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return dest, ids


def _dense_folder(dest: Path, sizes: Sequence[int], *, chain: bool = False, pairs: Sequence[tuple[int, int]] | None = None) -> tuple[Path, list[str]]:
    """`_folder` with root hypotheses (or a chain) and an indicator on each pair in `pairs`
    (default: every pair, so that the moral graph is complete and the elimination clique is
    all of them)."""
    parents = [[i - 1] if chain and i else [] for i in range(len(sizes))]
    pairs = list(itertools.combinations(range(len(sizes)), 2)) if pairs is None else list(pairs)
    return _folder(dest, sizes, parents, pairs)


def _validate(runner: CliRunner, tmp_path: Path, folder: Path) -> Any:
    """`forecast -w WS priors validate` on a workspace whose priors are `folder`."""
    from forecaster.cli.main import app
    from forecaster.core.workspace import init_workspace

    ws = init_workspace(tmp_path / f"ws-{folder.name}")
    shutil.rmtree(ws.priors_dir)
    shutil.copytree(folder, ws.priors_dir)
    return runner.invoke(app, ["-w", str(ws.root), "priors", "validate"])


def _refused_line(r: Any) -> str:
    assert r.exit_code == 2, (r.exit_code, r.output)
    assert "Traceback" not in r.output and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    return lines[0]


def test_a_complete_clique_of_ten_four_state_hypotheses_is_refused(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every pair of 10 hypotheses shares an indicator: any order eliminates all 10 at once,
    4^10 = 1,048,576 > 1,000,000 states. `load_priors` and `priors validate` both say so."""
    monkeypatch.setenv("FORECAST_NO_CACHE", "1")
    folder, ids = _dense_folder(tmp_path / "dense", [4] * 10)
    assert MAX_FACTOR < 4**10
    with pytest.raises(PriorsError) as e:
        load_priors(folder)
    msg = str(e.value)
    assert "network too large for exact inference" in msg
    assert "1,048,576 states" in msg and "limit 1,000,000" in msg
    for h in ids:
        assert f"{h} (4)" in msg, (h, msg)
    line = _refused_line(_validate(runner, tmp_path, folder))
    assert "1,048,576 states" in line and all(h in line for h in ids)


@pytest.mark.parametrize(("sizes", "largest"), [([4] * 9 + [3], 786_432), ([5] * 6 + [4] * 3, 1_000_000)], ids=["under", "at"])
def test_a_complete_clique_at_or_under_the_limit_is_accepted(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             sizes: list[int], largest: int) -> None:
    """The same complete clique with 4^9 · 3 = 786,432 states, and with exactly 1,000,000
    (5^6 · 4^3): the limit is inclusive."""
    monkeypatch.setenv("FORECAST_NO_CACHE", "1")
    folder, _ = _dense_folder(tmp_path / "ok", sizes)
    assert math.prod(sizes) == largest <= MAX_FACTOR
    priors = load_priors(folder)
    net = build_network(priors)
    worst, _ = network_bound(net)
    assert worst.largest == largest
    check_network_size(net)
    r = _validate(runner, tmp_path, folder)
    assert r.exit_code == 0, r.output


def test_a_network_at_the_limit_runs_and_matches_pyagrum(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """At exactly 1,000,000 states, every indicator reported (38 evidence rows): `infer_exact`
    runs (in bounded chunks) and agrees with pyAgrum to 1e-9."""
    gum = pytest.importorskip("pyagrum")
    from forecaster.outputs.export import to_xmlbif

    monkeypatch.setenv("FORECAST_NO_CACHE", "1")
    folder, _ = _dense_folder(tmp_path / "at", [5] * 6 + [4] * 3)
    priors = load_priors(folder)
    net = build_network(priors)
    rows = [{"indicator": i, "date": "2026-10-01", "occurred": n % 3 != 0, "grade": ("A1", "B2", "C3")[n % 3], "source": "s"}
            for n, i in enumerate(net.indicator_ids)]
    folded = priors.fold(reports_of(rows), as_of=AS_OF)
    res = infer_exact(net, net.log_lambda(folded))
    assert len(res.without) == len(net.indicator_ids) == 36
    path = tmp_path / "at.bifxml"
    path.write_text(to_xmlbif(priors, net), encoding="utf-8")
    bn = gum.loadBN(str(path))

    def infer(evidence: dict[str, FoldedEvidence]) -> tuple[list[np.ndarray], float]:
        ie = gum.LazyPropagation(bn)
        ie.setEvidence({k: list(v.likelihood) for k, v in evidence.items()})
        ie.makeInference()
        return [np.asarray(ie.posterior(h).toarray()) for h in net.hypothesis_ids], math.log(ie.evidenceProbability())

    post, log_p = infer(folded)
    _close(res.posterior, post, "posterior at the limit")
    assert res.log_evidence == pytest.approx(log_p, abs=TOL)
    for ind in net.indicator_ids[::12]:
        _close(res.without[ind], infer({k: v for k, v in folded.items() if k != ind})[0], f"without {ind} at the limit")


def test_mechanisms_are_variables_so_a_wide_episode_stays_small(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """16 hypotheses of 4 states, a tree, with two mechanisms whose indicators reach across it. A
    mechanism summed out in closed form spans every hypothesis its indicators depend on (4^8 and
    more here); as a binary variable of the elimination it costs a factor of 2 in a clique."""
    monkeypatch.setenv("FORECAST_NO_CACHE", "1")
    rn = random_net(4, hypotheses=16, states=4, dag="tree", indicators=40, mechanisms=2)
    priors = load_priors(rn.write(tmp_path / "big"))
    net = build_network(priors)
    worst, names = network_bound(net)
    assert worst.largest <= MAX_FACTOR
    closed_form = max(
        4 ** len({*net.mechanism_parents[k], *(p for j in net.children(k) for p in net.indicator_parents[j])})
        for k in range(len(net.mechanism_ids))
    )
    assert worst.largest < closed_form


def test_many_joint_states_with_small_cliques_are_accepted(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 16 × 4 tree (4^16 ≈ 4.3e9 joint states) and a 12 × 3 chain (531,441) load, validate
    and update exactly."""
    monkeypatch.setenv("FORECAST_NO_CACHE", "1")
    tree = random_net(1, hypotheses=16, states=4, dag="tree", indicators=40)
    folder = tree.write(tmp_path / "tree")
    assert tree.n_joint == 4**16
    priors = load_priors(folder)
    assert len(priors.hypotheses) == 16
    r = _validate(runner, tmp_path, folder)
    assert r.exit_code == 0, r.output
    chain, _ = _dense_folder(tmp_path / "chain", [3] * 12, chain=True, pairs=[(i, i + 1) for i in range(11)])
    priors = load_priors(chain)
    net = build_network(priors)
    assert net.n_joint == 531_441
    rows = [{"indicator": f"link_{i:02d}_{i + 1:02d}", "date": "2026-10-01", "occurred": i % 2 == 0, "grade": "B2", "source": "s"}
            for i in range(0, 11, 3)]
    res = infer_exact(net, net.log_lambda(priors.fold(reports_of(rows), as_of=AS_OF)))
    assert all(p.sum() == pytest.approx(1.0) for p in res.posterior)
    assert _validate(runner, tmp_path, chain).exit_code == 0


def test_a_validated_network_updates_with_any_subset_of_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """validate's bound (every indicator reported, each hypothesis kept in turn) is 512,000 here,
    so the network is accepted; reporting two of its eight indicators must not then need more.
    Min-fill is not monotone under removing factors: on the two reports' factors it picks an
    order whose largest clique (kappa_01, 02, 04, 06, 07: 1,024,000 states) is past the limit, so
    the engine falls back to the order validation bounded."""
    monkeypatch.setenv("FORECAST_NO_CACHE", "1")
    sizes = [8, 16, 20, 4, 20, 8, 20, 8, 10]
    parents = [[], [0], [], [2, 1], [1], [], [5, 4], [3, 6], [7, 4]]
    indicators = [(3, 8), (1, 6), (2, 8), (4,), (1, 7), (5,), (0, 5), (2, 7)]
    folder, ids = _folder(tmp_path / "nm", sizes, parents, indicators)
    priors = load_priors(folder)  # accepted
    net = build_network(priors)
    assert list(net.hypothesis_ids) == ids
    worst, _ = network_bound(net)
    assert worst.largest == 512_000
    log_lam = np.zeros((len(net.indicator_ids), 2))
    log_lam[:] = (0.0, -1.0)
    infer_exact(net, log_lam)  # every indicator reported: runs
    log_lam[:] = 0.0
    for name in ("link_01_06", "link_02_08"):
        log_lam[net.indicator_ids.index(name)] = (0.0, -1.0)
    res = infer_exact(net, log_lam)  # PriorsError: "... makes a factor of 1,024,000 states (limit 1,000,000)"
    assert all(p.sum() == pytest.approx(1.0) for p in res.posterior)
