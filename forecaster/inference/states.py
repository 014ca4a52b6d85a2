"""The one JSON shape of a hypothesis' states (README, "JSON"), shared by `update --json`,
`whatif`/`scenario run --json`, `history --json` and `collect --json`:

    {"id": "alignment", "states": [
        {"id": "hedging", "claimed": true, "prior": 0.55, "posterior": 0.61,
         "interval": [0.48, 0.72], "exact": 0.60, "change": 0.02, "term": "likely"}, ...]}

- `prior`, `posterior`: probabilities; `exact`: the exact engine's posterior (prior-mean network).
- `interval`: the 90 % interval [low, high] of a sampled posterior; [null, null] without one.
- `change`: the posterior minus the one it is compared with (`update`: the previous like run;
  scenarios: the baseline; `history`: the previous run in the list on the same evidence;
  `collect`: none), or null.
- `term`: the ICD 203 term of the posterior; `claimed`: the state network.yaml marks claimed.

Outputs may add keys beside these (`update` adds `prior_interval`); none leaves one out."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from forecaster.model.terms import term_for

STATE_KEYS = ("id", "claimed", "prior", "posterior", "interval", "exact", "change", "term")


def _r(x: float | None) -> float | None:
    if x is None or not math.isfinite(float(x)):
        return None
    return round(float(x), 6)


def state_json(
    state: str,
    *,
    claimed: bool,
    prior: float | None,
    posterior: float,
    low: float | None = None,
    high: float | None = None,
    exact: float | None = None,
    change: float | None = None,
    term: str | None = None,
    outside_scale: bool = False,
) -> dict[str, Any]:
    """One state in the shared shape (keys in STATE_KEYS order). `term` defaults to the posterior's
    ICD 203 term, except for a state outside the scale (below 1 % or above 99 %: null)."""
    return {
        "id": state,
        "claimed": bool(claimed),
        "prior": _r(prior),
        "posterior": _r(posterior),
        "interval": [_r(low), _r(high)],
        "exact": _r(exact),
        "change": _r(change),
        "term": term if term is not None or outside_scale else term_for(float(posterior)),
    }


def hypothesis_json(hypothesis: str, states: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"id": hypothesis, "states": list(states)}


def from_result(result: Any, change: Mapping[str, Mapping[str, float]] | None = None) -> list[dict[str, Any]]:
    """An UpdateResult's hypotheses in the shared shape; `change` overrides each state's change."""
    out = []
    for h in result.hypotheses:
        rows = []
        for s in h.states:
            lo, hi = s.interval
            delta = change[h.id][s.id] if change is not None else s.change
            row = state_json(
                s.id, claimed=s.claimed, prior=s.prior, posterior=s.posterior, low=lo, high=hi,
                exact=s.exact, change=delta, term=s.term, outside_scale=s.term is None,
            )
            # what a sampled state adds (issue 9) and what carries a state outside the ICD scale (issue 10)
            row["sampler_mean"] = _r(getattr(s, "sampler_mean", None))
            mcse = getattr(s, "interval_mcse", None)
            row["interval_mcse"] = None if mcse is None else [_r(mcse[0]), _r(mcse[1])]
            row["extreme"] = getattr(s, "extreme", None)
            rows.append(row)
        out.append(hypothesis_json(h.id, rows))
    return out
