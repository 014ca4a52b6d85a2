"""The jobs a command runs, over the layers below: the workspace-level update (gather reports,
reuse a recorded run, record the new one), the weekly backfill, scenarios on the recorded
evidence, the track record (forecasts scored against resolutions), and the brief as data
(periods, alerts, its clock and baseline, drivers, trend, track record). May import: every layer
below (core, model, inference, analysis, ingest, store)."""
