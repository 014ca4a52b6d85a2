"""The PyMC model of MODEL.md §4 — the only module that imports pymc, pytensor or arviz.

θ and q are random variables with the pooled Dirichlet/Beta priors; the discrete hypothesis
states are summed out exactly (logsumexp over joint states) and the hypothesis marginals are
kept as deterministics. The evidence enters as data (`log_lambda`, one row per indicator in the
catalogue, zeros where nothing was reported), so one compiled model serves any set of reports.
All indicator tables live in one vectorised Beta.

Speed (see bench/bench_update.py, bench/bench_mechanisms.py): the graph is built from dense
one-hot count matrices (no advanced indexing in the gradient; the mechanisms' closed form uses
one small gather, see `_Layout`), the Dirichlets are grouped by number of states and sampled
in log-ratio coordinates, NUTS starts from the exact prior moments, chains run in parallel
(forked processes), and the compiled log-density/gradient and trace functions are kept in a
disk cache keyed by everything they are built from, and checked on load.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import pickle
import platform
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# first: the adapter gives PyTensor its compile folder before anything imports PyTensor
from forecaster.inference import compile_times
from forecaster.inference import pymc_adapter as adapter
from forecaster.inference.interrupt import check_complete, interruptible
from forecaster.inference.pymc_adapter import LogRatio, PrecompiledTrace, QuadPotentialDiagAdapt
from forecaster.inference.settings import INTERVAL_MCSE_MAX, INTERVAL_PROBS, SamplerSettings, interval_warning
from forecaster.model.network import Network

warnings.filterwarnings("ignore", category=FutureWarning, module="arviz")


import arviz as az  # noqa: E402
import pymc as pm  # noqa: E402
import pytensor  # noqa: E402
import pytensor.tensor as pt  # noqa: E402
import scipy  # noqa: E402
from pytensor.compile.mode import Mode  # noqa: E402
from scipy.special import digamma, polygamma  # noqa: E402

for _name in ("pymc", "pymc.sampling.mcmc", "pymc.stats.convergence", "pytensor"):
    logging.getLogger(_name).setLevel(logging.ERROR)

# ArviZ would JIT-compile its variance kernel with numba on first use (~0.4 s per process,
# never cached); numpy is as fast for a few thousand draws.
az.Numba.disable_numba()

R_HAT_MAX = 1.01
ESS_MIN = 400
#: Largest acceptable Monte Carlo standard error of a PyMC posterior mean (kept for callers that
#: report the mean; the headline posterior is exact, MODEL.md §4).
MCSE_MAX = 0.005

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
    #: the largest Monte Carlo standard error (ArviZ) of a posterior mean of P(H = x | E, θ, q)
    mcse_max: float = float("nan")
    #: per hypothesis, (K,): ArviZ's MCSE of the mean of P(H = x | E, θ, q) over the draws
    mean_mcse: list[np.ndarray] = field(default_factory=list, repr=False)
    #: per hypothesis, (2, K): the 5 % and 95 % quantiles of the draws (the interval) ...
    interval: list[np.ndarray] = field(default_factory=list, repr=False)
    #: ... and ArviZ's quantile MCSE of each
    interval_mcse: list[np.ndarray] = field(default_factory=list, repr=False)

    @property
    def interval_mcse_max(self) -> float:
        vals = [float(np.nanmax(m)) for m in self.interval_mcse if m.size]
        return max(vals) if vals else float("nan")

    @property
    def warnings(self) -> list[str]:
        out = []
        if not self.r_hat_max <= R_HAT_MAX:
            out.append(f"R-hat {self.r_hat_max:.3f} > {R_HAT_MAX}: chains disagree; raise --draws or --tune")
        if not self.ess_min >= ESS_MIN:
            out.append(f"ESS {self.ess_min:.0f} < {ESS_MIN}: too few effective draws; raise --draws")
        if self.divergences:
            out.append(f"{self.divergences} divergent transitions: treat intervals with caution; raise --target-accept")
        if self.interval_mcse:
            worst = self.interval_mcse_max
            if worst > INTERVAL_MCSE_MAX:
                out.append(interval_warning(worst))
        elif self.mcse_max > MCSE_MAX:
            out.append(
                f"Monte Carlo error ±{self.mcse_max:.3f} on a posterior probability (> {MCSE_MAX}); raise --draws"
            )
        return out


# ---------------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class _Layout:
    """Constants that map the network's tables onto the joint hypothesis states.

    The θ tables are grouped by their number of states K (one Dirichlet per group, rows in
    network order); `theta_to_joint` (P, S) counts how often each flat θ entry (in group order)
    enters log P(s | θ); `q_to_joint` (R, S) the same for each row of an indicator without
    mechanism (zero rows for the others); `q_indicator` (R,) the indicator of each indicator
    row; `marginals` (S, ΣK) maps joint states to hypothesis states.

    Mechanisms (MODEL.md §4 closed form): `mech_rows` (2, M, C, S) holds, for mechanism k, its
    c-th indicator child and joint state s, the row that child uses with the mechanism occurred
    (first) / not occurred (second), padded with R (an appended zero term) up to the largest
    number of children C; so A = Σ_j log L_j(occurred) and B = Σ_j log L_j(not occurred) are one
    small gather and a sum, (2, M, S). A dense (R, M·S) map costs R·M·S per gradient (200
    indicators, 20 mechanisms: 60 times the rest of the graph); the gather costs 2·M·C·S.
    `m_rows` (M, S): the row of each mechanism's table under s, counted from the first mechanism row.
    """

    groups: tuple[tuple[int, tuple[int, ...]], ...]  # (K, hypotheses with K states)
    theta_to_joint: np.ndarray
    q_to_joint: np.ndarray
    q_indicator: np.ndarray
    marginals: np.ndarray
    sizes: tuple[int, ...]
    n_indicator_rows: int = 0
    n_mechanisms: int = 0
    mech_rows: np.ndarray | None = None
    m_rows: np.ndarray | None = None


def _layout(net: Network) -> _Layout:
    sizes = tuple(len(s) for s in net.states)
    cols = np.arange(net.n_joint)
    groups = tuple((k, tuple(h for h, kh in enumerate(sizes) if kh == k)) for k in sorted(set(sizes)))
    order = [
        i for _, hs in groups for h in hs for i in range(net.theta_offsets[h], net.theta_offsets[h] + net.alpha[h].size)
    ]
    position = np.empty(len(order), dtype=np.int64)
    position[np.asarray(order, dtype=np.int64)] = np.arange(len(order))
    theta_to_joint = np.zeros((len(order), net.n_joint))
    for row in net.theta_index:
        np.add.at(theta_to_joint, (position[row], cols), 1.0)
    n_rows = net.n_indicator_rows if net.n_indicator_rows >= 0 else len(net.q_a)
    n_mech = len(net.mechanism_ids)
    q_to_joint = np.zeros((n_rows, net.n_joint))
    mech_of = net.mechanism_of
    children: list[list[int]] = [[] for _ in range(n_mech)]
    for j, row1 in enumerate(net.q_index):
        if mech_of[j] < 0:
            np.add.at(q_to_joint, (row1, cols), 1.0)
        else:
            children[int(mech_of[j])].append(j)
    mech_rows = m_rows = None
    if n_mech:
        width = max(len(c) for c in children)
        mech_rows = np.full((2, n_mech, width, net.n_joint), n_rows, dtype=np.int64)
        for k, kids in enumerate(children):
            for c, j in enumerate(kids):
                mech_rows[0, k, c] = net.q_index[j]
                mech_rows[1, k, c] = net.q_not[j]
        assert net.m_index is not None
        m_rows = (net.m_index - n_rows).astype(np.int64)
    bounds = [*net.q_offsets, n_rows]
    q_indicator = np.repeat(np.arange(len(net.q_offsets)), np.diff(bounds)).astype(np.int64)
    marginals = np.hstack(net.marginal_matrices())
    return _Layout(groups, theta_to_joint, q_to_joint, q_indicator, marginals, sizes, n_rows, n_mech, mech_rows, m_rows)


def build_model(net: Network) -> pm.Model:
    """The model for `net`, with its evidence as mutable data (set with `pm.set_data`)."""
    lay = _layout(net)
    with pm.Model(check_bounds=False) as model:  # every parameter is a positive constant
        log_lam = pm.Data("log_lambda", np.zeros((len(net.indicator_ids), 2)))
        # log P(s | θ) for every joint state s, as products with one-hot count arrays and sums
        # (cheap to differentiate, unlike advanced indexing); 3-d per group, so that log θ stays
        # the log-softmax of the log-ratio coordinates.
        logp: Any = 0.0
        row = 0
        for k, hs in lay.groups:
            alpha = np.vstack([net.alpha[h] for h in hs])
            theta = pm.Dirichlet(f"theta_k{k}", a=alpha, default_transform=LogRatio())
            counts = lay.theta_to_joint[row : row + alpha.size].reshape(*alpha.shape, net.n_joint)
            logp = logp + (pt.log(theta)[:, :, None] * counts).sum(axis=(0, 1))
            row += alpha.size
        if len(net.indicator_ids):
            # one Beta over every indicator row and then every mechanism row (MODEL.md §2)
            q_all = pm.Beta("q", alpha=net.q_a, beta=net.q_b)
            q = q_all[: lay.n_indicator_rows] if lay.n_mechanisms else q_all
            lam = pt.exp(log_lam)[lay.q_indicator]  # (R, 2); (1, 1) for an indicator with no report
            # log(λ1 q + λ0 (1 − q)) per table row: exactly 0 for rows of unreported indicators
            terms = pt.log(lam[:, 1] + (lam[:, 0] - lam[:, 1]) * q)
            logp = logp + (terms[:, None] * lay.q_to_joint).sum(axis=0)
            if lay.n_mechanisms:
                # each mechanism summed out per joint state: log(m e^A + (1 − m) e^B)
                assert lay.mech_rows is not None and lay.m_rows is not None
                shape = lay.mech_rows.shape
                padded = pt.concatenate([terms, pt.zeros((1,))])  # row R: a child that is not there
                ab = pt.take(padded, lay.mech_rows.ravel()).reshape(shape).sum(axis=2)  # (2, M, S)
                m = q_all[lay.n_indicator_rows :]
                flat = lay.m_rows.ravel()
                log_m = pt.take(pt.log(m), flat).reshape(lay.m_rows.shape)
                log_not_m = pt.take(pt.log1p(-m), flat).reshape(lay.m_rows.shape)
                logp = logp + pt.logaddexp(log_m + ab[0], log_not_m + ab[1]).sum(axis=0)
        # log P(E | θ, q) = logsumexp_s logp(s), written as logp(s0) − log_softmax(logp)(s0): the
        # same value, computed stably by one fused op with a compact gradient (softmax).
        pm.Potential("evidence", logp[0] - pt.special.log_softmax(logp)[0])
        joint = pt.special.softmax(logp)
        marg = (joint[:, None] * lay.marginals).sum(axis=0)
        start = 0
        for h, k in zip(net.hypothesis_ids, lay.sizes, strict=True):
            pm.Deterministic(f"p_{h}", marg[start : start + k])
            start += k
    model._forecast_layout = lay  # type: ignore[attr-defined]
    return model


def _prior_moments(model: pm.Model, net: Network) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Mean and variance of every value variable under the prior, in NUTS's coordinates.

    Exact for both transforms: a log-ratio of Dirichlet(α) components and the log-odds of a
    Beta(a, b) are log G_k − log G_K with independent G ~ Gamma, whose mean is ψ(α_k) − ψ(α_K)
    and variance ψ′(α_k) + ψ′(α_K).
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

def _cache_root() -> Path | None:
    """FORECAST_CACHE_DIR, else the user cache folder; FORECAST_COMPILE_CACHE=0 turns it off."""
    if os.environ.get("FORECAST_COMPILE_CACHE", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    env = os.environ.get("FORECAST_CACHE_DIR")
    if env:
        return Path(env) / "sampler"
    import platformdirs

    return Path(platformdirs.user_cache_dir("forecast", appauthor=False)) / "sampler"


def _cache_key(net: Network) -> str:
    """Everything the compiled functions are built from: this module's code, the library
    versions and compiler settings, and every array of the network."""
    h = hashlib.sha256()

    def put(x: Any) -> None:
        if isinstance(x, np.ndarray):
            h.update(str((x.dtype.str, x.shape)).encode())
            h.update(np.ascontiguousarray(x).tobytes())
        else:
            h.update(repr(x).encode())
        h.update(b"\x00")

    put(_CACHE_FORMAT)
    put(Path(__file__).read_bytes())
    put((sys.version, platform.machine(), platform.system()))
    put((pm.__version__, pytensor.__version__, np.__version__, scipy.__version__))
    c = pytensor.config
    put((_MODE_TAG, c.floatX, c.cxx, c.gcc__cxxflags, c.compiledir))  # the graph has no BLAS ops
    put((net.hypothesis_ids, net.states, net.indicator_ids, net.theta_offsets, net.q_offsets))
    put((net.mechanism_ids, net.m_offsets, net.n_indicator_rows))
    for a in net.alpha:
        put(a)
    for a in (net.theta_index, net.q_a, net.q_b, net.q_index, net.joint, net.q_not, net.mechanism_of):
        put(a)
    if net.m_index is not None:
        put(net.m_index)
    return h.hexdigest()[:32]


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
    from forecaster.core.safe_cache import trusted_file

    try:
        # A pickle runs code as it loads: only one that nobody but this user could have written.
        if not trusted_file(path, root=path.parent.parent):
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = pickle.loads(path.read_bytes())
        if data.get("format") != _CACHE_FORMAT:
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
    if chains < 2 or not sys.platform.startswith("linux") or "fork" not in multiprocessing.get_all_start_methods():
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
