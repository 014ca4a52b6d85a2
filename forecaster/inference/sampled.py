"""What a sampler returns, and when its diagnostics warn (no pymc here: the exact sampler's
module imports PyMC only once its draws are made)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from forecaster.inference.settings import INTERVAL_MCSE_MAX, SamplerSettings, interval_warning

R_HAT_MAX = 1.01
ESS_MIN = 400
#: Largest acceptable Monte Carlo standard error of a PyMC posterior mean (kept for callers that
#: report the mean; the headline posterior is exact, MODEL.md §4).
MCSE_MAX = 0.005


@dataclass(frozen=True)
class SampleResult:
    """Per hypothesis: draws of P(H = x | E, θ, q), shape (chains*draws, K)."""

    draws: list[np.ndarray]
    r_hat_max: float | None  # None for exact i.i.d. draws (R-hat is 1 by construction)
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
        if self.r_hat_max is not None and not self.r_hat_max <= R_HAT_MAX:
            out.append(f"R-hat {self.r_hat_max:.3f} > {R_HAT_MAX}: chains disagree; raise --draws or --tune")
        if not self.ess_min >= ESS_MIN:
            out.append(f"ESS {self.ess_min:.0f} < {ESS_MIN}: too few effective draws; raise --draws")
        if self.divergences:
            out.append(f"{self.divergences} divergent transitions: treat intervals with caution; raise --target-accept (NUTS)")
        if self.interval_mcse:
            worst = self.interval_mcse_max
            if worst > INTERVAL_MCSE_MAX:
                out.append(interval_warning(worst))
        elif self.mcse_max > MCSE_MAX:
            out.append(
                f"Monte Carlo error ±{self.mcse_max:.3f} on a posterior probability (> {MCSE_MAX}); raise --draws"
            )
        return out


