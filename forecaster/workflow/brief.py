"""The weekly brief (issue 4): the forecast for a period as Markdown, HTML and JSON.

`build_brief` computes a frozen `Brief` from a recorded run and the store (headline, what
changed and why, what to watch, the trend, provenance); the renderers below it only format.
The same store, run and output folder give the same bytes: nothing in a brief comes from the
clock (dates are the run's as-of date and the period; no durations), the chart is drawn with a
fixed style, size, font and no PNG metadata, and the JSON keeps a fixed key order.

Readings the issue leaves open, stated once:

- **Period**: `week` is the ISO week holding the as-of date (default today), up to that date;
  `last-week` is the whole ISO week before it (for a Monday-morning cron job). `--since/--until`
  give any range; a brief is named by ISO week (`2026-W47`) when its range lies in one week and
  starts on its Monday, else `SINCE_UNTIL`.
- **Baseline of "what changed"** and the **clock** (knowledge or event time) it is compared on:
  forecaster.workflow.baseline (like is compared with like).
- **What drove a change** (MODEL.md §5, exact engine): for each indicator whose reports differ
  from the baseline's, the posterior now minus the posterior with that indicator's reports put
  back as they were at the baseline.
- **What to watch** (MODEL.md §5, exact engine, `forecaster.inference.voi` as `forecast collect` uses it):
  indicators with no report in the evidence window, ranked by the mutual information (bits)
  between a hypothetical report at grade B2 and all hypotheses jointly, given the evidence so far;
  with the expected probability mass it would move (total variation) on the hypothesis it moves
  most, and the state a report that it occurred would move most.
- **Trend**: one point per as-of date over the 12 weeks to the as-of date, from the runs in the
  store (updates and backfill points on the store's reports); where several runs share a date, the
  brief's own run, then one on the current priors, then an update over a backfill point, then a
  sampled run, then the newest. Sampled runs draw their 90 % interval as a band.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forecaster import __version__
from forecaster.workflow.baseline import SCHEMA as SCHEMA  # re-exported: the brief's JSON schema
from forecaster.workflow.baseline import (
    STORE_EVIDENCE,
    Baseline,
    Clock,
    baseline_for,
)
from forecaster.workflow.baseline import choose_clock as choose_clock
from forecaster.workflow.baseline import previous_brief as previous_brief
from forecaster.workflow.period import Alert, Period
from forecaster.workflow.trend import TREND_MIN_RECORDED, TREND_WEEKS, TrendPoint, recorded_trend, with_replays
from forecaster.workflow.trend import trend_caption as trend_caption

if TYPE_CHECKING:
    from forecaster.inference.update import UpdateResult
    from forecaster.model.network import Network
    from forecaster.model.priors import Priors
    from forecaster.store.events import EventStore
    from forecaster.store.records import StoredReport
    from forecaster.workflow.robustness import BriefRobustness
    from forecaster.workflow.track_record import TrackRecord


WATCH_TOP = 8
WATCH_GRADE = ("B", 2)
DRIVERS_TOP = 10
STALE_TEMP_S = 600
SUFFIXES = (".png", ".md", ".html", ".json")  # written in this order: the JSON (read as "the previous brief") last


# ---------------------------------------------------------------------------------------------
# The brief as data
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Headline:
    hypothesis: str
    question: str
    state: str
    definition: str
    posterior: float
    interval: tuple[float, float] | None
    term: str | None  # None outside the ICD 203 scale
    sentence: str
    claimed: bool


@dataclass(frozen=True)
class Change:
    hypothesis: str
    state: str
    before: float
    after: float

    @property
    def delta(self) -> float:
        return self.after - self.before


@dataclass(frozen=True)
class Driver:
    indicator: str
    name: str
    new: int  # reports on it that the baseline did not use
    dropped: int  # reports the baseline used and this run does not
    shift: Mapping[str, Mapping[str, float]]

    @property
    def largest(self) -> tuple[str, str, float]:
        return max(
            ((h, s, v) for h, d in self.shift.items() for s, v in d.items()),
            key=lambda x: abs(x[2]),
            default=("", "", 0.0),
        )


@dataclass(frozen=True)
class ReportItem:
    id: str
    indicator: str
    date: dt.date
    occurred: bool
    grade: str
    source: str
    url: str
    note: str
    analyst: str
    reason: str = ""  # a retraction's reason
    retracted_by: str = ""


@dataclass(frozen=True)
class WatchItem:
    indicator: str
    name: str
    definition: str
    bits: float  # I(all hypotheses; report | evidence)
    bits_by_hypothesis: Mapping[str, float]
    expected_shift: float  # expected total-variation shift of `shift_hypothesis`, the hypothesis it moves most
    shift_hypothesis: str
    shift_state: str  # the state of it that a report saying "occurred" moves most
    shift_delta: float = 0.0  # how a report that it occurred would move `shift_state` (signed, probability)


@dataclass(frozen=True)
class AlertResult:
    alert: Alert
    value: float

    @property
    def fired(self) -> bool:
        return self.alert.fires(self.value)


@dataclass(frozen=True)
class Brief:
    period: Period
    result: UpdateResult
    stale: bool
    hypotheses: tuple[tuple[str, tuple[str, ...]], ...]
    headline: tuple[Headline, ...]
    baseline: Baseline
    changes: tuple[Change, ...]
    priors_changed: bool
    drivers: tuple[Driver, ...]
    new_reports: tuple[ReportItem, ...]
    retracted_reports: tuple[ReportItem, ...]
    left_window: tuple[ReportItem, ...]
    watch: tuple[WatchItem, ...]
    unreported: int
    trend: tuple[TrendPoint, ...]
    trend_since: dt.date
    alerts: tuple[AlertResult, ...]
    provenance: Mapping[str, Any] = field(default_factory=dict)
    track_record: TrackRecord | None = None  # only when a resolution was in force by the period's end
    clock: Clock = field(default_factory=Clock)
    horizon_months: int = 12
    illustrative: str = ""  # the panel statement (network.yaml `illustrative`, else the experts')
    bottom_line: str = ""
    robustness: BriefRobustness | None = None  # "How robust is the call" (forecaster.workflow.robustness)

    @property
    def horizon(self) -> str:
        """'over the 12 months after 2026-11-22': what the forecast is about (the priors' horizon)."""
        months = f"{self.horizon_months} month{'s' if self.horizon_months != 1 else ''}"
        return f"over the {months} after {self.result.as_of.isoformat()}"

    @property
    def fired(self) -> tuple[AlertResult, ...]:
        return tuple(a for a in self.alerts if a.fired)


# ---------------------------------------------------------------------------------------------
# Words and numbers
# ---------------------------------------------------------------------------------------------


def alert_pct(value: float, threshold: float) -> str:
    """An alert's posterior with the precision that shows why it fired: the fewest decimals (up to
    three) at which it no longer reads as its threshold ("10.4 %" against 10 %, not "10 %")."""
    for decimals in range(3):
        if round(100 * value, decimals) != round(100 * threshold, decimals):
            return f"{100 * value:.{decimals}f} %"
    return f"{100 * value:.3f} %"


def threshold_pct(threshold: float) -> str:
    """An alert's threshold as the analyst wrote it (10 %, 12.5 %)."""
    return f"{100 * threshold:g} %"


def pct(p: float) -> str:
    """72 % style; the ends say <1 % and >99 % rather than a misleading 0 % or 100 %."""
    if p < 0.005:
        return "<1 %"
    if p > 0.995:
        return ">99 %"
    return f"{100 * p:.0f} %"


def interval_pct(lo: float, hi: float) -> str:
    return f"{100 * lo:.0f}–{100 * hi:.0f} %"


def pp(x: float) -> str:
    v = 100 * x
    return "0.0" if abs(v) < 0.05 else f"{v:+.1f}"


def moved(x: float) -> str:
    """A signed change in points with an arrow, so the direction reads without colour: ▲ +1.2, ▼ -0.4, · 0.0."""
    text = pp(x)
    return ("▲ " if text.startswith("+") else "▼ " if text.startswith("-") else "· ") + text


def words(identifier: str) -> str:
    return identifier.replace("_", " ")


def icd_sentence(term: str | None, p: float, interval: tuple[float, float] | None, hypothesis: str, state: str) -> str:
    """'It is likely (72 %, 61–80 %) that escalation is grey zone.' (ICD 203 wording: a term that
    names a chance reads 'There is …'). Outside the scale (no term): 'It is > 99 % (…) that …,
    outside the ICD 203 scale.'"""
    numbers = pct(p) if interval is None else f"{pct(p)}, {interval_pct(*interval)}"
    if term is None:
        side = "< 1 %" if p < 0.5 else "> 99 %"
        return f"It is {side} ({numbers}), outside the ICD 203 scale, that {words(hypothesis)} is {words(state)}."
    if term.endswith("chance"):
        article = "" if term.startswith("almost no") else "a "
        lead = f"There is {article}{term}"
    else:
        lead = f"It is {term}"
    return f"{lead} ({numbers}) that {words(hypothesis)} is {words(state)}."


# ---------------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------------


def build_brief(
    store: EventStore,
    priors: Priors,
    result: UpdateResult,
    *,
    period: Period,
    alerts: Sequence[Alert] = (),
    previous_briefs: Path | None = None,
    stale: bool = False,
    netcdf: str | None = None,
    clock: Clock | None = None,
) -> Brief:
    """Everything the brief says, computed (exact engine for drivers and value of information)."""
    from forecaster.model.network import build_network
    from forecaster.workflow.panel import for_brief
    from forecaster.workflow.robustness import brief_robustness

    panel = for_brief(store, priors, result.as_of)  # the panel round and weights in force (MODEL.md §7)
    priors = panel.priors
    net = build_network(priors)
    headline = _headline(result, priors)
    clock = clock or Clock()
    baseline = baseline_for(store, result, period, previous_briefs, clock, priors, net)
    changes = _changes(result, baseline)
    seen = _reports_seen(store, result, baseline, period)
    touched = sorted(
        {seen.stored[i].report.indicator for i in (seen.current ^ seen.before) if i in seen.stored}
        & set(net.indicator_ids)
    )
    drivers = _drivers(
        net, priors, seen.current_reports, seen.baseline_reports, touched, seen.current, seen.before, as_of=result.as_of
    )
    watch, unreported = _watch(net, priors, seen.current_reports, as_of=result.as_of)
    trend_since, trend = _trend(store, net, priors, clock, result)
    posts = result.posteriors()
    alert_results = tuple(AlertResult(a, posts[a.hypothesis][a.state]) for a in alerts)
    provenance = _provenance(result, priors, netcdf=netcdf, stale=stale, clock=clock.name)
    if panel.record:  # a panel round in force, or performance weights (MODEL.md §7)
        provenance["panel"] = panel.record
    summary = bottom_line(
        f"Over the {priors.horizon_months} month{'s' if priors.horizon_months != 1 else ''} after "
        f"{result.as_of.isoformat()}",
        headline,
        changes,
        baseline.label,
        drivers,
        new=len(seen.new),
        retracted=len(seen.retracted),
        fired=sum(1 for a in alert_results if a.fired),
        stale=stale,
    )
    return Brief(
        period=period,
        result=result,
        stale=stale,
        hypotheses=tuple((h.id, tuple(s.id for s in h.states)) for h in result.hypotheses),
        headline=tuple(headline),
        baseline=baseline,
        changes=changes,
        priors_changed=baseline.priors_hash is not None and baseline.priors_hash != result.priors_hash,
        drivers=drivers,
        new_reports=tuple(_item(e) for e in seen.new),
        retracted_reports=tuple(_item(e) for e in seen.retracted),
        left_window=tuple(_item(e) for e in seen.left),
        watch=watch,
        unreported=unreported,
        trend=trend,
        trend_since=trend_since,
        alerts=alert_results,
        provenance=provenance,
        clock=clock,
        horizon_months=priors.horizon_months,
        illustrative=panel_statement(priors),
        bottom_line=summary,
        track_record=_track_record(store, priors, result.as_of, seen.cutoff, panel.hashes),
        robustness=brief_robustness(priors, result, seen.current_reports, previous_briefs=previous_briefs,
                                    before=period.since, clock=clock.name),
    )


def _changes(result: UpdateResult, baseline: Baseline) -> tuple[Change, ...]:
    """Every state's posterior against the baseline's (the prior where the baseline has none)."""
    return tuple(
        Change(h.id, s.id, baseline.posteriors.get(h.id, {}).get(s.id, s.prior), s.posterior)
        for h in result.hypotheses
        for s in h.states
    )


def _headline(result: UpdateResult, priors: Priors) -> list[Headline]:
    """Each hypothesis' most likely state, with its definition and its ICD 203 sentence."""
    hyp_nodes = {h.id: h for h in priors.hypotheses}
    headline = []
    for h in result.hypotheses:
        s = h.most_likely
        node = hyp_nodes.get(h.id)
        definition = ""
        if node is not None and s.id in node.states:
            definition = node.definitions[node.states.index(s.id)]
        iv = None if s.interval[0] != s.interval[0] else s.interval
        headline.append(
            Headline(
                h.id,
                node.question if node else "",
                s.id,
                definition,
                s.posterior,
                iv,
                s.term,
                icd_sentence(s.term, s.posterior, iv, h.id, s.id),
                s.claimed,
            )
        )
    return headline


@dataclass(frozen=True)
class _Seen:
    """The reports either run could have used, and how the period changed them."""

    stored: dict[str, StoredReport]
    current: set[str]
    before: set[str]
    new: list[StoredReport]
    left: list[StoredReport]
    retracted: list[StoredReport]
    current_reports: list[Any]
    baseline_reports: list[Any]
    cutoff: dt.datetime


def _reports_seen(store: EventStore, result: UpdateResult, baseline: Baseline, period: Period) -> _Seen:
    """Only the reports either run could have used (event dates in the earlier of the two windows
    onward), not the whole store: a store may hold 100,000 reports."""
    span = result.as_of - result.window[0]
    earliest = min(result.window[0], (baseline.as_of or result.as_of) - span)
    stored = {
        e.report.id: e for e in store.list(since=earliest, include_retracted=True, newest_first=False) if e.report.id
    }
    current = set(result.report_ids)
    before = set(baseline.report_ids)
    cutoff = dt.datetime.combine(period.until + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    start = dt.datetime.combine(period.since, dt.time(), tzinfo=dt.UTC)
    retracted = sorted(
        (e for e in stored.values() if e.retraction is not None and start <= e.retraction.retracted_at < cutoff),
        key=lambda e: (e.report.date, e.report.id or ""),
    )
    retracted_ids = {e.report.id for e in retracted}

    def by_date(ids: Iterable[str]) -> list[StoredReport]:
        return sorted((stored[i] for i in ids if i in stored), key=lambda e: (e.report.date, e.report.id or ""))

    return _Seen(
        stored,
        current,
        before,
        new=by_date(current - before),
        left=by_date(before - current - retracted_ids),
        retracted=retracted,
        current_reports=[stored[i].report for i in sorted(current) if i in stored],
        baseline_reports=[stored[i].report for i in sorted(before) if i in stored],
        cutoff=cutoff,
    )


def _trend(
    store: EventStore, net: Network, priors: Priors, clock: Clock, result: UpdateResult
) -> tuple[dt.date, tuple[TrendPoint, ...]]:
    """The trend's first date and points: recorded runs, with weekly replays where too few are recorded."""
    from forecaster.store import runs

    trend_since = result.as_of - dt.timedelta(weeks=TREND_WEEKS)
    records = runs.list_runs(
        store, evidence=STORE_EVIDENCE, since=trend_since + dt.timedelta(days=1), until=result.as_of
    )
    trend = recorded_trend(records, result, priors.hash)
    if len(trend) < TREND_MIN_RECORDED:
        trend = with_replays(trend, store, net, priors, clock, since=trend_since, until=result.as_of)
    return trend_since, trend


def _provenance(result: UpdateResult, priors: Priors, *, netcdf: str | None, stale: bool, clock: str) -> dict[str, Any]:
    """Which run, inputs, settings and versions the brief was made from."""
    d = result.diagnostics
    return {
        "run_id": result.run_id,
        "as_of": result.as_of.isoformat(),
        "window": [result.window[0].isoformat(), result.window[1].isoformat()],
        "priors": priors.name,
        "priors_hash": result.priors_hash,
        "events_hash": result.events_hash,
        "settings_hash": result.settings_hash,
        "seed": result.seed,
        "reports": len(result.report_ids),
        "report_ids": list(result.report_ids),
        "sampler": d.sampler,
        "chains": d.chains,
        "draws": d.draws,
        "tune": d.tune,
        "r_hat_max": None if d.r_hat_max is None or d.r_hat_max != d.r_hat_max else round(d.r_hat_max, 4),
        "ess_min": None if d.ess_min is None or d.ess_min != d.ess_min else round(d.ess_min, 1),
        "divergences": d.divergences,
        "warnings": list(d.warnings),
        "run_version": result.version,
        "version": __version__,
        "netcdf": netcdf,
        "stale": stale,
        "clock": clock,
    }


def _track_record(
    store: EventStore, priors: Priors, as_of: dt.date, known_at: dt.datetime, hashes: Sequence[str] = ()
) -> TrackRecord | None:
    """Scores to date (forecaster.workflow.track_record): recorded updates and back-test points as of
    `as_of` or earlier, against the resolutions recorded (and not retracted) by the period's end."""
    from forecaster.store.resolutions import has_resolutions
    from forecaster.workflow.track_record import KINDS_BACKFILL, track_record

    if not has_resolutions(store):
        return None
    tr = track_record(store, priors, until=as_of, kinds=KINDS_BACKFILL, known_at=known_at, priors_hashes=hashes or None)
    return tr if tr.resolutions else None


def panel_statement(priors: Priors) -> str:
    """The illustrative-panel statement: network.yaml `illustrative`, else each expert's own (once)."""
    if priors.illustrative.strip():
        return " ".join(priors.illustrative.split())
    own = dict.fromkeys(" ".join(e.illustrative.split()) for e in priors.experts if e.illustrative.strip())
    return " ".join(own)


def bottom_line(
    lead: str,
    headline: Sequence[Headline],
    changes: Sequence[Change],
    since: str,
    drivers: Sequence[Driver],
    *,
    new: int,
    retracted: int,
    fired: int,
    stale: bool,
) -> str:
    """One paragraph: the most likely state of each hypothesis, the largest move and what drove it,
    the period's reports and alerts."""
    said = "; ".join(h.sentence[:1].lower() + h.sentence[1:].rstrip(".") for h in headline)
    parts = [f"{lead}, {said}." if said else f"{lead}: no hypothesis."]
    top = max(changes, key=lambda c: (abs(c.delta), c.hypothesis, c.state), default=None)
    if top is None or abs(top.delta) < 0.005:
        parts.append(f"Nothing moved by half a percentage point or more since {since}.")
    else:
        move = (
            f"The largest move since {since} is {top.hypothesis}.{top.state}, "
            f"{pp(top.delta)} pp ({pct(top.before)} to {pct(top.after)})"
        )
        if drivers:
            move += f", driven most by {drivers[0].name or words(drivers[0].indicator)}"
        parts.append(move + ".")
    counts = (
        f"{new} new report{'s' if new != 1 else ''} and {retracted} retraction{'s' if retracted != 1 else ''} "
        "in the period"
    )
    if fired:
        counts += f"; {fired} alert{'s' if fired != 1 else ''} fired"
    parts.append(counts[:1].upper() + counts[1:] + ".")
    if stale:
        parts.append("The run is stale: the inputs changed since it was recorded.")
    return " ".join(parts)


def _item(entry: StoredReport) -> ReportItem:
    r, t = entry.report, entry.retraction
    return ReportItem(
        r.id or "",
        r.indicator,
        r.date,
        r.occurred,
        r.grade,
        r.source,
        r.url,
        r.note,
        r.analyst,
        t.reason if t else "",
        t.retracted_by if t else "",
    )


def _drivers(
    net: Network,
    priors: Priors,
    current: list[Any],
    baseline: list[Any],
    touched: list[str],
    current_ids: set[str],
    baseline_ids: set[str],
    *,
    as_of: dt.date | None = None,
) -> tuple[Driver, ...]:
    """For each indicator whose reports changed: posterior now minus posterior with its reports as at the baseline."""
    if not touched:
        return ()
    import numpy as np

    from forecaster.inference.exact import posterior_batch

    # both sides aged to the brief's as-of date: a driver is a change of reports, not of their age
    lam = net.log_lambda(priors.fold(current, as_of=as_of))
    pos = {k: i for i, k in enumerate(net.indicator_ids)}
    names = {i.id: i.name for i in priors.indicators}
    rows = [lam]
    for ind in touched:
        swapped = lam.copy()
        swapped[pos[ind]] = net.log_lambda(priors.fold([r for r in baseline if r.indicator == ind], as_of=as_of))[pos[ind]]
        rows.append(swapped)
    margs, _ = posterior_batch(net, np.stack(rows))  # row 0 now, then each indicator as at the baseline
    now = [m[0] for m in margs]
    out = []
    for i, ind in enumerate(touched, 1):
        then = [m[i] for m in margs]
        shift = {
            hid: {sid: float(now[h][k] - then[h][k]) for k, sid in enumerate(net.states[h])}
            for h, hid in enumerate(net.hypothesis_ids)
        }
        new = sum(1 for r in current if r.indicator == ind and r.id not in baseline_ids)
        dropped = sum(1 for r in baseline if r.indicator == ind and r.id not in current_ids)
        out.append(Driver(ind, names.get(ind, ind), new, dropped, shift))
    out.sort(key=lambda d: (-abs(d.largest[2]), d.indicator))
    return tuple(out[:DRIVERS_TOP])


def _watch(net: Network, priors: Priors, reports: Iterable[Any], *, as_of: dt.date | None = None) -> tuple[tuple[WatchItem, ...], int]:
    """The unreported indicators ranked as `forecast collect` ranks them (forecaster.inference.voi): by the
    information a report at grade B2 would give about all hypotheses jointly."""
    from forecaster.inference.voi import information_values

    lam = net.log_lambda(priors.fold(reports, as_of=as_of))
    values = information_values(net, lam, accuracy=priors.grades.accuracy(*WATCH_GRADE))
    nodes = {i.id: i for i in priors.indicators}
    items = []
    for v in values:
        moved = max(v.expected_shift, key=lambda h: (v.expected_shift[h], h))
        _, state, if_yes, _ = v.largest_shift(moved)
        node = nodes[v.indicator]
        items.append(
            WatchItem(
                v.indicator,
                node.name,
                node.definition,
                v.bits_joint,
                dict(v.bits),
                v.expected_shift[moved],
                moved,
                state,
                if_yes,
            )
        )
    items.sort(key=lambda w: (-w.bits, w.indicator))
    return tuple(items[:WATCH_TOP]), len(values)
