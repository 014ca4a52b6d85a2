"""`forecast update` as a library call: reports -> folded evidence -> exact engine and sampler
-> a frozen `UpdateResult` that renderers and the run log read. Nothing here prints."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from forecaster import __version__
from forecaster.inference.settings import (
    DEFAULT_SEED,
    INTERVAL_PROBS,
    MEAN_CHECK_MAX,
    PRIOR_DRAWS,
    PRIOR_DRAWS_MAX,
    PRIOR_MCSE_TARGET,
    SamplerSettings,
    check_seed,
)
from forecaster.model.terms import term_for

if TYPE_CHECKING:
    import numpy as np

    from forecaster.inference.robustness import Robustness
    from forecaster.model.evidence import Report
    from forecaster.model.network import Network
    from forecaster.model.priors import Priors

@dataclass(frozen=True)
class StateResult:
    """One hypothesis state. `posterior` is exact (the exact engine on the prior-mean network,
    MODEL.md §4) whichever sampler ran, and equals `exact`; `sampler_mean` is the PyMC mean of
    P(H = x | E, θ, q), the live check of the sampler (None on the exact engine). Each interval
    end point carries its Monte Carlo standard error (`interval_mcse`, `prior_interval_mcse`)."""

    id: str
    prior: float
    posterior: float
    interval: tuple[float, float]
    prior_interval: tuple[float, float]
    exact: float
    change: float | None
    term: str | None  # None outside the ICD 203 scale (below 1 % or above 99 %): see `extreme`
    claimed: bool
    #: outside the ICD 203 scale: {"side": "low" | "high", "carried_by": [{"kind", "id", "shift"}, …]}
    extreme: dict[str, Any] | None = None
    sampler_mean: float | None = None
    interval_mcse: tuple[float, float] | None = None
    prior_interval_mcse: tuple[float, float] | None = None


@dataclass(frozen=True)
class HypothesisResult:
    id: str
    states: tuple[StateResult, ...]

    @property
    def most_likely(self) -> StateResult:
        return max(self.states, key=lambda s: s.posterior)


@dataclass(frozen=True)
class EvidenceResult:
    indicator: str
    reports: int
    likelihood: tuple[float, float]
    shift: dict[str, dict[str, float]]  # hypothesis -> state -> posterior minus posterior without it
    report_ids: tuple[str, ...] = ()
    origins: int = 0  # distinct origins among the reports (MODEL.md §3); 0 when unknown (older runs)
    weights: tuple[dict[str, Any], ...] = ()  # per report: id, accuracy, weight (aged), age_days, origin, counted
    kind: str = "indicator"  # or "mechanism": all of its indicators' reports, the episode as a whole
    mechanism: str | None = None  # an indicator's mechanism; a mechanism's own id
    members: tuple[str, ...] = ()  # a mechanism's reported indicators

    @property
    def largest_shift(self) -> float:
        return max((abs(v) for d in self.shift.values() for v in d.values()), default=0.0)


@dataclass(frozen=True)
class Diagnostics:
    sampler: str
    chains: int
    draws: int
    tune: int
    r_hat_max: float | None
    ess_min: float | None
    divergences: int
    seconds: float
    warnings: tuple[str, ...] = ()
    #: max over states of |PyMC mean − exact| ÷ the mean's MCSE (a z-score; > 4 warns)
    mean_check: float | None = None
    #: the largest MCSE of a posterior interval end point (> 0.01 warns)
    interval_mcse_max: float | None = None
    #: the largest MCSE of a prior interval end point, and the exact prior draws behind it
    prior_interval_mcse_max: float | None = None
    prior_draws: int | None = None
    #: exact i.i.d. draws (MODEL.md §4): the spread of log p_PyMC − log q over the checked draws
    density_spread: float | None = None
    density_checked: int | None = None

    def to_json(self, *, run: bool = True) -> dict[str, Any]:
        """The diagnostics as JSON: a run's (update), or without the run's own keys (its seconds and
        prior draws) as each scenario of a comparison reports them."""
        out: dict[str, Any] = {
            "sampler": self.sampler,
            "chains": self.chains,
            "draws": self.draws,
            "tune": self.tune,
            "r_hat_max": _opt(self.r_hat_max, 4),
            "ess_min": _opt(self.ess_min, 1),
            "divergences": self.divergences,
        }
        if run:
            out["seconds"] = round(self.seconds, 3)
        out["warnings"] = list(self.warnings)
        out["mean_check"] = _opt(self.mean_check, 3)
        out["interval_mcse_max"] = _opt(self.interval_mcse_max, 6)
        out["density_check"] = None if self.density_checked is None else {
            "checked_draws": self.density_checked, "log_ratio_spread": self.density_spread,
        }
        if run:
            out["prior_interval_mcse_max"] = _opt(self.prior_interval_mcse_max, 6)
            out["prior_draws"] = self.prior_draws
        return out


@dataclass(frozen=True)
class UpdateResult:
    run_id: str
    as_of: dt.date
    window: tuple[dt.date, dt.date]
    priors_hash: str
    events_hash: str
    seed: int
    version: str
    hypotheses: tuple[HypothesisResult, ...]
    evidence: tuple[EvidenceResult, ...]
    diagnostics: Diagnostics
    report_ids: tuple[str, ...]
    settings_hash: str
    previous_run_id: str | None = None
    idata: Any = field(default=None, repr=False, compare=False)
    robustness: Robustness | None = None  # critical reports and robustness (MODEL.md §5), inference.robustness

    def to_json(self, *, explain: bool = False) -> dict[str, Any]:
        d = self.diagnostics
        return {
            "run_id": self.run_id,
            "as_of": self.as_of.isoformat(),
            "window": [self.window[0].isoformat(), self.window[1].isoformat()],
            "priors_hash": self.priors_hash,
            "events_hash": self.events_hash,
            "seed": self.seed,
            "version": self.version,
            "previous_run_id": self.previous_run_id,
            "hypotheses": [
                {
                    "id": h.id,
                    "states": [
                        {
                            "id": s.id,
                            "claimed": s.claimed,
                            "prior": _r(s.prior),
                            "prior_interval": [_r(s.prior_interval[0]), _r(s.prior_interval[1])],
                            "posterior": _r(s.posterior),
                            "interval": [_rn(s.interval[0]), _rn(s.interval[1])],
                            "exact": _r(s.exact),
                            "change": None if s.change is None else _r(s.change),
                            "term": s.term,
                            "extreme": s.extreme,
                            "sampler_mean": None if s.sampler_mean is None else _r(s.sampler_mean),
                            "interval_mcse": _pair(s.interval_mcse),
                            "prior_interval_mcse": _pair(s.prior_interval_mcse),
                        }
                        for s in h.states
                    ],
                }
                for h in self.hypotheses
            ],
            "evidence": [
                {
                    "indicator": e.indicator,
                    "reports": e.reports,
                    "report_ids": list(e.report_ids),
                    "likelihood": [e.likelihood[0], e.likelihood[1]],
                    "shift": {h: {s: _r(v) for s, v in st.items()} for h, st in e.shift.items()},
                    "kind": e.kind,
                    "mechanism": e.mechanism,
                    "members": list(e.members),
                    "origins": e.origins,
                    "weights": list(e.weights),
                }
                for e in self.evidence
            ],
            "report_ids": list(self.report_ids),
            "settings_hash": self.settings_hash,
            "diagnostics": d.to_json(),
            "robustness": None if self.robustness is None else self.robustness.to_json(explain=explain),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UpdateResult:
        """Rebuild a recorded run (the cached path: no sampling, no pymc)."""
        from forecaster.inference.robustness import Robustness
        d = data["diagnostics"]
        sampled = d["sampler"] != "exact"
        hyps = tuple(
            HypothesisResult(h["id"], tuple(_state_from_json(s, sampled) for s in h["states"]))
            for h in data["hypotheses"]
        )
        ev = tuple(
            EvidenceResult(e["indicator"], e["reports"], (e["likelihood"][0], e["likelihood"][1]), e["shift"],
                           tuple(e.get("report_ids", ())), e.get("origins", 0), tuple(e.get("weights", ())),
                           e.get("kind", "indicator"), e.get("mechanism"), tuple(e.get("members", ())))
            for e in data["evidence"]
        )
        return cls(
            run_id=data["run_id"], as_of=dt.date.fromisoformat(data["as_of"]),
            window=(dt.date.fromisoformat(data["window"][0]), dt.date.fromisoformat(data["window"][1])),
            priors_hash=data["priors_hash"], events_hash=data["events_hash"], seed=data["seed"],
            version=data["version"], hypotheses=hyps, evidence=ev,
            diagnostics=Diagnostics(
                sampler=d["sampler"], chains=d["chains"], draws=d["draws"], tune=d["tune"], r_hat_max=d["r_hat_max"],
                ess_min=d["ess_min"], divergences=d["divergences"], seconds=d["seconds"], warnings=tuple(d["warnings"]),
                mean_check=d.get("mean_check"), interval_mcse_max=d.get("interval_mcse_max"),
                prior_interval_mcse_max=d.get("prior_interval_mcse_max"), prior_draws=d.get("prior_draws"),
                density_spread=(d.get("density_check") or {}).get("log_ratio_spread"),
                density_checked=(d.get("density_check") or {}).get("checked_draws"),
            ),
            report_ids=tuple(data["report_ids"]), settings_hash=data.get("settings_hash", ""),
            previous_run_id=data.get("previous_run_id"), robustness=Robustness.from_json(data.get("robustness"), hyps),
        )

    def posteriors(self) -> dict[str, dict[str, float]]:
        return {h.id: {s.id: s.posterior for s in h.states} for h in self.hypotheses}


def _state_from_json(s: dict[str, Any], sampled: bool) -> StateResult:
    """A state of a recorded run. Records from before issue 9 (no `sampler_mean` key) printed the
    PyMC mean as the posterior: it becomes their sampler mean, and the posterior their exact value."""
    if "sampler_mean" in s:
        posterior, sampler_mean, term = s["posterior"], s["sampler_mean"], s["term"]
    else:
        posterior, sampler_mean = s["exact"], (s["posterior"] if sampled else None)
        term = None if outside_scale(float(posterior)) else term_for(float(posterior))
    change = s["change"]
    if change is not None and "sampler_mean" not in s and sampler_mean is not None:
        change = change + posterior - sampler_mean  # measured from the same previous run
    return StateResult(
        id=s["id"], prior=s["prior"], posterior=posterior,
        interval=(_f(s["interval"][0]), _f(s["interval"][1])),
        prior_interval=(s["prior_interval"][0], s["prior_interval"][1]),
        exact=s["exact"], change=change, term=term, claimed=s["claimed"], extreme=s.get("extreme"),
        sampler_mean=sampler_mean,
        interval_mcse=_tuple(s.get("interval_mcse")), prior_interval_mcse=_tuple(s.get("prior_interval_mcse")),
    )


def _f(x: float | None) -> float:
    return float("nan") if x is None else float(x)


def _pair(x: tuple[float, float] | None) -> list[float | None] | None:
    return None if x is None else [_rn(x[0]), _rn(x[1])]


def _tuple(x: Any) -> tuple[float, float] | None:
    return None if x is None else (_f(x[0]), _f(x[1]))


def _opt(x: float | None, digits: int) -> float | None:
    return None if x is None or x != x else round(float(x), digits)


def _r(x: float) -> float:
    return round(float(x), 6)


def _rn(x: float) -> float | None:
    """Round; NaN (no interval from the exact engine) becomes null in JSON."""
    return None if x != x else _r(x)


def window_for(as_of: dt.date, window_days: int) -> tuple[dt.date, dt.date]:
    return as_of - dt.timedelta(days=window_days), as_of


def in_window(reports: Sequence[Report], window: tuple[dt.date, dt.date]) -> list[Report]:
    return [r for r in reports if window[0] <= r.date <= window[1]]


def events_hash(reports: Sequence[Report]) -> str:
    """A hash of the report contents used (order-independent)."""
    rows = sorted(
        json.dumps([r.indicator, r.date.isoformat(), r.occurred, r.grade, r.source, r.url, r.note, r.id or ""]
                   + ([r.origin] if r.origin else []))  # without origin: the hash reports had before origins
        for r in reports
    )
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16]


def run_id_for(priors_hash: str, ev_hash: str, as_of: dt.date, seed: int, settings_hash: str) -> str:
    """Deterministic: the same inputs give the same run id (and, seeded, the same numbers)."""
    key = "|".join([priors_hash, ev_hash, as_of.isoformat(), str(seed), settings_hash, __version__])
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def settings_hash(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


def prior_draws(net: Network, *, seed: int, n: int = PRIOR_DRAWS) -> list[np.ndarray]:
    """Exact draws of P(H | θ) under the pooled priors (no evidence: forward sampling, no MCMC)."""
    import numpy as np

    from forecaster.inference.exact import posterior_batch

    rng = np.random.default_rng(seed)
    theta = np.concatenate([rng.dirichlet(row, size=n) for a in net.alpha for row in a], axis=1)
    margs, _ = posterior_batch(net, np.zeros((len(net.indicator_ids), 2)), theta=theta)
    return margs


@dataclass(frozen=True)
class PriorIntervals:
    """The prior interval of every state from exact forward draws, with the order-statistic MCSE
    of each end point: per hypothesis (2, K) each; `draws` the number of draws behind them."""

    interval: list[np.ndarray]
    mcse: list[np.ndarray]
    draws: int

    @property
    def mcse_max(self) -> float:
        return max(float(m.max()) for m in self.mcse) if self.mcse else 0.0


def prior_intervals(
    net: Network, *, seed: int, n: int = PRIOR_DRAWS, target: float = PRIOR_MCSE_TARGET, most: int = PRIOR_DRAWS_MAX
) -> PriorIntervals:
    """Prior intervals whose end points' Monte Carlo error is at most `target`: `n` exact draws,
    doubled (fresh draws added, same seed) until the largest order-statistic MCSE is within
    `target` or `most` draws are reached. Deterministic for a seed; kept per process for the
    network's tables (a backfill asks for the same ones at every point)."""
    key = _prior_key(net, seed, n, target, most)
    found = _PRIOR_MEMO.get(key)
    if found is None:
        found = _prior_intervals(net, seed=seed, n=n, target=target, most=most)
        if len(_PRIOR_MEMO) >= 8:
            _PRIOR_MEMO.pop(next(iter(_PRIOR_MEMO)))
        _PRIOR_MEMO[key] = found
    return found


_PRIOR_MEMO: dict[str, PriorIntervals] = {}


def _prior_key(net: Network, seed: int, n: int, target: float, most: int) -> str:
    import numpy as np

    h = hashlib.sha256(repr((seed, n, target, most, net.hypothesis_ids, net.states)).encode())
    h.update(repr(net.hypothesis_parents).encode())
    for a in net.alpha:
        h.update(np.ascontiguousarray(a).tobytes())
        h.update(str(a.shape).encode())
    return h.hexdigest()


def _prior_intervals(net: Network, *, seed: int, n: int, target: float, most: int) -> PriorIntervals:
    import numpy as np

    from forecaster.inference.mcse import quantiles_iid

    draws = prior_draws(net, seed=seed, n=n)
    round_ = 0
    while True:
        ivs, ses = zip(*(quantiles_iid(d) for d in draws), strict=True)
        total = draws[0].shape[0]
        worst = max(float(se.max()) for se in ses)
        if worst <= target or total >= most:
            return PriorIntervals(list(ivs), list(ses), total)
        round_ += 1
        more = prior_draws(net, seed=seed + 7919 * round_, n=min(total, most - total))
        draws = [np.concatenate([a, b], axis=0) for a, b in zip(draws, more, strict=True)]


def interval(x: np.ndarray) -> np.ndarray:
    """Central 90 % of draws, per column."""
    import numpy as np

    return np.quantile(x, INTERVAL_PROBS, axis=0)


def mean_check(exact: Sequence[np.ndarray], means: Sequence[np.ndarray], mcse: Sequence[np.ndarray]) -> float:
    """max over states of |mean − exact| ÷ MCSE of the mean (states whose MCSE is 0 are skipped)."""
    import numpy as np

    worst = 0.0
    for e, m, se in zip(exact, means, mcse, strict=True):
        se = np.asarray(se, dtype=float)
        ok = se > 0
        if ok.any():
            worst = max(worst, float(np.max(np.abs(np.asarray(m) - np.asarray(e))[ok] / se[ok])))
    return worst


def mean_check_warning(z: float, sampler: str = "pymc-nuts") -> str:
    fix = "raise --tune and --draws" if sampler == "pymc-nuts" else "please report this (the draws are exact)"
    return (
        f"sampler check failed: the draws' mean is {z:.1f} Monte Carlo standard errors from the exact "
        f"posterior (> {MEAN_CHECK_MAX:g}); the intervals may be wrong: {fix}"
    )


def half_life_setting(half_life_days: float | None | str) -> dict[str, Any]:
    """What a `--half-life` override adds to a run's settings (and so to its id): nothing without one."""
    if half_life_days == "settings":
        return {}
    return {"half_life_days": "none" if half_life_days is None else float(half_life_days)}


#: Outside the ICD 203 scale (MODEL.md §3 reading of the terms): below 1 % or above 99 %.
EXTREME_LOW, EXTREME_HIGH = 0.01, 0.99


def outside_scale(p: float) -> bool:
    return p < EXTREME_LOW or p > EXTREME_HIGH


def _extreme(p: float, h: int, sid: str, evidence: Sequence[EvidenceResult], net: Network) -> dict[str, Any] | None:
    """Which side, and the three reports (indicators) or mechanisms whose removal moves it most
    back towards the scale (the leave-one-out shifts of what moved it)."""
    if not outside_scale(p):
        return None
    side = "low" if p < EXTREME_LOW else "high"
    hid = net.hypothesis_ids[h]
    units = [e for e in evidence if e.kind == "mechanism" or e.mechanism is None]
    sign = -1.0 if side == "low" else 1.0
    ranked = sorted(units, key=lambda e: -sign * e.shift[hid][sid])
    carried = [
        {"kind": e.kind, "id": e.indicator, "shift": _r(e.shift[hid][sid]), "report_ids": list(e.report_ids)}
        for e in ranked[:3] if sign * e.shift[hid][sid] > 0
    ]
    return {"side": side, "carried_by": carried}


def evidence_results(net: Network, folded: dict[str, Any], exact: Any) -> list[EvidenceResult]:
    """What moved it: one entry per reported indicator and per mechanism with reports (the
    episode as a whole), a mechanism followed by its indicators, largest shift first."""

    def shift_of(without: list[Any]) -> dict[str, dict[str, float]]:
        return {
            hid: {sid: float(exact.posterior[h][k] - without[h][k]) for k, sid in enumerate(net.states[h])}
            for h, hid in enumerate(net.hypothesis_ids)
        }

    mech_of = net.mechanism_of
    pos = {k: j for j, k in enumerate(net.indicator_ids)}
    per_ind: dict[str, EvidenceResult] = {}
    for ind, ev in folded.items():
        without = exact.without.get(ind, exact.posterior)  # λ folded to 1:1 moves nothing
        k = int(mech_of[pos[ind]]) if ind in pos else -1
        per_ind[ind] = EvidenceResult(
            ind, ev.reports, ev.likelihood, shift_of(without), ev.report_ids, ev.origins,
            tuple(w.to_json() for w in ev.weights), "indicator", net.mechanism_ids[k] if k >= 0 else None,
        )
    units: list[tuple[EvidenceResult, list[EvidenceResult]]] = []
    for k, mid in enumerate(net.mechanism_ids):
        kids = [per_ind[i] for i in folded if i in pos and mech_of[pos[i]] == k]
        if not kids:
            continue
        without = exact.without_mechanism.get(mid, exact.posterior)
        l1 = sum(math.log(e.likelihood[0]) for e in kids)
        l0 = sum(math.log(e.likelihood[1]) for e in kids)
        top = max(l1, l0)
        kids.sort(key=lambda e: -e.largest_shift)
        mech = EvidenceResult(
            mid, sum(e.reports for e in kids), (math.exp(l1 - top), math.exp(l0 - top)), shift_of(without),
            tuple(r for e in kids for r in e.report_ids), sum(e.origins for e in kids),
            tuple(w for e in kids for w in e.weights), "mechanism", mid, tuple(e.indicator for e in kids),
        )
        units.append((mech, kids))
    units += [(e, []) for e in per_ind.values() if e.mechanism is None]
    units.sort(key=lambda u: -u[0].largest_shift)
    return [e for head, kids in units for e in (head, *kids)]


def _sample(
    net: Network, log_lam: Any, *, seed: int, settings: SamplerSettings, model: Any,
    progress: Callable[[str], None] | None, notify: Callable[[str], None] | None, pending: Any = None,
) -> tuple[Any, Any]:
    """(SampleResult, density check or None) from the sampler `settings` names (both import pymc)."""
    if settings.sampler == "nuts":
        from forecaster.inference import sampler

        if progress:
            progress(f"sampling {settings.chains} chains × {settings.draws} draws with NUTS (tune {settings.tune})")
        return sampler.sample(net, log_lam, seed=seed, settings=settings, model=model, notify=notify), None
    from forecaster.inference.iid import sample_iid

    return sample_iid(net, log_lam, seed=seed, settings=settings, say=progress, notify=notify, pending=pending)


def density_warning(check: Any) -> str:
    if check.checked < 2:
        return (
            f"density check not possible: {check.checked} of the first draws lie away from the edges of their "
            "tables (a probability within 1e-6 of 0 or 1), so no interval is printed; raise --draws"
        )
    return (
        f"density check failed: log p_PyMC − log q varies by {check.spread:.3g} over {check.checked} draws (it must be "
        "one constant): the draws do not follow the PyMC model, so no interval is printed; please report this"
    )


def _hypothesis_results(net: Network, exact: Any, res: Any, prior_ivs: Any, evidence: Sequence[EvidenceResult],
                        previous: dict[str, dict[str, float]] | None) -> list[HypothesisResult]:
    """Each hypothesis's states: exact posterior, sampled interval (`res`, None when unsampled or unusable), prior."""
    hyps = []
    for h, hid in enumerate(net.hypothesis_ids):
        post = exact.posterior[h]
        states = []
        for k, sid in enumerate(net.states[h]):
            prev = (previous or {}).get(hid, {}).get(sid)
            p = float(post[k])
            if res is not None:
                iv, iv_se = res.interval[h], res.interval_mcse[h]
                lo_hi = (float(iv[0, k]), float(iv[1, k]))
                lo_hi_se: tuple[float, float] | None = (float(iv_se[0, k]), float(iv_se[1, k]))
                s_mean: float | None = float(res.draws[h][:, k].mean())
            else:
                lo_hi, lo_hi_se, s_mean = (float("nan"), float("nan")), None, None
            piv, pse = prior_ivs.interval[h], prior_ivs.mcse[h]
            states.append(StateResult(
                id=sid, prior=float(exact.prior[h][k]), posterior=p, interval=lo_hi,
                prior_interval=(float(piv[0, k]), float(piv[1, k])), exact=p, change=None if prev is None else p - prev,
                term=None if outside_scale(p) else term_for(p), claimed=sid == net.claimed[h],
                extreme=_extreme(p, h, sid, evidence, net), sampler_mean=s_mean, interval_mcse=lo_hi_se,
                prior_interval_mcse=(float(pse[0, k]), float(pse[1, k]))))
        hyps.append(HypothesisResult(hid, tuple(states)))
    return hyps


def _diagnostics(res: Any, check: Any, diag_base: dict[str, Any], seconds: float, exact: Any, prior_ivs: Any) -> Diagnostics:
    """The run's diagnostics: the sampler's convergence figures and warnings, or the exact engine's none."""
    common: dict[str, Any] = dict(diag_base, seconds=seconds, prior_interval_mcse_max=prior_ivs.mcse_max,
                                  prior_draws=prior_ivs.draws)
    if res is None:
        return Diagnostics(**common, r_hat_max=None, ess_min=None, divergences=0)
    z = mean_check(exact.posterior, [d.mean(axis=0) for d in res.draws], res.mean_mcse)
    warns = list(res.warnings)
    if z > MEAN_CHECK_MAX:
        warns.append(mean_check_warning(z, diag_base["sampler"]))
    if check is not None and not check.ok:
        warns.append(density_warning(check))
    return Diagnostics(**common, r_hat_max=res.r_hat_max, ess_min=res.ess_min, divergences=res.divergences,
                       warnings=tuple(warns), mean_check=z, interval_mcse_max=res.interval_mcse_max,
                       density_spread=None if check is None else check.spread,
                       density_checked=None if check is None else check.checked)


def run_update(
    priors: Priors,
    reports: Sequence[Report],
    *,
    as_of: dt.date,
    seed: int = DEFAULT_SEED,
    exact_only: bool = False,
    sampler_settings: Any = None,
    previous: dict[str, dict[str, float]] | None = None,
    previous_run_id: str | None = None,
    progress: Callable[[str], None] | None = None,
    net: Network | None = None,
    model: Any = None,
    half_life_days: float | None | str = "settings",
    notify: Callable[[str], None] | None = None,
    pending: Any = None,
) -> UpdateResult:
    """Update the forecast on `reports` (already filtered to the evidence window). `notify` hears
    what the user should be told while it runs (a first run's compilation), `progress` each step.
    `pending`: exact draws already started for this run (`forecaster.inference.iid.start`, a batch and
    this run's place in it), as a scenario comparison starts every run's at once.

    Reports are aged to `as_of` with the priors' half-life, or `half_life_days` (a number of days,
    or None for no ageing) for this run only, which is then recorded in the run's settings."""
    from forecaster.inference.exact import infer_exact
    from forecaster.model.network import build_network

    start = time.perf_counter()
    check_seed(seed)
    net = net or build_network(priors)
    folded = priors.fold(reports, as_of=as_of, half_life_days=half_life_days)
    log_lam = net.log_lambda(folded)
    ss = sampler_settings or SamplerSettings()
    if not exact_only and ss.sampler == "iid" and pending is None:
        from forecaster.inference import iid

        # the draws begin now, in a forked child, while this process runs the exact engine and imports PyMC
        pending = (iid.start([(net, log_lam, seed)], ss), 0)
    exact = infer_exact(net, log_lam)
    prior_ivs = prior_intervals(net, seed=seed)

    check = None
    if exact_only:
        res = None
        diag_base: dict[str, Any] = {"sampler": "exact", "chains": 0, "draws": 0, "tune": 0}
        settings: dict[str, Any] = {"sampler": "exact"}
    else:
        settings = {"sampler": ss.name, **ss.as_dict()}
        res, check = _sample(net, log_lam, seed=seed, settings=ss, model=model, progress=progress, notify=notify,
                             pending=pending)
        per_chain = res.draws[0].shape[0] // ss.chains if res.draws else ss.draws
        diag_base = {"sampler": ss.name, "chains": ss.chains, "draws": per_chain, "tune": ss.tune if ss.sampler == "nuts" else 0}
    settings.update(half_life_setting(half_life_days))

    ev_hash = events_hash(reports)
    s_hash = settings_hash(settings)
    evidence = evidence_results(net, folded, exact)

    hyps = _hypothesis_results(net, exact, res if check is None or check.ok else None, prior_ivs, evidence, previous)

    diagnostics = _diagnostics(res, check, diag_base, time.perf_counter() - start, exact, prior_ivs)
    return UpdateResult(
        run_id=run_id_for(priors.hash, ev_hash, as_of, seed, s_hash),
        as_of=as_of,
        window=window_for(as_of, priors.evidence_window_days),
        priors_hash=priors.hash,
        events_hash=ev_hash,
        seed=seed,
        version=__version__,
        hypotheses=tuple(hyps),
        evidence=tuple(evidence),
        diagnostics=diagnostics,
        report_ids=tuple(sorted(r.id for r in reports if r.id)),
        settings_hash=s_hash,
        previous_run_id=previous_run_id,
        idata=None if res is None else res.idata,
    )
