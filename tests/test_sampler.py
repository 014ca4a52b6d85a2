"""The PyMC sampler (MODEL.md §4) against the exact engine, with real (small) NUTS runs.

The posterior mean of every P(H = x | E, θ, q) must equal exact inference on the prior-mean
network within Monte Carlo error; the error bound is ArviZ's own Monte Carlo standard error.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from forecaster.core.workspace import defaults_dir
from forecaster.inference.exact import infer_exact
from forecaster.inference.settings import SamplerSettings
from forecaster.inference.update import in_window, window_for
from forecaster.model.evidence import fold, load_reports_file
from forecaster.model.loading import load_priors
from forecaster.model.network import Network, build_network

MINI = Path(__file__).parent / "data" / "mini"
AS_OF = dt.date(2026, 11, 22)
SMALL = SamplerSettings(draws=400, tune=200, chains=2)


def _historical(priors: Any, net: Network) -> np.ndarray:
    reports = load_reports_file(
        defaults_dir() / "scenarios" / "historical_events.yaml",
        known=priors.indicator_ids,
        today=max(AS_OF, dt.date.today()),
    )
    reports = in_window(reports, window_for(AS_OF, priors.evidence_window_days))
    assert len({r.indicator for r in reports}) >= 10
    return net.log_lambda(fold(reports, priors.grades))


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sampler-cache")


@pytest.fixture(autouse=True)
def _cache_env(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORECAST_CACHE_DIR", str(cache_dir))


@pytest.fixture(scope="module")
def mini() -> tuple[Network, np.ndarray, Any]:
    from forecaster.inference import sampler

    priors = load_priors(MINI)
    net = build_network(priors)
    ids = list(net.indicator_ids)
    log_lam = np.zeros((len(ids), 2))
    log_lam[0] = (0.0, np.log(0.18 / 0.82))  # occurred, B2
    log_lam[1] = (np.log(0.32 / 0.68), 0.0)  # did not occur, C3
    return net, log_lam, sampler.build_model(net)


@pytest.fixture(scope="module")
def bundled() -> tuple[Network, np.ndarray, Any]:
    from forecaster.inference import sampler

    priors = load_priors(defaults_dir() / "priors")
    net = build_network(priors)
    return net, _historical(priors, net), sampler.build_model(net)


def _check_against_exact(net: Network, log_lam: np.ndarray, res: Any) -> None:
    import arviz as az

    exact = infer_exact(net, log_lam).posterior
    names = [f"p_{h}" for h in net.hypothesis_ids]
    mcse = az.mcse(res.idata.posterior, var_names=names)
    for h, name in enumerate(names):
        mean = res.draws[h].mean(axis=0)
        bound = 4 * mcse[name].values + 1e-3
        assert np.all(np.abs(mean - exact[h]) <= bound), (name, mean, exact[h], bound)
        assert mean.sum() == pytest.approx(1.0)


@pytest.mark.slow
def test_mini_posterior_means_match_the_exact_engine(mini: tuple[Network, np.ndarray, Any]) -> None:
    from forecaster.inference import sampler

    net, log_lam, model = mini
    res = sampler.sample(net, log_lam, seed=7, settings=SMALL, model=model)
    _check_against_exact(net, log_lam, res)
    assert res.draws[0].shape == (SMALL.chains * SMALL.draws, len(net.states[0]))


@pytest.mark.slow
def test_bundled_network_with_the_historical_events_matches_the_exact_engine(
    bundled: tuple[Network, np.ndarray, Any],
) -> None:
    from forecaster.inference import sampler

    net, log_lam, model = bundled
    res = sampler.sample(net, log_lam, seed=11, settings=SamplerSettings(draws=600, tune=200, chains=2), model=model)
    _check_against_exact(net, log_lam, res)
    assert res.ess_min >= 400 and res.r_hat_max <= 1.01 and res.divergences == 0
    # 600 draws are too few for the interval's error target (issue 9), and say so; nothing else warns
    assert [w for w in res.warnings if "interval end point" not in w] == []
    assert any("interval end point" in w for w in res.warnings) == (res.interval_mcse_max > 0.01)


@pytest.mark.slow
def test_one_compiled_model_serves_any_evidence(mini: tuple[Network, np.ndarray, Any]) -> None:
    """The evidence is data: the same compiled functions give the prior with no report and the
    posterior with reports."""
    from forecaster.inference import sampler

    net, log_lam, model = mini
    first = sampler.sample(net, np.zeros_like(log_lam), seed=3, settings=SMALL, model=model)
    compiled = model._forecast_compiled
    _check_against_exact(net, np.zeros_like(log_lam), first)
    prior = infer_exact(net, np.zeros_like(log_lam)).prior
    assert np.allclose(infer_exact(net, np.zeros_like(log_lam)).posterior[0], prior[0])
    second = sampler.sample(net, log_lam, seed=3, settings=SMALL, model=model)
    assert model._forecast_compiled is compiled
    _check_against_exact(net, log_lam, second)
    assert not np.allclose(first.draws[0].mean(axis=0), second.draws[0].mean(axis=0), atol=1e-3)


@pytest.mark.slow
def test_same_seed_same_draws_and_diagnostics_present(mini: tuple[Network, np.ndarray, Any]) -> None:
    from forecaster.inference import sampler

    net, log_lam, model = mini
    a = sampler.sample(net, log_lam, seed=5, settings=SMALL, model=model)
    b = sampler.sample(net, log_lam, seed=5, settings=SMALL, model=model)
    c = sampler.sample(net, log_lam, seed=6, settings=SMALL, model=model)
    for x, y in zip(a.draws, b.draws, strict=True):
        assert np.array_equal(x, y)
    assert (a.r_hat_max, a.ess_min, a.divergences) == (b.r_hat_max, b.ess_min, b.divergences)
    assert not np.array_equal(a.draws[1], c.draws[1])

    assert np.isfinite(a.r_hat_max) and 0.99 < a.r_hat_max < 1.05
    assert np.isfinite(a.ess_min) and a.ess_min > 100
    assert 0 < a.mcse_max < 0.02
    assert isinstance(a.divergences, int) and a.divergences >= 0
    assert a.seconds > 0 and a.settings == SMALL
    post = a.idata.posterior
    assert post.sizes["chain"] == SMALL.chains and post.sizes["draw"] == SMALL.draws
    for h in net.hypothesis_ids:
        assert f"p_{h}" in post
    assert "q" in post and any(name.startswith("theta_k") for name in post.data_vars)
    assert {"diverging", "tree_depth", "step_size"} <= set(a.idata.sample_stats.data_vars)
    assert isinstance(a.warnings, list)


def test_failed_diagnostics_become_warnings() -> None:
    from forecaster.inference import sampler

    bad = sampler.SampleResult(
        [], r_hat_max=1.2, ess_min=50.0, divergences=3, seconds=1.0, settings=SMALL, mcse_max=0.01
    )
    text = " ".join(bad.warnings)
    assert "R-hat" in text and "ESS" in text and "divergent" in text and "Monte Carlo error" in text
    assert sampler.SampleResult([], float("nan"), float("nan"), 0, 1.0, SMALL).warnings  # NaN never passes
    wide = sampler.SampleResult(
        [], 1.0, 5000.0, 0, 1.0, SMALL, interval_mcse=[np.array([[0.002, 0.013], [0.004, 0.001]])]
    )
    assert wide.interval_mcse_max == 0.013
    assert wide.warnings == ["Monte Carlo error ±0.013 on a 90% interval end point (> 0.01); raise --draws"]


def test_log_ratio_transform_has_the_right_jacobian() -> None:
    """θ = softmax([y, 0]); log|∂θ_{1..K-1}/∂y| must equal Σ_k log θ_k (what the model uses)."""
    import pytensor.tensor as pt

    from forecaster.inference.pymc_adapter import LogRatio

    rng = np.random.default_rng(0)
    tr = LogRatio()
    for k in (2, 3, 5):
        y = rng.normal(size=k - 1)
        theta = tr.backward(pt.as_tensor(y)).eval()
        assert theta.sum() == pytest.approx(1.0)
        assert tr.forward(pt.as_tensor(theta)).eval() == pytest.approx(y)
        eps = 1e-6
        jac = np.empty((k - 1, k - 1))
        for j in range(k - 1):
            d = np.zeros(k - 1)
            d[j] = eps
            up = tr.backward(pt.as_tensor(y + d)).eval()[: k - 1]
            dn = tr.backward(pt.as_tensor(y - d)).eval()[: k - 1]
            jac[:, j] = (up - dn) / (2 * eps)
        assert np.log(abs(np.linalg.det(jac))) == pytest.approx(float(tr.log_jac_det(pt.as_tensor(y)).eval()), abs=1e-6)
        assert float(tr.log_jac_det(pt.as_tensor(y)).eval()) == pytest.approx(np.log(theta).sum())


@pytest.mark.slow
def test_disk_cache_gives_identical_functions_and_survives_corruption(
    mini: tuple[Network, np.ndarray, Any], cache_dir: Path
) -> None:
    """A model compiled fresh and one loaded from the cache evaluate identically and sample the
    same draws; a corrupt cache entry is ignored (and recompiled)."""
    from forecaster.inference import sampler

    net, log_lam, _ = mini
    fresh_model = sampler.build_model(net)
    os.environ["FORECAST_COMPILE_CACHE"] = "0"
    try:
        fresh = sampler._compiled(fresh_model, net)
    finally:
        del os.environ["FORECAST_COMPILE_CACHE"]
    assert not fresh.from_cache
    path = sampler._cache_path(net)
    assert path is not None and path.parent.parent == cache_dir
    if not path.exists():
        sampler._compiled(sampler.build_model(net), net)
    cached_model = sampler.build_model(net)
    cached = sampler._compiled(cached_model, net)
    assert cached.from_cache

    rng = np.random.default_rng(1)
    fresh.set_evidence(log_lam)
    cached.set_evidence(log_lam)
    n = sum(v.size for v in fresh.mean.values())
    for _ in range(5):
        x = rng.normal(size=n)
        lp_a, g_a = fresh.logp_dlogp._pytensor_function(x)
        lp_b, g_b = cached.logp_dlogp._pytensor_function(x)
        assert float(lp_a) == float(lp_b) and np.array_equal(g_a, g_b)
    a = sampler.sample(net, log_lam, seed=9, settings=SMALL, model=fresh_model)
    b = sampler.sample(net, log_lam, seed=9, settings=SMALL, model=cached_model)
    for x, y in zip(a.draws, b.draws, strict=True):
        assert np.array_equal(x, y)

    path.write_bytes(path.read_bytes()[:1000])  # truncated
    again = sampler._compiled(sampler.build_model(net), net)
    assert not again.from_cache
    assert sampler._compiled(sampler.build_model(net), net).from_cache  # rewritten


def test_only_the_sampling_modules_import_pymc() -> None:
    import ast

    root = Path(__file__).parent.parent / "forecaster"
    offenders = []
    for path in root.rglob("*.py"):
        if path.relative_to(root).as_posix() in (
            "inference/sampler.py", "inference/pymc_adapter.py", "inference/pymc_model.py", "inference/iid.py",
        ):
            # NUTS, the adapter that holds the PyMC internals it relies on (issue 11), the model and its
            # density check, and the exact sampler's ArviZ summary (issue 19)
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{path.relative_to(root)}: {n}" for n in names if n.split(".")[0] in ("pymc", "pytensor", "arviz")
            ]
    assert offenders == []
