"""Scenarios and what-ifs (MODEL.md §5): hypothetical reports added on top of the recorded
evidence and compared with the baseline, the recorded evidence alone.

A scenario file in `scenarios/` is YAML with a `name`, `title`, `description`, `citation` and a
`reports:` list whose entries have the fields of an event (`forecast event import`). A YAML file
without `name` is not a scenario (`historical_events.yaml` is recorded history) and is skipped.

Nothing here writes: not the event store, not the run log, not runs/. A scenario's numbers are
never recorded, so a scenario can never become the "previous update".

Sampled mode builds the PyMC model once and samples the baseline. A scenario's posterior over
(θ, q) is the baseline's times P(S | E, θ, q), the probability of the scenario's reports given
the recorded ones — a number the exact formula of MODEL.md §4 gives for every draw. So each
scenario reweights the baseline's draws (importance sampling; the weights are probabilities, hence
bounded) and reports the weighted mean and central 90 % of P(H | E, S, θ, q): the same quantities
as a sampled update, in milliseconds instead of a NUTS run. When the weights keep less than half
the draws' efficiency (Kish ESS), or with `resample`, the scenario is sampled afresh with the
same compiled model, its evidence set as data.

Hypothetical reports count whatever their date: the date is part of the story a scenario tells
(and may lie in the future), not a filter. The recorded evidence keeps its evidence window.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from forecaster.core.errors import EvidenceError, UsageError, did_you_mean
from forecaster.core.yamlio import load_yaml
from forecaster.inference.exact import log_joint
from forecaster.inference.settings import (
    DEFAULT_SEED,
    INTERVAL_MCSE_MAX,
    MEAN_CHECK_MAX,
    SamplerSettings,
    interval_warning,
)
from forecaster.inference.update import HypothesisResult, UpdateResult, mean_check, mean_check_warning, run_update
from forecaster.model.evidence import Report, check_indicator, load_reports_file, parse_grade
from forecaster.model.network import Network, build_network
from forecaster.model.priors import Priors

SCENARIO_SOURCE = "scenario: hypothetical"
WHATIF_NAME = "whatif"
DEFAULT_GRADE = "B2"
_NAME = r"^[a-z0-9][a-z0-9_-]*$"
_YES = {"yes", "y", "occurred", "true"}
_NO = {"no", "n", "not", "not_occurred", "false"}


# ----------------------------------------------------------------------------- scenario files


class _ScenarioHeader(BaseModel):
    """The fields of a scenario file around its reports (validated; unknown keys rejected)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_NAME)
    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    citation: str = Field(min_length=1)
    reports: list[Any] = Field(min_length=1)


@dataclass(frozen=True)
class Scenario:
    """A named set of hypothetical reports, with the passage it rests on."""

    name: str
    title: str
    description: str
    citation: str
    reports: tuple[Report, ...]
    path: Path | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "citation": self.citation,
            "file": None if self.path is None else str(self.path),
            "reports": [
                {
                    "indicator": r.indicator,
                    "occurred": r.occurred,
                    "grade": r.grade,
                    "date": r.date.isoformat(),
                    "note": r.note,
                }
                for r in self.reports
            ],
        }


def _key_line(path: Path, key: str) -> int:
    """The line a top-level key starts on (YAML mappings keep only their own first line)."""
    pattern = re.compile(rf"^{re.escape(key)}\s*:")
    try:
        for i, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
            if pattern.match(line):
                return i
    except OSError:
        pass
    return 0


def _header(path: Path, data: Any) -> _ScenarioHeader:
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping with name, title, description, citation and reports")
    try:
        return _ScenarioHeader.model_validate(data)
    except ValidationError as e:
        # A misspelt key shows up twice, as unknown and as missing: name the typo, with a suggestion.
        first = sorted(e.errors(), key=lambda x: x["type"] != "extra_forbidden")[0]
        key = str(first["loc"][0]) if first["loc"] else ""
        line = _key_line(path, key) if key else 0
        where = f"{path}:{line}" if line else str(path)
        if first["type"] == "extra_forbidden":
            msg = f"unknown field {key!r}{did_you_mean(key, _ScenarioHeader.model_fields)}"
        elif first["type"] == "missing":
            msg = f"field {key!r}: missing; a scenario needs name, title, description, citation and reports"
        elif key == "name" and first["type"] == "string_pattern_mismatch":
            msg = f"field 'name': {data.get('name')!r} is not a scenario name: lower-case letters, digits, _ and -"
        else:
            msg = f"field {key!r}: {first['msg']}"
        raise UsageError(f"{where}: {msg}") from None


def _yaml_files(folder: Path) -> list[Path]:
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])


def scenario_files(folder: Path) -> dict[str, Path]:
    """Every scenario in `folder` by name (files without `name:` are skipped)."""
    if not folder.is_dir():
        raise UsageError(f"{folder}: no scenarios folder here; `forecast init` creates one with the bundled scenarios")
    found: dict[str, Path] = {}
    for path in _yaml_files(folder):
        data = load_yaml(path)
        if not isinstance(data, dict) or "name" not in data:
            continue
        name = str(data["name"])
        if name in found:
            raise UsageError(f"{path}: scenario name {name!r} is already used by {found[name]}")
        found[name] = path
    return found


def load_scenario(path: Path, *, known: Iterable[str]) -> Scenario:
    """One scenario file, validated: its header, then every report (file:line errors with a
    did-you-mean for an unknown indicator)."""
    header = _header(path, load_yaml(path))
    # A hypothetical report may be dated in the future: the story a scenario tells.
    reports = load_reports_file(path, known=known, today=dt.date.max)
    return Scenario(
        header.name, header.title, " ".join(header.description.split()), header.citation, tuple(reports), path
    )


def list_scenarios(folder: Path, *, known: Iterable[str]) -> list[Scenario]:
    """Every scenario in `folder`, each validated, by name."""
    known = set(known)
    return [load_scenario(path, known=known) for _name, path in sorted(scenario_files(folder).items())]


def find_scenarios(folder: Path, names: Sequence[str], *, known: Iterable[str]) -> list[Scenario]:
    """The scenarios named (or given as paths to scenario files), in the order given."""
    known = set(known)
    available: dict[str, Path] | None = None
    chosen = []
    for name in names:
        as_path = Path(name)
        if as_path.suffix in (".yaml", ".yml") and as_path.is_file():
            chosen.append(load_scenario(as_path, known=known))
            continue
        if available is None:
            available = scenario_files(folder)
        if name not in available:
            listed = ", ".join(sorted(available)) or "none"
            raise UsageError(
                f"no scenario named {name!r} in {folder}{did_you_mean(name, available)}; available: {listed}"
            )
        chosen.append(load_scenario(available[name], known=known))
    seen: set[str] = set()
    for s in chosen:
        if s.name in seen:
            raise UsageError(f"scenario {s.name!r} is named twice")
        seen.add(s.name)
    return chosen


# ----------------------------------------------------------------------------- typed what-ifs


def parse_hypothetical(
    token: str,
    *,
    known: Iterable[str],
    occurred: bool = True,
    grade: str = DEFAULT_GRADE,
    today: dt.date | None = None,
) -> Report:
    """A report typed on the command line: `INDICATOR[:yes|:no][@GRADE]`.

    `armed_incident_north_kosovo` says it occurred (or, with `occurred=False`, that it did not);
    `csto_move:no` that it did not; `csto_move@C3` graded C3 instead of `grade`."""
    text = token.strip()
    body, at, grade_text = text.partition("@")
    if at:
        try:
            reliability, credibility = parse_grade(grade_text)
        except EvidenceError as e:
            raise UsageError(f"{token!r}: {e}") from None
    else:
        reliability, credibility = parse_grade(grade)
    indicator, colon, answer = body.partition(":")
    if colon:
        word = answer.strip().lower()
        if word in _YES:
            occurred = True
        elif word in _NO:
            occurred = False
        else:
            raise UsageError(f"{token!r}: after ':' write yes or no (occurred or not), got {answer!r}")
    indicator = indicator.strip()
    if not indicator:
        raise UsageError(f"{token!r}: no indicator; write INDICATOR[:yes|:no][@GRADE], e.g. csto_move:no@C3")
    check_indicator(indicator, known)
    return Report(
        indicator=indicator,
        date=today or dt.date.today(),
        occurred=occurred,
        reliability=reliability,
        credibility=credibility,
        source=SCENARIO_SOURCE,
        note=f"typed: {token}",
    )


def whatif_scenario(reports: Sequence[Report]) -> Scenario:
    """Reports typed on the command line, as a scenario named `whatif`."""
    said = ", ".join(f"{r.indicator} {'occurred' if r.occurred else 'did not occur'} ({r.grade})" for r in reports)
    return Scenario(WHATIF_NAME, "what if " + said, said, "typed on the command line", tuple(reports))


# ----------------------------------------------------------------------------- results


Shift = Mapping[str, Mapping[str, float]]

# A scenario is answered by reweighting the baseline's draws when they keep at least this share of
# their efficiency (Kish effective sample size of the weights over the number of draws); otherwise
# it is sampled afresh with the same compiled model.
REWEIGHT_MIN_FRACTION = 0.5
PARAMETER_CHECK = 1e-6  # draws recomputed from (θ, q) must reproduce the sampler's own marginals


@dataclass(frozen=True)
class ScenarioOutcome:
    """One scenario's forecast and its change from the baseline (posterior minus baseline).

    `method`: "exact", "nuts" (sampled afresh) or "reweighted" (the baseline's PyMC draws of
    (θ, q) importance-weighted by the scenario's reports); `weights_ess` is the Kish effective
    sample size of those weights as a share of the draws (None unless reweighted)."""

    scenario: Scenario
    result: UpdateResult
    change: Shift
    method: str = "exact"
    weights_ess: float | None = None


@dataclass(frozen=True)
class Comparison:
    """The baseline (recorded evidence only) and every scenario."""

    as_of: dt.date
    sampler: str  # "exact" or "pymc-nuts"
    seed: int
    baseline: UpdateResult
    recorded_reports: int
    outcomes: tuple[ScenarioOutcome, ...]
    seconds: float

    def to_json(self) -> dict[str, Any]:
        b = self.baseline
        return {
            "as_of": self.as_of.isoformat(),
            "window": [b.window[0].isoformat(), b.window[1].isoformat()],
            "sampler": self.sampler,
            "seed": self.seed,
            "priors_hash": b.priors_hash,
            "recorded": False,  # scenario runs are never written to the store or runs/
            "baseline": {
                "reports": self.recorded_reports,
                "events_hash": b.events_hash,
                "hypotheses": _states_json(b, None),
                "diagnostics": _diagnostics_json(b),
            },
            "scenarios": [
                {
                    **o.scenario.to_json(),
                    "method": o.method,
                    "weights_ess": None if o.weights_ess is None else round(o.weights_ess, 4),
                    "hypotheses": _states_json(o.result, o.change),
                    "diagnostics": _diagnostics_json(o.result),
                }
                for o in self.outcomes
            ],
            "seconds": round(self.seconds, 3),
        }


def _r(x: float) -> float | None:
    return None if x != x else round(float(x), 6)


def _states_json(result: UpdateResult, change: Shift | None) -> dict[str, dict[str, dict[str, Any]]]:
    """Hypothesis id -> state id -> the state in the shared shape (forecaster.inference.states); the
    baseline's change is null, a scenario's is its change from the baseline."""
    from forecaster.inference.states import from_result

    shaped = from_result(result, change) if change is not None else from_result(result, _no_change(result))
    return {h["id"]: {st["id"]: st for st in h["states"]} for h in shaped}


def _no_change(result: UpdateResult) -> dict[str, dict[str, Any]]:
    return {h.id: {s.id: None for s in h.states} for h in result.hypotheses}


def _diagnostics_json(result: UpdateResult) -> dict[str, Any]:
    return result.diagnostics.to_json(run=False)


def _change(result: UpdateResult, baseline: UpdateResult) -> dict[str, dict[str, float]]:
    base = baseline.posteriors()
    return {h.id: {s.id: s.posterior - base[h.id][s.id] for s in h.states} for h in result.hypotheses}


# ----------------------------------------------------------------------------- reweighting


@dataclass(frozen=True)
class ParameterDraws:
    """Posterior draws of the network's parameters: θ flat as `Network.theta_index` addresses it
    (D, T), and every indicator table row q (D, Q)."""

    theta: np.ndarray
    q: np.ndarray

    @property
    def n(self) -> int:
        return int(self.theta.shape[0])


@dataclass(frozen=True)
class Reweighted:
    """A scenario's P(H | E, S, θ, q) per draw, the normalised importance weights, their Kish ESS share."""

    draws: list[np.ndarray]  # per hypothesis, (D, K)
    weights: np.ndarray  # (D,), sums to 1
    ess_fraction: float

    def mean(self) -> list[np.ndarray]:
        return [self.weights @ d for d in self.draws]

    def interval(self) -> list[np.ndarray]:
        """Central 90 % of the weighted draws, per state: (2, K) per hypothesis."""
        return [_weighted_quantiles(d, self.weights, (0.05, 0.95)) for d in self.draws]


def _weighted_quantiles(x: np.ndarray, w: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    order = np.argsort(x, axis=0)
    xs = np.take_along_axis(x, order, axis=0)
    ws = w[order]
    cdf = np.cumsum(ws, axis=0) - 0.5 * ws  # each draw at the middle of its weight (equal weights: Hazen)
    return np.array([[np.interp(q, cdf[:, k], xs[:, k]) for k in range(x.shape[1])] for q in qs])


def _log_joint(net: Network, draws: ParameterDraws, log_lam: np.ndarray) -> np.ndarray:
    """log P(s, E | θ, q, m) for every draw and joint state (D, S) — MODEL.md §4 (mechanisms in
    closed form), vectorised over draws: the exact engine's own formula."""
    reported = np.any(log_lam != 0.0, axis=1)  # silent indicators contribute log 1
    if not reported.any():
        return np.log(draws.theta)[:, net.theta_index].sum(axis=1)
    return log_joint(net, log_lam, theta=draws.theta, q=draws.q)


def _logsumexp(x: np.ndarray) -> np.ndarray:
    top = x.max(axis=1, keepdims=True)
    return (top + np.log(np.exp(x - top).sum(axis=1, keepdims=True)))[:, 0]


def reweight(net: Network, draws: ParameterDraws, base_log_lam: np.ndarray, log_lam: np.ndarray) -> Reweighted:
    """Turn draws from p(θ, q | E) into a weighted sample of p(θ, q | E, S).

    The weight of a draw is P(S | E, θ, q) = P(E, S | θ, q) / P(E | θ, q), a probability: bounded,
    so the importance weights have finite variance and their Kish ESS is a fair diagnostic."""
    log_base = _log_joint(net, draws, base_log_lam)
    log_scen = _log_joint(net, draws, log_lam)
    norm = _logsumexp(log_scen)
    log_w = norm - _logsumexp(log_base)
    w = np.exp(log_w - log_w.max())
    w /= w.sum()
    joint = np.exp(log_scen - norm[:, None])
    return Reweighted([joint @ m for m in net.marginal_matrices()], w, float(1.0 / np.sum(w**2) / draws.n))


def _theta_draws(net: Network, post: Any, n: int) -> np.ndarray:
    """θ draws (n, T) in the network's flat order, from either layout the sampler may use: one
    Dirichlet per hypothesis (`theta_<id>`), or one per number of states (`theta_k<K>`, the rows
    of the hypotheses with K states stacked in network order)."""
    if all(f"theta_{h}" in post for h in net.hypothesis_ids):
        parts = [np.asarray(post[f"theta_{h}"].values).reshape(n, -1) for h in net.hypothesis_ids]
        return np.concatenate(parts, axis=1)
    sizes = [len(states) for states in net.states]
    by_hypothesis: dict[int, np.ndarray] = {}
    for k in sorted(set(sizes)):
        members = [h for h, kh in enumerate(sizes) if kh == k]
        rows = np.asarray(post[f"theta_k{k}"].values).reshape(n, -1, k)
        start = 0
        for h in members:
            count = net.alpha[h].shape[0]
            by_hypothesis[h] = rows[:, start : start + count, :].reshape(n, -1)
            start += count
        if start != rows.shape[1]:
            raise ValueError(f"theta_k{k} has {rows.shape[1]} rows, the network {start}")
    return np.concatenate([by_hypothesis[h] for h in range(len(sizes))], axis=1)


def parameter_draws(net: Network, idata: Any, log_lam: np.ndarray) -> ParameterDraws | None:
    """The (θ, q) draws of a sampled run on evidence `log_lam`, or None when they are missing or do
    not reproduce the sampler's own P(H | E, θ, q) draws (then scenarios are sampled afresh)."""
    post = getattr(idata, "posterior", None)
    if post is None:
        return None
    try:
        n = int(post.sizes["chain"]) * int(post.sizes["draw"])
        theta = _theta_draws(net, post, n)
        q = np.asarray(post["q"].values).reshape(n, -1) if net.indicator_ids else np.zeros((n, 0))
        kept = [np.asarray(post[f"p_{h}"].values).reshape(n, -1) for h in net.hypothesis_ids]
    except (KeyError, ValueError):
        return None
    if theta.shape[1] != net.theta_mean_flat.size or q.shape[1] != net.q_a.size:
        return None
    draws = ParameterDraws(theta, q)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_joint = _log_joint(net, draws, log_lam)
        joint = np.exp(log_joint - _logsumexp(log_joint)[:, None])
    for m, p in zip(net.marginal_matrices(), kept, strict=True):
        if p.shape != (n, m.shape[1]) or not np.allclose(joint @ m, p, atol=PARAMETER_CHECK, rtol=0.0):
            return None
    return draws


# ----------------------------------------------------------------------------- comparison


def _reweighted_result(exact: UpdateResult, rw: Reweighted, baseline: UpdateResult, *, ess_min: float) -> UpdateResult:
    """The exact result of the scenario's reports (its posterior stays exact) with the sampled
    fields from the weighted draws: the sampler mean, the interval, and each end point's Monte
    Carlo error from the weights' Kish ESS times the baseline draws' efficiency (ESS ÷ draws)."""
    from forecaster.inference.mcse import quantiles_weighted

    means = rw.mean()
    d = baseline.diagnostics
    n = rw.draws[0].shape[0] if rw.draws else 0
    base_eff = 1.0 if d.ess_min is None or not n else min(1.0, d.ess_min / n)
    n_eff = max(1.0, rw.ess_fraction * n * base_eff)
    hyps = []
    worst = 0.0
    mean_se = []
    for h, hyp in enumerate(exact.hypotheses):
        iv, se = quantiles_weighted(rw.draws[h], rw.weights, n_eff=n_eff)
        worst = max(worst, float(np.max(se)))
        # self-normalised importance sampling: Var ≈ Σ w² (x − mean)², times the draws' autocorrelation
        resid = rw.draws[h] - means[h][None, :]
        mean_se.append(np.sqrt(np.sum((rw.weights[:, None] * resid) ** 2, axis=0) / base_eff))
        states = tuple(
            replace(
                s,
                interval=(float(iv[0, k]), float(iv[1, k])),
                interval_mcse=(float(se[0, k]), float(se[1, k])),
                sampler_mean=float(means[h][k]),
            )
            for k, s in enumerate(hyp.states)
        )
        hyps.append(HypothesisResult(hyp.id, states))
    ess = None if d.ess_min is None else d.ess_min * rw.ess_fraction
    warnings = [w for w in d.warnings if not w.startswith(("ESS", "Monte Carlo error", "sampler check"))]
    if ess is not None and not ess >= ess_min:
        warnings.append(f"ESS {ess:.0f} < {ess_min:.0f} after reweighting: too few effective draws; raise --draws")
    if worst > INTERVAL_MCSE_MAX:
        warnings.append(interval_warning(worst) + " (after reweighting)")
    check = mean_check([np.array([s.exact for s in h.states]) for h in exact.hypotheses], means, mean_se)
    if check > MEAN_CHECK_MAX:
        warnings.append(mean_check_warning(check) + " (after reweighting)")
    diagnostics = replace(
        d, sampler="pymc-nuts-reweighted", ess_min=ess, warnings=tuple(warnings), seconds=0.0,
        interval_mcse_max=worst, mean_check=check,
        prior_interval_mcse_max=exact.diagnostics.prior_interval_mcse_max, prior_draws=exact.diagnostics.prior_draws,
    )
    return replace(exact, hypotheses=tuple(hyps), diagnostics=diagnostics, idata=None)


def compare(
    priors: Priors,
    recorded: Sequence[Report],
    scenarios: Sequence[Scenario],
    *,
    as_of: dt.date,
    seed: int = DEFAULT_SEED,
    exact: bool = False,
    sampler_settings: SamplerSettings | None = None,
    resample: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Comparison:
    """The recorded evidence alone (the baseline), then with each scenario's reports added.

    `exact`: the exact engine. Otherwise PyMC samples the baseline with a model built once; each
    scenario reweights the baseline's draws of (θ, q) by the likelihood of its reports (instant),
    or, when the weights would keep less than REWEIGHT_MIN_FRACTION of the draws' efficiency or
    with `resample`, is sampled afresh with the same compiled model."""
    start = time.perf_counter()
    say = progress or (lambda _msg: None)
    net = build_network(priors)
    settings = sampler_settings or SamplerSettings()

    def exact_update(reports: Sequence[Report]) -> UpdateResult:
        return run_update(priors, reports, as_of=as_of, seed=seed, exact_only=True, net=net)

    def fresh(sc: Scenario) -> list[Report]:
        """A hypothetical report counts whatever its date (the module docstring): it is folded as
        of `as_of`, fresh, never aged nor left out as future (MODEL.md §3 ageing is for the record)."""
        return [replace(r, date=as_of) for r in sc.reports]

    outcomes = []
    if exact:
        baseline = exact_update(recorded)
        for sc in scenarios:
            result = exact_update([*recorded, *fresh(sc)])
            outcomes.append(ScenarioOutcome(sc, result, _change(result, baseline), "exact"))
        return Comparison(as_of, "exact", seed, baseline, len(recorded), tuple(outcomes), time.perf_counter() - start)

    say("building the model")
    from forecaster.inference import sampler  # imports pymc: only on the sampled path

    model = sampler.build_model(net)

    def sampled_update(reports: Sequence[Report]) -> UpdateResult:
        return run_update(priors, reports, as_of=as_of, seed=seed, sampler_settings=settings, net=net, model=model,
                          notify=progress)

    say("sampling the baseline (recorded evidence)")
    baseline = sampled_update(recorded)
    base_log_lam = net.log_lambda(priors.fold(recorded, as_of=as_of))
    draws = None if resample else parameter_draws(net, baseline.idata, base_log_lam)
    for i, sc in enumerate(scenarios, 1):
        reports = [*recorded, *fresh(sc)]
        if draws is not None:
            rw = reweight(net, draws, base_log_lam, net.log_lambda(priors.fold(reports, as_of=as_of)))
            if rw.ess_fraction >= REWEIGHT_MIN_FRACTION:
                result = _reweighted_result(exact_update(reports), rw, baseline, ess_min=sampler.ESS_MIN)
                outcomes.append(ScenarioOutcome(sc, result, _change(result, baseline), "reweighted", rw.ess_fraction))
                continue
        say(f"sampling scenario {i}/{len(scenarios)}: {sc.name}")
        result = sampled_update(reports)
        outcomes.append(ScenarioOutcome(sc, result, _change(result, baseline), "nuts"))
    return Comparison(as_of, "pymc-nuts", seed, baseline, len(recorded), tuple(outcomes), time.perf_counter() - start)

