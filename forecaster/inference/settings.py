"""How a run samples: the sampler settings and the default seed. No pymc here, so the fast
commands and the run log can name them without loading the sampler."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from forecaster.core.errors import UsageError

DEFAULT_SEED = 20251118
#: Limits checked up front, before any sampling (docs/LIMITS.md). NumPy and PyMC take seeds in
#: [0, 2^32); more than MAX_DRAWS draws per chain (20× the default) is a typo, and hours of sampling.
SEED_LIMIT = 2**32
MAX_DRAWS = 100_000
MAX_TUNE = 100_000
MAX_CHAINS = 8
#: Exact forward draws behind the prior intervals: PRIOR_DRAWS first, doubled until the end
#: points' order-statistic Monte Carlo error is at most PRIOR_MCSE_TARGET (or PRIOR_DRAWS_MAX).
PRIOR_DRAWS = 20_000
PRIOR_DRAWS_MAX = 320_000
PRIOR_MCSE_TARGET = 0.003
#: The live check of the sampler: |PyMC mean − exact| ÷ its MCSE above this warns.
MEAN_CHECK_MAX = 4.0
#: The interval: the central 90 % of the draws; an end point's Monte Carlo standard error above
#: INTERVAL_MCSE_MAX warns.
INTERVAL_PROBS = (0.05, 0.95)
INTERVAL_MCSE_MAX = 0.01
#: The exact i.i.d. sampler (the default) draws chains × draws, then doubles the draws until every
#: interval end point's order-statistic MCSE is at most IID_MCSE_TARGET, or IID_DRAWS_MAX draws.
IID_MCSE_TARGET = 0.002
#: A scenario comparison (six runs and more, explored many at a time) aims at this instead: its
#: point is the exact change each scenario makes; its intervals are indicative (the warning
#: threshold, INTERVAL_MCSE_MAX, still applies).
SCENARIO_MCSE_TARGET = 0.005
IID_DRAWS_MAX = 320_000
#: ... and within a budget of work, so a large network's update stays quick (deterministic: counted
#: in clique states per draw plus a fixed cost per draw, never in seconds): draws × (cells + 300)
#: ≤ IID_WORK_BUDGET. The bundled network (55 cells a draw) may take 70,000 draws; a 10 × 3 chain
#: (~1,100) ~18,000. Past the budget the interval's Monte Carlo error is what it is, and reported.
IID_WORK_BUDGET = 25_000_000
IID_DRAW_OVERHEAD = 300
#: The samplers: exact i.i.d. draws checked against the PyMC model (default), or PyMC's NUTS.
SAMPLERS = ("iid", "nuts")


def interval_warning(worst: float) -> str:
    return f"Monte Carlo error ±{worst:.3f} on a 90% interval end point (> {INTERVAL_MCSE_MAX}); raise --draws"


def check_seed(seed: int) -> int:
    """A seed in [0, 2^32), or a UsageError saying so."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < SEED_LIMIT:
        raise UsageError(f"--seed {seed}: expected an integer from 0 to {SEED_LIMIT - 1:,} (2^32 - 1)")
    return seed


def seed_or_default(seed: int | None) -> int:
    """--seed, checked up front; the default seed when not given."""
    return DEFAULT_SEED if seed is None else check_seed(seed)


@dataclass(frozen=True)
class SamplerSettings:
    """`sampler` "iid" (MODEL.md §4 exact posterior draws: `chains` × `draws` to start with, more
    until the interval's Monte Carlo error is within `mcse_target`; `tune` and `target_accept`
    unused) or "nuts" (PyMC's NUTS on the same model, sized as below)."""

    # NUTS sized to the interval's Monte Carlo error (issue 9): a 90 % interval end point's error
    # (ArviZ quantile MCSE) scales as 1/sqrt(draws); at 2 × 1000 draws it reached 0.010–0.023 on
    # the bundled network with its history and on random networks (bench/mcse_defaults.py), so
    # 2 × 5000 brings the worst to ≈ 0.010 or below. More tuning did not lower it (NUTS starts
    # from the exact prior moments); 300 steps keep R-hat ≤ 1.01. The posterior itself is exact.
    draws: int = 5000
    tune: int = 300
    chains: int = 2
    target_accept: float = 0.8
    sampler: str = "iid"
    mcse_target: float = IID_MCSE_TARGET  # iid: draw until every interval end point's MCSE is within it

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise UsageError(f"--sampler {self.sampler!r}: expected one of {', '.join(SAMPLERS)}")
        for name, value, low, high in (
            ("draws", self.draws, 1, MAX_DRAWS), ("tune", self.tune, 0, MAX_TUNE), ("chains", self.chains, 1, MAX_CHAINS),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise UsageError(f"--{name} {value}: expected an integer from {low:,} to {high:,}")
        if not 0.0 < float(self.target_accept) < 1.0:
            raise UsageError(f"target_accept {self.target_accept}: expected a number strictly between 0 and 1")

    @property
    def name(self) -> str:
        """The sampler as runs record it."""
        return "pymc-iid" if self.sampler == "iid" else "pymc-nuts"

    def as_dict(self) -> dict[str, Any]:
        """What the run id hashes: for the exact sampler its draws and chains (NUTS's tuning is not used)."""
        if self.sampler == "iid":
            return {"draws": self.draws, "chains": self.chains, "mcse_target": self.mcse_target}
        return {"draws": self.draws, "tune": self.tune, "chains": self.chains, "target_accept": self.target_accept}
