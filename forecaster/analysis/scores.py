"""Scores and calibration of resolved forecasts (MODEL.md §6). Pure numpy, vectorised.

Every score takes a batch: `p`, an (N, K) array of probability vectors over a hypothesis's K
states (one row per forecast), and `o`, an (N,) array of the observed state's index in 0..K-1.
It returns an (N,) array, one score per forecast:

- `brier`: Σ_k (p_k − [k = o])², 0 best, 2 worst.
- `log_score`: ln p_o (0 best, → −∞ worst). p_o is clipped below at `EPS` = 1e-12, so a
  forecast that put exactly 0 on what happened scores ln 1e-12 ≈ −27.6 rather than −∞.
- `baseline_score`: 100 · log2(p_o · K): 0 for the uniform forecast, positive when better, as
  Metaculus reports it (same clipping: at most 100 · log2(K), at least 100 · log2(1e-12 · K)).
- `rps`: the ranked probability score Σ_{k<K} (P_k − O_k)² over the cumulative sums P, O of the
  forecast and the one-hot outcome, for states declared ordered (MODEL.md §6). Unnormalised, as
  MODEL.md writes it: 0 best, K − 1 worst (not divided by K − 1).

`score_summary` gives the means for a forecast batch beside the same means for the prior alone,
and the skill 1 − Brier / Brier of the prior. `calibration` bins forecasts one state at a time.
Nothing here imports matplotlib, pymc or the store; the reliability diagram is in
`forecaster.analysis.reliability`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

EPS = 1e-12
"""Floor for p_o in the log and baseline scores (a zero probability would score −∞)."""

SUM_TOLERANCE = 1e-6
"""How far a probability vector may sum from 1 (float noise from the engine is far smaller)."""

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


# ----------------------------------------------------------------------------- input checks


def _batch(p: npt.ArrayLike, o: npt.ArrayLike) -> tuple[FloatArray, IntArray]:
    """`p` as a float (N, K) array and `o` as an int (N,) array, checked. A single vector (K,)
    with a scalar `o` is a batch of one."""
    pa = np.asarray(p, dtype=np.float64)
    if pa.ndim == 1:
        pa = pa[np.newaxis, :]
    if pa.ndim != 2 or pa.shape[1] < 2:
        raise ValueError(f"forecasts must be an (N, K) array with K ≥ 2 states, got shape {np.shape(p)}")
    oa = np.atleast_1d(np.asarray(o))
    if oa.ndim != 1 or oa.shape[0] != pa.shape[0]:
        raise ValueError(f"outcomes must be an (N,) array matching {pa.shape[0]} forecasts, got shape {np.shape(o)}")
    if oa.size and not np.issubdtype(oa.dtype, np.integer):
        raise ValueError(f"outcomes must be integer state indices, got dtype {oa.dtype}")
    oi = oa.astype(np.intp, copy=False)
    k = pa.shape[1]
    if oi.size and (oi.min() < 0 or oi.max() >= k):
        raise ValueError(f"outcomes must be state indices in 0..{k - 1}")
    if pa.size:
        if not np.all(np.isfinite(pa)) or pa.min() < 0.0 or pa.max() > 1.0:
            raise ValueError("forecast probabilities must be finite numbers in [0, 1]")
        worst = float(np.max(np.abs(pa.sum(axis=1) - 1.0)))
        if worst > SUM_TOLERANCE:
            raise ValueError(f"each forecast must sum to 1 (one is off by {worst:.3g})")
    return pa, oi


def _p_observed(pa: FloatArray, oi: IntArray) -> FloatArray:
    return pa[np.arange(pa.shape[0]), oi]


# ----------------------------------------------------------------------------- scores


def brier(p: npt.ArrayLike, o: npt.ArrayLike) -> FloatArray:
    """Brier score per forecast: Σ_k (p_k − [k = o])² (0 best, 2 worst)."""
    pa, oi = _batch(p, o)
    d = pa.copy()
    d[np.arange(d.shape[0]), oi] -= 1.0  # p − one-hot(o), in place (never negative when squared)
    return np.einsum("nk,nk->n", d, d)


def log_score(p: npt.ArrayLike, o: npt.ArrayLike) -> FloatArray:
    """Log score per forecast: ln p_o, with p_o clipped below at EPS = 1e-12 (0 best)."""
    pa, oi = _batch(p, o)
    return np.log(np.maximum(_p_observed(pa, oi), EPS))


def baseline_score(p: npt.ArrayLike, o: npt.ArrayLike) -> FloatArray:
    """Baseline score per forecast: 100 · log2(p_o · K), p_o clipped at EPS (0 = uniform forecast)."""
    pa, oi = _batch(p, o)
    return 100.0 * np.log2(np.maximum(_p_observed(pa, oi), EPS) * pa.shape[1])


def rps(p: npt.ArrayLike, o: npt.ArrayLike) -> FloatArray:
    """Ranked probability score per forecast, states in their declared order:
    Σ_{k<K} (P_k − O_k)² over cumulative sums, unnormalised (0 best, K − 1 worst)."""
    pa, oi = _batch(p, o)
    k = pa.shape[1]
    cum_p = np.cumsum(pa, axis=1)[:, : k - 1]
    cum_o = (np.arange(k - 1)[np.newaxis, :] >= oi[:, np.newaxis]).astype(np.float64)
    d = cum_p - cum_o
    return np.einsum("nk,nk->n", d, d)


# ----------------------------------------------------------------------------- summary


@dataclass(frozen=True)
class MeanScores:
    """Mean scores over a batch; `rps` is None unless the states were declared ordered."""

    brier: float
    log: float
    baseline: float
    rps: float | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ScoreSummary:
    """Mean scores of the forecasts and of the prior alone over the same resolved cases.

    `skill` = 1 − Brier / Brier of the prior: positive when the evidence helped, None when the
    prior's Brier score is 0 (a perfect prior leaves nothing to improve on) or n is 0."""

    n: int
    forecast: MeanScores | None
    prior: MeanScores | None
    skill: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "forecast": None if self.forecast is None else self.forecast.to_json(),
            "prior": None if self.prior is None else self.prior.to_json(),
            "skill": self.skill,
        }


def _means(pa: FloatArray, oi: IntArray, ordered: bool) -> MeanScores:
    return MeanScores(
        brier=float(np.mean(brier(pa, oi))),
        log=float(np.mean(log_score(pa, oi))),
        baseline=float(np.mean(baseline_score(pa, oi))),
        rps=float(np.mean(rps(pa, oi))) if ordered else None,
    )


def score_summary(p: npt.ArrayLike, prior: npt.ArrayLike, o: npt.ArrayLike, *, ordered: bool = False) -> ScoreSummary:
    """Means of every score for the forecasts `p` and for the prior vectors `prior` (both (N, K),
    row i the forecast and the prior of the same resolved case), and the skill against the prior.
    The RPS is given only when `ordered` (the hypothesis declares its states ordered)."""
    pa, oi = _batch(p, o)
    qa, _ = _batch(prior, oi)
    if qa.shape != pa.shape:
        raise ValueError(f"forecasts {pa.shape} and prior {qa.shape} must have the same shape")
    n = int(pa.shape[0])
    if n == 0:
        return ScoreSummary(0, None, None, None)
    fc, pr = _means(pa, oi, ordered), _means(qa, oi, ordered)
    skill = None if pr.brier == 0.0 else 1.0 - fc.brier / pr.brier
    return ScoreSummary(n, fc, pr, skill)


# ----------------------------------------------------------------------------- calibration


@dataclass(frozen=True)
class CalibrationBin:
    """Forecasts of one state whose probability fell in [lo, hi) ([lo, hi] for the last bin).
    `mean_forecast` and `observed` (the frequency with which the state held) are None when empty."""

    state: str
    lo: float
    hi: float
    count: int
    mean_forecast: float | None
    observed: float | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Calibration:
    """Reliability table: for every state (in order) and every bin (in order), one CalibrationBin."""

    states: tuple[str, ...]
    edges: tuple[float, ...]
    bins: tuple[CalibrationBin, ...]
    n: int

    def for_state(self, state: str) -> tuple[CalibrationBin, ...]:
        return tuple(b for b in self.bins if b.state == state)

    def to_json(self) -> dict[str, Any]:
        return {
            "states": list(self.states),
            "edges": list(self.edges),
            "n": self.n,
            "bins": [b.to_json() for b in self.bins],
        }


def calibration(
    p: npt.ArrayLike, o: npt.ArrayLike, bins: int = 10, *, states: Sequence[str] | None = None
) -> Calibration:
    """Bin forecasts one state at a time (MODEL.md §6): for state k and bin j, the mean forecast
    probability of k, the observed frequency of k and the count. Bins are [j/bins, (j+1)/bins),
    the last one closed so that 1.0 falls in it. `states` names the K states (default "0".."K-1")."""
    if not isinstance(bins, int) or isinstance(bins, bool) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    pa, oi = _batch(p, o)
    n, k = pa.shape
    names = tuple(str(i) for i in range(k)) if states is None else tuple(states)
    if len(names) != k:
        raise ValueError(f"{len(names)} state names for {k} states")
    # Edges as j / bins (correctly rounded), so 0.3 lands in [0.3, 0.4) and not below it, as
    # floor(p * bins) or linspace's 0.30000000000000004 would sometimes have it.
    edges = np.arange(bins + 1, dtype=np.float64) / bins
    idx = np.searchsorted(edges[1:-1], pa, side="right")  # (N, K) in 0..bins-1; 1.0 → last bin
    flat = (np.arange(k)[np.newaxis, :] * bins + idx).ravel()
    hit = (np.arange(k)[np.newaxis, :] == oi[:, np.newaxis]).astype(np.float64).ravel()
    counts = np.bincount(flat, minlength=k * bins)
    sum_p = np.bincount(flat, weights=pa.ravel(), minlength=k * bins)
    sum_o = np.bincount(flat, weights=hit, minlength=k * bins)
    out: list[CalibrationBin] = []
    for s in range(k):
        for j in range(bins):
            c = int(counts[s * bins + j])
            out.append(
                CalibrationBin(
                    state=names[s],
                    lo=float(edges[j]),
                    hi=float(edges[j + 1]),
                    count=c,
                    mean_forecast=float(sum_p[s * bins + j] / c) if c else None,
                    observed=float(sum_o[s * bins + j] / c) if c else None,
                )
            )
    return Calibration(states=names, edges=tuple(float(e) for e in edges), bins=tuple(out), n=int(n))


__all__ = [
    "EPS",
    "Calibration",
    "CalibrationBin",
    "MeanScores",
    "ScoreSummary",
    "baseline_score",
    "brier",
    "calibration",
    "log_score",
    "rps",
    "score_summary",
]
