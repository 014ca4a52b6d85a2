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

from forecaster import __version__
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
from forecaster.workflow.robustness import with_robustness

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
    explain: bool = False,
) -> tuple[UpdateResult, bool]:
    """(result, cached). An identical recorded run is returned as is unless `force`. Either has its
    robustness (forecaster.workflow.robustness), with the interactions when `explain`.

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
    forged: str | None = None  # who recorded numbers under this run id that its inputs do not give
    if record or ws.has_store():
        with EventStore(ws.db) as store:
            if record:
                legacy_runs.import_json_runs(ws, store)
            if not force:
                cached, trusted = runs.load_trusted(store, run_id)
                if cached is not None and (trusted or verified(cached, priors, reports, half_life_days)):
                    return with_robustness(cached, priors, reports, half_life_days=half_life_days, explain=explain), True
                if cached is not None or runs.recorded_ids(store, [run_id]):  # wrong numbers, or unreadable
                    forged = runs.recorded_by(store, run_id) or "an unknown login"
            previous = previous_like(store, as_of=as_of, evidence=evidence, exclude=run_id, sampled=not exact, priors=priors)
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
        result = with_robustness(result, priors, reports, half_life_days=half_life_days, explain=explain)
        guard.check()
        if record:
            draws = runs.netcdf_bytes(result.idata) if result.idata is not None else None
            guard.check()
            new = runs.NewRun(result, kind="update", evidence=evidence, settings={**settings, **panel},
                              wall_seconds=time.perf_counter() - start, draws=draws)
            _record(ws, new, forged, notify)
    return result, False


def _record(ws: Workspace, new: runs_module.NewRun, forged: str | None, notify: Callable[[str], None] | None) -> None:
    """Record a computed run. Over a record whose numbers its inputs do not give (`forged`: who
    recorded it) only a login that may replace rows (the owner) records; anyone else is told."""
    from forecaster.store import runs
    from forecaster.store.events import EventStore

    with EventStore(ws.db) as store:
        if forged is None:
            runs.record_run(store, new)
            return
        say = notify or (lambda _m: None)
        try:
            runs.record_run(store, new)
            say(f"run {new.result.run_id} recorded by {forged} held numbers its inputs do not give: replaced")
        except StoreError:
            say(f"run {new.result.run_id} recorded by {forged} holds numbers its inputs do not give: computed afresh, "
                "not recorded over it (`forecast db check` names it; the store's owner can replace it with `update --force`)")


#: How far a recorded number may lie from the exact engine's (the record keeps six decimals).
_TOLERANCE = 2e-6


def verified(recorded: UpdateResult, priors: Priors, reports: Sequence[Report], half_life_days: float | None | str) -> bool:
    """Whether a run recorded by another login holds what its inputs give (issue 20): the exact
    engine on the same priors, reports, as-of date and half-life (milliseconds) must give every
    state's prior, posterior and exact value, term and claim, and what moved it; the record's
    identity (id, window, hashes, reports) must be its own. A sampled run's intervals are not
    redrawn (seconds): they must lie in [0, 1] and in order."""
    fresh = run_update(priors, reports, as_of=recorded.as_of, seed=recorded.seed, exact_only=True,
                       half_life_days=half_life_days)
    return numbers_match(recorded, fresh)


def numbers_match(recorded: UpdateResult, fresh: UpdateResult) -> bool:
    """`recorded` against the exact engine's `fresh` run on the same inputs (see `verified`)."""
    def close(a: float | None, b: float | None) -> bool:
        return a is not None and b is not None and abs(float(a) - float(b)) <= _TOLERANCE

    same = (recorded.as_of, recorded.window, recorded.priors_hash, recorded.events_hash, sorted(recorded.report_ids)) == (
        fresh.as_of, fresh.window, fresh.priors_hash, fresh.events_hash, sorted(fresh.report_ids))
    if not same or [h.id for h in recorded.hypotheses] != [h.id for h in fresh.hypotheses]:
        return False
    for h, f in zip(recorded.hypotheses, fresh.hypotheses, strict=True):
        if [s.id for s in h.states] != [s.id for s in f.states]:
            return False
        for s, g in zip(h.states, f.states, strict=True):
            low, high = s.interval
            if not (close(s.prior, g.prior) and close(s.posterior, g.exact) and close(s.exact, g.exact)):
                return False
            if (s.term, s.claimed) != (g.term, g.claimed) or (low == low and not 0 <= low <= high <= 1):
                return False
    return _evidence_match(recorded, fresh, close)


def check_runs(store: Any, priors: Priors) -> tuple[int, list[str]]:
    """`db check`'s recomputation (issue 20): every recorded run of these priors and this version
    whose reports the store holds is run again on the exact engine (milliseconds each) from its
    inputs (its reports by id, as-of date, seed, settings); a run whose numbers those inputs do
    not give is named. Returns (runs checked, problems)."""
    from forecaster.store import runs

    checked, problems = 0, []
    for rec in runs.list_runs(store, with_states=False):
        verdict = recomputes(store, rec, priors)
        if verdict is None:
            continue  # other priors, an events file, another version: its inputs are not here
        checked += 1
        if verdict == "unreadable":
            problems.append(f"run {rec.run_id}: its record cannot be read, or names reports the store does not hold")
        elif verdict == "differs":  # (a record under another inputs' id is never reused: `verified`)
            who = f" (recorded by {runs.recorded_by(store, rec.run_id)})" if store.dialect != "sqlite" else ""
            problems.append(f"run {rec.run_id}: holds numbers its inputs do not give{who}; "
                            "the owner's `forecast update --force` with its as-of date replaces it")
    return checked, problems


def recomputes(store: Any, rec: runs_module.RunRecord, priors: Priors) -> str | None:
    """Whether a recorded run's inputs give its numbers: "same", "differs", "unreadable" (its
    record, or reports it names, are not there), or None when they cannot be had here (other
    priors, an events file, another version of forecast)."""
    from forecaster.store import runs

    if rec.priors_hash != priors.hash or rec.evidence == "file" or rec.version != __version__:
        return None
    result = runs.load_result(store, rec.run_id)
    reports = store.by_ids(result.report_ids) if result is not None else []
    if result is None or len(reports) != len(set(result.report_ids)):
        return "unreadable"
    hl = rec.settings.get("half_life_days", "settings")
    fresh = run_update(priors, reports, as_of=rec.as_of, seed=rec.seed, exact_only=True,
                       half_life_days=None if hl == "none" else hl)
    return "same" if numbers_match(result, fresh) else "differs"


def check_store_and_runs(where: Any, ws: Workspace | None) -> Any:
    """`forecast db check`: the store's own checks (`store.admin.check_store`) and, with a
    workspace whose priors load, every run of those priors recomputed (`check_runs`)."""
    from forecaster.core.errors import ForecastError
    from forecaster.model.loading import load_priors
    from forecaster.store.admin import check_store
    from forecaster.store.events import EventStore

    with EventStore(where) as store:
        result = check_store(store)
        if ws is None or not ws.priors_dir.is_dir():
            return result
        try:
            priors = load_priors(ws.priors_dir)
        except ForecastError:
            return result  # `priors validate` says why; the runs are not recomputed
        result.runs_checked, problems = check_runs(store, priors)
        result.problems.extend(problems)
    return result


def _evidence_match(recorded: UpdateResult, fresh: UpdateResult, close: Callable[[float, float], bool]) -> bool:
    def units(r: UpdateResult) -> dict[tuple[str, str], Any]:
        return {(e.kind, e.indicator): e for e in r.evidence}

    mine, theirs = units(recorded), units(fresh)
    if mine.keys() != theirs.keys():
        return False
    for k, e in mine.items():
        f = theirs[k]
        if e.reports != f.reports or not all(close(a, b) for a, b in zip(e.likelihood, f.likelihood, strict=True)):
            return False
        pairs = [(e.shift.get(h, {}).get(s), v) for h, st in f.shift.items() for s, v in st.items()]
        if not all(close(a, b) for a, b in pairs):
            return False
    return True


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
    store: Any, *, as_of: dt.date, evidence: str, exclude: str, sampled: bool, priors: Priors | None = None
) -> runs_module.RunRecord | None:
    """The "Δ prev" baseline, like with like: the latest update recorded for an as-of date not after
    `as_of` that chose its reports the same way (`evidence`) and ran the same engine (sampled, or
    exact). A sampled run's posterior is never compared with the exact engine's prior-mean one.
    With `priors`, a run another login recorded is the baseline only when its inputs give its
    numbers (issue 20: no user's command prints numbers another login wrote); else the one before."""
    from forecaster.store import runs

    candidates = sorted(
        (r for r in runs.list_runs(store, kinds=("update",), evidence=(evidence,), until=as_of, with_states=False)
         if r.run_id != exclude and r.sampled == sampled),
        key=lambda r: (r.as_of, r.recorded_at, r.run_id), reverse=True,
    )
    for last in candidates[:20]:
        if priors is None or runs.load_trusted(store, last.run_id)[1] or recomputes(store, last, priors) == "same":
            return runs.list_runs(store, run_ids=[last.run_id])[0]
    return None


def previous_report_ids(ws: Workspace, result: UpdateResult) -> frozenset[str] | None:
    """The reports of the update `result` compares with (its "Δ prev" run, `previous_like`), so that
    what moved it can mark the reports new since; None when there is no such run on record."""
    if result.previous_run_id is None or not ws.has_store():
        return None
    from forecaster.store import runs
    from forecaster.store.events import EventStore

    with EventStore(ws.db) as store:
        before = runs.load_result(store, result.previous_run_id)
    if before is None:
        return None
    return frozenset(before.report_ids) | {r for e in before.evidence for r in e.report_ids}


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
            result, trusted = runs.load_trusted(store, run_id_for(fingerprint, events_hash(reports), as_of, seed, s_hash))
            if result is not None:
                return result if trusted else None  # another login's run: the full path verifies it
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
