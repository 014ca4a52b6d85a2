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
import numpy.typing as npt

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
from forecaster.store.resolutions import StoredResolution, forecast_runs, forecast_states, list_resolutions

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


FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class ScoredTable:
    """The resolved forecasts of one hypothesis as columns (row i is one forecast, oldest as-of
    first): 10,000 of them cost a few arrays, not 10,000 objects. `rows()` gives ScoredForecasts."""

    run_ids: tuple[str, ...]
    kinds: tuple[str, ...]
    as_of: tuple[dt.date, ...]
    horizon_end: tuple[dt.date, ...]
    resolution_ids: tuple[str, ...]
    observed: npt.NDArray[np.intp]  # state index
    forecast: FloatArray  # (n, K)
    prior: FloatArray
    scores: Mapping[str, FloatArray]  # brier, log, baseline[, rps], and prior_… the same, each (n,)

    def __len__(self) -> int:
        return len(self.run_ids)

    def rows(self, hypothesis: str, states: Sequence[str]) -> list[ScoredForecast]:
        sc = {k: v.tolist() for k, v in self.scores.items()}
        fc, pr, obs = self.forecast.tolist(), self.prior.tolist(), self.observed.tolist()
        none: list[None] = [None] * len(self)
        return [
            ScoredForecast(
                self.run_ids[i], self.kinds[i], self.as_of[i], self.horizon_end[i], hypothesis, self.resolution_ids[i],
                states[obs[i]], tuple(fc[i]), tuple(pr[i]), sc["brier"][i], sc["log"][i], sc["baseline"][i],
                sc.get("rps", none)[i], sc["prior_brier"][i], sc["prior_log"][i], sc["prior_baseline"][i],
                sc.get("prior_rps", none)[i],
            )
            for i in range(len(self))
        ]


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
    skipped: int = 0  # runs recorded with other states for this hypothesis (older priors), or damaged
    table: ScoredTable | None = field(default=None, compare=False, repr=False)

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

    @property
    def resolved(self) -> int:
        return sum(h.resolved for h in self.hypotheses)

    @property
    def pending(self) -> int:
        return sum(h.pending for h in self.hypotheses)

    @property
    def considered(self) -> int:
        return sum(h.forecasts for h in self.hypotheses)

    @property
    def forecasts(self) -> list[ScoredForecast]:
        """Every resolved forecast, by as-of date, hypothesis and run id."""
        out = [f for h in self.hypotheses if h.table is not None for f in h.table.rows(h.hypothesis, h.states)]
        out.sort(key=lambda f: (f.as_of, f.hypothesis, f.run_id))
        return out

    def calibrations(self) -> dict[str, Calibration]:
        """hypothesis -> calibration, for the hypotheses with a resolved forecast (the diagram's series)."""
        return {h.hypothesis: h.calibration for h in self.hypotheses if h.resolved}


@dataclass(frozen=True)
class _Runs:
    """The selected runs in order: ids, kinds, as-of dates (and their ordinals and horizon ends)."""

    index: Mapping[str, int]
    ids: list[str]
    kinds: list[str]
    days: list[dt.date]
    start: npt.NDArray[np.int64]  # as-of ordinals
    end: npt.NDArray[np.int64]  # horizon-end ordinals
    ends: list[dt.date]


def _select(rows: Sequence[tuple[str, str, str, str]], horizon: int) -> _Runs:
    """Runs in as-of order; backfill points one per as-of date, the last recorded (rows come
    ordered by as-of, recording time, run id)."""
    chosen: dict[str, tuple[str, str]] = {}
    backfill_at: dict[str, str] = {}
    for run_id, kind, as_of, _recorded in rows:
        if kind == "backfill":
            held = backfill_at.get(as_of)
            if held is not None:
                del chosen[held]
            backfill_at[as_of] = run_id
        chosen[run_id] = (kind, as_of)
    order = sorted(chosen.items(), key=lambda kv: (kv[1][1], kv[0]))
    dates: dict[str, tuple[dt.date, dt.date]] = {}
    for _, (_, as_of) in order:
        if as_of not in dates:
            d = dt.date.fromisoformat(as_of)
            dates[as_of] = (d, add_months(d, horizon))
    days = [dates[a][0] for _, (_, a) in order]
    ends = [dates[a][1] for _, (_, a) in order]
    return _Runs(
        index={rid: i for i, (rid, _) in enumerate(order)},
        ids=[rid for rid, _ in order],
        kinds=[k for _, (k, _) in order],
        days=days,
        start=np.fromiter((d.toordinal() for d in days), dtype=np.int64, count=len(days)),
        end=np.fromiter((d.toordinal() for d in ends), dtype=np.int64, count=len(ends)),
        ends=ends,
    )


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
    priors_hashes: Sequence[str] | None = None,
) -> TrackRecord:
    """Score the selected recorded forecasts (module doc) against the resolutions in force.
    `known_at` limits the resolutions and their retractions to those recorded before it (a brief).
    `priors_hashes`: the backfill's priors (one per panel round in force, MODEL.md §7; default
    `priors.hash`)."""
    horizon = priors.horizon_months
    stored = list_resolutions(store, hypothesis=hypothesis, include_retracted=True, known_at=known_at)
    in_force = tuple(e for e in stored if not e.retracted)
    rows: list[tuple[str, str, str, str]] = []
    if "update" in kinds:
        rows += forecast_runs(store, kinds=("update",), evidence=STORE_EVIDENCE, since=since, until=until)
    if "backfill" in kinds:
        rows += sorted((
            row for h in dict.fromkeys(priors_hashes or (priors.hash,))
            for row in forecast_runs(store, kinds=("backfill",), evidence=STORE_EVIDENCE, since=since, until=until, priors_hash=h)
        ), key=lambda r: (r[2], r[3], r[0]))
    runs = _select(rows, horizon)
    nodes = [h for h in priors.hypotheses if hypothesis is None or h.id == hypothesis]
    shape = {h.id: tuple(h.states) for h in nodes}
    recorded = (
        forecast_states(store, shape, kinds=tuple(kinds), evidence=STORE_EVIDENCE, since=since, until=until)
        if runs.ids
        else []
    )
    # The runs in as-of order, and their numbers as one array (None, for a state not recorded: NaN).
    where = np.fromiter((runs.index.get(r[0], -1) for r in recorded), dtype=np.intp, count=len(recorded))
    width = sum(1 + 2 * len(s) for s in shape.values())
    nums = np.asarray([r[1:] for r in recorded], dtype=np.float64).reshape(len(recorded), width)
    chosen = where >= 0
    where, nums = where[chosen], nums[chosen]
    order = np.argsort(where, kind="stable")
    where, nums = where[order], nums[order]
    records = []
    col = 0
    for node in nodes:
        k = len(node.states)
        mine = [e for e in in_force if e.resolution.hypothesis == node.id and e.resolution.state in node.states]
        records.append(_score_hypothesis(node, runs, where, nums[:, col : col + 1 + 2 * k], mine, bins))
        col += 1 + 2 * k
    return TrackRecord(
        horizon_months=horizon,
        bins=bins,
        kinds=tuple(kinds),
        since=since,
        until=until,
        resolutions=in_force,
        retracted=len(stored) - len(in_force),
        hypotheses=tuple(records),
    )


def _score_hypothesis(
    node: HypothesisNode,
    runs: _Runs,
    where: npt.NDArray[np.intp],
    nums: FloatArray,
    resolutions: Sequence[StoredResolution],
    bins: int,
) -> HypothesisRecord:
    """`where[i]`: run i's place in `runs`; `nums[i]`: states recorded for this hypothesis, K priors, K posteriors."""
    hid, states, ordered = node.id, tuple(node.states), node.ordered
    k = len(states)
    recorded = nums[:, 0] > 0
    where, nums = where[recorded], nums[recorded]
    q_all = np.clip(nums[:, 1 : 1 + k], 0.0, 1.0)
    p_all = np.clip(nums[:, 1 + k :], 0.0, 1.0)
    # A run recorded with other states for this hypothesis (older priors), or a damaged row: not scored.
    valid = (
        (nums[:, 0] == k) & np.isfinite(p_all).all(axis=1) & np.isfinite(q_all).all(axis=1)
        & (p_all.sum(axis=1) > 0) & (q_all.sum(axis=1) > 0)
    )
    skipped = int((~valid).sum())
    where, p_all, q_all = where[valid], p_all[valid], q_all[valid]
    n_all = len(where)
    outcome = np.full(n_all, -1, dtype=np.intp)
    used_by = np.full(n_all, -1, dtype=np.intp)
    start, end = runs.start[where], runs.end[where]
    for j, e in enumerate(resolutions):
        r = e.resolution
        hit = (outcome < 0) & (start >= r.start.toordinal()) & (end <= r.end.toordinal())
        outcome[hit] = states.index(r.state)
        used_by[hit] = j
    m = outcome >= 0
    n = int(m.sum())
    p, q, o = p_all[m], q_all[m], outcome[m]
    # Renormalised: the record's float noise must not make analysis.scores refuse a row.
    if n:
        p /= p.sum(axis=1, keepdims=True)
        q /= q.sum(axis=1, keepdims=True)
    summary = score_summary(p, q, o, ordered=ordered)
    cal = calibration(p, o, bins, states=states)
    table = None
    counts: dict[str, int] = {}
    used: tuple[str, ...] = ()
    first = last = None
    if n:
        scores: dict[str, FloatArray] = {
            "brier": brier(p, o), "log": log_score(p, o), "baseline": baseline_score(p, o),
            "prior_brier": brier(q, o), "prior_log": log_score(q, o), "prior_baseline": baseline_score(q, o),
        }
        if ordered:
            scores["rps"], scores["prior_rps"] = rps(p, o), rps(q, o)
        idx = where[m].tolist()
        res_ids = [resolutions[j].id for j in used_by[m].tolist()]
        kinds = [runs.kinds[i] for i in idx]
        for kind in kinds:
            counts[kind] = counts.get(kind, 0) + 1
        table = ScoredTable(
            run_ids=tuple(runs.ids[i] for i in idx), kinds=tuple(kinds), as_of=tuple(runs.days[i] for i in idx),
            horizon_end=tuple(runs.ends[i] for i in idx), resolution_ids=tuple(res_ids), observed=o,
            forecast=p, prior=q, scores=scores,
        )
        used = tuple(sorted(set(res_ids)))
        first, last = runs.days[idx[0]], runs.days[idx[-1]]
    return HypothesisRecord(
        hypothesis=hid,
        question=node.question,
        states=states,
        ordered=ordered,
        forecasts=n_all,
        pending=n_all - n,
        summary=summary,
        calibration=cal,
        kinds=dict(sorted(counts.items())),
        first=first,
        last=last,
        resolutions=used,
        skipped=skipped,
        table=table,
    )


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
    hashes: tuple[str, ...] | None = None
    if backfill:
        from forecaster.inference.settings import DEFAULT_SEED
        from forecaster.workflow.backfill import backfill_weekly

        done = backfill_weekly(ws, priors, until=today or dt.date.today(), seed=DEFAULT_SEED)
        points, added, hashes = done.points, done.added, done.priors_hashes or None
    with EventStore(ws.db) as store:
        record = track_record(
            store, priors, hypothesis=hypothesis, since=since,
            kinds=KINDS_BACKFILL if backfill else KINDS_DEFAULT, bins=bins, priors_hashes=hashes,
        )
    return ScoreJob(record, points, added)


__all__ = [
    "HypothesisRecord",
    "ScoreJob",
    "ScoredForecast",
    "ScoredTable",
    "TrackRecord",
    "add_months",
    "score_workspace",
    "track_record",
]
