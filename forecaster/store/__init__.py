"""The store: the schema and its numbered migrations, append-only reports and retractions,
append-only resolutions and their retractions, the run log, and the exchange file formats (CSV,
YAML, JSON). May import: core, model, inference (the run log records `UpdateResult`s), ingest."""
