"""`forecast update` as a library call: reports -> folded evidence -> exact engine and sampler
-> a frozen `UpdateResult` that renderers and the run log read. Nothing here prints."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from forecaster import __version__
from forecaster.inference.settings import DEFAULT_SEED, PRIOR_DRAWS, SamplerSettings
from forecaster.model.terms import term_for

if TYPE_CHECKING:
    import numpy as np

    from forecaster.model.evidence import Report
    from forecaster.model.network import Network
    from forecaster.model.priors import Priors

@dataclass(frozen=True)
class StateResult:
    id: str
    prior: float
    posterior: float
    interval: tuple[float, float]
    prior_interval: tuple[float, float]
    exact: float
    change: float | None
    term: str
    claimed: bool


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

    def to_json(self) -> dict[str, Any]:
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
                }
                for e in self.evidence
            ],
            "report_ids": list(self.report_ids),
            "settings_hash": self.settings_hash,
            "diagnostics": {
                "sampler": d.sampler,
                "chains": d.chains,
                "draws": d.draws,
                "tune": d.tune,
                "r_hat_max": None if d.r_hat_max is None else round(d.r_hat_max, 4),
                "ess_min": None if d.ess_min is None else round(d.ess_min, 1),
                "divergences": d.divergences,
                "seconds": round(d.seconds, 3),
                "warnings": list(d.warnings),
            },
        }


    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UpdateResult:
        """Rebuild a recorded run (the cached path: no sampling, no pymc)."""
        d = data["diagnostics"]
        hyps = tuple(
            HypothesisResult(h["id"], tuple(
                StateResult(
                    id=s["id"], prior=s["prior"], posterior=s["posterior"],
                    interval=(_f(s["interval"][0]), _f(s["interval"][1])),
                    prior_interval=(s["prior_interval"][0], s["prior_interval"][1]),
                    exact=s["exact"], change=s["change"], term=s["term"], claimed=s["claimed"],
                ) for s in h["states"]))
            for h in data["hypotheses"]
        )
        ev = tuple(
            EvidenceResult(e["indicator"], e["reports"], (e["likelihood"][0], e["likelihood"][1]), e["shift"],
                           tuple(e.get("report_ids", ())))
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
            ),
            report_ids=tuple(data["report_ids"]), settings_hash=data.get("settings_hash", ""),
            previous_run_id=data.get("previous_run_id"),
        )

    def posteriors(self) -> dict[str, dict[str, float]]:
        return {h.id: {s.id: s.posterior for s in h.states} for h in self.hypotheses}


def _f(x: float | None) -> float:
    return float("nan") if x is None else float(x)


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
        json.dumps([r.indicator, r.date.isoformat(), r.occurred, r.grade, r.source, r.url, r.note, r.id or ""])
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

    from forecaster.inference.exact import _softmax, marginals

    rng = np.random.default_rng(seed)
    theta = np.concatenate([rng.dirichlet(row, size=n) for a in net.alpha for row in a], axis=1)
    log_prior = np.log(theta)[:, net.theta_index].sum(axis=1)  # (n, S)
    return marginals(net, _softmax(log_prior))


_PRIOR_MEMO: list[tuple[Network, int, list[np.ndarray], list[np.ndarray]]] = []


def _prior_intervals(net: Network, seed: int) -> list[np.ndarray]:
    """The prior's 90 % interval per hypothesis (from `prior_draws`), remembered for the last network
    and seed: a weekly backfill runs hundreds of updates on one network, and the prior's draws,
    which do not depend on the reports, would otherwise cost most of its time."""
    for held_net, held_seed, _, ivs in _PRIOR_MEMO:
        if held_net is net and held_seed == seed:
            return ivs
    draws = prior_draws(net, seed=seed)
    ivs = [interval(d) for d in draws]
    _PRIOR_MEMO[:] = [(net, seed, draws, ivs)]
    return ivs


def interval(x: np.ndarray) -> np.ndarray:
    """Central 90 % of draws, per column."""
    import numpy as np

    return np.quantile(x, [0.05, 0.95], axis=0)


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
) -> UpdateResult:
    """Update the forecast on `reports` (already filtered to the evidence window)."""
    from forecaster.inference.exact import infer_exact
    from forecaster.model.evidence import fold
    from forecaster.model.network import build_network

    start = time.perf_counter()
    net = net or build_network(priors)
    folded = fold(reports, priors.grades)
    log_lam = net.log_lambda(folded)
    exact = infer_exact(net, log_lam)
    prior_ivs = _prior_intervals(net, seed)

    if exact_only:
        post_draws = None
        diag_base: dict[str, Any] = {"sampler": "exact", "chains": 0, "draws": 0, "tune": 0}
        settings: dict[str, Any] = {"sampler": "exact"}
    else:
        from forecaster.inference import sampler  # imports pymc: only here

        ss = sampler_settings or SamplerSettings()
        settings = {"sampler": "pymc-nuts", **ss.as_dict()}
        if progress:
            progress(f"sampling {ss.chains} chains × {ss.draws} draws (tune {ss.tune})")
        res = sampler.sample(net, log_lam, seed=seed, settings=ss, model=model)
        post_draws = res.draws
        diag_base = {"sampler": "pymc-nuts", "chains": ss.chains, "draws": ss.draws, "tune": ss.tune}

    ev_hash = events_hash(reports)
    s_hash = settings_hash(settings)
    hyps = []
    for h, hid in enumerate(net.hypothesis_ids):
        prior_iv = prior_ivs[h]
        if post_draws is not None:
            post = post_draws[h].mean(axis=0)
            post_iv = interval(post_draws[h])
        else:
            post = exact.posterior[h]
            post_iv = None
        states = []
        for k, sid in enumerate(net.states[h]):
            prev = (previous or {}).get(hid, {}).get(sid)
            lo_hi = (float(post_iv[0, k]), float(post_iv[1, k])) if post_iv is not None else (float("nan"), float("nan"))
            states.append(StateResult(
                id=sid,
                prior=float(exact.prior[h][k]),
                posterior=float(post[k]),
                interval=lo_hi,
                prior_interval=(float(prior_iv[0, k]), float(prior_iv[1, k])),
                exact=float(exact.posterior[h][k]),
                change=None if prev is None else float(post[k]) - prev,
                term=term_for(float(post[k])),
                claimed=sid == net.claimed[h],
            ))
        hyps.append(HypothesisResult(hid, tuple(states)))

    evidence = []
    for ind, ev in folded.items():
        without = exact.without.get(ind, exact.posterior)  # λ folded to 1:1 moves nothing
        shift = {
            hid: {sid: float(exact.posterior[h][k] - without[h][k]) for k, sid in enumerate(net.states[h])}
            for h, hid in enumerate(net.hypothesis_ids)
        }
        evidence.append(EvidenceResult(ind, ev.reports, ev.likelihood, shift, ev.report_ids))
    evidence.sort(key=lambda e: -e.largest_shift)

    seconds = time.perf_counter() - start
    if post_draws is not None:
        diagnostics = Diagnostics(**diag_base, r_hat_max=res.r_hat_max, ess_min=res.ess_min,
                                  divergences=res.divergences, seconds=seconds, warnings=tuple(res.warnings))
    else:
        diagnostics = Diagnostics(**diag_base, r_hat_max=None, ess_min=None, divergences=0, seconds=seconds)
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
        idata=None if post_draws is None else res.idata,
    )
