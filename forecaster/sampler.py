"""The PyMC model of MODEL.md §4 — the only module that imports pymc, pytensor or arviz.

θ and q are random variables with the pooled Dirichlet/Beta priors; the discrete hypothesis
states are summed out exactly (logsumexp over joint states) and the hypothesis marginals are
kept as deterministics. The evidence enters as data (`log_lambda`, one row per indicator in the
catalogue, zeros where nothing was reported), so one compiled model serves any set of reports.
All indicator tables live in one vectorised Beta, gathered with index arrays.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from forecaster.inference import SamplerSettings
from forecaster.network import Network

os.environ.setdefault("PYTENSOR_FLAGS", "")
warnings.filterwarnings("ignore", category=FutureWarning, module="arviz")

import arviz as az  # noqa: E402
import pymc as pm  # noqa: E402
import pytensor.tensor as pt  # noqa: E402

for _name in ("pymc", "pymc.sampling.mcmc", "pymc.stats.convergence", "pytensor"):
    logging.getLogger(_name).setLevel(logging.ERROR)

R_HAT_MAX = 1.01
ESS_MIN = 400


@dataclass(frozen=True)
class SampleResult:
    """Per hypothesis: draws of P(H = x | E, θ, q), shape (chains*draws, K)."""

    draws: list[np.ndarray]
    r_hat_max: float
    ess_min: float
    divergences: int
    seconds: float
    settings: SamplerSettings
    idata: Any = field(repr=False, default=None)

    @property
    def warnings(self) -> list[str]:
        out = []
        if not self.r_hat_max <= R_HAT_MAX:
            out.append(f"R-hat {self.r_hat_max:.3f} > {R_HAT_MAX}: chains disagree; raise --draws or --tune")
        if not self.ess_min >= ESS_MIN:
            out.append(f"ESS {self.ess_min:.0f} < {ESS_MIN}: too few effective draws; raise --draws")
        if self.divergences:
            out.append(f"{self.divergences} divergent transitions: treat intervals with caution; raise --target-accept")
        return out


def build_model(net: Network) -> pm.Model:
    """The model for `net`, with its evidence as mutable data (set with `pm.set_data`)."""
    marg = net.marginal_matrices()
    with pm.Model() as model:
        log_lam = pm.Data("log_lambda", np.zeros((len(net.indicator_ids), 2)))
        thetas = [pm.Dirichlet(f"theta_{h}", a=a) for h, a in zip(net.hypothesis_ids, net.alpha, strict=True)]
        theta_flat = pt.concatenate([t.flatten() for t in thetas])
        log_prior = pt.log(theta_flat)[net.theta_index].sum(axis=0)
        logp = log_prior
        if len(net.indicator_ids):
            q = pm.Beta("q", alpha=net.q_a, beta=net.q_b)
            qs = q[net.q_index]  # (J, S)
            lam = pt.exp(log_lam)
            logp = logp + pt.log(lam[:, 0, None] * qs + lam[:, 1, None] * (1.0 - qs)).sum(axis=0)
        pm.Potential("evidence", pm.math.logsumexp(logp))
        joint = pt.special.softmax(logp)
        for h, m in zip(net.hypothesis_ids, marg, strict=True):
            pm.Deterministic(f"p_{h}", pt.dot(joint, m))
    return model


def sample(
    net: Network,
    log_lambda: np.ndarray,
    *,
    seed: int,
    settings: SamplerSettings = SamplerSettings(),
    progress: bool = False,
    model: pm.Model | None = None,
) -> SampleResult:
    """Draw (θ, q) from their posterior and summarise the hypothesis marginals with ArviZ."""
    model = model or build_model(net)
    start = time.perf_counter()
    with model:
        pm.set_data({"log_lambda": log_lambda})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            idata = pm.sample(
                draws=settings.draws,
                tune=settings.tune,
                chains=settings.chains,
                cores=1,
                random_seed=seed,
                target_accept=settings.target_accept,
                progressbar=progress,
                compute_convergence_checks=False,
                return_inferencedata=True,
                idata_kwargs={"log_likelihood": False},
            )
    names = [f"p_{h}" for h in net.hypothesis_ids]
    post = idata.posterior
    draws = [post[n].values.reshape(-1, post[n].shape[-1]) for n in names]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rhat = az.rhat(post, var_names=names)
        ess = az.ess(post, var_names=names)
    r_hat_max = float(max(np.nanmax(rhat[n].values) for n in names))
    ess_min = float(min(np.nanmin(ess[n].values) for n in names))
    divergences = int(idata.sample_stats["diverging"].values.sum())
    return SampleResult(draws, r_hat_max, ess_min, divergences, time.perf_counter() - start, settings, idata)
