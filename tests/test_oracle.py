"""The test oracle (tests/oracle.py) and the random networks (tests/randnet.py), checked.

- generated folders load with `load_priors`, stay in range and audit clean;
- the oracle's two readers (Priors API, raw YAML) give the same tables;
- its exact posterior equals the product's exact engine (no mechanisms, ageing or origins);
- the mechanisms' closed form equals enumeration over mechanism states;
- the i.i.d. sampler's mean equals the exact posterior within Monte Carlo error, and on tiny
  networks its distribution matches brute-force importance sampling from the prior;
- the quantile MCSE is calibrated; reports fold with ageing and origins as MODEL.md §3 says.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from forecaster.inference.exact import infer_exact
from forecaster.model.evidence import fold
from forecaster.model.loading import load_priors
from forecaster.model.network import build_network
from forecaster.model.priors import Pooled, Priors
from tests import oracle as O
from tests.randnet import AS_OF, P_HI, P_LO, RandomNet, random_net, random_reports, to_reports

MINI = Path(__file__).parent / "data" / "mini"
BUNDLED = Path(__file__).parent.parent / "priors"
SEEDS = Path(os.environ.get("FORECAST_SEEDS", Path(__file__).parent.parent.parent / "shared" / "seeds"))


class _Loaded:
    """Random folders written and loaded once per module, on first use (validation costs about
    0.5 s a folder), with the user cache off."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cache: dict[int, tuple[RandomNet, Priors]] = {}

    def __getitem__(self, seed: int) -> tuple[RandomNet, Priors]:
        if seed not in self.cache:
            rn = random_net(seed)
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv("FORECAST_NO_CACHE", "1")
                self.cache[seed] = (rn, load_priors(rn.write(self.root / str(seed))))
        return self.cache[seed]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> _Loaded:
    return _Loaded(tmp_path_factory.mktemp("randnet"))


@pytest.fixture(scope="module")
def bundled() -> Priors:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FORECAST_NO_CACHE", "1")
        return load_priors(BUNDLED)


def _net_with(seed: int, **options: object) -> tuple[O.OracleNet, dict[str, tuple[float, float]]]:
    rn = random_net(seed, **options)  # type: ignore[arg-type]
    net = O.oracle_net_from_files(rn.files)
    return net, O.fold_reports(random_reports(rn, seed, 30), net.accuracy)


# ----------------------------------------------------------------------------- the generator


@pytest.mark.parametrize("seed", range(20))
def test_random_folder_loads_and_stays_in_range(loaded: _Loaded, bundled: Priors, seed: int) -> None:
    _, priors = loaded[seed]
    assert 2 <= len(priors.hypotheses) <= 4
    assert all(2 <= len(h.states) <= 4 for h in priors.hypotheses)
    assert all(len(h.parents) <= 2 for h in priors.hypotheses)
    assert 8 <= len(priors.indicators) <= 40
    assert all(1 <= len(i.parents) <= 2 for i in priors.indicators)
    assert 1 <= len(priors.experts) <= 3
    taken = {*bundled.hypothesis_ids, *bundled.indicator_ids, *(s for h in bundled.hypotheses for s in h.states)}
    mine = {*priors.hypothesis_ids, *priors.indicator_ids, *(s for h in priors.hypotheses for s in h.states)}
    assert not taken & mine
    for j in priors.judgments:
        assert all(P_LO - 1e-9 <= p <= P_HI + 1e-9 for p in j.probs), j
        assert j.rationale and j.citation
    for i in priors.indicators:
        for cfg in priors.configs(i.id):
            pooled = priors.pooled(i.id, cfg).mean[0]
            assert P_LO - 1e-9 <= pooled <= P_HI + 1e-9


@pytest.mark.slow
def test_random_folders_cover_the_options(loaded: _Loaded) -> None:
    """Across 20 seeds: both pools, unequal weights, ICD terms in hypothesis and indicator rows,
    expert indicator tables, DAG parents, a written order that is not parents-first."""
    methods, terms_h, terms_i, expert_tables, unequal, deep, shuffled = set(), 0, 0, 0, 0, 0, 0
    for seed in range(20):
        rn, priors = loaded[seed]
        methods.add(priors.method)
        hyp = set(priors.hypothesis_ids)
        terms_h += sum(any(j.terms) for j in priors.judgments if j.node in hyp)
        terms_i += sum(any(j.terms) for j in priors.judgments if j.node not in hyp)
        expert_tables += sum(j.node not in hyp and j.source != "catalogue" for j in priors.judgments)
        unequal += len(set(priors.weights.values())) > 1
        deep += any(len(h.parents) == 2 for h in priors.hypotheses)
        shuffled += rn.hypothesis_ids != priors.hypothesis_ids
    assert methods == {"linear", "logarithmic"}
    assert terms_h > 0 and terms_i > 0 and expert_tables > 0
    assert unequal >= 15 and deep > 0 and shuffled > 0


def test_random_folders_audit_clean(loaded: _Loaded) -> None:
    from forecaster.analysis.audit import audit_priors

    seeds_dir = SEEDS if SEEDS.is_dir() else None
    for seed in range(5):
        _, priors = loaded[seed]
        report = audit_priors(priors, as_of=AS_OF, today=AS_OF, seeds_dir=seeds_dir)
        assert [f for f in report.findings if f.severity != "note"] == []


@pytest.mark.parametrize("seed", range(6))
def test_mechanism_folders_are_well_formed(seed: int) -> None:
    rn = random_net(seed, mechanisms=1 + seed % 3)
    mechs = rn.catalogue["mechanisms"]
    assert len(mechs) == 1 + seed % 3
    users = [i["mechanism"] for i in rn.catalogue["indicators"] if "mechanism" in i]
    assert {m["id"] for m in mechs} == set(users)
    states = {h["id"]: [s["id"] for s in h["states"]] for h in rn.network["hypotheses"]}
    for ind in rn.catalogue["indicators"]:
        keys = {tuple(sorted(r["given"].items())) for r in ind["likelihoods"]}
        n = math.prod(len(states[p]) for p in ind["parents"]) * (2 if "mechanism" in ind else 1)
        assert len(keys) == n == len(ind["likelihoods"])
        if "mechanism" in ind:
            assert {r["given"][ind["mechanism"]] for r in ind["likelihoods"]} == {"occurred", "not_occurred"}
    for m in mechs:
        assert len(m["likelihoods"]) == math.prod(len(states[p]) for p in m["parents"])
        assert m["citation"] and all(r["rationale"] for r in m["likelihoods"])
    net = O.oracle_net_from_files(rn.files)
    assert len(net.mechanisms) == len(mechs)
    assert all(i.a.shape[-1] == 2 for i in net.indicators if i.mechanism)


def test_random_reports_shape() -> None:
    rn = random_net(3)
    rows = random_reports(rn, 3, 40)
    assert len(rows) == 40
    assert {r["indicator"] for r in rows} <= set(rn.indicator_ids)
    assert all(dt.date.fromisoformat(r["date"]) <= AS_OF for r in rows)
    origins = [(r["indicator"], r["origin"]) for r in rows if "origin" in r]
    assert origins and len(set(origins)) < len(origins)  # some re-publications of one origin
    assert random_reports(rn, 3, 40) == rows
    assert len(to_reports(rows)) == 40


# ----------------------------------------------------------------------------- exact: oracle against the product


@pytest.mark.parametrize("seed", range(20))
def test_readers_agree(loaded: _Loaded, seed: int) -> None:
    rn, priors = loaded[seed]
    a = O.oracle_net_from_priors(priors)
    b = O.oracle_net_from_files(rn.files)
    assert a.hypothesis_ids == b.hypothesis_ids and a.indicator_ids == b.indicator_ids
    for x, y in zip(a.hypotheses, b.hypotheses, strict=True):
        assert x.parents == y.parents and x.states == y.states
        np.testing.assert_allclose(x.alpha, y.alpha, rtol=1e-12)
    for x, y in zip(a.indicators, b.indicators, strict=True):
        np.testing.assert_allclose(x.a, y.a, rtol=1e-12)
        np.testing.assert_allclose(x.b, y.b, rtol=1e-12)
    assert a.accuracy == pytest.approx(b.accuracy)


def _engine_posterior(priors: object, rows: list[dict[str, object]]) -> list[np.ndarray]:
    net = build_network(priors)  # type: ignore[arg-type]
    return infer_exact(net, net.log_lambda(fold(to_reports(rows), priors.grades))).posterior  # type: ignore[attr-defined]


@pytest.mark.parametrize("seed", range(12))
def test_exact_equals_product_engine(loaded: _Loaded, seed: int) -> None:
    _, priors = loaded[seed]
    rows = random_reports(priors, seed, 10 + 3 * seed, origin_rate=0.0)
    net = O.oracle_net_from_priors(priors)
    ours = O.exact_posterior(net, O.fold_reports(rows, net.accuracy))
    for x, y in zip(ours, _engine_posterior(priors, rows), strict=True):
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-9)
    for x, y in zip(O.exact_prior(net), _engine_posterior(priors, []), strict=True):
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-9)


@pytest.mark.parametrize("root", [MINI, BUNDLED], ids=["mini", "bundled"])
def test_exact_equals_product_engine_on_shipped_priors(root: Path) -> None:
    priors = load_priors(root)
    net = O.oracle_net_from_priors(priors)
    for seed in range(3):
        rows = random_reports(priors, seed, 25, origin_rate=0.0)
        ours = O.exact_posterior(net, O.fold_reports(rows, net.accuracy))
        for x, y in zip(ours, _engine_posterior(priors, rows), strict=True):
            np.testing.assert_allclose(x, y, rtol=0, atol=1e-9)


def test_method_and_leave_one_out_pass_through(loaded: _Loaded) -> None:
    priors = next(p for p in (loaded[s][1] for s in range(20)) if len(p.experts) >= 2)
    rows = random_reports(priors, 4, 20, origin_rate=0.0)
    for kw in ({"method": "logarithmic"}, {"method": "linear"}, {"exclude": priors.experts[0].id}):
        onet = O.oracle_net_from_priors(priors, **kw)  # type: ignore[arg-type]
        ours = O.exact_posterior(onet, O.fold_reports(rows, onet.accuracy))
        pnet = build_network(priors, **kw)  # type: ignore[arg-type]
        theirs = infer_exact(pnet, pnet.log_lambda(fold(to_reports(rows), priors.grades))).posterior
        for x, y in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(x, y, rtol=0, atol=1e-9)


# ----------------------------------------------------------------------------- mechanisms: closed form


@pytest.mark.parametrize("seed", range(8))
def test_mechanism_closed_form_equals_enumeration(seed: int) -> None:
    net, ev = _net_with(seed, mechanisms=1 + seed % 3, indicators=(8, 14), max_joint=24)
    fast = O.exact_posterior(net, ev)
    slow = O.exact_posterior_bruteforce(net, ev)
    for x, y in zip(fast, slow, strict=True):
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-12)


def test_bruteforce_without_mechanisms_agrees() -> None:
    net, ev = _net_with(2, indicators=10, max_joint=16)
    for x, y in zip(O.exact_posterior(net, ev), O.exact_posterior_bruteforce(net, ev), strict=True):
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-12)


def _tiny(mechanism: bool, conc: float = 6.0) -> O.OracleNet:
    """h (x, y) -> g (u, v); indicators i1 (h), i2 (g), i3 (h); one mechanism k (h) over i1 and i2."""
    hyps = (
        O.HypothesisTable("h", (), ("x", "y"), np.array([[0.35, 0.65]]) * conc),
        O.HypothesisTable("g", ("h",), ("u", "v"), np.array([[0.7, 0.3], [0.25, 0.75]]) * conc),
    )

    def beta(p: list[float] | list[list[float]]) -> tuple[np.ndarray, np.ndarray]:
        arr = np.asarray(p)
        return arr * conc, (1 - arr) * conc

    if mechanism:
        inds = (
            O.IndicatorTable("i1", ("h",), *beta([[0.8, 0.2], [0.7, 0.1]]), mechanism="k"),
            O.IndicatorTable("i2", ("g",), *beta([[0.9, 0.3], [0.6, 0.15]]), mechanism="k"),
            O.IndicatorTable("i3", ("h",), *beta([0.6, 0.3])),
        )
        mechs = (O.MechanismTable("k", ("h",), *beta([0.6, 0.2])),)
    else:
        inds = (
            O.IndicatorTable("i1", ("h",), *beta([0.7, 0.2])),
            O.IndicatorTable("i2", ("g",), *beta([0.8, 0.3])),
            O.IndicatorTable("i3", ("h",), *beta([0.6, 0.3])),
        )
        mechs = ()
    return O.OracleNet(hyps, inds, mechs, O.default_accuracy())


def test_hand_computed_mechanism() -> None:
    """One hypothesis, a mechanism with two reported indicators, by hand."""
    h = O.HypothesisTable("h", (), ("x", "y"), np.array([[3.0, 7.0]]))
    m = O.MechanismTable("k", ("h",), np.array([6.0, 1.0]), np.array([4.0, 9.0]))  # P(k | x) .6, P(k | y) .1
    i1 = O.IndicatorTable("i1", ("h",), np.array([[9.0, 2.0], [9.0, 2.0]]), np.array([[1.0, 8.0], [1.0, 8.0]]), "k")
    i2 = O.IndicatorTable("i2", (), np.array([[8.0, 1.0]]), np.array([[2.0, 9.0]]), "k")
    net = O.OracleNet((h,), (i1, i2), (m,), O.default_accuracy())
    a = net.accuracy["A1"]
    ev = O.fold_reports([{"indicator": "i1", "grade": "A1", "date": "2026-01-01"},
                         {"indicator": "i2", "grade": "A1", "date": "2026-01-01", "occurred": False}], net.accuracy)
    l1 = (a * 0.9 + (1 - a) * 0.1, a * 0.2 + (1 - a) * 0.8)  # i1 reported occurred: (given k, given not k)
    l2 = ((1 - a) * 0.8 + a * 0.2, (1 - a) * 0.1 + a * 0.9)  # i2 reported not occurred
    like = [pk * l1[0] * l2[0] + (1 - pk) * l1[1] * l2[1] for pk in (0.6, 0.1)]
    expected = 0.3 * like[0] / (0.3 * like[0] + 0.7 * like[1])
    assert O.exact_posterior(net, ev)[0][0] == pytest.approx(expected, abs=1e-12)
    # treating the two indicators as independent given h would count the episode twice
    naive = [(pk * l1[0] + (1 - pk) * l1[1]) * (pk * l2[0] + (1 - pk) * l2[1]) for pk in (0.6, 0.1)]
    assert abs(expected - 0.3 * naive[0] / (0.3 * naive[0] + 0.7 * naive[1])) > 0.01


# ----------------------------------------------------------------------------- the i.i.d. sampler


@pytest.mark.parametrize(("seed", "mechanisms"), [(0, 0), (1, 0), (5, 0), (7, 0), (3, 2), (6, 1)])
def test_sampler_mean_equals_exact(seed: int, mechanisms: int) -> None:
    net, ev = _net_with(seed, mechanisms=mechanisms, max_joint=64)
    draws = O.posterior_draws(net, ev, 20_000, seed)
    for d, exact in zip(draws, O.exact_posterior(net, ev), strict=True):
        mean, se = O.mean_with_mcse(d)
        assert O.within(mean, exact, se), O.z_scores(mean, exact, se)
        np.testing.assert_allclose(d.sum(axis=1), 1.0, atol=1e-12)


def test_sampler_mean_equals_exact_on_bundled(bundled: Priors) -> None:
    net = O.oracle_net_from_priors(bundled)
    ev = O.fold_reports(random_reports(bundled, 0, 30), net.accuracy)
    draws = O.posterior_draws(net, ev, 20_000, 0)
    for d, exact in zip(draws, O.exact_posterior(net, ev), strict=True):
        mean, se = O.mean_with_mcse(d)
        assert O.within(mean, exact, se), O.z_scores(mean, exact, se)


def test_prior_draws_are_exact() -> None:
    net, _ = _net_with(11)
    draws = O.prior_draws(net, 20_000, 2)
    for d, exact in zip(draws, O.exact_prior(net), strict=True):
        mean, se = O.mean_with_mcse(d)
        assert O.within(mean, exact, se), O.z_scores(mean, exact, se)
    # a root hypothesis: P(H = x | θ) = θ_x ~ Beta(α_x, α_0 − α_x)
    from scipy import stats

    root = next(h for h, hyp in enumerate(net.hypotheses) if not hyp.parents)
    alpha = net.hypotheses[root].alpha[0]
    q, se = O.quantiles_with_mcse(draws[root][:, 0], (0.05, 0.5, 0.95))
    truth = stats.beta(alpha[0], alpha.sum() - alpha[0]).ppf([0.05, 0.5, 0.95])
    assert O.within(q, truth, se), O.z_scores(q, truth, se)


def test_sampler_without_evidence_is_the_prior() -> None:
    net, _ = _net_with(8)
    post = O.posterior_draws(net, {}, 20_000, 3)
    prior = O.prior_draws(net, 20_000, 4)
    for a, b in zip(post, prior, strict=True):
        qa, sa = O.quantiles_with_mcse(a)
        qb, sb = O.quantiles_with_mcse(b)
        assert O.within(qa, qb, np.hypot(sa, sb)), O.z_scores(qa, qb, np.hypot(sa, sb))


@pytest.mark.parametrize("mechanism", [False, True], ids=["plain", "mechanism"])
def test_sampler_matches_importance_sampling(mechanism: bool) -> None:
    """The exact sampler against brute force: (θ, q, m) from the prior weighted by P(E | θ, q, m).
    Strong reports on the mechanism's indicators, so that a wrong count on a mechanism or
    indicator row (tried by mutation: 4 to 17 standard errors) shows."""
    net = _tiny(mechanism)
    rows = [
        {"indicator": "i1", "grade": "A1", "date": "2026-05-01", "occurred": True},
        {"indicator": "i2", "grade": "A2", "date": "2026-05-01", "occurred": True},
        {"indicator": "i3", "grade": "B3", "date": "2026-05-01", "occurred": False},
    ]
    ev = O.fold_reports(rows, net.accuracy)
    draws = O.posterior_draws(net, ev, 40_000, 5)
    is_draws, w = O.importance_draws(net, ev, 200_000, 6)
    assert O.ess(w, len(w)) > 50_000
    for h in range(2):
        for x in range(2):
            a, b = draws[h][:, x], is_draws[h][:, x]
            ma, sa = O.mean_with_mcse(a)
            mb, sb = O.mean_with_mcse(b, w)
            assert O.within(ma, mb, np.hypot(sa, sb)), O.z_scores(ma, mb, np.hypot(sa, sb))
            probs = (0.05, 0.25, 0.5, 0.75, 0.95)
            qa, qsa = O.quantiles_with_mcse(a, probs)
            qb, qsb = O.quantiles_with_mcse(b, probs, w)
            assert O.within(qa, qb, np.hypot(qsa, qsb)), O.z_scores(qa, qb, np.hypot(qsa, qsb))
    # the posterior actually moved away from the prior, so the check has teeth
    prior = O.prior_draws(net, 40_000, 7)
    qp, sp = O.quantiles_with_mcse(prior[0][:, 0])
    qa, sa = O.quantiles_with_mcse(draws[0][:, 0])
    assert not O.within(qp, qa, np.hypot(sp, sa))


@pytest.mark.parametrize("mechanism", [False, True], ids=["plain", "mechanism"])
def test_parameter_posterior_matches_importance_sampling(mechanism: bool) -> None:
    """Every table row's posterior mean, from the exact sampler and from importance sampling."""
    net = _tiny(mechanism, conc=4.0)
    rows = [
        {"indicator": "i1", "grade": "A1", "date": "2026-05-01", "occurred": True},
        {"indicator": "i2", "grade": "B2", "date": "2026-05-01", "occurred": False},
        {"indicator": "i3", "grade": "A2", "date": "2026-05-01", "occurred": True},
    ]
    ev = O.fold_reports(rows, net.accuracy)
    exact = O.posterior_parameter_draws(net, ev, 40_000, 8)
    brute, w, _ = O.importance_parameter_draws(net, ev, 200_000, 9)
    pairs = [*zip(exact.theta, brute.theta, strict=True)]
    pairs += [(exact.q[j], brute.q[j]) for j in exact.q]
    pairs += [(exact.m[k], brute.m[k]) for k in exact.m]
    assert len(pairs) == 2 + 3 + (1 if mechanism else 0)
    for a, b in pairs:
        ma, sa = O.mean_with_mcse(a)
        mb, sb = O.mean_with_mcse(b, w)
        assert O.within(ma, mb, np.hypot(sa, sb)), O.z_scores(ma, mb, np.hypot(sa, sb))


def test_sampler_speed() -> None:
    """20,000 draws on a 3-hypothesis, 33-indicator network with 30 reports: a few seconds at most."""
    seed = next(s for s in range(200) if random_net(s, hypotheses=3, indicators=33).n_joint >= 36)
    net, ev = _net_with(seed, hypotheses=3, indicators=33)
    start = time.perf_counter()
    O.posterior_draws(net, ev, 20_000, 0)
    assert time.perf_counter() - start < 8.0


# ----------------------------------------------------------------------------- Monte Carlo error helpers


def test_quantile_mcse_is_calibrated() -> None:
    """The reported se of the 5 % / 95 % quantiles against their spread over replications."""
    rng = np.random.default_rng(0)
    est, ses = [], []
    for _ in range(400):
        x = rng.beta(2.0, 9.0, size=2_000)
        q, se = O.quantiles_with_mcse(x)
        est.append(q)
        ses.append(se)
    ratio = np.std(est, axis=0, ddof=1) / np.mean(ses, axis=0)
    assert np.all((ratio > 0.85) & (ratio < 1.15)), ratio


def test_weighted_quantile_mcse_is_calibrated() -> None:
    rng = np.random.default_rng(1)
    est, ses = [], []
    for _ in range(300):
        x = rng.normal(size=4_000)
        w = np.exp(0.5 * x)  # reweights N(0, 1) towards N(0.5, 1)
        q, se = O.quantiles_with_mcse(x, (0.05, 0.95), w / w.sum())
        est.append(q)
        ses.append(se)
    np.testing.assert_allclose(np.mean(est, axis=0), [0.5 - 1.6449, 0.5 + 1.6449], atol=0.02)
    ratio = np.std(est, axis=0, ddof=1) / np.mean(ses, axis=0)
    assert np.all((ratio > 0.8) & (ratio < 1.25)), ratio


def test_within() -> None:
    assert O.within([0.5, 0.2], [0.51, 0.2], [0.003, 0.0])
    assert not O.within(0.5, 0.52, 0.004)
    assert O.within(0.5, 0.52, 0.004, k=5)


def test_oracle_summary_shape() -> None:
    net, ev = _net_with(9, max_joint=36)
    summary = O.oracle_summary(net, ev, n=5_000)
    assert [s.id for s in summary] == net.hypothesis_ids
    for s in summary:
        assert s.interval.shape == s.interval_mcse.shape == (len(s.states), 2)
        assert np.all(s.interval[:, 0] <= s.exact) and np.all(s.exact <= s.interval[:, 1])
        assert np.all(s.interval_mcse > 0)
        assert np.all(O.interval_z(s, s.interval, np.zeros_like(s.interval)) == 0)
        assert np.all(np.abs(O.mean_z(s, s.mean, s.mean_mcse)) < 4)


# ----------------------------------------------------------------------------- reports: ageing and origins


GRADES = O.default_accuracy()


def _row(ind: str, grade: str, date: str, occurred: bool = True, origin: str | None = None) -> dict[str, object]:
    return {"indicator": ind, "grade": grade, "date": date, "occurred": occurred, **({"origin": origin} if origin else {})}


def test_fold_hand_computed() -> None:
    a, b = GRADES["A1"], GRADES["C3"]
    ev = O.fold_reports([_row("i", "A1", "2026-01-01"), _row("i", "C3", "2026-01-02", False)], GRADES)
    assert ev["i"] == pytest.approx((math.log(a) + math.log(1 - b), math.log(1 - a) + math.log(b)))


def test_fold_ageing() -> None:
    a = GRADES["B2"]
    as_of = dt.date(2026, 11, 22)
    ev = O.fold_reports([_row("i", "B2", "2025-11-22")], GRADES, as_of=as_of, half_life=365)
    at = 0.5 + (a - 0.5) * 0.5  # one half-life old
    assert ev["i"] == pytest.approx((math.log(at), math.log(1 - at)))
    fresh = O.fold_reports([_row("i", "B2", "2026-11-22")], GRADES, as_of=as_of, half_life=365)
    assert fresh["i"] == pytest.approx((math.log(a), math.log(1 - a)))
    off = O.fold_reports([_row("i", "B2", "2025-11-22")], GRADES, as_of=as_of, half_life=None)
    assert off["i"] == pytest.approx((math.log(a), math.log(1 - a)))
    assert O.fold_reports([_row("i", "B2", "2026-11-23")], GRADES, as_of=as_of) == {}
    assert O.fold_reports([_row("i", "B2", "2020-01-01")], GRADES, as_of=as_of, window_days=365) == {}


def test_fold_same_origin() -> None:
    as_of = dt.date(2026, 11, 22)
    rows = [
        _row("i", "C3", "2026-11-01", origin="wire"),
        _row("i", "B2", "2026-06-01", origin="wire"),  # better grade, but older: aged below C3?
        _row("i", "A1", "2026-11-20", origin="wire"),  # the strongest: the one that counts
        _row("j", "A1", "2026-11-20", origin="wire"),  # another indicator: counts on its own
    ]
    ev = O.fold_reports(rows, GRADES, as_of=as_of, half_life=365)
    a = 0.5 + (GRADES["A1"] - 0.5) * 2 ** (-2 / 365)
    assert ev["i"] == pytest.approx((math.log(a), math.log(1 - a)))
    assert ev["j"] == pytest.approx(ev["i"])
    # without origins, every report is its own
    plain = O.fold_reports([{k: v for k, v in r.items() if k != "origin"} for r in rows[:3]], GRADES)
    expected = sum(math.log(GRADES[g]) for g in ("C3", "B2", "A1"))
    assert plain["i"][0] == pytest.approx(expected)
    # a weaker same-origin report changes nothing
    more = O.fold_reports([*rows, _row("i", "E5", "2026-11-21", False, origin="wire")], GRADES, as_of=as_of, half_life=365)
    assert more.keys() == ev.keys() and all(more[k] == pytest.approx(ev[k]) for k in ev)


def test_fold_matches_product_fold_without_ageing_or_origins(loaded: _Loaded) -> None:
    _, priors = loaded[1]
    rows = random_reports(priors, 1, 40, origin_rate=0.0)
    ours = O.fold_reports(rows, O.oracle_net_from_priors(priors).accuracy)
    theirs = fold(to_reports(rows), priors.grades)
    assert set(ours) == set(theirs)
    for k, ev in theirs.items():
        assert ours[k] == pytest.approx(ev.log_lambda, abs=1e-12)


# ----------------------------------------------------------------------------- mechanisms through the Priors API


@dataclass(frozen=True)
class _Node:
    id: str
    parents: tuple[str, ...]
    states: tuple[str, ...] = ()
    mechanism: str | None = None


class _PriorsWithMechanisms:
    """Duck-typed stand-in for `Priors` once mechanisms land: an indicator's configurations end
    with the mechanism's state; `parents_with_mechanism` tries both ways of listing its parents."""

    def __init__(self, net: O.OracleNet, *, parents_with_mechanism: bool) -> None:
        from forecaster.model.evidence import DEFAULT_GRADES

        self.net = net
        self.grades = DEFAULT_GRADES
        self.hypotheses = tuple(_Node(h.id, h.parents, h.states) for h in net.hypotheses)
        self.indicators = tuple(
            _Node(i.id, (*i.parents, i.mechanism) if parents_with_mechanism and i.mechanism else i.parents, mechanism=i.mechanism)
            for i in net.indicators
        )
        self.mechanisms = tuple(_Node(m.id, m.parents) for m in net.mechanisms)
        self._states = {h.id: h.states for h in net.hypotheses}
        self._tables = {x.id: x for x in (*net.hypotheses, *net.indicators, *net.mechanisms)}

    def configs(self, node_id: str) -> list[tuple[str, ...]]:
        t = self._tables[node_id]
        hyp = list(itertools.product(*(self._states[p] for p in t.parents)))
        if getattr(t, "mechanism", None):
            return [(*c, x) for c in hyp for x in O.MECHANISM_STATES]
        return hyp

    def pooled(self, node_id: str, config: tuple[str, ...], *, method: str | None = None, exclude: str | None = None) -> Pooled:
        t = self._tables[node_id]
        cfgs = list(itertools.product(*(self._states[p] for p in t.parents)))
        if isinstance(t, O.HypothesisTable):
            alpha = t.alpha[cfgs.index(config)]
            return Pooled(tuple(alpha / alpha.sum()), float(alpha.sum()))
        at: tuple[int, ...] = (cfgs.index(config[:-1]), O.MECHANISM_STATES.index(config[-1])) if getattr(t, "mechanism", None) else (cfgs.index(config),)
        a, b = float(t.a[at]), float(t.b[at])
        return Pooled((a / (a + b), b / (a + b)), a + b)


@pytest.mark.parametrize("with_mech", [False, True], ids=["hyp-parents", "mechanism-in-parents"])
def test_priors_reader_handles_mechanisms(with_mech: bool) -> None:
    rn = random_net(5, mechanisms=2, indicators=10)
    ref = O.oracle_net_from_files(rn.files)
    got = O.oracle_net_from_priors(_PriorsWithMechanisms(ref, parents_with_mechanism=with_mech))
    assert [m.id for m in got.mechanisms] == [m.id for m in ref.mechanisms]
    for x, y in zip(got.indicators, ref.indicators, strict=True):
        assert (x.parents, x.mechanism) == (y.parents, y.mechanism)
        np.testing.assert_allclose(x.a, y.a, rtol=1e-12)
        np.testing.assert_allclose(x.b, y.b, rtol=1e-12)
    for x, y in zip(got.mechanisms, ref.mechanisms, strict=True):
        np.testing.assert_allclose(x.a, y.a, rtol=1e-12)
