"""NUTS on the PyMC model (`--sampler nuts`): the independent check of the exact draws in the
test suite, and the fallback for any node a future model adds that breaks conjugacy. With
forecaster.inference.pymc_model and the adapter, the only importers of pymc, pytensor and arviz.

The model is forecaster.inference.pymc_model's (variable elimination in PyTensor). Speed (see
bench/bench_mechanisms.py): the Dirichlets are grouped by number of states and sampled in
log-ratio coordinates, NUTS starts from the exact prior moments, chains run in parallel (forked
processes), and the compiled log-density/gradient and trace functions are kept in a disk cache
keyed by everything they are built from, and checked on load.
"""

from __future__ import annotations

import logging
import os
import pickle
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# first: the adapter gives PyTensor its compile folder before anything imports PyTensor
from forecaster.inference import background, compile_times, pymc_model
from forecaster.inference import pymc_adapter as adapter
from forecaster.inference.interrupt import check_complete, interruptible
from forecaster.inference.pymc_adapter import PrecompiledTrace, QuadPotentialDiagAdapt
from forecaster.inference.pymc_model import build_model, groups
from forecaster.inference.sampled import ESS_MIN, MCSE_MAX, R_HAT_MAX, SampleResult
from forecaster.inference.settings import INTERVAL_PROBS, SamplerSettings

__all__ = ["ESS_MIN", "MCSE_MAX", "R_HAT_MAX", "SampleResult", "build_model", "sample"]
from forecaster.model.network import Network

warnings.filterwarnings("ignore", category=FutureWarning, module="arviz")


import arviz as az  # noqa: E402
import pymc as pm  # noqa: E402
import pytensor  # noqa: E402
from pytensor.compile.mode import Mode  # noqa: E402
from scipy.special import digamma, polygamma  # noqa: E402

for _name in ("pymc", "pymc.sampling.mcmc", "pymc.stats.convergence", "pytensor"):
    logging.getLogger(_name).setLevel(logging.ERROR)

# ArviZ would JIT-compile its variance kernel with numba on first use (~0.4 s per process,
# never cached); numpy is as fast for a few thousand draws.
az.Numba.disable_numba()

#: PyTensor compilation mode: full rewrites, C backend, no garbage collection of intermediate
#: results between calls (they are tiny and reused on every gradient evaluation).
MODE = Mode(linker="cvm_nogc", optimizer="fast_run")
_MODE_TAG = "cvm_nogc+fast_run"
#: For the throwaway functions `pm.sample` compiles (initial points): no rewrites, no C.
_PLAIN = Mode(linker="py", optimizer="None")

#: Bump when the layout of a cache entry changes.
_CACHE_FORMAT = 1
#: Cache entries kept (least recently used go first); one per priors version and code version.
_CACHE_KEEP = 24


# ---------------------------------------------------------------------------------- NUTS


def _prior_moments(model: pm.Model, net: Network) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Mean and variance of every value variable under the prior, in NUTS's coordinates.

    Exact for both transforms: a log-ratio of Dirichlet(α) components and the log-odds of a
    Beta(a, b) are log G_k − log G_K with independent G ~ Gamma, whose mean is ψ(α_k) − ψ(α_K)
    and variance ψ′(α_k) + ψ′(α_K).
    """
    params: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for k, hs in groups(net):
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


# --------------------------------------------------------------------- compiled functions


@dataclass
class _Compiled:
    """What sampling needs beyond the model, compiled once per model (and cached on disk)."""

    logp_dlogp: Any  # pymc ValueGradFunction over the raveled value variables
    trace_fn: Any  # pytensor Function: value variables -> traced variables
    trace_names: list[str]
    mean: dict[str, np.ndarray]
    var: dict[str, np.ndarray]
    evidence: list[Any]  # the shared `log_lambda` variables these functions read
    from_cache: bool = False

    def set_evidence(self, log_lambda: np.ndarray) -> None:
        for shared in self.evidence:
            shared.set_value(np.asarray(log_lambda, dtype=np.float64))


def _evidence_vars(*fns: Any) -> list[Any]:
    out: list[Any] = []
    for fn in fns:
        for shared in fn.get_shared():
            if shared.name == "log_lambda" and not any(shared is s for s in out):
                out.append(shared)
    return out


def _compile(model: pm.Model, net: Network, mean: dict[str, np.ndarray]) -> tuple[Any, Any, list[str]]:
    point = {v.name: mean[v.name] for v in model.value_vars}
    logp_dlogp = model.logp_dlogp_function(ravel_inputs=True, initial_point=point, mode=MODE)
    names = [f"p_{h}" for h in net.hypothesis_ids] + [rv.name for rv in model.free_RVs]
    outputs = model.replace_rvs_by_values([model[n] for n in names])
    trace_fn = pm.pytensorf.compile(
        inputs=[pytensor.In(v, borrow=True) for v in model.value_vars],
        outputs=[pytensor.Out(v, borrow=True) for v in outputs],
        on_unused_input="ignore",
        mode=MODE,
    )
    return logp_dlogp, trace_fn, names


def _compiled(model: pm.Model, net: Network, notify: Callable[[str], None] | None = None) -> _Compiled:
    """The model's compiled functions: from the model, else the disk cache, else compiled (saying
    so through `notify` before and after: a first run compiles for many seconds)."""
    cached = getattr(model, "_forecast_compiled", None)
    if cached is not None:
        return cached
    mean, var = _prior_moments(model, net)
    adapter.preset_march_flags(_cache_root())
    path = _cache_path(net)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. PyTensor's "could not link to a BLAS installation"
        loaded = _cache_load(path, model, net, mean) if path is not None else None
        if loaded is not None:
            logp_dlogp, trace_fn, names = loaded
        else:
            if notify is not None:
                guess = compile_times.estimate(_cache_root(), Path(pytensor.config.compiledir))
                notify(f"compiling the model for this network (first run; ~{guess:.0f} s)")
            started = time.perf_counter()
            logp_dlogp, trace_fn, names = _compile(model, net, mean)
            if path is not None:
                _cache_store(path, model, net, mean, logp_dlogp, trace_fn, names)
            took = time.perf_counter() - started
            compile_times.record(_cache_root(), took)
            if notify is not None:
                kept = "cached for the next runs" if path is not None else "not cached: FORECAST_COMPILE_CACHE is off"
                notify(f"compiling took {took:.1f} s; {kept}")
    adapter.store_march_flags(_cache_root())
    # NUTS calls the compiled function directly with float64 vectors of the right length
    logp_dlogp.trust_input = True
    adapter.raw_function(logp_dlogp).trust_input = True
    trace_fn.trust_input = True
    comp = _Compiled(
        logp_dlogp,
        trace_fn,
        names,
        mean,
        var,
        _evidence_vars(adapter.raw_function(logp_dlogp), trace_fn),
        from_cache=loaded is not None,
    )
    model._forecast_compiled = comp  # type: ignore[attr-defined]
    return comp


# --------------------------------------------------------------------------- the disk cache

_cache_root = pymc_model.cache_root


def _cache_key(net: Network) -> str:
    """Everything the compiled functions are built from: this module's code, the library
    versions and compiler settings, and every array of the network."""
    c = pytensor.config
    return pymc_model.fingerprint(
        net, _CACHE_FORMAT, Path(__file__).read_bytes(), (_MODE_TAG, c.floatX, c.cxx, c.gcc__cxxflags, c.compiledir)
    )


def _cache_path(net: Network) -> Path | None:
    root = _cache_root()
    if root is None:
        return None
    try:
        return root / f"model-{_cache_key(net)}.pkl"
    except OSError:  # pragma: no cover - source not readable
        return None


def _check_inputs(
    model: pm.Model, net: Network, mean: dict[str, np.ndarray]
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """A fixed point and fixed evidence at which a cached function must reproduce its values."""
    x = np.concatenate([mean[v.name].ravel() + 0.1 for v in model.value_vars])
    point = {v.name: mean[v.name] + 0.1 for v in model.value_vars}
    n = len(net.indicator_ids)
    log_lam = np.zeros((n, 2))
    log_lam[np.arange(n) % 3 == 1, 1] = -1.3
    log_lam[np.arange(n) % 3 == 2, 0] = -0.7
    return x, point, log_lam


def _evaluate(
    logp_dlogp: Any, trace_fn: Any, x: np.ndarray, point: dict[str, np.ndarray], log_lam: np.ndarray
) -> list[np.ndarray]:
    for shared in _evidence_vars(adapter.raw_function(logp_dlogp), trace_fn):
        shared.set_value(log_lam)
    lp, grad = adapter.raw_function(logp_dlogp)(x)
    traced = trace_fn(**point)
    return [np.array(lp, dtype=np.float64).reshape(1), np.array(grad), *(np.array(t) for t in traced)]


def _cache_store(
    path: Path,
    model: pm.Model,
    net: Network,
    mean: dict[str, np.ndarray],
    logp_dlogp: Any,
    trace_fn: Any,
    names: list[str],
) -> None:
    try:
        x, point, log_lam = _check_inputs(model, net, mean)
        expected = _evaluate(logp_dlogp, trace_fn, x, point, log_lam)
        blob = pickle.dumps(
            {
                "format": _CACHE_FORMAT,
                "logp_dlogp": logp_dlogp,
                "trace_fn": trace_fn,
                "names": names,
                "expected": expected,
            },
            protocol=pickle.HIGHEST_PROTOCOL,
        )
        from forecaster.core.safe_cache import write_private

        write_private(path, blob)  # 0600 in 0700 folders, whatever the umask
        entries = sorted(path.parent.glob("model-*.pkl"), key=lambda f: f.stat().st_mtime, reverse=True)
        for old in entries[_CACHE_KEEP:]:
            old.unlink(missing_ok=True)
    except Exception:  # a cache is an optimisation: never fail a run because of it
        return


def _cache_load(
    path: Path, model: pm.Model, net: Network, mean: dict[str, np.ndarray]
) -> tuple[Any, Any, list[str]] | None:
    """The cached functions, if present and if they reproduce their recorded values exactly."""
    try:
        data = pymc_model.read_cache(path, _CACHE_FORMAT)
        if data is None:
            return None
        logp_dlogp, trace_fn, names = data["logp_dlogp"], data["trace_fn"], list(data["names"])
        expected_names = [f"p_{h}" for h in net.hypothesis_ids] + [rv.name for rv in model.free_RVs]
        if names != expected_names:
            return None
        x, point, log_lam = _check_inputs(model, net, mean)
        got = _evaluate(logp_dlogp, trace_fn, x, point, log_lam)
        expected = data["expected"]
        if len(got) != len(expected) or not all(
            a.shape == b.shape and np.array_equal(a, b, equal_nan=True) for a, b in zip(got, expected, strict=True)
        ):
            return None
        os.utime(path)  # recently used: kept by the pruning in _cache_store
        return logp_dlogp, trace_fn, names
    except Exception:  # unreadable, truncated, from another library version: recompile
        return None


# ------------------------------------------------------------------------------ sampling


def _constrained(model: pm.Model, point: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A point in NUTS's coordinates as values of the random variables themselves (θ, q): given
    so, PyMC's initial-point function is a plain forward transform of constants (cheap to build)."""
    out = {}
    for rv in model.free_RVs:
        y = point[model.rvs_to_values[rv].name]
        if rv.name.startswith("theta_k"):
            z = np.concatenate([y, np.zeros(y.shape[:-1] + (1,))], axis=-1)
            z = np.exp(z - z.max(axis=-1, keepdims=True))
            out[rv.name] = z / z.sum(axis=-1, keepdims=True)
        else:
            out[rv.name] = 1.0 / (1.0 + np.exp(-y))
    return out


_MODELS: dict[str, pm.Model] = {}


def _model_for(net: Network) -> pm.Model:
    """One model (and its compiled functions) per network per process: a caller that does not
    keep the model itself still compiles or loads it once."""
    try:
        key = _cache_key(net)
    except OSError:  # pragma: no cover - source not readable
        return build_model(net)
    model = _MODELS.get(key)
    if model is None:
        model = build_model(net)
        if len(_MODELS) >= 4:
            _MODELS.pop(next(iter(_MODELS)))
        _MODELS[key] = model
    return model


def _cores(chains: int) -> int:
    """Chains run in parallel in forked processes (they inherit the compiled functions)."""
    if chains < 2 or not background.fork_available():
        return 1
    return max(1, min(chains, background.cores()))


def _summarise(idata: Any, net: Network, settings: SamplerSettings, start: float) -> SampleResult:
    """The hypothesis marginals' draws, convergence figures (ArviZ) and 80% intervals with their MCSE."""
    names = [f"p_{h}" for h in net.hypothesis_ids]
    post = idata.posterior
    check_complete(post.sizes, chains=settings.chains, draws=settings.draws)
    draws = [post[n].values.reshape(-1, post[n].shape[-1]) for n in names]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one chain: R-hat is undefined (NaN) and reported so
        rhat = az.rhat(post, var_names=names)
        ess = az.ess(post, var_names=names)
        r_hat_max = float(max(np.nanmax(rhat[n].values) for n in names))
        ess_min = float(min(np.nanmin(ess[n].values) for n in names))
        mcse = az.mcse(post, var_names=names)
        mean_mcse = [np.asarray(mcse[n].values, dtype=np.float64) for n in names]
        mcse_max = float(max(np.nanmax(m) for m in mean_mcse))
        interval = [np.quantile(d, INTERVAL_PROBS, axis=0) for d in draws]
        interval_mcse = [np.empty_like(iv) for iv in interval]
        for i, prob in enumerate(INTERVAL_PROBS):
            q_mcse = az.mcse(post, var_names=names, method="quantile", prob=prob)
            for h, n in enumerate(names):
                interval_mcse[h][i] = np.asarray(q_mcse[n].values, dtype=np.float64)
    divergences = int(idata.sample_stats["diverging"].values.sum())
    return SampleResult(
        draws, r_hat_max, ess_min, divergences, time.perf_counter() - start, settings, idata, mcse_max=mcse_max,
        mean_mcse=mean_mcse, interval=interval, interval_mcse=interval_mcse,
    )


def sample(
    net: Network,
    log_lambda: np.ndarray,
    *,
    seed: int,
    settings: SamplerSettings = SamplerSettings(),
    progress: bool = False,
    model: pm.Model | None = None,
    notify: Callable[[str], None] | None = None,
) -> SampleResult:
    """Draw (θ, q) from their posterior with PyMC's NUTS and summarise the hypothesis marginals
    with ArviZ. Each chain starts from its own point drawn around the prior mean, and the mass
    matrix starts at the prior variances (both exact, from α, a, b), so tuning can be short."""
    start = time.perf_counter()
    adapter.fast_clock()
    model = model or _model_for(net)
    comp = _compiled(model, net, notify)
    log_lambda = np.asarray(log_lambda, dtype=np.float64)
    rng = np.random.default_rng(seed)
    value_names = [v.name for v in model.value_vars]
    initvals = [
        {n: comp.mean[n] + np.sqrt(comp.var[n]) * rng.uniform(-1.0, 1.0, size=comp.mean[n].shape) for n in value_names}
        for _ in range(settings.chains)
    ]
    mean = np.concatenate([comp.mean[n].ravel() for n in value_names])
    var = np.concatenate([comp.var[n].ravel() for n in value_names])
    cores = _cores(settings.chains)
    trace_vars = model.replace_rvs_by_values([model[n] for n in comp.trace_names])
    for v, n in zip(trace_vars, comp.trace_names, strict=True):
        v.name = n
    with model, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pm.set_data({"log_lambda": log_lambda})
        comp.set_evidence(log_lambda)
        trace = PrecompiledTrace(model=model, vars=trace_vars, test_point=initvals[0], fn=comp.trace_fn)
        step = pm.NUTS(
            model=model,
            potential=QuadPotentialDiagAdapt(len(mean), mean, var, 10, rng=seed),
            logp_dlogp_func=comp.logp_dlogp,
            target_accept=settings.target_accept,
            initial_point=initvals[0],
            rng=seed,
        )
        # Inside pm.sample only the per-chain initial-point functions get compiled (the step and
        # the trace bring their own); they map given values to themselves, evaluated once per
        # chain, so they need neither rewrites nor C (≈0.3 s saved per process).
        with pytensor.config.change_flags(mode=_PLAIN), interruptible() as guard:
            idata = guard.call(  # an interrupt PyMC swallowed is raised, whatever PyMC returned
                pm.sample,
                draws=settings.draws,
                tune=settings.tune,
                chains=settings.chains,
                cores=cores,
                step=step,
                initvals=[_constrained(model, point) for point in initvals],
                trace=trace,
                random_seed=seed,
                mp_ctx="fork" if cores > 1 else None,
                progressbar=progress,
                compute_convergence_checks=False,
                return_inferencedata=True,
                idata_kwargs={"log_likelihood": False},
            )
        guard.check()  # PyMC returns what it has on Ctrl-C: an interrupted run stops here
    return _summarise(idata, net, settings, start)
