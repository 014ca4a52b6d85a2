"""Analyses over the model and inference: the audit's computations and the track record's scores."""
