"""A workspace-level update: gather the reports, reuse a recorded identical run, or compute one
and record it in the run log (the event store's `runs` tables, see forecaster.store.runs), with a
sampled run's InferenceData in the store too (`forecast runs export` writes runs/RUN_ID.nc).

An identical run is one with the same run id: the same priors, reports, as-of date, seed,
sampler settings and package version. It is answered from its record, without sampling and
without importing pymc; `force` recomputes it."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forecaster.core.errors import StoreError
from forecaster.core.workspace import Workspace
from forecaster.inference.settings import DEFAULT_SEED, SamplerSettings
from forecaster.inference.update import (
    UpdateResult,
    events_hash,
    half_life_setting,
    in_window,
    run_id_for,
    run_update,
    settings_hash,
    window_for,
)
from forecaster.model.evidence import Report, load_reports_file

if TYPE_CHECKING:
    from forecaster.inference.scenarios import Comparison, Scenario
    from forecaster.model.priors import Priors
    from forecaster.store import runs as runs_module


def gather_reports(
    ws: Workspace, priors: Priors, *, as_of: dt.date, events_file: Path | None = None, event_time: bool = False
) -> list[Report]:
    """Every non-retracted report inside the evidence window ending at `as_of`."""
    window = window_for(as_of, priors.evidence_window_days)
    if events_file is not None:
        return in_window(
            load_reports_file(events_file, known=priors.indicator_ids, today=max(as_of, dt.date.today())), window
        )
    if not ws.has_store():
        return []
    from forecaster.store.events import EventStore

    with EventStore(ws.db) as store:
        reports = store.reports_for_update(
            as_of=as_of, window_days=priors.evidence_window_days, by_event_time=event_time
        )
    unknown = {r.indicator for r in reports} - priors.indicator_ids
    if unknown:
        raise StoreError(
            f"the store holds reports on indicators the priors no longer define: {', '.join(sorted(unknown))}"
        )
    return reports


def sampler_settings(
    sampler_kwargs: dict[str, Any] | None, exact: bool
) -> tuple[dict[str, Any], SamplerSettings | None]:
    """(the settings as hashed into the run id, the sampler's settings or None for the exact engine)."""
    if exact:
        return {"sampler": "exact"}, None
    ss = SamplerSettings(**(sampler_kwargs or {}))
    return {"sampler": ss.name, **ss.as_dict()}, ss


_sampler_settings = sampler_settings  # the name other modules used before the run log moved


def evidence_label(*, events_file: Path | None, event_time: bool) -> str:
    """How a run chose its reports (forecaster.store.runs.EVIDENCE)."""
    if events_file is not None:
        return "file"
    return "store-event-time" if event_time else "store"


def planned_run_id(
    priors: Priors,
    reports: list[Report],
    *,
    as_of: dt.date,
    seed: int = DEFAULT_SEED,
    exact: bool = False,
    sampler_kwargs: dict[str, Any] | None = None,
    half_life_days: float | None | str = "settings",
) -> str:
    """The id the update of these inputs gets (and a recorded identical run has)."""
    settings, _ = sampler_settings(sampler_kwargs, exact)
    settings.update(half_life_setting(half_life_days))
    return run_id_for(priors.hash, events_hash(reports), as_of, seed, settings_hash(settings))


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
    half_life_days: float | None | str = "settings",
    notify: Callable[[str], None] | None = None,
) -> tuple[UpdateResult, bool]:
    """(result, cached). An identical recorded run is returned as is unless `force`.

    With `record`, a computed run is recorded in the store (created if need be), a sampled run's
    InferenceData with it, in one transaction: a dropped connection records nothing."""
    from forecaster.store import legacy_runs, runs
    from forecaster.store.events import EventStore

    start = time.perf_counter()
    priors, panel = _in_force(ws, priors, as_of, notify)
    reports = gather_reports(ws, priors, as_of=as_of, events_file=events_file, event_time=event_time)
    settings, ss = sampler_settings(sampler_kwargs, exact)
    settings.update(half_life_setting(half_life_days))  # a --half-life override: a run of its own
    run_id = run_id_for(priors.hash, events_hash(reports), as_of, seed, settings_hash(settings))
    evidence = evidence_label(events_file=events_file, event_time=event_time)
    previous: runs.RunRecord | None = None
    if record or ws.has_store():
        with EventStore(ws.db) as store:
            if record:
                legacy_runs.import_json_runs(ws, store)
            if not force:
                cached = runs.load_result(store, run_id)
                if cached is not None:
                    return cached, True
            previous = previous_like(store, as_of=as_of, evidence=evidence, exclude=run_id, sampled=not exact)
    from forecaster.inference.interrupt import interruptible

    # Ctrl-C, SIGTERM or SIGHUP anywhere from sampling to recording: nothing is recorded (the run
    # and its draws go into the store in one transaction: both or neither).
    with interruptible() as guard:
        result = run_update(
            priors,
            reports,
            as_of=as_of,
            seed=seed,
            exact_only=exact,
            sampler_settings=ss,
            previous=previous.posteriors() if previous else None,
            previous_run_id=previous.run_id if previous else None,
            half_life_days=half_life_days,
            notify=notify,
        )
        guard.check()
        if record:
            draws = runs.netcdf_bytes(result.idata) if result.idata is not None else None
            guard.check()
            with EventStore(ws.db) as store:
                runs.record_run(
                    store,
                    runs.NewRun(
                        result,
                        kind="update",
                        evidence=evidence,
                        settings={**settings, **panel},
                        wall_seconds=time.perf_counter() - start,
                        draws=draws,
                    ),
                )
    return result, False


def _in_force(
    ws: Workspace, priors: Priors, as_of: dt.date, notify: Callable[[str], None] | None
) -> tuple[Priors, dict[str, Any]]:
    """The workspace's judgments and pooling weights in force at `as_of` (MODEL.md §7: the panel
    round closed on or before it; forecaster.workflow.panel), and what the run records of them
    (not hashed into the run id: the priors hash already is). Other folders are used as given."""
    from forecaster.workflow.panel import in_force_at, is_workspace_priors

    if not is_workspace_priors(ws, priors):
        return priors, {}
    info = in_force_at(ws, as_of, folder=priors)
    if notify is not None and info.basis.mode == "performance":
        notify(info.describe())
    return info.priors, info.record()


def previous_like(
    store: Any, *, as_of: dt.date, evidence: str, exclude: str, sampled: bool
) -> runs_module.RunRecord | None:
    """The "Δ prev" baseline, like with like: the latest update recorded for an as-of date not after
    `as_of` that chose its reports the same way (`evidence`) and ran the same engine (sampled, or
    exact). A sampled run's posterior is never compared with the exact engine's prior-mean one."""
    from forecaster.store import runs

    candidates = [
        r
        for r in runs.list_runs(store, kinds=("update",), evidence=(evidence,), until=as_of, with_states=False)
        if r.run_id != exclude and r.sampled == sampled
    ]
    if not candidates:
        return None
    last = max(candidates, key=lambda r: (r.as_of, r.recorded_at, r.run_id))
    return runs.list_runs(store, run_ids=[last.run_id])[0]


def recorded_runs(ws: Workspace) -> list[dict[str, Any]]:
    """All recorded runs as JSON (UpdateResult.to_json plus recorded_at, kind, evidence), oldest
    recorded first. For notebooks and callers of the JSON-file log; `runs.list_runs` is richer."""
    if not ws.has_store():
        return []
    import json

    from forecaster.store.events import EventStore

    with EventStore(ws.db) as store:
        rows = store._read(
            "reading runs", "SELECT result, recorded_at, kind, evidence FROM runs ORDER BY recorded_at, run_id"
        )
    return [
        {**json.loads(result), "recorded_at": recorded_at, "kind": kind, "evidence": evidence}
        for result, recorded_at, kind, evidence in rows
    ]


# ---------------------------------------------------------------------------------------------
# The fast path: answer an unchanged update without loading the priors
# ---------------------------------------------------------------------------------------------


def priors_fingerprint(root: Path) -> str | None:
    """The priors hash computed from the files alone, as `priors.load_priors` computes it (tests
    pin the two together); None when the folder is not complete (the full loader explains)."""
    from forecaster.core.errors import PriorsError
    from forecaster.model.priors import MAIN_FILES, priors_files

    try:
        files = priors_files(root)
    except (PriorsError, OSError):
        return None
    if not all(f.is_file() for f in files[: len(MAIN_FILES)]):
        return None
    h = hashlib.sha256()
    try:
        for f in sorted(files):
            h.update(str(f.relative_to(root)).encode())
            h.update(b"\0")
            h.update(f.read_bytes().replace(b"\r\n", b"\n"))
            h.update(b"\0")
    except OSError:
        return None
    return h.hexdigest()[:16]


def cached_update(
    ws: Workspace,
    *,
    as_of: dt.date,
    event_time: bool = False,
    seed: int = DEFAULT_SEED,
    exact: bool = False,
    sampler_kwargs: dict[str, Any] | None = None,
    half_life_days: float | None | str = "settings",
) -> UpdateResult | None:
    """The recorded run for the current inputs, found without parsing the priors, or None.

    Unchanged priors files have the hash a recorded run carries; that run also tells the evidence
    window, so the store's reports give the events hash and the run id. Anything unusual (no
    store, priors edited, a different window) returns None and the caller takes the full path."""
    if not ws.has_store():
        return None
    from forecaster.workflow.panel import fingerprint_in_force

    fingerprint = fingerprint_in_force(ws, as_of, priors_fingerprint(ws.priors_dir))  # the panel round in force
    if fingerprint is None:
        return None
    from forecaster.store import runs
    from forecaster.store.events import EventStore

    settings, _ = sampler_settings(sampler_kwargs, exact)
    settings.update(half_life_setting(half_life_days))
    s_hash = settings_hash(settings)
    with EventStore(ws.db) as store:
        for days in runs.window_days_recorded(store, fingerprint):
            reports = store.reports_for_update(as_of=as_of, window_days=days, by_event_time=event_time)
            result = runs.load_result(store, run_id_for(fingerprint, events_hash(reports), as_of, seed, s_hash))
            if result is not None:
                return result
    return None


def run_scenarios(
    ws: Workspace,
    priors: Priors,
    scenarios: Sequence[Scenario],
    *,
    as_of: dt.date,
    seed: int = DEFAULT_SEED,
    exact: bool = False,
    sampler_kwargs: Mapping[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Comparison:
    """`compare` on the workspace's recorded evidence (the store, read as `forecast update` reads it).
    Nothing is written."""
    from forecaster.inference.scenarios import compare
    from forecaster.inference.settings import SCENARIO_MCSE_TARGET, SamplerSettings

    recorded = gather_reports(ws, priors, as_of=as_of)
    settings = None if exact else SamplerSettings(**{"mcse_target": SCENARIO_MCSE_TARGET, **dict(sampler_kwargs or {})})
    return compare(
        priors,
        recorded,
        scenarios,
        as_of=as_of,
        seed=seed,
        exact=exact,
        sampler_settings=settings,
        progress=progress,
    )
