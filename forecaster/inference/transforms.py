"""The simplex transform the sampler's Dirichlets use (log-ratio coordinates)."""

from __future__ import annotations

import pytensor.tensor as pt

from forecaster.inference.pymc_adapter import Transform


class LogRatio(Transform):
    """Additive log-ratio coordinates for a simplex (last axis): θ = softmax([y, 0]).

    The log-Jacobian of y ↦ θ is Σ_k log θ_k, so a Dirichlet(α) in these coordinates has the
    log-density Σ_k α_k log θ_k + const: a smaller graph (and gradient) than PyMC's default
    simplex transform, for the same distribution of θ.
    """

    name = "logratio"

    def forward(self, value, *inputs):
        log_value = pt.log(value)
        return log_value[..., :-1] - log_value[..., -1:]

    def backward(self, value, *inputs):
        return pt.special.softmax(_pad_zero(value), axis=-1)

    def log_jac_det(self, value, *inputs):
        return pt.sum(pt.special.log_softmax(_pad_zero(value), axis=-1), axis=-1)


def _pad_zero(value):
    return pt.concatenate([value, pt.zeros_like(value[..., :1])], axis=-1)
