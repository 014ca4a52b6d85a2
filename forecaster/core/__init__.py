"""The foundation: errors (`ForecastError` and its kinds), safe YAML and strict JSON with line
numbers, canonical and neutral text (core/text.py), atomic file writes, input files that must be regular files (core/files.py), and the workspace (where
priors/, scenarios/, the database, runs/ and briefs/ live). Owns no model and no storage.
It may import: nothing of forecaster but `forecaster.__version__`."""
