"""The PyMC model of MODEL.md §4 — the only module that imports pymc, pytensor or arviz.

θ and q are random variables with the pooled Dirichlet/Beta priors; the discrete hypothesis
states are summed out exactly (logsumexp over joint states) and the hypothesis marginals are
kept as deterministics. The evidence enters as data (`log_lambda`, one row per indicator in the
catalogue, zeros where nothing was reported), so one compiled model serves any set of reports.
All indicator tables live in one vectorised Beta.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from forecaster.inference import SamplerSettings
from forecaster.network import Network

warnings.filterwarnings("ignore", category=FutureWarning, module="arviz")

import arviz as az  # noqa: E402
import pymc as pm  # noqa: E402
import pytensor  # noqa: E402
import pytensor.tensor as pt  # noqa: E402
from pytensor.compile.mode import Mode  # noqa: E402
from pymc.backends.ndarray import NDArray  # noqa: E402
from pymc.logprob.transforms import Transform  # noqa: E402
from pymc.step_methods.hmc.quadpotential import QuadPotentialDiagAdapt  # noqa: E402
from scipy.special import digamma, polygamma  # noqa: E402

for _name in ("pymc", "pymc.sampling.mcmc", "pymc.stats.convergence", "pytensor"):
    logging.getLogger(_name).setLevel(logging.ERROR)

R_HAT_MAX = 1.01
ESS_MIN = 400

#: PyTensor compilation mode for the sampler's functions: full rewrites, C backend, and no
#: garbage collection of intermediate results between calls (they are tiny and reused).
MODE = Mode(linker="cvm_nogc", optimizer="fast_run")


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


class LogRatio(Transform):
    """Additive log-ratio coordinates for a simplex (last axis): θ = softmax([y, 0]).

    The log-Jacobian of y ↦ θ is Σ_k log θ_k, so a Dirichlet(α) in these coordinates has the
    log-density Σ_k α_k log θ_k + const: a smaller graph (and gradient) than PyMC's default
    simplex transform, for the same distribution of θ.
    """

    name = "logratio"

    def forward(self, value, *inputs):
        log_value = pt.log(value)
        return log_value[..., :-1] - log_value[..., -1:]

    def backward(self, value, *inputs):
        return pt.special.softmax(_pad_zero(value), axis=-1)

    def log_jac_det(self, value, *inputs):
        return pt.sum(pt.special.log_softmax(_pad_zero(value), axis=-1), axis=-1)


def _pad_zero(value):
    return pt.concatenate([value, pt.zeros_like(value[..., :1])], axis=-1)


@dataclass(frozen=True)
class _Layout:
    """Constants that map the network's tables onto the joint hypothesis states.

    The θ tables are grouped by their number of states (one Dirichlet per group); `theta_to_joint`
    (P, S) counts how often each flat θ entry (in group order) enters log P(s | θ); `q_to_joint`
    (R, S) the same for each indicator-table row; `q_indicator` (R,) the indicator of each row;
    `marginals` (S, ΣK) the one-hot maps from joint states to each hypothesis' states.
    """

    groups: tuple[tuple[int, tuple[int, ...]], ...]  # (K, hypotheses with K states)
    theta_to_joint: np.ndarray
    q_to_joint: np.ndarray
    q_indicator: np.ndarray
    marginals: np.ndarray
    sizes: tuple[int, ...]


def _layout(net: Network) -> _Layout:
    sizes = tuple(len(s) for s in net.states)
    n_joint = net.n_joint
    cols = np.arange(n_joint)
    groups = tuple((k, tuple(h for h, kh in enumerate(sizes) if kh == k)) for k in sorted(set(sizes)))
    order = [
        i
        for _, hs in groups
        for h in hs
        for i in range(net.theta_offsets[h], net.theta_offsets[h] + net.alpha[h].size)
    ]
    position = np.empty(len(order), dtype=np.int64)
    position[np.asarray(order, dtype=np.int64)] = np.arange(len(order))
    theta_to_joint = np.zeros((len(order), n_joint))
    for row in net.theta_index:
        np.add.at(theta_to_joint, (position[row], cols), 1.0)
    n_rows = len(net.q_a)
    q_to_joint = np.zeros((n_rows, n_joint))
    for row in net.q_index:
        np.add.at(q_to_joint, (row, cols), 1.0)
    bounds = [*net.q_offsets, n_rows]
    q_indicator = np.repeat(np.arange(len(net.q_offsets)), np.diff(bounds)).astype(np.int64)
    marginals = np.hstack(net.marginal_matrices())
    return _Layout(groups, theta_to_joint, q_to_joint, q_indicator, marginals, sizes)


def build_model(net: Network) -> pm.Model:
    """The model for `net`, with its evidence as mutable data (set with `pm.set_data`)."""
    lay = _layout(net)
    with pm.Model(check_bounds=False) as model:
        log_lam = pm.Data("log_lambda", np.zeros((len(net.indicator_ids), 2)))
        log_theta = []
        for k, hs in lay.groups:
            alpha = np.vstack([net.alpha[h] for h in hs])
            theta = pm.Dirichlet(f"theta_k{k}", a=alpha, default_transform=LogRatio())
            log_theta.append(pt.log(theta).ravel())
        flat = log_theta[0] if len(log_theta) == 1 else pt.concatenate(log_theta)
        # log P(s | θ) for every joint state s: a sum over one-hot counts, as an elementwise
        # product and a sum (cheap to differentiate, unlike advanced indexing).
        logp = (flat[:, None] * lay.theta_to_joint).sum(axis=0)
        if len(net.indicator_ids):
            q = pm.Beta("q", alpha=net.q_a, beta=net.q_b)
            lam = pt.exp(log_lam)[lay.q_indicator]  # (R, 2); (1, 1) for an indicator with no report
            # log(λ1 q + λ0 (1 − q)) per table row; 0 for rows of unreported indicators
            terms = pt.log(lam[:, 1] + (lam[:, 0] - lam[:, 1]) * q)
            logp = logp + (terms[:, None] * lay.q_to_joint).sum(axis=0)
        pm.Potential("evidence", pt.logsumexp(logp))
        joint = pt.special.softmax(logp)
        marg = (joint[:, None] * lay.marginals).sum(axis=0)
        start = 0
        for h, k in zip(net.hypothesis_ids, lay.sizes, strict=True):
            pm.Deterministic(f"p_{h}", marg[start : start + k])
            start += k
    model._forecast_layout = lay  # type: ignore[attr-defined]
    model._forecast_net = net  # type: ignore[attr-defined]
    return model


def _prior_moments(model: pm.Model, net: Network) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Mean and variance of every value variable under the prior, in NUTS's coordinates.

    For log-ratio coordinates of Dirichlet(α) and the log-odds of Beta(a, b) these are exact:
    log G_k − log G_K with independent G_k ~ Gamma(α_k) has mean ψ(α_k) − ψ(α_K) and variance
    ψ′(α_k) + ψ′(α_K).
    """
    lay: _Layout = model._forecast_layout  # type: ignore[attr-defined]
    params: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for k, hs in lay.groups:
        alpha = np.vstack([net.alpha[h] for h in hs])
        params[f"theta_k{k}"] = (alpha[:, :-1], alpha[:, -1:])
    if len(net.indicator_ids):
        params["q"] = (net.q_a, net.q_b)
    mean, var = {}, {}
    for rv in model.free_RVs:
        a, b = params[rv.name]
        name = model.rvs_to_values[rv].name
        mean[name] = digamma(a) - digamma(b)
        var[name] = polygamma(1, a) + polygamma(1, b)
    return mean, var


class _Trace(NDArray):
    """PyMC's in-memory trace with a precompiled point function; `pm.sample` copies the one it
    is given for each chain, so a copy starts empty (a plain shallow copy would share storage)."""

    def __copy__(self) -> _Trace:
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.samples = {}
        new._stats = None
        new.draws = None
        new.draw_idx = 0
        return new


@dataclass
class _Compiled:
    """What sampling needs beyond the model: compiled once per model and reused."""

    logp_dlogp: Any
    trace: _Trace
    mean: dict[str, np.ndarray]
    var: dict[str, np.ndarray]


def _compiled(model: pm.Model, net: Network) -> _Compiled:
    cached = getattr(model, "_forecast_compiled", None)
    if cached is not None:
        return cached
    mean, var = _prior_moments(model, net)
    point = {v.name: mean[v.name] for v in model.value_vars}
    logp_dlogp = model.logp_dlogp_function(ravel_inputs=True, initial_point=point, mode=MODE)
    logp_dlogp.trust_input = True
    # NUTS calls the compiled function directly with float64 vectors of the right length
    logp_dlogp._pytensor_function.trust_input = True
    names = [f"p_{h}" for h in net.hypothesis_ids] + [rv.name for rv in model.free_RVs]
    trace_vars = model.replace_rvs_by_values([model[n] for n in names])
    for v, n in zip(trace_vars, names, strict=True):
        v.name = n
    fn = pm.pytensorf.compile(
        inputs=[pytensor.In(v, borrow=True) for v in model.value_vars],
        outputs=[pytensor.Out(v, borrow=True) for v in trace_vars],
        on_unused_input="ignore",
        mode=MODE,
    )
    fn.trust_input = True
    trace = _Trace(model=model, vars=trace_vars, test_point=point, fn=fn)
    out = _Compiled(logp_dlogp, trace, mean, var)
    model._forecast_compiled = out  # type: ignore[attr-defined]
    return out


def _cores(chains: int) -> int:
    if chains < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(chains, cpus))


def sample(
    net: Network,
    log_lambda: np.ndarray,
    *,
    seed: int,
    settings: SamplerSettings = SamplerSettings(),
    progress: bool = False,
    model: pm.Model | None = None,
) -> SampleResult:
    """Draw (θ, q) from their posterior with PyMC's NUTS and summarise the hypothesis marginals
    with ArviZ. Chains start from dispersed points of the prior and the mass matrix starts at the
    prior variances (both exact, computed from α, a, b), so a short tuning phase suffices."""
    start = time.perf_counter()
    model = model or build_model(net)
    comp = _compiled(model, net)
    rng = np.random.default_rng(seed)
    value_names = [v.name for v in model.value_vars]
    initvals = [
        {n: comp.mean[n] + np.sqrt(comp.var[n]) * rng.uniform(-1.0, 1.0, size=comp.mean[n].shape) for n in value_names}
        for _ in range(settings.chains)
    ]
    mean = np.concatenate([comp.mean[n].ravel() for n in value_names])
    var = np.concatenate([comp.var[n].ravel() for n in value_names])
    cores = _cores(settings.chains)
    with model, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pm.set_data({"log_lambda": log_lambda})
        potential = QuadPotentialDiagAdapt(len(mean), mean, var, 10, rng=seed)
        step = pm.NUTS(
            model=model,
            potential=potential,
            logp_dlogp_func=comp.logp_dlogp,
            target_accept=settings.target_accept,
            initial_point=initvals[0],
            rng=seed,
        )
        idata = pm.sample(
            draws=settings.draws,
            tune=settings.tune,
            chains=settings.chains,
            cores=cores,
            step=step,
            initvals=initvals,
            trace=comp.trace,
            random_seed=seed,
            mp_ctx="fork" if cores > 1 else None,
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
