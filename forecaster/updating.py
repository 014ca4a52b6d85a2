"""A workspace-level update: gather the reports, reuse a recorded identical run, or compute
one and record it. The run log lives in `runs/` as one JSON file per run."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from forecaster.atomic import write_text_atomic
from forecaster.errors import StoreError
from forecaster.evidence import Report, load_reports_file
from forecaster.inference import (
    DEFAULT_SEED,
    SamplerSettings,
    UpdateResult,
    events_hash,
    in_window,
    run_id_for,
    run_update,
    settings_hash,
    window_for,
)
from forecaster.priors import Priors
from forecaster.workspace import Workspace


def gather_reports(
    ws: Workspace, priors: Priors, *, as_of: dt.date, events_file: Path | None = None, event_time: bool = False
) -> list[Report]:
    """Every non-retracted report inside the evidence window ending at `as_of`."""
    window = window_for(as_of, priors.evidence_window_days)
    if events_file is not None:
        return in_window(load_reports_file(events_file, known=priors.indicator_ids, today=max(as_of, dt.date.today())), window)
    if not ws.db_path.exists():
        return []
    from forecaster.store import EventStore

    with EventStore(ws.db_path) as store:
        reports = store.reports_for_update(as_of=as_of, window_days=priors.evidence_window_days, by_event_time=event_time)
    unknown = {r.indicator for r in reports} - priors.indicator_ids
    if unknown:
        raise StoreError(f"the store holds reports on indicators the priors no longer define: {', '.join(sorted(unknown))}")
    return reports


def _sampler_settings(sampler_kwargs: dict[str, Any], exact: bool) -> tuple[dict[str, Any], Any]:
    if exact:
        return {"sampler": "exact"}, None
    ss = SamplerSettings(**sampler_kwargs)
    return {"sampler": "pymc-nuts", **ss.as_dict()}, ss


def recorded_runs(ws: Workspace) -> list[dict[str, Any]]:
    """All recorded runs, oldest first (by the time they were recorded)."""
    if not ws.runs_dir.is_dir():
        return []
    runs = []
    for f in ws.runs_dir.glob("*.json"):
        try:
            runs.append(json.loads(f.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError):
            continue
    return sorted(runs, key=lambda r: r.get("recorded_at", ""))


def update_forecast(
    ws: Workspace,
    priors: Priors,
    *,
    as_of: dt.date,
    events_file: Path | None = None,
    event_time: bool = False,
    seed: int = DEFAULT_SEED,
    exact: bool = False,
    force: bool = False,
    sampler_kwargs: dict[str, Any] | None = None,
    record: bool = True,
) -> tuple[UpdateResult, bool]:
    """(result, cached). An identical recorded run is returned as is unless `force`."""
    reports = gather_reports(ws, priors, as_of=as_of, events_file=events_file, event_time=event_time)
    settings, ss = _sampler_settings(sampler_kwargs or {}, exact)
    run_id = run_id_for(priors.hash, events_hash(reports), as_of, seed, settings_hash(settings))
    path = ws.runs_dir / f"{run_id}.json"
    if path.exists() and not force:
        try:
            return UpdateResult.from_json(json.loads(path.read_text(encoding="utf-8"))), True
        except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError):
            pass  # an unreadable record is recomputed
    previous = [r for r in recorded_runs(ws) if r["run_id"] != run_id]
    prev = UpdateResult.from_json(previous[-1]) if previous else None
    result = run_update(
        priors, reports, as_of=as_of, seed=seed, exact_only=exact, sampler_settings=ss,
        previous=prev.posteriors() if prev else None, previous_run_id=prev.run_id if prev else None,
    )
    if record:
        data = result.to_json()
        data["recorded_at"] = dt.datetime.now(dt.UTC).isoformat()
        write_text_atomic(path, json.dumps(data, indent=1))
    return result, False
