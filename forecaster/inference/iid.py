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

import functools
import importlib
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from forecaster.inference.background import Batch, Job
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

#: The module that imports PyMC (≈3 s): imported while the draws are made in a forked child
#: (forecaster.inference.background), or, where processes cannot fork, in a thread.
MODEL_MODULE = "forecaster.inference.pymc_model"
_PREFETCH: list[threading.Thread] = []


def import_model(batch: Batch) -> None:
    """Start importing PyMC while `batch` draws: here if its children draw, else in a thread."""
    warnings.filterwarnings("ignore", category=FutureWarning, module="arviz")  # its refactor notice
    if batch.fork:
        importlib.import_module(MODEL_MODULE)
    elif not _PREFETCH and MODEL_MODULE not in sys.modules:
        thread = threading.Thread(target=importlib.import_module, args=(MODEL_MODULE,), name="import-pymc", daemon=True)
        thread.start()
        _PREFETCH.append(thread)


def start(runs: Sequence[tuple[Network, np.ndarray, int]], settings: SamplerSettings, rule: Rule = CONJUGATE) -> Batch:
    """Begin the exact draws of several runs ((network, evidence, seed) each), forked where possible."""
    n = settings.draws * settings.chains
    return Batch([
        Job(functools.partial(draws_to_target, net, log_lam, seed=seed, n=n, target=settings.mcse_target, rule=rule))
        for net, log_lam, seed in runs
    ])


def _merge(a: PosteriorDraws, b: PosteriorDraws) -> PosteriorDraws:
    return PosteriorDraws([np.concatenate([x, y]) for x, y in zip(a.marginals, b.marginals, strict=True)], a.theta, a.q)


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
    pending: tuple[Batch, int] | None = None,
) -> tuple[SampleResult, DensityCheck]:
    """Exact posterior draws summarised as a SampleResult, and the density check against PyMC.
    `pending`: draws already started (`start`), and which of the batch's runs this is."""
    began = time.perf_counter()
    log_lambda = np.asarray(log_lambda, dtype=np.float64)
    batch, i = pending or (start([(net, log_lambda, seed)], settings, rule), 0)
    import_model(batch)
    draws = batch.result(i)
    if say is not None:
        say(f"{draws.n:,} exact draws; checking them against the PyMC model")
    from forecaster.inference.pymc_model import check_draws

    check = check_draws(net, log_lambda, draws, rule=rule, notify=notify)
    interval, interval_mcse = zip(*(quantiles_iid(m, INTERVAL_PROBS) for m in draws.marginals), strict=True)
    mean_mcse = [m.std(axis=0, ddof=1) / np.sqrt(draws.n) for m in draws.marginals]
    # i.i.d. by construction: the effective sample size is the number of draws, R-hat is 1 (not
    # estimated: ArviZ's estimates would cost its import, ~2.7 s, on every run for a known answer)
    result = SampleResult(
        draws.marginals, None, float(draws.n), 0, time.perf_counter() - began, settings, _idata(net, draws, settings.chains),
        mcse_max=float(max(float(m.max()) for m in mean_mcse)), mean_mcse=mean_mcse,
        interval=list(interval), interval_mcse=list(interval_mcse),
    )
    return result, check
