"""The exact posterior draws (MODEL.md §4) and their check against the PyMC model (issue 19):
the draws' mean is the exact posterior within Monte Carlo error; the density check holds to
1e-8 with the conjugate rule and catches a draw rule that is wrong in one Beta or one Dirichlet
row; NUTS's intervals match the exact draws' within both errors on random small networks."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import numpy as np
import pytest

from forecaster.core.workspace import defaults_dir
from forecaster.inference.draws import CONJUGATE, Rule, draw_posterior, used_rows
from forecaster.inference.exact import infer_exact
from forecaster.inference.settings import SamplerSettings
from forecaster.inference.update import run_update
from forecaster.model.evidence import load_reports_file
from forecaster.model.loading import load_priors
from forecaster.model.network import Network, build_network
from forecaster.model.priors import Priors

sys.path.insert(0, str(Path(__file__).parent))
from randnet import random_priors, random_reports, to_reports  # noqa: E402

AS_OF = dt.date(2026, 11, 22)


def _bundled() -> tuple[Priors, Network, np.ndarray]:
    priors = load_priors(defaults_dir() / "priors")
    net = build_network(priors)
    reports = load_reports_file(defaults_dir() / "scenarios" / "historical_events.yaml", known=priors.indicator_ids)
    return priors, net, net.log_lambda(priors.fold(reports, as_of=AS_OF))


def _random(tmp: Path, seed: int, **spec: object) -> tuple[Priors, Network, np.ndarray]:
    priors = load_priors(random_priors(tmp / f"p{seed}", seed, **spec))
    net = build_network(priors)
    reports = to_reports(random_reports(priors, seed=seed, n=25, as_of=AS_OF))
    return priors, net, net.log_lambda(priors.fold(reports, as_of=AS_OF))


@pytest.fixture(scope="module")
def nets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Priors, Network, np.ndarray]]:
    tmp = tmp_path_factory.mktemp("draws")
    return {
        "bundled": _bundled(),
        "mechanisms": _random(tmp, 3, hypotheses=4, states=3, indicators=20, mechanisms=2),
        "chain": _random(tmp, 8, hypotheses=6, states=3, indicators=24, mechanisms=1, dag="chain"),
    }


@pytest.mark.parametrize("name", ["bundled", "mechanisms", "chain"])
def test_the_draws_mean_is_the_exact_posterior(nets: dict[str, tuple[Priors, Network, np.ndarray]], name: str) -> None:
    _, net, log_lam = nets[name]
    draws = draw_posterior(net, log_lam, 20_000, seed=4)
    exact = infer_exact(net, log_lam).posterior
    for h, m in enumerate(draws.marginals):
        se = m.std(axis=0, ddof=1) / np.sqrt(draws.n)
        z = np.abs(m.mean(axis=0) - exact[h]) / np.where(se > 0, se, np.inf)
        assert np.all(z <= 4.5), (name, net.hypothesis_ids[h], z)
        assert np.allclose(m.sum(axis=1), 1.0)


def test_the_draws_are_reproducible(nets: dict[str, tuple[Priors, Network, np.ndarray]]) -> None:
    _, net, log_lam = nets["mechanisms"]
    a, b = (draw_posterior(net, log_lam, 3000, seed=11) for _ in range(2))
    assert all(np.array_equal(x, y) for x, y in zip(a.marginals, b.marginals, strict=True))
    assert np.array_equal(a.theta, b.theta) and np.array_equal(a.q, b.q)


@pytest.mark.parametrize("name", ["bundled", "mechanisms", "chain"])
def test_the_density_check_holds_with_the_conjugate_rule(nets: dict[str, tuple[Priors, Network, np.ndarray]], name: str) -> None:
    from forecaster.inference.pymc_model import check_draws

    _, net, log_lam = nets[name]
    check = check_draws(net, log_lam, draw_posterior(net, log_lam, 2000, seed=5))
    assert check.checked >= 16 and check.ok, check


def _one_beta_row_off(row: int) -> Rule:
    """The conjugate rule, but one q row gets two counts for an occurrence instead of one."""

    def beta(a: np.ndarray, b: np.ndarray, success: np.ndarray, failure: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a2, b2 = CONJUGATE.beta(a, b, success, failure, rows)
        return a2 + success * (np.asarray(rows) == row), b2

    return Rule(CONJUGATE.dirichlet, beta)


def _one_dirichlet_row_off(entry: int) -> Rule:
    """The conjugate rule, but one θ entry's count is doubled."""

    def dirichlet(alpha: np.ndarray, counts: np.ndarray, index: np.ndarray) -> np.ndarray:
        return CONJUGATE.dirichlet(alpha, counts, index) + counts * (np.asarray(index) == entry)

    return Rule(dirichlet, CONJUGATE.beta)


@pytest.mark.parametrize("name", ["bundled", "mechanisms"])
def test_the_density_check_catches_a_wrong_beta_row(nets: dict[str, tuple[Priors, Network, np.ndarray]], name: str) -> None:
    """Draws made with one Beta row's update wrong are checked against the mixture that rule
    implies: the PyMC model's density disagrees, the check fails, and an update would print no
    interval. The mean check alone could miss it (one row among hundreds moves the mean little)."""
    from forecaster.inference.pymc_model import check_draws

    _, net, log_lam = nets[name]
    row = int(used_rows(net, log_lam)[0])
    wrong = _one_beta_row_off(row)
    check = check_draws(net, log_lam, draw_posterior(net, log_lam, 2000, seed=6, rule=wrong), rule=wrong)
    assert check.checked >= 16 and not check.ok and check.spread > 1e-3, check


def test_the_density_check_catches_a_wrong_dirichlet_row(nets: dict[str, tuple[Priors, Network, np.ndarray]]) -> None:
    from forecaster.inference.pymc_model import check_draws

    _, net, log_lam = nets["mechanisms"]
    wrong = _one_dirichlet_row_off(0)
    check = check_draws(net, log_lam, draw_posterior(net, log_lam, 2000, seed=6, rule=wrong), rule=wrong)
    assert not check.ok and check.spread > 1e-3, check


def test_a_failed_density_check_prints_no_interval(nets: dict[str, tuple[Priors, Network, np.ndarray]], monkeypatch: pytest.MonkeyPatch) -> None:
    """Through run_update: the wrong rule in the sampler makes the run warn and drop its intervals."""
    import forecaster.inference.iid as iid

    priors, net, _ = nets["bundled"]
    reports = load_reports_file(defaults_dir() / "scenarios" / "historical_events.yaml", known=priors.indicator_ids)
    real = iid.sample_iid

    def wrong_sampler(*args: object, **kw: object) -> object:
        folded = net.log_lambda(priors.fold(reports, as_of=AS_OF))
        kw["rule"] = _one_beta_row_off(int(used_rows(net, folded)[0]))
        return real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(iid, "sample_iid", wrong_sampler)
    result = run_update(priors, reports, as_of=AS_OF, net=net, sampler_settings=SamplerSettings(draws=1000))
    assert any(w.startswith("density check failed") for w in result.diagnostics.warnings)
    assert all(np.isnan(s.interval[0]) for h in result.hypotheses for s in h.states)
    assert result.diagnostics.density_spread is not None and result.diagnostics.density_spread > 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("seed", [2, 5, 9, 14, 21])
def test_nuts_intervals_match_the_exact_draws(tmp_path: Path, seed: int) -> None:
    """On random small networks (mechanisms, linear and log pools), NUTS's interval end points lie
    within 4 combined standard errors of the exact draws' (MODEL.md §4)."""
    priors, net, _ = _random(tmp_path, seed, hypotheses=3, states=(2, 3), indicators=12, mechanisms=seed % 2)
    reports = to_reports(random_reports(priors, seed=seed, n=20, as_of=AS_OF))
    exact = run_update(priors, reports, as_of=AS_OF, seed=seed, net=net)
    nuts = run_update(priors, reports, as_of=AS_OF, seed=seed, net=net,
                      sampler_settings=SamplerSettings(draws=2000, tune=400, chains=2, sampler="nuts"))
    assert exact.diagnostics.sampler == "pymc-iid" and nuts.diagnostics.sampler == "pymc-nuts"
    for he, hn in zip(exact.hypotheses, nuts.hypotheses, strict=True):
        for se_, sn in zip(he.states, hn.states, strict=True):
            assert se_.interval_mcse is not None and sn.interval_mcse is not None
            for k in (0, 1):
                err = np.hypot(se_.interval_mcse[k], sn.interval_mcse[k])
                assert abs(se_.interval[k] - sn.interval[k]) <= 4 * err + 1e-9, (seed, he.id, se_.id, k, se_.interval, sn.interval, err)
