"""Analyses over the model and inference for reviewers: the audit's findings, disagreement,
influence and diagnosticity, `priors show` tables and `priors diff`, and the track record's
scores and calibration. Computes frozen results; renders nothing. May import: core, model, inference."""
