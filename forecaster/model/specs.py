"""The priors files' schemas (pydantic, unknown keys rejected): what each of network.yaml,
indicators.yaml, settings.yaml and experts/*.yaml may hold, field by field. The checks that span
files (parents, cycles, configurations, sums, limits) are forecaster.model.schema's."""

from __future__ import annotations

import datetime as dt
import math
from typing import Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from forecaster.core.errors import did_you_mean
from forecaster.model.terms import TERMS

MAX_WINDOW_DAYS = 36_525  # 100 years: a longer evidence window is a typo (docs/LIMITS.md)
MAX_HORIZON_MONTHS = 1_200
_ID = r"^[a-z][a-z0-9_]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Confidence = Union[Literal["low", "medium", "high"], float]
Probability = Union[float, str]


def _check_term(v: str) -> str:
    if v not in TERMS:
        raise ValueError(f"{v!r} is not an ICD 203 term{did_you_mean(v, TERMS)}; expected one of: {', '.join(TERMS)}")
    return v


class JudgmentSpec(_Strict):
    """P(indicator or mechanism occurred | given): a number or an ICD 203 term."""

    given: dict[str, str] = Field(default_factory=dict)
    p: float | None = Field(default=None, ge=0.0, le=1.0)
    term: str | None = None
    confidence: Confidence | None = None
    rationale: str | None = None
    citation: str | None = None

    @field_validator("term")
    @classmethod
    def _term(cls, v: str | None) -> str | None:
        return None if v is None else _check_term(v)

    @model_validator(mode="after")
    def _one_of(self) -> JudgmentSpec:
        if (self.p is None) == (self.term is None):
            raise ValueError("give exactly one of 'p' (a number in [0, 1]) or 'term' (an ICD 203 term)")
        return self


class VectorJudgmentSpec(_Strict):
    """A probability for every state of a hypothesis, given one parent configuration."""

    given: dict[str, str] = Field(default_factory=dict)
    probabilities: dict[str, Probability]
    confidence: Confidence | None = None
    rationale: str | None = None
    citation: str | None = None

    @field_validator("probabilities")
    @classmethod
    def _values(cls, v: dict[str, Probability]) -> dict[str, Probability]:
        for state, x in v.items():
            if isinstance(x, str):
                _check_term(x)
            elif not 0.0 <= x <= 1.0:
                raise ValueError(f"probability of {state!r} is {x}: expected a number in [0, 1] or an ICD 203 term")
        return v


class StateSpec(_Strict):
    id: str = Field(pattern=_ID)
    definition: str
    citation: str
    claimed: bool = False


class HypothesisSpec(_Strict):
    id: str = Field(pattern=_ID)
    question: str = ""
    parents: list[str] = Field(default_factory=list)
    states: list[StateSpec] = Field(min_length=2)
    # MODEL.md §6: how an observer decides, once a horizon has passed, which state held.
    resolution_criteria: str | None = Field(default=None, min_length=1)
    # The states, in the order listed, lie on a scale: the ranked probability score applies.
    ordered: bool = False


class NetworkSpec(_Strict):
    name: str
    description: str = ""
    illustrative: str = ""
    horizon_months: int = Field(default=12, gt=0, le=MAX_HORIZON_MONTHS)
    evidence_window_days: int = Field(gt=0, le=MAX_WINDOW_DAYS)
    hypotheses: list[HypothesisSpec] = Field(min_length=1)


class IndicatorSpec(_Strict):
    id: str = Field(pattern=_ID)
    name: str = ""
    definition: str
    parents: list[str] = Field(min_length=1)
    # at most one mechanism parent; a list is parsed so that the structure check can say why it is refused
    mechanism: str | list[str] | None = None
    citation: str
    likelihoods: list[JudgmentSpec]


class MechanismSpec(_Strict):
    """A latent event (MODEL.md §1): hypothesis parents, P(occurred | parents) for every configuration."""

    id: str = Field(pattern=_ID)
    name: str = ""
    definition: str
    parents: list[str] = Field(min_length=1)
    citation: str
    likelihoods: list[JudgmentSpec]


class CatalogueSpec(_Strict):
    confidence: Confidence = "medium"
    mechanisms: list[MechanismSpec] = Field(default_factory=list)
    indicators: list[IndicatorSpec] = Field(min_length=1)


class ExpertSpec(_Strict):
    id: str = Field(pattern=_ID)
    role: str
    # The expert's id in an earlier panel round, when the file was renamed (MODEL.md §7): without
    # it a renamed file is a new expert, and `forecast panel close` refuses to guess.
    previously: str | None = Field(default=None, pattern=_ID)
    illustrative: str = ""
    reviewed_by: str | None = None
    reviewed_on: dt.date | None = None
    hypotheses: dict[str, list[VectorJudgmentSpec]]
    indicators: dict[str, list[JudgmentSpec]] = Field(default_factory=dict)
    mechanisms: dict[str, list[JudgmentSpec]] = Field(default_factory=dict)


class PoolingSpec(_Strict):
    method: Literal["linear", "logarithmic"] = "linear"
    weights: dict[str, float] = Field(default_factory=dict)
    confidence_sizes: dict[str, float] = Field(default_factory=lambda: {"low": 5.0, "medium": 20.0, "high": 60.0})

    @field_validator("confidence_sizes")
    @classmethod
    def _sizes(cls, v: dict[str, float]) -> dict[str, float]:
        if set(v) != {"low", "medium", "high"} or not all(x > 0 for x in v.values()):
            raise ValueError("give a positive equivalent sample size for each of low, medium and high")
        return v

    @field_validator("weights")
    @classmethod
    def _positive(cls, v: dict[str, float]) -> dict[str, float]:
        for k, w in v.items():
            if not (w >= 0 and math.isfinite(w)):
                raise ValueError(f"weight of {k!r} is {w}: expected a number ≥ 0")
        return v


class GradesSpec(_Strict):
    reliability: dict[str, float]
    credibility: dict[str, float]

    @model_validator(mode="after")
    def _complete(self) -> GradesSpec:
        if set(self.reliability) != set("ABCDEF") or set(self.credibility) != set("123456"):
            raise ValueError("give a factor for every reliability A–F and every credibility 1–6")
        for k, v in [*self.reliability.items(), *self.credibility.items()]:
            if not 0.0 <= v < 1.0:
                raise ValueError(f"factor for {k} is {v}: expected a number in [0, 1) so that accuracy stays below 1")
        rel, cred = [self.reliability[c] for c in "ABCDE"], [self.credibility[c] for c in "12345"]
        if rel != sorted(rel, reverse=True) or cred != sorted(cred, reverse=True):
            raise ValueError("factors must not increase from A to E and from 1 to 5: a better grade never weakens a report")
        return self


class SettingsSpec(_Strict):
    pooling: PoolingSpec = Field(default_factory=PoolingSpec)
    grades: GradesSpec
    # Ageing (MODEL.md §3): a report's accuracy halves its distance from 0.5 every this many days;
    # `none` switches ageing off. A non-positive value is an audit finding (`priors audit`).
    half_life_days: float | Literal["none"] | None = 365.0
    # Pooling weights (MODEL.md §7): `stated` (pooling.weights) or `performance`, earned on the
    # resolved hypotheses: w_k ∝ w0_k · exp(tau · Σ ln P_k(o_r)), floored at `floor`, renormalised.
    weights: Literal["stated", "performance"] = "stated"
    tau: float = Field(default=1.0, gt=0.0, le=100.0, allow_inf_nan=False)
    floor: float = Field(default=0.02, ge=0.0, lt=0.5, allow_inf_nan=False)
