"""forecast: expert priors, graded reports and a Bayesian network for Balkan security scenarios."""

__version__ = "0.1.0"
