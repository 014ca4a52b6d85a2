"""The PyMC model of MODEL.md §4, the definition of the parameters' posterior density, and the
check of the exact draws against it. Imports pymc and pytensor (with forecaster.inference.sampler
and the adapter, the only modules that do).

θ and q are random variables with the pooled Dirichlet/Beta priors: one Dirichlet per number of
states K (`theta_k{K}`, the rows of every hypothesis with K states stacked in network order, in
log-ratio coordinates), one Beta `q` over every indicator row and then every mechanism row. The
discrete hypothesis states are summed out exactly by variable elimination written in PyTensor,
in log space (logsumexp per eliminated hypothesis), along the same min-fill order as the numpy
engine: the graph grows with the largest clique, never with the joint states. Every indicator
has its factor (an unreported one's is log 1 = 0), so one model serves any set of reports; the
evidence is data (`log_lambda`). The hypothesis marginals are deterministics (`p_<id>`).
"""

from __future__ import annotations

import hashlib
import math
import os
import pickle
import platform
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from forecaster.inference import pymc_adapter as adapter  # first: PyTensor's compile folder
from forecaster.inference.draws import CONJUGATE, PosteriorDraws, Rule
from forecaster.inference.exact import index_scopes, posterior_batch, variable_sizes
from forecaster.model.cliques import plan
from forecaster.model.network import Network

# ArviZ (imported by PyMC) announces its refactor with a FutureWarning on every import: not for users
warnings.filterwarnings("ignore", category=FutureWarning, module="arviz")

import pymc as pm  # noqa: E402
import pytensor  # noqa: E402
import pytensor.tensor as pt  # noqa: E402
import scipy  # noqa: E402
from pytensor.compile.mode import Mode  # noqa: E402
from scipy.special import gammaln  # noqa: E402

#: Draws whose PyMC log density is compared with the mixture's (MODEL.md §4): the log ratio must
#: be one constant, so a few dozen spread over the run already pin it.
CHECKED_DRAWS = 24
#: The largest spread of that log ratio accepted (float64 sums of a few hundred terms).
DENSITY_TOLERANCE = 1e-8
#: The density check reads draws whose parameters all lie in [EDGE, 1 − EDGE] (see check_draws).
EDGE = 1e-6
#: Evaluation only: the cheap rewrites, Python linker (no C compilation); compiled once, then cached.
EVAL_MODE = Mode(linker="py", optimizer="fast_compile")


def groups(net: Network) -> tuple[tuple[int, tuple[int, ...]], ...]:
    """(K, hypotheses with K states), K ascending: one Dirichlet each."""
    sizes = net.sizes
    return tuple((k, tuple(h for h, kh in enumerate(sizes) if kh == k)) for k in sorted(set(sizes)))


# ----------------------------------------------------------------------------- the graph


def _sorted(scope: tuple[int, ...], x: Any) -> tuple[tuple[int, ...], Any]:
    perm = sorted(range(len(scope)), key=lambda i: scope[i])
    return tuple(scope[p] for p in perm), (x.transpose(perm) if perm != list(range(len(scope))) else x)


def _spread(scope: tuple[int, ...], x: Any, into: tuple[int, ...]) -> Any:
    return x.dimshuffle([scope.index(v) if v in scope else "x" for v in into])


def _table(net: Network, flat: Any, start: int, parents: tuple[int, ...], tail: tuple[int, ...] = ()) -> Any:
    shape = tuple(net.sizes[p] for p in parents) + tail
    return flat[start : start + math.prod(shape)].reshape(shape)


def log_factors(net: Network, theta: Any, q: Any, log_lam: Any) -> list[tuple[tuple[int, ...], Any]]:
    """(scope, log factor) for every table, indicator and mechanism (MODEL.md §4): a mechanism is a
    binary variable (index H + k) that the elimination sums out, which is the closed form."""
    out = []
    for h in range(len(net.sizes)):
        parents = net.index_of(net.hypothesis_parents[h])
        out.append(_sorted((*parents, h), pt.log(_table(net, theta, net.theta_offsets[h], parents, (net.sizes[h],)))))
    lam = pt.exp(log_lam)

    def loglik(j: int, rows: Any) -> Any:
        return pt.log(lam[j, 1] + (lam[j, 0] - lam[j, 1]) * rows)

    mech_of = net.mechanism_of
    hyps = len(net.sizes)
    for j in range(len(net.indicator_ids)):
        parents = net.index_of(net.indicator_parents[j])
        k = int(mech_of[j])
        if k < 0:
            out.append(_sorted(parents, loglik(j, _table(net, q, net.q_offsets[j], parents))))
        else:  # rows given the mechanism occurred (0), not occurred (1): the mechanism is a variable
            out.append(_sorted((*parents, hyps + k), loglik(j, _table(net, q, net.q_offsets[j], parents, (2,)))))
    for k in range(len(net.mechanism_ids)):
        parents = net.index_of(net.mechanism_parents[k])
        m = _table(net, q, net.m_offsets[k], parents)
        out.append(_sorted((*parents, hyps + k), pt.stack([pt.log(m), pt.log1p(-m)], axis=-1)))
    return out


def eliminate(net: Network, factors: list[tuple[tuple[int, ...], Any]], keep: tuple[int, ...] = ()) -> Any:
    """log Σ over every hypothesis but `keep` of the product of the factors: a tensor over `keep`."""
    work = list(factors)
    for v in plan(index_scopes(net), variable_sizes(net), keep).order:
        holding = [f for f in work if v in f[0]]
        work = [f for f in work if v not in f[0]]
        scope = tuple(sorted({u for s, _ in holding for u in s}))
        total = sum((_spread(s, x, scope) for s, x in holding), start=pt.zeros(()))
        work.append((tuple(u for u in scope if u != v), pt.logsumexp(total, axis=scope.index(v))))
    return sum((_spread(s, x, keep) for s, x in work), start=pt.zeros(()))


def theta_flat(net: Network, by_group: dict[int, Any]) -> Any:
    """θ in the network's flat order from the per-K Dirichlets."""
    parts = []
    for k, hs in groups(net):
        start = 0
        for h in hs:
            rows = net.alpha[h].shape[0]
            parts.append((h, by_group[k][start : start + rows].ravel()))
            start += rows
    return pt.concatenate([x for _, x in sorted(parts, key=lambda p: p[0])])


def build_model(net: Network, *, marginals: bool = True) -> pm.Model:
    """The model for `net`, with its evidence as mutable data (set with `pm.set_data`)."""
    with pm.Model(check_bounds=False) as model:  # every parameter is a positive constant
        log_lam = pm.Data("log_lambda", np.zeros((len(net.indicator_ids), 2)))
        by_group = {}
        for k, hs in groups(net):
            alpha = np.vstack([net.alpha[h] for h in hs])
            by_group[k] = pm.Dirichlet(f"theta_k{k}", a=alpha, default_transform=adapter.LogRatio())
        theta = theta_flat(net, by_group)
        q = pm.Beta("q", alpha=net.q_a, beta=net.q_b) if len(net.q_a) else pt.zeros((0,))
        factors = log_factors(net, theta, q, log_lam)
        pm.Potential("evidence", eliminate(net, factors))
        if marginals:
            for h, hid in enumerate(net.hypothesis_ids):
                pm.Deterministic(f"p_{hid}", pt.special.softmax(eliminate(net, factors, (h,))))
    return model


# ----------------------------------------------------------------------------- the density check


@dataclass(frozen=True)
class DensityCheck:
    """log p_PyMC(x) − log q(x) at `checked` draws: its spread (max − min) must be ~0."""

    checked: int
    spread: float
    constant: float

    @property
    def ok(self) -> bool:
        return self.checked >= 2 and self.spread <= DENSITY_TOLERANCE * max(1.0, abs(self.constant))


def cache_root() -> Path | None:
    """FORECAST_CACHE_DIR, else the user cache folder; FORECAST_COMPILE_CACHE=0 turns it off."""
    if os.environ.get("FORECAST_COMPILE_CACHE", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    env = os.environ.get("FORECAST_CACHE_DIR")
    if env:
        return Path(env) / "sampler"
    import platformdirs

    return Path(platformdirs.user_cache_dir("forecast", appauthor=False)) / "sampler"


def fingerprint(net: Network, *parts: Any) -> str:
    """A hash of everything a compiled function of `net`'s model is built from: this module's code,
    the library versions, the network's structure and tables, and `parts`."""
    h = hashlib.sha256()

    def put(x: Any) -> None:
        if isinstance(x, np.ndarray):
            h.update(str((x.dtype.str, x.shape)).encode())
            h.update(np.ascontiguousarray(x).tobytes())
        else:
            h.update(repr(x).encode())
        h.update(b"\x00")

    for x in parts:
        put(x)
    put(Path(__file__).read_bytes())
    put((sys.version, platform.machine(), platform.system()))
    put((pm.__version__, pytensor.__version__, np.__version__, scipy.__version__))
    put((net.hypothesis_ids, net.states, net.hypothesis_parents, net.indicator_ids, net.indicator_parents))
    put((net.theta_offsets, net.q_offsets, net.mechanism_ids, net.mechanism_parents, net.m_offsets, net.n_indicator_rows))
    for a in (*net.alpha, net.q_a, net.q_b, net.mechanism_of):
        put(a)
    return h.hexdigest()[:32]


@dataclass
class LogDensity:
    """The model's compiled log density (no Jacobian), its value variables' names by random
    variable, and the shared evidence it reads."""

    fn: Any
    names: dict[str, str]  # "theta_k3" / "q" -> its value variable's name
    evidence: Any

    def set_evidence(self, log_lam: np.ndarray) -> None:
        self.evidence.set_value(np.asarray(log_lam, dtype=np.float64))

    def __call__(self, point: dict[str, np.ndarray]) -> float:
        return float(self.fn(point))


_LOGP: list[tuple[Network, LogDensity]] = []
_CHECK_FORMAT = 1


def _compiled_logp(net: Network) -> LogDensity:
    model = build_model(net, marginals=False)
    fn = model.compile_logp(jacobian=False, mode=EVAL_MODE)
    names = {rv.name: model.rvs_to_values[rv].name for rv in model.free_RVs}
    return LogDensity(fn, names, _shared_evidence(fn))


def _shared_evidence(fn: Any) -> Any:
    return next(v for v in fn.f.get_shared() if v.name == "log_lambda")


def _probe(net: Network, logp: LogDensity) -> float:
    """The log density at the prior means with every indicator reported: what a cached function must reproduce."""
    lam = np.tile([0.0, -0.7], (len(net.indicator_ids), 1))
    logp.set_evidence(lam)
    theta = net.theta_mean_flat
    return logp(value_point(net, logp.names, theta, net.q_mean))


def model_logp(net: Network, notify: Callable[[str], None] | None = None) -> LogDensity:
    """The compiled log density, kept for the last network of the process and in the user cache
    (a pickle, read only from a folder nobody else can write, and only if it reproduces its probe).
    A first run for a network builds it (seconds, no C compiler) and says so through `notify`."""
    if _LOGP and _LOGP[0][0] is net:
        return _LOGP[0][1]
    root = cache_root()
    path = None if root is None else root / f"check-{fingerprint(net, _CHECK_FORMAT, EVAL_MODE.linker.__class__.__name__)}.pkl"
    logp = _load(path, net) if path is not None else None
    if logp is None:
        started = time.perf_counter()
        if notify is not None:
            notify("building the PyMC model's density for this network (first run; a few seconds, then cached)")
        logp = _compiled_logp(net)
        if path is not None:
            _store(path, net, logp)
        if notify is not None:
            notify(f"built in {time.perf_counter() - started:.1f} s; " + ("cached for the next runs" if path else "not cached: FORECAST_COMPILE_CACHE is off"))
    _LOGP[:] = [(net, logp)]
    return logp


def read_cache(path: Path, fmt: int) -> dict[str, Any] | None:
    """A cache entry's pickled dict, or None: missing, of another format, or in a folder someone
    else could write (a pickle runs code as it loads: only one nobody but this user could have written)."""
    from forecaster.core.safe_cache import trusted_file

    if not trusted_file(path, root=path.parent.parent):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = pickle.loads(path.read_bytes())
    return data if isinstance(data, dict) and data.get("format") == fmt else None


def _load(path: Path, net: Network) -> LogDensity | None:
    try:
        data = read_cache(path, _CHECK_FORMAT)
        if data is None:
            return None
        logp = LogDensity(data["fn"], dict(data["names"]), _shared_evidence(data["fn"]))
        return logp if _probe(net, logp) == float(data["expected"]) else None
    except Exception:  # unreadable, truncated, from another library version: compile again
        return None


def _store(path: Path, net: Network, logp: LogDensity) -> None:
    from forecaster.core.safe_cache import write_private

    try:
        expected = _probe(net, logp)
        blob = pickle.dumps({"format": _CHECK_FORMAT, "fn": logp.fn, "names": logp.names, "expected": expected})
        write_private(path, blob)
    except Exception:  # a cache is an optimisation: never fail a run because of it
        return


def value_point(net: Network, names: dict[str, str], theta: np.ndarray, q: np.ndarray) -> dict[str, np.ndarray]:
    """One draw (θ flat, q) as the model's value variables (log-ratio and log-odds coordinates)."""
    point = {}
    for k, hs in groups(net):
        rows = np.vstack([theta[net.theta_offsets[h] : net.theta_offsets[h] + net.alpha[h].size].reshape(-1, k) for h in hs])
        log = np.log(rows)
        point[names[f"theta_k{k}"]] = log[:, :-1] - log[:, -1:]
    if len(net.q_a):
        point[names["q"]] = np.log(q) - np.log1p(-q)
    return point


def _log_dirichlet(x: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """log Dirichlet(x; α) over the last axis."""
    return gammaln(alpha.sum(-1)) - gammaln(alpha).sum(-1) + ((alpha - 1) * np.log(x)).sum(-1)


def _log_beta(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return gammaln(a + b) - gammaln(a) - gammaln(b) + (a - 1) * np.log(x) + (b - 1) * np.log1p(-x)


def mixture_log_density(net: Network, log_lam: np.ndarray, draws: PosteriorDraws, rows: np.ndarray, rule: Rule = CONJUGATE) -> np.ndarray:
    """log q(x) of the exact draws' mixture at draws `rows`: Σ_z P(z | E) Π_r f_r(x_r; rule(r, z)),
    summed by variable elimination on the network whose entries are the prior means times each
    row's density ratio f(x; rule(one count)) / f(x; prior), plus the prior's log density."""
    theta, q = draws.theta[rows], draws.q[rows]  # rows among the draws whose parameters were kept
    n = theta.shape[0]
    log_prior = np.zeros(n)
    eff = []
    for a, start in zip(net.alpha, net.theta_offsets, strict=True):
        k = a.shape[1]
        x = theta[:, start : start + a.size].reshape(n, -1, k)
        base = _log_dirichlet(x, a[None])
        log_prior += base.sum(axis=1)
        mean = a / a.sum(axis=1, keepdims=True)
        block = np.empty_like(x)
        index = start + np.arange(a.size)
        for s, one in enumerate(np.eye(k)):
            counts = np.broadcast_to(one, a.shape).ravel()[None]  # one count in every row, in state s
            post = rule.dirichlet(a.ravel()[None], counts, index).reshape(1, *a.shape)
            block[:, :, s] = mean[None, :, s] * np.exp(_log_dirichlet(x, post) - base)
        eff.append(block.reshape(n, -1))
    eff_theta = np.concatenate(eff, axis=1)
    base = _log_beta(q, net.q_a, net.q_b)
    log_prior += base.sum(axis=1)
    zero, one = np.zeros_like(q), np.ones_like(q)
    every = np.arange(len(net.q_a))
    up = rule.beta(net.q_a[None], net.q_b[None], one, zero, every)
    down = rule.beta(net.q_a[None], net.q_b[None], zero, one, every)
    mean = net.q_mean[None]
    success = mean * np.exp(_log_beta(q, *up) - base)
    failure = (1.0 - mean) * np.exp(_log_beta(q, *down) - base)
    _, log_z = posterior_batch(net, log_lam, theta=eff_theta, q=success, q_fail=failure)
    _, log_z_mean = posterior_batch(net, log_lam)
    return log_prior + log_z - log_z_mean[0]


def check_draws(
    net: Network, log_lam: np.ndarray, draws: PosteriorDraws, *, rule: Rule = CONJUGATE, checked: int = CHECKED_DRAWS,
    notify: Callable[[str], None] | None = None,
) -> DensityCheck:
    """MODEL.md §4: the PyMC model's log density minus the draws' mixture log density, at `checked`
    draws, is one constant."""
    logp = model_logp(net, notify)
    # draws whose every coordinate is well inside (0, 1): a Beta draw within 1e-10 of 0 or 1 (or
    # rounded onto it) is exact in (θ, q) but not through the model's log-odds coordinates, where
    # 1 − q comes back with a relative error of 1e-6; away from the edge the identity holds to 1e-10
    inside = np.all(draws.theta >= EDGE, axis=1) & np.all((draws.q >= EDGE) & (draws.q <= 1 - EDGE), axis=1)
    rows = np.flatnonzero(inside)[:checked]
    logp.set_evidence(log_lam)
    ours = mixture_log_density(net, log_lam, draws, rows, rule)
    theirs = np.array([logp(value_point(net, logp.names, draws.theta[r], draws.q[r])) for r in rows])
    diff = theirs - ours
    if len(rows) < 2:
        return DensityCheck(len(rows), float("nan"), float("nan"))
    return DensityCheck(len(rows), float(diff.max() - diff.min()), float(np.median(diff)))
