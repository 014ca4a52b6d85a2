"""An independent test oracle for the forecast model (MODEL.md §3–4).

Nothing here imports `forecaster.inference.exact` or `forecaster.model.network`: the network is read into a
neutral `OracleNet` (from a loaded `Priors` through its public API, or straight from the YAML
files of a priors folder) and everything is recomputed with numpy:

- `fold_reports`: one log-likelihood pair per indicator from graded reports, with ageing and
  same-origin folding (MODEL.md §3);
- `exact_posterior`: P(H_h | E) by enumeration over joint hypothesis states at the prior means,
  each mechanism summed out in closed form per joint state (MODEL.md §4);
- `exact_posterior_bruteforce`: the same with the mechanisms enumerated as extra joint
  dimensions, in plain Python loops (a check of the closed form);
- `posterior_draws`: the exact i.i.d. posterior sampler of "the exact interval check";
- `prior_draws`: exact forward draws of P(H | θ) from the Dirichlet priors;
- `importance_draws`: brute-force importance sampling from the prior (a check of the sampler);
- `quantiles_with_mcse`, `mean_with_mcse`, `within`, `oracle_summary`: the comparisons the
  issue-9 checks need.

Conventions: a node's parent configurations are in mixed-radix order, the first parent varying
slowest (as `Priors.configs` lists them). An indicator with a mechanism parent has a table of
shape (hypothesis configurations, 2), column 0 given the mechanism *occurred*, column 1 given
it did *not occur*. Evidence is a mapping indicator id -> (log λ1, log λ0).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

MECHANISM_STATES = ("occurred", "not_occurred")
DEFAULT_RELIABILITY = {"A": 0.98, "B": 0.8, "C": 0.6, "D": 0.4, "E": 0.1, "F": 0.5}
DEFAULT_CREDIBILITY = {1: 0.98, 2: 0.8, 3: 0.6, 4: 0.4, 5: 0.1, 6: 0.5}

Evidence = Mapping[str, tuple[float, float]]
"""Indicator id -> (log P(reports | occurred), log P(reports | not occurred))."""


# ----------------------------------------------------------------------------- the network


@dataclass(frozen=True)
class HypothesisTable:
    id: str
    parents: tuple[str, ...]
    states: tuple[str, ...]
    alpha: np.ndarray  # (parent configurations, states): Dirichlet parameters per row


@dataclass(frozen=True)
class IndicatorTable:
    id: str
    parents: tuple[str, ...]  # hypothesis parents only
    a: np.ndarray  # (configurations,) or, with a mechanism, (configurations, 2)
    b: np.ndarray
    mechanism: str | None = None


@dataclass(frozen=True)
class MechanismTable:
    id: str
    parents: tuple[str, ...]
    a: np.ndarray  # (configurations,)
    b: np.ndarray


@dataclass(frozen=True)
class OracleNet:
    """Prior tables of a network, in plain arrays. Hypotheses are listed parents first."""

    hypotheses: tuple[HypothesisTable, ...]
    indicators: tuple[IndicatorTable, ...]
    mechanisms: tuple[MechanismTable, ...] = ()
    accuracy: Mapping[str, float] = field(default_factory=dict)  # grade "B2" -> a(R, C)

    @property
    def hypothesis_ids(self) -> list[str]:
        return [h.id for h in self.hypotheses]

    @property
    def indicator_ids(self) -> list[str]:
        return [i.id for i in self.indicators]

    @property
    def n_joint(self) -> int:
        return math.prod(len(h.states) for h in self.hypotheses)


def default_accuracy(reliability: Mapping[str, float] | None = None, credibility: Mapping[int, float] | None = None) -> dict[str, float]:
    """a(R, C) = 0.5 + 0.5 · r_R · c_C for every Admiralty grade (MODEL.md §3)."""
    rel = DEFAULT_RELIABILITY if reliability is None else reliability
    cred = DEFAULT_CREDIBILITY if credibility is None else credibility
    return {f"{r}{c}": 0.5 + 0.5 * rel[r] * cred[c] for r in "ABCDEF" for c in range(1, 7)}


def _config_index(parents: Sequence[str], states: Mapping[str, Sequence[str]]) -> dict[tuple[str, ...], int]:
    return {cfg: i for i, cfg in enumerate(itertools.product(*(states[p] for p in parents)))}


def oracle_net_from_priors(priors: Any, *, method: str | None = None, exclude: str | None = None) -> OracleNet:
    """Read the pooled tables of a loaded `forecaster.model.priors.Priors` through its public API
    (`hypotheses`, `indicators`, `configs`, `pooled`, `grades`; `mechanisms` when present)."""
    hyp_states = {h.id: tuple(h.states) for h in priors.hypotheses}

    def pooled(node: str, cfg: tuple[str, ...]) -> tuple[np.ndarray, float]:
        p = priors.pooled(node, cfg, method=method, exclude=exclude)
        return np.asarray(p.mean, dtype=float), float(p.concentration)

    hyps = []
    for h in priors.hypotheses:
        index = _config_index(h.parents, hyp_states)
        alpha = np.zeros((len(index), len(h.states)))
        for cfg in priors.configs(h.id):
            mean, conc = pooled(h.id, tuple(cfg))
            alpha[index[tuple(cfg)]] = mean * conc
        hyps.append(HypothesisTable(h.id, tuple(h.parents), tuple(h.states), alpha))

    def beta_table(node: Any, mechanism: str | None) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
        parents = tuple(p for p in node.parents if p in hyp_states)
        index = _config_index(parents, hyp_states)
        shape: tuple[int, ...] = (len(index), 2) if mechanism else (len(index),)
        a, b = np.full(shape, np.nan), np.full(shape, np.nan)
        for cfg in priors.configs(node.id):
            cfg = tuple(cfg)
            mean, conc = pooled(node.id, cfg)
            if mechanism:
                at: tuple[int, ...] = (index[cfg[: len(parents)]], MECHANISM_STATES.index(cfg[-1]))
            else:
                at = (index[cfg],)
            a[at], b[at] = mean[0] * conc, mean[1] * conc
        if np.isnan(a).any():
            raise ValueError(f"{node.id}: the priors give no pooled row for some configuration")
        return parents, a, b

    inds = []
    for ind in priors.indicators:
        mech = getattr(ind, "mechanism", None)
        parents, a, b = beta_table(ind, mech)
        inds.append(IndicatorTable(ind.id, parents, a, b, mech))
    mechs = []
    for m in getattr(priors, "mechanisms", ()):
        parents, a, b = beta_table(m, None)
        mechs.append(MechanismTable(m.id, parents, a, b))
    grades = priors.grades
    accuracy = {f"{r}{c}": float(grades.accuracy(r, c)) for r in "ABCDEF" for c in range(1, 7)}
    return OracleNet(tuple(hyps), tuple(inds), tuple(mechs), accuracy)


# ----------------------------------------------------------------------------- reading the YAML directly


def _term_midpoint(term: str) -> float:
    from forecaster.model.terms import term_probability

    return term_probability(term)


def _pool(probs: Sequence[Sequence[float]], sizes: Sequence[float], weights: Sequence[float], method: str) -> np.ndarray:
    """MODEL.md §2, written out again: pooled mean (linear or log) times the moment-matched N."""
    p = np.asarray(probs, dtype=float)
    n = np.asarray(sizes, dtype=float)
    w = np.asarray(weights, dtype=float)
    w = np.full(len(w), 1.0 / len(w)) if w.sum() <= 0 else w / w.sum()
    if method == "logarithmic":
        logm = (w[:, None] * np.log(np.maximum(p, 1e-12))).sum(axis=0)
        m = np.exp(logm - logm.max())
        m /= m.sum()
    else:
        m = (w[:, None] * p).sum(axis=0)
    var = (w[:, None] * (p * (1 - p) / (n[:, None] + 1) + (p - m) ** 2)).sum()
    conc = (m * (1 - m)).sum() / var - 1 if var > 0 else math.inf
    return m * max(2.0, conc)


def oracle_net_from_files(files: Mapping[str, Any], *, method: str | None = None) -> OracleNet:
    """Pool a priors folder given as parsed YAML (`{"network.yaml": {...}, "indicators.yaml": ...,
    "settings.yaml": ..., "experts/x.yaml": ...}`), without `forecaster.model.priors`: a second reading
    of the format, and the only one that knows the `mechanisms:` list before the schema does.
    Expert tables for a mechanism are read from an expert's `mechanisms:` mapping, if any."""
    net, cat, settings = files["network.yaml"], files["indicators.yaml"], files["settings.yaml"]
    experts = [v for k, v in sorted(files.items()) if k.startswith("experts/")]
    pooling = settings.get("pooling", {})
    method = method or pooling.get("method", "linear")
    weights = pooling.get("weights", {})
    sizes = {"low": 5.0, "medium": 20.0, "high": 60.0, **pooling.get("confidence_sizes", {})}

    def size(conf: Any, default: Any) -> float:
        c = default if conf is None else conf
        return float(sizes[c]) if isinstance(c, str) else float(c)

    hyp_specs = {h["id"]: h for h in net["hypotheses"]}
    hyp_states = {h["id"]: tuple(s["id"] for s in h["states"]) for h in net["hypotheses"]}
    order: list[str] = []

    def visit(h: str) -> None:
        if h not in order:
            for p in hyp_specs[h].get("parents", []):
                visit(p)
            order.append(h)

    for h in hyp_specs:
        visit(h)

    def vector(row: Mapping[str, Any], states: Sequence[str]) -> list[float]:
        vals = [row["probabilities"][s] for s in states]
        nums = [_term_midpoint(v) if isinstance(v, str) else float(v) for v in vals]
        if any(isinstance(v, str) for v in vals):
            total = sum(nums)
            nums = [x / total for x in nums]
        return nums

    def binary(row: Mapping[str, Any]) -> list[float]:
        p = float(row["p"]) if row.get("p") is not None else _term_midpoint(row["term"])
        return [p, 1.0 - p]

    def key(given: Mapping[str, str], names: Sequence[str]) -> tuple[str, ...]:
        return tuple(given[n] for n in names)

    hyps = []
    for hid in order:
        parents = tuple(hyp_specs[hid].get("parents", []))
        states = hyp_states[hid]
        index = _config_index(parents, hyp_states)
        alpha = np.zeros((len(index), len(states)))
        for cfg, i in index.items():
            probs, ns, ws = [], [], []
            for e in experts:
                row = next(r for r in e["hypotheses"][hid] if key(r.get("given", {}), parents) == cfg)
                probs.append(vector(row, states))
                ns.append(size(row.get("confidence"), "medium"))
                ws.append(weights.get(e["id"], 1.0))
            alpha[i] = _pool(probs, ns, ws, method)
        hyps.append(HypothesisTable(hid, parents, states, alpha))

    cat_conf = cat.get("confidence", "medium")
    mech_ids = [m["id"] for m in cat.get("mechanisms", [])]

    def beta(node: Mapping[str, Any], section: str) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, str | None]:
        parents = tuple(p for p in node["parents"] if p in hyp_states)
        mech = node.get("mechanism")
        if mech is None:
            mech = next((p for p in node["parents"] if p in mech_ids), None)
        names = (*parents, mech) if mech else parents
        index = _config_index(parents, hyp_states)
        cells = [(cfg, i, None) for cfg, i in index.items()]
        if mech:
            cells = [((*cfg, x), (i, k), None) for cfg, i, _ in cells for k, x in enumerate(MECHANISM_STATES)]
        shape: tuple[int, ...] = (len(index), 2) if mech else (len(index),)
        a, b = np.zeros(shape), np.zeros(shape)
        sources = [("catalogue", node["likelihoods"], cat_conf)]
        sources += [(e["id"], e[section][node["id"]], "medium") for e in experts if node["id"] in e.get(section, {})]
        for cfg, at, _ in cells:
            probs, ns, ws = [], [], []
            for src, rows, default in sources:
                row = next(r for r in rows if key(r.get("given", {}), names) == cfg)
                probs.append(binary(row))
                ns.append(size(row.get("confidence"), default))
                ws.append(weights.get(src, 1.0))
            ab = _pool(probs, ns, ws, method)
            a[at], b[at] = ab[0], ab[1]
        return parents, a, b, mech

    inds = []
    for ind in cat["indicators"]:
        parents, a, b, mech = beta(ind, "indicators")
        inds.append(IndicatorTable(ind["id"], parents, a, b, mech))
    mechs = []
    for m in cat.get("mechanisms", []):
        parents, a, b, _ = beta(m, "mechanisms")
        mechs.append(MechanismTable(m["id"], parents, a, b))
    grades = settings.get("grades", {})
    rel = {k: float(v) for k, v in grades.get("reliability", DEFAULT_RELIABILITY).items()}
    cred = {int(k): float(v) for k, v in grades.get("credibility", DEFAULT_CREDIBILITY).items()}
    return OracleNet(tuple(hyps), tuple(inds), tuple(mechs), default_accuracy(rel, cred))


def oracle_net_from_folder(root: Path, *, method: str | None = None) -> OracleNet:
    """`oracle_net_from_files` on a folder on disk."""
    import yaml

    root = Path(root)
    files: dict[str, Any] = {}
    for name in ("network.yaml", "indicators.yaml", "settings.yaml"):
        files[name] = yaml.safe_load((root / name).read_text(encoding="utf-8"))
    for f in sorted((root / "experts").glob("*.yaml")):
        files[f"experts/{f.name}"] = yaml.safe_load(f.read_text(encoding="utf-8"))
    return oracle_net_from_files(files, method=method)


# ----------------------------------------------------------------------------- evidence (MODEL.md §3)


def _field(report: Any, name: str, default: Any = None) -> Any:
    if isinstance(report, Mapping):
        return report.get(name, default)
    return getattr(report, name, default)


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def report_accuracy(report: Any, accuracy: Mapping[str, float], *, as_of: dt.date | None = None,
                    half_life: float | None = None) -> float:
    """a_t = 0.5 + (a − 0.5) · 2^(−t / half_life), t = age in days at `as_of` (no ageing when either is None).
    A report is a mapping or an object with `grade` (or `reliability` and `credibility`) and `date`."""
    grade = _field(report, "grade")
    if grade is None:
        grade = f"{_field(report, 'reliability')}{_field(report, 'credibility')}"
    a = accuracy[str(grade).strip().upper()]
    if half_life is not None and as_of is not None:
        age = (as_of - _as_date(_field(report, "date"))).days
        a = 0.5 + (a - 0.5) * 2.0 ** (-age / half_life)
    return a


def fold_reports(reports: Iterable[Any], accuracy: Mapping[str, float], *, as_of: dt.date | None = None,
                 half_life: float | None = None, window_days: int | None = None) -> dict[str, tuple[float, float]]:
    """(log λ1, log λ0) per reported indicator. Reports after `as_of` (or before the window) and
    retracted ones are left out; reports on one indicator sharing an `origin` count once, the one
    with the highest aged accuracy; reports without an origin are each their own origin."""
    best: dict[tuple[str, Any], tuple[float, bool]] = {}
    for i, r in enumerate(reports):
        if _field(r, "retracted", False):
            continue
        if as_of is not None:
            age = (as_of - _as_date(_field(r, "date"))).days
            if age < 0 or (window_days is not None and age > window_days):
                continue
        a = report_accuracy(r, accuracy, as_of=as_of, half_life=half_life)
        occurred = bool(_field(r, "occurred", True))
        origin = _field(r, "origin") or None
        key = (str(_field(r, "indicator")), origin if origin is not None else ("__own__", i))
        if key not in best or a > best[key][0]:
            best[key] = (a, occurred)
    out: dict[str, tuple[float, float]] = {}
    for (ind, _), (a, occurred) in best.items():
        l1, l0 = (a, 1.0 - a) if occurred else (1.0 - a, a)
        s1, s0 = out.get(ind, (0.0, 0.0))
        out[ind] = (s1 + math.log(l1), s0 + math.log(l0))
    return out


# ----------------------------------------------------------------------------- layout and parameters


@dataclass(frozen=True)
class _Layout:
    """Joint hypothesis states and, for every node, the row its table uses under each of them."""

    joint: np.ndarray  # (S, H) state index of each hypothesis
    hyp_cfg: tuple[np.ndarray, ...]  # (S,) parent configuration of each hypothesis
    ind_cfg: tuple[np.ndarray, ...]  # (S,) hypothesis-parent configuration of each indicator
    mech_cfg: tuple[np.ndarray, ...]
    onehot: tuple[np.ndarray, ...]  # (S, K_h)


def _layout(net: OracleNet) -> _Layout:
    sizes = [len(h.states) for h in net.hypotheses]
    joint = np.array(list(itertools.product(*(range(k) for k in sizes))), dtype=np.int64).reshape(-1, len(sizes))
    pos = {h.id: i for i, h in enumerate(net.hypotheses)}

    def cfg(parents: Sequence[str]) -> np.ndarray:
        idx = np.zeros(joint.shape[0], dtype=np.int64)
        for p in parents:
            idx = idx * sizes[pos[p]] + joint[:, pos[p]]
        return idx

    onehot = []
    for h, k in enumerate(sizes):
        m = np.zeros((joint.shape[0], k))
        m[np.arange(joint.shape[0]), joint[:, h]] = 1.0
        onehot.append(m)
    return _Layout(
        joint=joint,
        hyp_cfg=tuple(cfg(h.parents) for h in net.hypotheses),
        ind_cfg=tuple(cfg(i.parents) for i in net.indicators),
        mech_cfg=tuple(cfg(m.parents) for m in net.mechanisms),
        onehot=tuple(onehot),
    )


@dataclass
class Params:
    """Parameter values with a leading draw axis D: θ[h] (D, C, K); q[j] (D, C) or (D, C, 2);
    m[k] (D, C). Indicators and mechanisms that the evidence never touches may be missing."""

    theta: list[np.ndarray]
    q: dict[int, np.ndarray]
    m: dict[int, np.ndarray]

    @property
    def n(self) -> int:
        return int(self.theta[0].shape[0])


def prior_means(net: OracleNet) -> Params:
    return Params(
        theta=[(h.alpha / h.alpha.sum(axis=1, keepdims=True))[None] for h in net.hypotheses],
        q={j: (i.a / (i.a + i.b))[None] for j, i in enumerate(net.indicators)},
        m={k: (m.a / (m.a + m.b))[None] for k, m in enumerate(net.mechanisms)},
    )


def _reported(net: OracleNet, evidence: Evidence) -> tuple[list[int], dict[int, list[int]]]:
    """Reported indicators without a mechanism, and each reported mechanism's reported children."""
    unknown = set(evidence) - set(net.indicator_ids)
    if unknown:
        raise KeyError(f"evidence on unknown indicators: {sorted(unknown)}")
    mech_pos = {m.id: k for k, m in enumerate(net.mechanisms)}
    plain: list[int] = []
    by_mech: dict[int, list[int]] = {}
    for j, ind in enumerate(net.indicators):
        if ind.id not in evidence:
            continue
        if ind.mechanism is None:
            plain.append(j)
        else:
            by_mech.setdefault(mech_pos[ind.mechanism], []).append(j)
    return plain, by_mech


def _log_mix(lam: tuple[float, float], q: np.ndarray) -> np.ndarray:
    """log(λ1 · q + λ0 · (1 − q)) elementwise, λ scaled so that its larger entry is 1."""
    top = max(lam)
    l1, l0 = math.exp(lam[0] - top), math.exp(lam[1] - top)
    with np.errstate(divide="ignore"):
        return np.log(l0 + (l1 - l0) * q) + top


def _child_terms(net: OracleNet, lay: _Layout, params: Params, evidence: Evidence, j: int) -> tuple[np.ndarray, np.ndarray]:
    """(D, S) log L_j(occurred) and log L_j(not occurred) for an indicator under a mechanism."""
    t = _log_mix(evidence[net.indicators[j].id], params.q[j])  # (D, C, 2): per table row, then gathered
    return t[:, lay.ind_cfg[j], 0], t[:, lay.ind_cfg[j], 1]


def _log_joint(net: OracleNet, lay: _Layout, params: Params, evidence: Evidence) -> np.ndarray:
    """(D, S) log P(s, E | θ, q, m), mechanisms summed out in closed form (MODEL.md §4).
    Logs are taken per table row and then gathered to the joint states that use the row."""
    out = np.zeros((params.n, lay.joint.shape[0]))
    for h, th in enumerate(params.theta):
        out += np.log(th)[:, lay.hyp_cfg[h], lay.joint[:, h]]
    plain, by_mech = _reported(net, evidence)
    for j in plain:
        out += _log_mix(evidence[net.indicators[j].id], params.q[j])[:, lay.ind_cfg[j]]
    for k, children in by_mech.items():
        occ = np.zeros_like(out)
        not_occ = np.zeros_like(out)
        for j in children:
            t1, t0 = _child_terms(net, lay, params, evidence, j)
            occ += t1
            not_occ += t0
        m = params.m[k]
        out += np.logaddexp(np.log(m)[:, lay.mech_cfg[k]] + occ, np.log1p(-m)[:, lay.mech_cfg[k]] + not_occ)
    return out


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _logsumexp(x: np.ndarray) -> np.ndarray:
    top = x.max(axis=-1)
    return top + np.log(np.exp(x - top[..., None]).sum(axis=-1))


def _chunks(n: int, n_joint: int, budget: int = 2_000_000) -> Iterable[slice]:
    size = max(1, budget // max(1, n_joint))
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def _take(params: Params, sl: slice) -> Params:
    return Params([t[sl] for t in params.theta], {j: v[sl] for j, v in params.q.items()}, {k: v[sl] for k, v in params.m.items()})


def marginals_given(net: OracleNet, params: Params, evidence: Evidence, *, lay: _Layout | None = None) -> tuple[list[np.ndarray], np.ndarray]:
    """P(H_h | E, params) per draw, as a list of (D, K_h), and log P(E | params) (D,)."""
    lay = lay or _layout(net)
    margs: list[list[np.ndarray]] = [[] for _ in net.hypotheses]
    log_ev = []
    for sl in _chunks(params.n, lay.joint.shape[0]):
        lj = _log_joint(net, lay, _take(params, sl), evidence)
        log_ev.append(_logsumexp(lj))
        post = _softmax(lj)
        for h, oh in enumerate(lay.onehot):
            margs[h].append(post @ oh)
    return [np.concatenate(m) for m in margs], np.concatenate(log_ev)


# ----------------------------------------------------------------------------- exact inference


def exact_joint(net: OracleNet, evidence: Evidence) -> np.ndarray:
    """P(s | E) over joint hypothesis states (mixed-radix order, first hypothesis slowest)."""
    lay = _layout(net)
    return _softmax(_log_joint(net, lay, prior_means(net), evidence))[0]


def exact_posterior(net: OracleNet, evidence: Evidence) -> list[np.ndarray]:
    """P(H_h = x | E) for every hypothesis, at the prior means (MODEL.md §4, the exact check)."""
    lay = _layout(net)
    joint = exact_joint(net, evidence)
    return [joint @ oh for oh in lay.onehot]


def exact_prior(net: OracleNet) -> list[np.ndarray]:
    return exact_posterior(net, {})


def exact_posterior_bruteforce(net: OracleNet, evidence: Evidence) -> list[np.ndarray]:
    """Enumeration over joint hypothesis states × mechanism states, in plain Python loops."""
    means = prior_means(net)
    theta = [t[0] for t in means.theta]
    q = {j: v[0] for j, v in means.q.items()}
    m = {k: v[0] for k, v in means.m.items()}
    hyp_states = {h.id: h.states for h in net.hypotheses}
    mech_pos = {x.id: k for k, x in enumerate(net.mechanisms)}

    def row(parents: Sequence[str], s: Mapping[str, str]) -> int:
        return _config_index(parents, hyp_states)[tuple(s[p] for p in parents)]

    totals = [np.zeros(len(h.states)) for h in net.hypotheses]
    for combo in itertools.product(*(h.states for h in net.hypotheses)):
        s = dict(zip(net.hypothesis_ids, combo, strict=True))
        for mech_states in itertools.product((0, 1), repeat=len(net.mechanisms)):
            p = 1.0
            for h, hyp in enumerate(net.hypotheses):
                p *= theta[h][row(hyp.parents, s), hyp.states.index(s[hyp.id])]
            for k, mech in enumerate(net.mechanisms):
                pm = m[k][row(mech.parents, s)]
                p *= pm if mech_states[k] == 0 else 1.0 - pm
            for j, ind in enumerate(net.indicators):
                if ind.id not in evidence:
                    continue
                r = row(ind.parents, s)
                qj = q[j][r] if ind.mechanism is None else q[j][r, mech_states[mech_pos[ind.mechanism]]]
                l1, l0 = (math.exp(x) for x in evidence[ind.id])
                p *= l1 * qj + l0 * (1.0 - qj)
            for h, hyp in enumerate(net.hypotheses):
                totals[h][hyp.states.index(s[hyp.id])] += p
    return [t / t.sum() for t in totals]


# ----------------------------------------------------------------------------- exact draws


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _dirichlet(rng: np.random.Generator, alpha: np.ndarray) -> np.ndarray:
    g = rng.standard_gamma(alpha)
    return g / g.sum(axis=-1, keepdims=True)


def prior_draws(net: OracleNet, n: int, seed: int | np.random.Generator | None = 0) -> list[np.ndarray]:
    """Exact forward draws of P(H_h | θ), θ from the Dirichlet priors: a list of (n, K_h)."""
    rng = _rng(seed)
    theta = [_dirichlet(rng, np.broadcast_to(h.alpha, (n, *h.alpha.shape))) for h in net.hypotheses]
    margs, _ = marginals_given(net, Params(theta, {}, {}), {})
    return margs


def posterior_parameter_draws(net: OracleNet, evidence: Evidence, n: int,
                              seed: int | np.random.Generator | None = 0) -> Params:
    """n i.i.d. draws of (θ, q, m) from p(θ, q, m | E) ("the exact interval check", MODEL.md §4):
    a joint state s ~ P(s | E); each reported mechanism's state and each reported indicator's
    latent occurrence from their conditionals at the prior means; one count on every table row
    the draw used, every other row at its prior. q and m hold only the reported nodes."""
    rng = _rng(seed)
    lay = _layout(net)
    means = prior_means(net)
    idx = np.arange(n)
    joint = _softmax(_log_joint(net, lay, means, evidence))[0]
    s = rng.choice(joint.shape[0], size=n, p=joint)

    plain, by_mech = _reported(net, evidence)
    mech_state: dict[int, np.ndarray] = {}  # 0 occurred, 1 not occurred, per draw
    for k, children in by_mech.items():
        occ = np.zeros(joint.shape[0])
        not_occ = np.zeros(joint.shape[0])
        for j in children:
            t1, t0 = _child_terms(net, lay, means, evidence, j)
            occ += t1[0]
            not_occ += t0[0]
        mbar = means.m[k][0][lay.mech_cfg[k]]
        log_odds = np.log(mbar) + occ - np.log1p(-mbar) - not_occ
        p_occ = 1.0 / (1.0 + np.exp(-log_odds))
        mech_state[k] = (rng.random(n) >= p_occ[s]).astype(np.int64)

    theta = []
    for h, hyp in enumerate(net.hypotheses):
        alpha = np.broadcast_to(hyp.alpha, (n, *hyp.alpha.shape)).copy()
        alpha[idx, lay.hyp_cfg[h][s], lay.joint[s, h]] += 1.0
        theta.append(_dirichlet(rng, alpha))

    q: dict[int, np.ndarray] = {}
    mech_pos = {x.id: k for k, x in enumerate(net.mechanisms)}
    for j in [*plain, *(c for cs in by_mech.values() for c in cs)]:
        ind = net.indicators[j]
        lam1, lam0 = evidence[ind.id]
        a = np.broadcast_to(ind.a, (n, *ind.a.shape)).copy()
        b = np.broadcast_to(ind.b, (n, *ind.b.shape)).copy()
        cell: tuple[np.ndarray, ...] = (idx, lay.ind_cfg[j][s])
        if ind.mechanism is not None:
            cell = (*cell, mech_state[mech_pos[ind.mechanism]])
        qbar = (ind.a / (ind.a + ind.b))[cell[1:]]
        p1 = qbar * math.exp(lam1) / (qbar * math.exp(lam1) + (1.0 - qbar) * math.exp(lam0))
        occurred = rng.random(n) < p1
        a[cell] += occurred
        b[cell] += ~occurred
        q[j] = rng.beta(a, b)

    m: dict[int, np.ndarray] = {}
    for k in by_mech:
        mech = net.mechanisms[k]
        a = np.broadcast_to(mech.a, (n, *mech.a.shape)).copy()
        b = np.broadcast_to(mech.b, (n, *mech.b.shape)).copy()
        cell2 = (idx, lay.mech_cfg[k][s])
        a[cell2] += mech_state[k] == 0
        b[cell2] += mech_state[k] == 1
        m[k] = rng.beta(a, b)
    return Params(theta, q, m)


def posterior_draws(net: OracleNet, evidence: Evidence, n: int, seed: int | np.random.Generator | None = 0) -> list[np.ndarray]:
    """n i.i.d. draws of P(H_h = x | E, θ, q, m) from the exact posterior of the parameters:
    a list of (n, K_h), one per hypothesis. Its central 90 % is what the interval reports."""
    params = posterior_parameter_draws(net, evidence, n, seed)
    margs, _ = marginals_given(net, params, evidence)
    return margs


def prior_parameter_draws(net: OracleNet, n: int, seed: int | np.random.Generator | None = 0) -> Params:
    """(θ, q, m) drawn from their priors, every row."""
    rng = _rng(seed)
    theta = [_dirichlet(rng, np.broadcast_to(h.alpha, (n, *h.alpha.shape))) for h in net.hypotheses]
    q = {j: rng.beta(np.broadcast_to(i.a, (n, *i.a.shape)), np.broadcast_to(i.b, (n, *i.b.shape)))
         for j, i in enumerate(net.indicators)}
    m = {k: rng.beta(np.broadcast_to(x.a, (n, *x.a.shape)), np.broadcast_to(x.b, (n, *x.b.shape)))
         for k, x in enumerate(net.mechanisms)}
    return Params(theta, q, m)


def importance_parameter_draws(net: OracleNet, evidence: Evidence, n: int,
                               seed: int | np.random.Generator | None = 0) -> tuple[Params, np.ndarray, list[np.ndarray]]:
    """Brute force: (θ, q, m) from the prior, weighted by P(E | θ, q, m). Returns the draws,
    normalised weights (n,), and P(H_h | E, θ, q, m) per draw (list of (n, K_h))."""
    params = prior_parameter_draws(net, n, seed)
    margs, log_ev = marginals_given(net, params, evidence)
    w = np.exp(log_ev - log_ev.max())
    return params, w / w.sum(), margs


def importance_draws(net: OracleNet, evidence: Evidence, n: int,
                     seed: int | np.random.Generator | None = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """`importance_parameter_draws` without the parameters: (P(H_h | E, θ, q, m) per draw, weights)."""
    _, w, margs = importance_parameter_draws(net, evidence, n, seed)
    return margs, w


# ----------------------------------------------------------------------------- Monte Carlo comparisons


def ess(weights: np.ndarray | None, n: int) -> float:
    """Kish effective sample size ((Σw)² / Σw²); n when unweighted."""
    if weights is None:
        return float(n)
    w = np.asarray(weights, dtype=float)
    return float(w.sum() ** 2 / (w**2).sum())


def _quantile_1d(x: np.ndarray, p: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    if w is None:
        return np.quantile(x, p)
    order = np.argsort(x)
    wo = w[order]
    cw = (np.cumsum(wo) - 0.5 * wo) / wo.sum()
    return np.interp(p, cw, x[order])


def _columns(x: np.ndarray) -> Iterable[tuple[int, ...]]:
    return np.ndindex(*x.shape[1:])


def weighted_quantile(x: np.ndarray, probs: Sequence[float] | np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Quantiles of x along axis 0 (shape (len(probs), *x.shape[1:])); with weights, of the
    weighted empirical distribution."""
    x = np.asarray(x, dtype=float)
    p = np.asarray(probs, dtype=float)
    w = None if weights is None else np.asarray(weights, dtype=float)
    out = np.empty((len(p), *x.shape[1:]))
    for col in _columns(x):
        out[(slice(None), *col)] = _quantile_1d(x[(slice(None), *col)], p, w)
    return out


def quantiles_with_mcse(x: np.ndarray, probs: Sequence[float] = (0.05, 0.95), weights: np.ndarray | None = None,
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Quantiles of i.i.d. (or importance-weighted) draws along axis 0, with their Monte Carlo
    standard errors by the order-statistic argument: the empirical CDF at the true p-quantile
    has standard error δ = sqrt(p(1 − p)/n) (weighted: sqrt(Σ w̃_i² (1[x_i ≤ q̂] − p)²), w̃
    normalised), so q̂ ± 1 se ≈ the quantiles at p ± δ: se = (Q(p + δ) − Q(p − δ)) / 2, which
    divides by the density without estimating it. Shapes: (len(probs), *x.shape[1:]) each."""
    x = np.asarray(x, dtype=float)
    p = np.asarray(probs, dtype=float)
    w = None if weights is None else np.asarray(weights, dtype=float) / np.sum(weights)
    q = np.empty((len(p), *x.shape[1:]))
    se = np.empty_like(q)
    for col in _columns(x):
        xc = x[(slice(None), *col)]
        qc = _quantile_1d(xc, p, w)
        if w is None:
            d = np.sqrt(p * (1 - p) / len(xc))
        else:
            d = np.sqrt(((w[None] * ((xc[None] <= qc[:, None]) - p[:, None])) ** 2).sum(axis=1))
        lo = _quantile_1d(xc, np.clip(p - d, 0.0, 1.0), w)
        hi = _quantile_1d(xc, np.clip(p + d, 0.0, 1.0), w)
        q[(slice(None), *col)] = qc
        se[(slice(None), *col)] = (hi - lo) / 2
    return q, se


def mean_with_mcse(x: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean along axis 0 with its Monte Carlo standard error (i.i.d., or self-normalised IS)."""
    x = np.asarray(x, dtype=float)
    if weights is None:
        return x.mean(axis=0), x.std(axis=0, ddof=1) / math.sqrt(x.shape[0])
    w = np.asarray(weights, dtype=float) / np.sum(weights)
    shape = (-1, *([1] * (x.ndim - 1)))
    mean = (w.reshape(shape) * x).sum(axis=0)
    se = np.sqrt(((w.reshape(shape) * (x - mean)) ** 2).sum(axis=0))
    return mean, se


def within(a: Any, b: Any, se: Any, k: float = 4.0) -> bool:
    """True when every |a − b| ≤ k · se (arrays broadcast). Pass the combined se of both sides,
    e.g. `np.hypot(se_a, se_b)`; a zero se demands exact equality up to 1e-12."""
    diff = np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float))
    return bool(np.all(diff <= k * np.asarray(se, dtype=float) + 1e-12))


def z_scores(a: Any, b: Any, se: Any) -> np.ndarray:
    """(a − b) / se elementwise: the figure the checks should print when `within` fails."""
    se = np.asarray(se, dtype=float)
    return (np.asarray(a, dtype=float) - np.asarray(b, dtype=float)) / np.where(se > 0, se, np.nan)


@dataclass(frozen=True)
class HypothesisSummary:
    id: str
    states: tuple[str, ...]
    exact: np.ndarray  # (K,) P(H = x | E)
    mean: np.ndarray  # (K,) mean of the oracle's draws
    mean_mcse: np.ndarray  # (K,)
    interval: np.ndarray  # (K, 2) 5 % and 95 % quantiles of the draws
    interval_mcse: np.ndarray  # (K, 2)


def summarise(net: OracleNet, draws: Sequence[np.ndarray], exact: Sequence[np.ndarray],
              probs: tuple[float, float] = (0.05, 0.95)) -> list[HypothesisSummary]:
    out = []
    for h, hyp in enumerate(net.hypotheses):
        q, se = quantiles_with_mcse(draws[h], probs)
        mean, mse = mean_with_mcse(draws[h])
        out.append(HypothesisSummary(hyp.id, hyp.states, np.asarray(exact[h]), mean, mse, q.T, se.T))
    return out


def oracle_summary(net: OracleNet, evidence: Evidence, n: int = 20_000, seed: int = 0) -> list[HypothesisSummary]:
    """What `update` should print, from the oracle: exact posterior, 90 % intervals with MCSE."""
    return summarise(net, posterior_draws(net, evidence, n, seed), exact_posterior(net, evidence))


def oracle_prior_summary(net: OracleNet, n: int = 20_000, seed: int = 0) -> list[HypothesisSummary]:
    return summarise(net, prior_draws(net, n, seed), exact_prior(net))


def interval_z(oracle: HypothesisSummary, interval: Any, interval_mcse: Any) -> np.ndarray:
    """(K, 2) z-scores of another sampler's 5 % / 95 % end points against the oracle's, on the
    combined Monte Carlo error of both: `np.all(np.abs(z) <= 4)` is the issue-9 interval check."""
    return z_scores(interval, oracle.interval, np.hypot(np.asarray(interval_mcse, dtype=float), oracle.interval_mcse))


def mean_z(oracle: HypothesisSummary, mean: Any, mean_mcse: Any) -> np.ndarray:
    """(K,) z-scores of another sampler's means against the exact posterior (its own MCSE only)."""
    return z_scores(mean, oracle.exact, mean_mcse)
