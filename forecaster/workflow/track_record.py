"""The track record (MODEL.md §6, issue 14): recorded forecasts scored against resolutions.

A forecast is one recorded run's posterior for one hypothesis, made as of `d`; its horizon is
`[d, d + H months]` with H the priors' `horizon_months` (the current priors': runs do not record
it). It **resolves** when one resolution of that hypothesis in force covers the whole horizon
(`from ≤ d` and `d + H ≤ to`, dates inclusive); a forecast whose horizon no resolution covers yet
is *pending* and never scored, and a retracted resolution resolves nothing, so retracting one
unscores its forecasts. Overlapping resolutions of one hypothesis agree (the store refuses
disagreeing ones), so every covering resolution gives the same outcome.

Which forecasts (`kinds`):
- `update`: every recorded `forecast update` on the store's reports (not replays of `--events`
  files), each scored: a forecast made is a forecast judged.
- `backfill` (`forecast score --backfill weekly`, and the brief): the weekly event-time back-test
  (`forecaster.workflow.backfill`), one point per as-of date: the newest recorded on the current
  priors, so that points superseded by later reports or by a re-run are not scored twice. The
  back-test replays the reports by event date, with hindsight about what was known when; its
  scores say how the model does on the record, not how analysts did in real time.

Each forecast is scored beside the prior alone (the run's recorded prior for that hypothesis), so
the skill `1 − Brier / Brier of the prior` shows what the evidence added. The numbers are
`forecaster.analysis.scores`'; this module only selects, matches and groups (numpy, batched).
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from forecaster.analysis.scores import (
    Calibration,
    ScoreSummary,
    baseline_score,
    brier,
    calibration,
    log_score,
    rps,
    score_summary,
)
from forecaster.store.resolutions import StoredResolution, forecast_rows, list_resolutions

if TYPE_CHECKING:
    from forecaster.core.workspace import Workspace
    from forecaster.model.priors import HypothesisNode, Priors
    from forecaster.store.events import EventStore

KINDS_DEFAULT = ("update",)
KINDS_BACKFILL = ("update", "backfill")
STORE_EVIDENCE = ("store", "store-event-time", "unknown")  # runs on the store's reports, as history and the brief
DEFAULT_BINS = 10


def add_months(d: dt.date, months: int) -> dt.date:
    """`d` plus whole months, the day clamped to the month's last (31 Jan + 1 month = 28/29 Feb)."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return dt.date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class ScoredForecast:
    """One resolved forecast of one hypothesis, with its scores and the prior's."""

    run_id: str
    kind: str
    as_of: dt.date
    horizon_end: dt.date
    hypothesis: str
    resolution_id: str
    observed: str
    forecast: tuple[float, ...]  # over the hypothesis's states, in their order
    prior: tuple[float, ...]
    brier: float
    log: float
    baseline: float
    rps: float | None
    prior_brier: float
    prior_log: float
    prior_baseline: float
    prior_rps: float | None


@dataclass(frozen=True)
class HypothesisRecord:
    """The track record of one hypothesis."""

    hypothesis: str
    question: str
    states: tuple[str, ...]
    ordered: bool
    forecasts: int  # selected forecasts whose recorded states match the hypothesis's
    pending: int  # of them, with a horizon no resolution covers (yet)
    summary: ScoreSummary  # summary.n = the resolved forecasts
    calibration: Calibration
    kinds: Mapping[str, int]  # resolved forecasts per run kind
    first: dt.date | None  # as-of dates of the resolved forecasts
    last: dt.date | None
    resolutions: tuple[str, ...]  # ids of the resolutions that resolved at least one forecast
    skipped: int = 0  # runs recorded with other states for this hypothesis (older priors): not scored

    @property
    def resolved(self) -> int:
        return self.summary.n


@dataclass(frozen=True)
class TrackRecord:
    horizon_months: int
    bins: int
    kinds: tuple[str, ...]
    since: dt.date | None
    until: dt.date | None
    resolutions: tuple[StoredResolution, ...]  # in force
    retracted: int  # resolutions retracted (they resolve nothing)
    hypotheses: tuple[HypothesisRecord, ...]
    forecasts: tuple[ScoredForecast, ...] = field(default=())

    @property
    def resolved(self) -> int:
        return sum(h.resolved for h in self.hypotheses)

    @property
    def pending(self) -> int:
        return sum(h.pending for h in self.hypotheses)

    @property
    def considered(self) -> int:
        return sum(h.forecasts for h in self.hypotheses)

    def calibrations(self) -> dict[str, Calibration]:
        """hypothesis -> calibration, for the hypotheses with a resolved forecast (the diagram's series)."""
        return {h.hypothesis: h.calibration for h in self.hypotheses if h.resolved}


def _select(
    rows: Sequence[tuple[str, str, str, str, str, str, str, float, float]],
) -> dict[str, tuple[str, dt.date, dict[str, dict[str, tuple[float, float]]]]]:
    """run_id -> (kind, as_of, hypothesis -> state -> (prior, posterior)); backfill points one per as-of date
    (the last recorded: rows come ordered by as-of, recording time, run id)."""
    runs: dict[str, tuple[str, dt.date, dict[str, dict[str, tuple[float, float]]]]] = {}
    backfill_at: dict[str, str] = {}
    dates: dict[str, dt.date] = {}
    for run_id, kind, as_of, _recorded, _ph, hyp, state, prior, post in rows:
        entry = runs.get(run_id)
        if entry is None:
            day = dates.get(as_of)
            if day is None:
                day = dates[as_of] = dt.date.fromisoformat(as_of)
            entry = runs[run_id] = (kind, day, {})
            if kind == "backfill":
                held = backfill_at.get(as_of)
                if held is not None:
                    del runs[held]
                backfill_at[as_of] = run_id
        entry[2].setdefault(hyp, {})[state] = (prior, post)
    return runs


def track_record(
    store: EventStore,
    priors: Priors,
    *,
    hypothesis: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    kinds: Sequence[str] = KINDS_DEFAULT,
    bins: int = DEFAULT_BINS,
    known_at: dt.datetime | None = None,
) -> TrackRecord:
    """Score the selected recorded forecasts (module doc) against the resolutions in force.
    `known_at` limits the resolutions and their retractions to those recorded before it (a brief)."""
    horizon = priors.horizon_months
    stored = list_resolutions(store, hypothesis=hypothesis, include_retracted=True, known_at=known_at)
    in_force = tuple(e for e in stored if not e.retracted)
    retracted = len(stored) - len(in_force)
    rows: list[tuple[str, str, str, str, str, str, str, float, float]] = []
    if "update" in kinds:
        rows += forecast_rows(
            store, kinds=("update",), evidence=STORE_EVIDENCE, hypothesis=hypothesis, since=since, until=until
        )
    if "backfill" in kinds:
        rows += forecast_rows(
            store, kinds=("backfill",), evidence=STORE_EVIDENCE, hypothesis=hypothesis, since=since, until=until,
            priors_hash=priors.hash,
        )
    runs = _select(rows)
    ends: dict[dt.date, dt.date] = {}
    records: list[HypothesisRecord] = []
    scored: list[ScoredForecast] = []
    for node in priors.hypotheses:
        if hypothesis is not None and node.id != hypothesis:
            continue
        rec, items = _score_hypothesis(node, runs, in_force, horizon, bins, ends)
        records.append(rec)
        scored += items
    scored.sort(key=lambda f: (f.as_of, f.hypothesis, f.run_id))
    return TrackRecord(
        horizon_months=horizon,
        bins=bins,
        kinds=tuple(kinds),
        since=since,
        until=until,
        resolutions=in_force,
        retracted=retracted,
        hypotheses=tuple(records),
        forecasts=tuple(scored),
    )


def _score_hypothesis(
    node: HypothesisNode,
    runs: Mapping[str, tuple[str, dt.date, dict[str, dict[str, tuple[float, float]]]]],
    resolutions: Sequence[StoredResolution],
    horizon: int,
    bins: int,
    ends: dict[dt.date, dt.date],
) -> tuple[HypothesisRecord, list[ScoredForecast]]:
    hid, states, ordered = node.id, tuple(node.states), node.ordered
    k = len(states)
    ids: list[str] = []
    kinds: list[str] = []
    days: list[dt.date] = []
    p_rows: list[list[float]] = []
    q_rows: list[list[float]] = []
    skipped = 0
    for run_id, (kind, day, by_hyp) in runs.items():
        got = by_hyp.get(hid)
        if got is None:
            continue
        if len(got) != k or any(s not in got for s in states):
            skipped += 1
            continue
        ids.append(run_id)
        kinds.append(kind)
        days.append(day)
        q_rows.append([got[s][0] for s in states])
        p_rows.append([got[s][1] for s in states])
    n_all = len(ids)
    outcome = np.full(n_all, -1, dtype=np.intp)
    used_by = np.full(n_all, -1, dtype=np.intp)
    mine = [e for e in resolutions if e.resolution.hypothesis == hid and e.resolution.state in states]
    horizon_ends: list[dt.date] = []
    if n_all and mine:
        for d in days:
            end = ends.get(d)
            if end is None:
                end = ends[d] = add_months(d, horizon)
            horizon_ends.append(end)
        start_o = np.fromiter((d.toordinal() for d in days), dtype=np.int64, count=n_all)
        end_o = np.fromiter((e.toordinal() for e in horizon_ends), dtype=np.int64, count=n_all)
        for j, e in enumerate(mine):
            r = e.resolution
            hit = (outcome < 0) & (start_o >= r.start.toordinal()) & (end_o <= r.end.toordinal())
            outcome[hit] = states.index(r.state)
            used_by[hit] = j
    m = outcome >= 0
    if m.any():
        # Clipped and renormalised: the record's float noise must not make analysis.scores refuse a
        # row; a row that is no probability vector at all (a damaged record) is skipped.
        p_all = np.clip(np.asarray(p_rows, dtype=np.float64), 0.0, 1.0)
        q_all = np.clip(np.asarray(q_rows, dtype=np.float64), 0.0, 1.0)
        bad = ~(np.isfinite(p_all).all(axis=1) & np.isfinite(q_all).all(axis=1)
                & (p_all.sum(axis=1) > 0) & (q_all.sum(axis=1) > 0))
        skipped += int((bad & m).sum())
        m &= ~bad
    n = int(m.sum())
    if n:
        p, q = p_all[m], q_all[m]
        p /= p.sum(axis=1, keepdims=True)
        q /= q.sum(axis=1, keepdims=True)
        o = outcome[m]
    else:
        p = q = np.zeros((0, k))
        o = np.zeros(0, dtype=np.intp)
    summary = score_summary(p, q, o, ordered=ordered)
    cal = calibration(p, o, bins, states=states)
    items: list[ScoredForecast] = []
    counts: dict[str, int] = {}
    used: set[str] = set()
    first = last = None
    if n:
        sb, sl, sbase = brier(p, o), log_score(p, o), baseline_score(p, o)
        pb, pl, pbase = brier(q, o), log_score(q, o), baseline_score(q, o)
        sr = rps(p, o) if ordered else None
        pr = rps(q, o) if ordered else None
        index = np.flatnonzero(m)
        for row, i in enumerate(index):
            res = mine[int(used_by[i])].resolution
            assert res.id is not None
            used.add(res.id)
            counts[kinds[i]] = counts.get(kinds[i], 0) + 1
            items.append(
                ScoredForecast(
                    run_id=ids[i], kind=kinds[i], as_of=days[i], horizon_end=horizon_ends[i], hypothesis=hid,
                    resolution_id=res.id, observed=res.state,
                    forecast=tuple(float(x) for x in p[row]), prior=tuple(float(x) for x in q[row]),
                    brier=float(sb[row]), log=float(sl[row]), baseline=float(sbase[row]),
                    rps=None if sr is None else float(sr[row]),
                    prior_brier=float(pb[row]), prior_log=float(pl[row]), prior_baseline=float(pbase[row]),
                    prior_rps=None if pr is None else float(pr[row]),
                )
            )
        resolved_days = [days[i] for i in index]
        first, last = min(resolved_days), max(resolved_days)
    rec = HypothesisRecord(
        hypothesis=hid,
        question=node.question,
        states=states,
        ordered=ordered,
        forecasts=n_all,
        pending=int((outcome < 0).sum()),
        summary=summary,
        calibration=cal,
        kinds=dict(sorted(counts.items())),
        first=first,
        last=last,
        resolutions=tuple(sorted(used)),
        skipped=skipped,
    )
    return rec, items


# ---------------------------------------------------------------------------------------------
# The whole job, as `forecast score` runs it
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreJob:
    record: TrackRecord
    backfill_points: int | None  # weekly points computed or found (None: no --backfill)
    backfill_added: int


def score_workspace(
    ws: Workspace,
    priors: Priors,
    *,
    hypothesis: str | None = None,
    since: dt.date | None = None,
    backfill: bool = False,
    bins: int = DEFAULT_BINS,
    today: dt.date | None = None,
) -> ScoreJob:
    """With `backfill`, first record the weekly event-time series up to today (the exact runs of
    `forecast history --backfill weekly`; points already recorded are reused), then score."""
    from forecaster.store.events import EventStore

    points: int | None = None
    added = 0
    if backfill:
        from forecaster.inference.settings import DEFAULT_SEED
        from forecaster.workflow.backfill import backfill_weekly

        done = backfill_weekly(ws, priors, until=today or dt.date.today(), seed=DEFAULT_SEED)
        points, added = done.points, done.added
    with EventStore(ws.db_path) as store:
        record = track_record(
            store, priors, hypothesis=hypothesis, since=since,
            kinds=KINDS_BACKFILL if backfill else KINDS_DEFAULT, bins=bins,
        )
    return ScoreJob(record, points, added)


__all__ = [
    "HypothesisRecord",
    "ScoreJob",
    "ScoredForecast",
    "TrackRecord",
    "add_months",
    "score_workspace",
    "track_record",
]
