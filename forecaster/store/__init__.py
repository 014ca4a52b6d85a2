"""The store: the schema and its numbered migrations, append-only reports and retractions,
append-only resolutions and their retractions, the run log (with each sampled run's draws), and
the exchange file formats (CSV, YAML, JSON); in an embedded SQLite file or on a PostgreSQL server
(issue 13), one code path behind `backend.Db`. May import: core, model, inference (the run log
records `UpdateResult`s), ingest."""
