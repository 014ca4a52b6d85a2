"""How a run samples: the sampler settings and the default seed. No pymc here, so the fast
commands and the run log can name them without loading the sampler."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEFAULT_SEED = 20251118
PRIOR_DRAWS = 4000


@dataclass(frozen=True)
class SamplerSettings:
    # 2 chains × 1000 draws after 200 tuning steps (the sampler starts from the exact prior
    # moments): ESS ≈ 2,000–3,000 for every hypothesis marginal on the bundled network, Monte
    # Carlo error ≈ 0.002 (bench/bench_update.py).
    draws: int = 1000
    tune: int = 200
    chains: int = 2
    target_accept: float = 0.8

    def as_dict(self) -> dict[str, Any]:
        return {"draws": self.draws, "tune": self.tune, "chains": self.chains, "target_accept": self.target_accept}
