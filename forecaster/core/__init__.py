"""The foundation: errors (`ForecastError` and its kinds), safe YAML with line numbers, atomic
file writes, and the workspace (where priors/, scenarios/, the database, runs/ and briefs/ live).
Owns no model and no storage. May import: nothing of forecaster but `forecaster.__version__`."""
