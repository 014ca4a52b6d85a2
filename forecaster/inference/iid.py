"""The default sampler: exact i.i.d. posterior draws (forecaster.inference.draws), judged by the
PyMC model (forecaster.inference.pymc_model), summarised as NUTS's draws are (`SampleResult`,
ArviZ InferenceData for the run log). Imports pymc through the model.

Why not `pm.sample` with a step method that hands out these draws: it would make PyMC call the
step once per draw (~80 µs each, 2 × 5000 draws) and compile the step's and the trace's functions
(17–32 s of C on a fresh machine, ~3.6 s even in FAST_COMPILE); the draws would be the same
numbers. What PyMC has to say about a draw is its log density, so that is what is asked: at
`CHECKED_DRAWS` draws, log p_PyMC − log q must be one constant (MODEL.md §4), or the run prints no
interval. The model is evaluated with PyTensor's Python linker: nothing to compile in C.
"""

from __future__ import annotations

import importlib
import threading
import time
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from forecaster.inference.draws import CONJUGATE, PosteriorDraws, Rule, draw_posterior
from forecaster.inference.exact import cells_per_draw
from forecaster.inference.mcse import quantiles_iid
from forecaster.inference.sampled import SampleResult
from forecaster.inference.settings import (
    IID_DRAW_OVERHEAD,
    IID_DRAWS_MAX,
    IID_MCSE_TARGET,
    IID_WORK_BUDGET,
    INTERVAL_PROBS,
    SamplerSettings,
)
from forecaster.model.network import Network

if TYPE_CHECKING:
    from forecaster.inference.pymc_model import DensityCheck

#: The module that imports PyMC (≈3 s): imported in a thread while the draws are made (numpy
#: releases the GIL in its loops, so on two cores the two overlap).
MODEL_MODULE = "forecaster.inference.pymc_model"
_PREFETCH: list[threading.Thread] = []


def prefetch_model() -> None:
    """Start importing PyMC in the background (once per process); `sample_iid` waits for it."""
    if not _PREFETCH:
        warnings.filterwarnings("ignore", category=FutureWarning, module="arviz")  # its refactor notice
        thread = threading.Thread(target=importlib.import_module, args=(MODEL_MODULE,), name="import-pymc", daemon=True)
        thread.start()
        _PREFETCH.append(thread)


def _merge(a: PosteriorDraws, b: PosteriorDraws) -> PosteriorDraws:
    return PosteriorDraws(
        [np.concatenate([x, y]) for x, y in zip(a.marginals, b.marginals, strict=True)],
        np.concatenate([a.log_evidence, b.log_evidence]), a.theta, a.q,
    )


def draws_to_target(
    net: Network, log_lam: np.ndarray, *, seed: int, n: int, target: float = IID_MCSE_TARGET, most: int = IID_DRAWS_MAX,
    rule: Rule = CONJUGATE,
) -> PosteriorDraws:
    """n exact draws, then more (fresh draws, derived seeds) until every interval end point's
    order-statistic MCSE is at most `target`, or `most` draws, or the work budget is reached
    (IID_WORK_BUDGET; never below n). Deterministic for a seed."""
    draws = draw_posterior(net, log_lam, n, seed=seed, rule=rule)
    most = max(n, min(most, IID_WORK_BUDGET // (cells_per_draw(net, log_lam) + IID_DRAW_OVERHEAD)))
    round_ = 0
    while draws.n < most:
        worst = max(float(quantiles_iid(m, INTERVAL_PROBS)[1].max()) for m in draws.marginals)
        if worst <= target:
            break
        round_ += 1
        # the MCSE falls as 1/sqrt(draws): ask for what should reach the target, with 10 % to spare
        wanted = int(draws.n * ((worst / target) ** 2 * 1.1 - 1.0)) + 1
        more = draw_posterior(net, log_lam, min(max(wanted, 1000), most - draws.n), seed=seed + 104_729 * round_, rule=rule, kept=0)
        draws = _merge(draws, more)
    return draws


def _idata(net: Network, draws: PosteriorDraws, chains: int) -> object:
    """The draws of P(H | E, θ, q, m) as ArviZ InferenceData, shaped (chains, draws per chain) like
    NUTS's. The parameters themselves are not kept (tens of MB a run): the seed redraws them."""
    import arviz as az

    n = draws.n - draws.n % chains
    per = n // chains

    def shaped(x: np.ndarray) -> np.ndarray:
        return x[:n].reshape(chains, per, *x.shape[1:])

    post = {f"p_{h}": shaped(m) for h, m in zip(net.hypothesis_ids, draws.marginals, strict=True)}
    return az.from_dict(posterior=post)


def sample_iid(
    net: Network,
    log_lambda: np.ndarray,
    *,
    seed: int,
    settings: SamplerSettings = SamplerSettings(),
    rule: Rule = CONJUGATE,
    say: Callable[[str], None] | None = None,
    notify: Callable[[str], None] | None = None,
) -> tuple[SampleResult, DensityCheck]:
    """Exact posterior draws summarised as a SampleResult, and the density check against PyMC."""
    start = time.perf_counter()
    prefetch_model()
    log_lambda = np.asarray(log_lambda, dtype=np.float64)
    draws = draws_to_target(net, log_lambda, seed=seed, n=settings.draws * settings.chains, rule=rule)
    if say is not None:
        say(f"{draws.n:,} exact draws; checking them against the PyMC model")
    _PREFETCH[0].join()
    from forecaster.inference.pymc_model import check_draws

    check = check_draws(net, log_lambda, draws, rule=rule, notify=notify)
    interval, interval_mcse = zip(*(quantiles_iid(m, INTERVAL_PROBS) for m in draws.marginals), strict=True)
    mean_mcse = [m.std(axis=0, ddof=1) / np.sqrt(draws.n) for m in draws.marginals]
    ess_min, r_hat_max = _ess_rhat(draws, settings.chains)
    result = SampleResult(
        draws.marginals, r_hat_max, ess_min, 0, time.perf_counter() - start, settings, _idata(net, draws, settings.chains),
        mcse_max=float(max(float(m.max()) for m in mean_mcse)), mean_mcse=mean_mcse,
        interval=list(interval), interval_mcse=list(interval_mcse),
    )
    return result, check


def _ess_rhat(draws: PosteriorDraws, chains: int) -> tuple[float, float]:
    """ArviZ's bulk ESS (min) and rank-normalised R-hat (max) over every hypothesis state, the draws
    split into `chains` (i.i.d. draws: ESS ≈ draws, R-hat ≈ 1, measured all the same)."""
    import arviz as az

    az.Numba.disable_numba()  # its variance kernel JIT-compiles for ~0.5 s per process; numpy is as fast here
    n = draws.n - draws.n % max(chains, 2)
    ess, rhat = [], []
    for m in draws.marginals:
        for k in range(m.shape[1]):
            x = m[:n, k].reshape(max(chains, 2), -1)
            ess.append(float(az.ess(x)))
            rhat.append(float(az.rhat(x)))
    return float(np.nanmin(ess)), float(np.nanmax(rhat))
