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
- **Baseline of "what changed"**: the newest earlier brief in the output folder (its JSON, whose
  period ended before this one began); else the last run recorded before the period (an update or
  a backfill point); else the prior (no evidence).
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

import base64
import datetime as dt
import io
import json
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forecaster import __version__
from forecaster.core.atomic import write_bytes_atomic
from forecaster.core.errors import ForecastError, UsageError, did_you_mean

if TYPE_CHECKING:
    from forecaster.core.workspace import Workspace
    from forecaster.inference.update import UpdateResult
    from forecaster.model.network import Network
    from forecaster.model.priors import Priors
    from forecaster.store.events import EventStore, StoredReport
    from forecaster.store.runs import RunRecord

SCHEMA = "forecast-brief/1"
TREND_WEEKS = 12
WATCH_TOP = 8
WATCH_GRADE = ("B", 2)
DRIVERS_TOP = 10
STALE_TEMP_S = 600
# Runs on the store's reports (and those moved in from the JSON-file log), not replays of --events files.
STORE_EVIDENCE = ("store", "store-event-time", "unknown")
SUFFIXES = (".png", ".md", ".html", ".json")  # written in this order: the JSON (read as "the previous brief") last


# ---------------------------------------------------------------------------------------------
# Period and alerts
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    since: dt.date
    until: dt.date
    name: str

    @property
    def label(self) -> str:
        span = f"{_long_date(self.since)} – {_long_date(self.until)}"
        if "-W" in self.name:
            year, week = self.name.split("-W")
            return f"week {int(week)} of {year} ({span})"
        return span


def _long_date(d: dt.date) -> str:
    return f"{d.day} {d.strftime('%B')} {d.year}"  # English month names: strftime under the C locale


def period_name(since: dt.date, until: dt.date) -> str:
    monday = until - dt.timedelta(days=until.weekday())
    if since == monday:
        year, week, _ = until.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{since.isoformat()}_{until.isoformat()}"


def period_for(
    *, period: str = "week", since: dt.date | None = None, until: dt.date | None = None, today: dt.date | None = None
) -> Period:
    """The brief's period (see the module doc); UsageError for a bad combination."""
    today = today or dt.date.today()
    if period not in ("week", "last-week"):
        raise UsageError(
            f"--period {period!r}: expected week or last-week{did_you_mean(period, ('week', 'last-week'))}"
        )
    if period == "last-week":
        if since is not None or until is not None:
            raise UsageError("--period last-week fixes the dates; leave out --since and --until")
        end = today - dt.timedelta(days=today.weekday() + 1)
        return Period(end - dt.timedelta(days=6), end, period_name(end - dt.timedelta(days=6), end))
    end = until or today
    if end > today:
        raise UsageError(f"--until {end.isoformat()} lies in the future (today is {today.isoformat()})")
    start = since or end - dt.timedelta(days=end.weekday())
    if start > end:
        raise UsageError(f"--since {start.isoformat()} is after --until {end.isoformat()}")
    return Period(start, end, period_name(start, end))


_ALERT = re.compile(r"^\s*([A-Za-z][\w]*)\.([A-Za-z][\w]*)\s*(>=|<=|>|<)\s*([0-9]*\.?[0-9]+)\s*(%?)\s*$")


@dataclass(frozen=True)
class Alert:
    """`hypothesis.state > threshold` (or <, >=, <=) on the posterior."""

    rule: str
    hypothesis: str
    state: str
    op: str
    threshold: float

    def fires(self, p: float) -> bool:
        return {">": p > self.threshold, "<": p < self.threshold, ">=": p >= self.threshold, "<=": p <= self.threshold}[
            self.op
        ]


def parse_alert(text: str, priors: Priors) -> Alert:
    m = _ALERT.match(text)
    if not m:
        raise UsageError(
            f"--alert {text!r}: expected HYPOTHESIS.STATE>P or <P with P a probability or a percentage, "
            'e.g. --alert "escalation.annexation>0.2"'
        )
    hyp, state, op, number, percent = m.groups()
    value = float(number) / (100 if percent else 1)
    if not 0 <= value <= 1:
        raise UsageError(f"--alert {text!r}: {number}{percent} is not a probability (0–1, or 0–100 %)")
    states = {h.id: h.states for h in priors.hypotheses}
    if hyp not in states:
        raise UsageError(f"--alert {text!r}: unknown hypothesis {hyp!r}{did_you_mean(hyp, states)}")
    if state not in states[hyp]:
        raise UsageError(
            f"--alert {text!r}: {hyp} has no state {state!r}{did_you_mean(state, states[hyp])}; "
            f"its states: {', '.join(states[hyp])}"
        )
    return Alert(f"{hyp}.{state}{op}{number}{percent}", hyp, state, op, value)


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
    term: str
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


@dataclass(frozen=True)
class TrendPoint:
    as_of: dt.date
    run_id: str
    kind: str
    sampler: str
    values: Mapping[str, Mapping[str, tuple[float, float | None, float | None]]]  # hyp -> state -> (p, low, high)


@dataclass(frozen=True)
class Baseline:
    kind: str  # "brief" | "run" | "prior"
    label: str
    run_id: str | None
    as_of: dt.date | None
    posteriors: Mapping[str, Mapping[str, float]]
    report_ids: frozenset[str]
    priors_hash: str | None


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

    @property
    def fired(self) -> tuple[AlertResult, ...]:
        return tuple(a for a in self.alerts if a.fired)


# ---------------------------------------------------------------------------------------------
# Words and numbers
# ---------------------------------------------------------------------------------------------


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


def words(identifier: str) -> str:
    return identifier.replace("_", " ")


def icd_sentence(term: str, p: float, interval: tuple[float, float] | None, hypothesis: str, state: str) -> str:
    """'It is likely (72 %, 61–80 %) that escalation is grey zone.' (ICD 203 wording: a term that
    names a chance reads 'There is …')."""
    numbers = pct(p) if interval is None else f"{pct(p)}, {interval_pct(*interval)}"
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
) -> Brief:
    """Everything the brief says, computed (exact engine for drivers and value of information)."""
    from forecaster.model.network import build_network
    from forecaster.store import runs

    net = build_network(priors)
    hyp_nodes = {h.id: h for h in priors.hypotheses}
    states = tuple((h.id, tuple(s.id for s in h.states)) for h in result.hypotheses)

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

    baseline = _baseline(store, result, period, previous_briefs)
    changes = tuple(
        Change(h.id, s.id, baseline.posteriors.get(h.id, {}).get(s.id, s.prior), s.posterior)
        for h in result.hypotheses
        for s in h.states
    )

    # Only the reports either run could have used (event dates in the earlier of the two windows
    # onward), not the whole store: a store may hold 100,000 reports.
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

    new = by_date(current - before)
    left = by_date(before - current - retracted_ids)

    current_reports = [stored[i].report for i in sorted(current) if i in stored]
    baseline_reports = [stored[i].report for i in sorted(before) if i in stored]
    touched = sorted({stored[i].report.indicator for i in (current ^ before) if i in stored} & set(net.indicator_ids))
    drivers = _drivers(net, priors, current_reports, baseline_reports, touched, current, before)
    watch, unreported = _watch(net, priors, current_reports)

    trend_since = result.as_of - dt.timedelta(weeks=TREND_WEEKS)
    records = runs.list_runs(
        store, evidence=STORE_EVIDENCE, since=trend_since + dt.timedelta(days=1), until=result.as_of
    )
    trend = _trend(records, result, priors.hash)

    posts = result.posteriors()
    alert_results = tuple(AlertResult(a, posts[a.hypothesis][a.state]) for a in alerts)
    d = result.diagnostics
    provenance: dict[str, Any] = {
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
    }
    return Brief(
        period=period,
        result=result,
        stale=stale,
        hypotheses=states,
        headline=tuple(headline),
        baseline=baseline,
        changes=changes,
        priors_changed=baseline.priors_hash is not None and baseline.priors_hash != result.priors_hash,
        drivers=drivers,
        new_reports=tuple(_item(e) for e in new),
        retracted_reports=tuple(_item(e) for e in retracted),
        left_window=tuple(_item(e) for e in left),
        watch=watch,
        unreported=unreported,
        trend=trend,
        trend_since=trend_since,
        alerts=alert_results,
        provenance=provenance,
    )


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


def _baseline(store: EventStore, result: UpdateResult, period: Period, folder: Path | None) -> Baseline:
    from forecaster.store import runs

    earlier = previous_brief(folder, before=period.since) if folder is not None else None
    if earlier is not None:
        name, data = earlier
        prov = data.get("provenance", {})
        return Baseline(
            "brief",
            f"the previous brief ({name})",
            prov.get("run_id"),
            _date(prov.get("as_of")),
            {h: {s: float(v["posterior"]) for s, v in st.items()} for h, st in data.get("posteriors", {}).items()},
            frozenset(prov.get("report_ids", [])),
            prov.get("priors_hash"),
        )
    records = runs.list_runs(store, evidence=STORE_EVIDENCE, until=period.since - dt.timedelta(days=1))
    if records:
        last = max(
            records,
            key=lambda r: (r.as_of, r.priors_hash == result.priors_hash, r.kind == "update", r.sampled, r.recorded_at),
        )
        old = runs.load_result(store, last.run_id)
        ids = frozenset(old.report_ids) if old else frozenset()
        what = "backfill point" if last.kind == "backfill" else "run"
        return Baseline(
            "run",
            f"the start of the period ({what} {last.run_id} as of {last.as_of.isoformat()})",
            last.run_id,
            last.as_of,
            last.posteriors(),
            ids,
            last.priors_hash,
        )
    priors = {h.id: {s.id: s.prior for s in h.states} for h in result.hypotheses}
    return Baseline("prior", "the prior (no run recorded before the period)", None, None, priors, frozenset(), None)


def _date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return None


def previous_brief(folder: Path, *, before: dt.date) -> tuple[str, dict[str, Any]] | None:
    """The newest brief JSON in `folder` whose period ended before `before`: (name, data)."""
    if not folder.is_dir():
        return None
    best: tuple[dt.date, str, dict[str, Any]] | None = None
    for f in sorted(folder.glob("*.json")):
        if f.name.startswith("."):
            continue
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
            until = dt.date.fromisoformat(data["period"]["until"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if not isinstance(data, dict) or data.get("schema") != SCHEMA or until >= before:
            continue
        if best is None or (until, f.stem) > (best[0], best[1]):
            best = (until, f.stem, data)
    return None if best is None else (best[1], best[2])


def _drivers(
    net: Network,
    priors: Priors,
    current: list[Any],
    baseline: list[Any],
    touched: list[str],
    current_ids: set[str],
    baseline_ids: set[str],
) -> tuple[Driver, ...]:
    """For each indicator whose reports changed: posterior now minus posterior with its reports as at the baseline."""
    if not touched:
        return ()
    from forecaster.inference.exact import joint_posterior, marginals
    from forecaster.model.evidence import fold

    lam = net.log_lambda(fold(current, priors.grades))
    now = marginals(net, joint_posterior(net, lam))
    pos = {k: i for i, k in enumerate(net.indicator_ids)}
    names = {i.id: i.name for i in priors.indicators}
    out = []
    for ind in touched:
        swapped = lam.copy()
        swapped[pos[ind]] = net.log_lambda(fold([r for r in baseline if r.indicator == ind], priors.grades))[pos[ind]]
        then = marginals(net, joint_posterior(net, swapped))
        shift = {
            hid: {sid: float(now[h][k] - then[h][k]) for k, sid in enumerate(net.states[h])}
            for h, hid in enumerate(net.hypothesis_ids)
        }
        new = sum(1 for r in current if r.indicator == ind and r.id not in baseline_ids)
        dropped = sum(1 for r in baseline if r.indicator == ind and r.id not in current_ids)
        out.append(Driver(ind, names.get(ind, ind), new, dropped, shift))
    out.sort(key=lambda d: (-abs(d.largest[2]), d.indicator))
    return tuple(out[:DRIVERS_TOP])


def _watch(net: Network, priors: Priors, reports: Iterable[Any]) -> tuple[tuple[WatchItem, ...], int]:
    """The unreported indicators ranked as `forecast collect` ranks them (forecaster.inference.voi): by the
    information a report at grade B2 would give about all hypotheses jointly."""
    from forecaster.inference.voi import information_values
    from forecaster.model.evidence import fold

    lam = net.log_lambda(fold(reports, priors.grades))
    values = information_values(net, lam, accuracy=priors.grades.accuracy(*WATCH_GRADE))
    nodes = {i.id: i for i in priors.indicators}
    items = []
    for v in values:
        moved = max(v.expected_shift, key=lambda h: (v.expected_shift[h], h))
        _, state, _, _ = v.largest_shift(moved)
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
            )
        )
    items.sort(key=lambda w: (-w.bits, w.indicator))
    return tuple(items[:WATCH_TOP]), len(values)


def _trend(records: Sequence[RunRecord], result: UpdateResult, priors_hash: str) -> tuple[TrendPoint, ...]:
    by_date: dict[dt.date, RunRecord] = {}
    for r in records:
        key = (
            r.run_id == result.run_id,
            r.priors_hash == priors_hash,
            r.kind == "update",
            r.sampled,
            r.recorded_at,
            r.run_id,
        )
        held = by_date.get(r.as_of)
        if held is None or key > (
            held.run_id == result.run_id,
            held.priors_hash == priors_hash,
            held.kind == "update",
            held.sampled,
            held.recorded_at,
            held.run_id,
        ):
            by_date[r.as_of] = r
    points = []
    for day in sorted(by_date):
        r = by_date[day]
        values: dict[str, dict[str, tuple[float, float | None, float | None]]] = {}
        for s in r.states:
            values.setdefault(s.hypothesis, {})[s.state] = (s.posterior, s.low, s.high)
        points.append(TrendPoint(day, r.run_id, r.kind, r.sampler, values))
    return tuple(points)


# ---------------------------------------------------------------------------------------------
# Rendering: chart, Markdown, HTML, JSON
# ---------------------------------------------------------------------------------------------

_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
_CHART_DPI = 100
_CHART_RC: dict[str, Any] = {
    "font.family": "DejaVu Sans",  # ships with matplotlib: the same glyphs everywhere
    "font.size": 8.0,
    "axes.titlesize": 9.0,
    "axes.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": _CHART_DPI,
    "savefig.dpi": _CHART_DPI,
    "svg.hashsalt": "forecast",
    "path.simplify": False,
}


def trend_png(brief: Brief) -> bytes:
    """The trend chart: one panel per hypothesis, a line per state, sampled intervals as bands.
    Byte-stable: Agg, fixed style, size, font and dpi, and no PNG metadata (no 'Software' line)."""
    import logging

    # Matplotlib's own warnings (e.g. an unwritable config folder under cron) would add lines to
    # the one-line stderr a cron job promises; the chart does not depend on them.
    logging.getLogger("matplotlib").setLevel(logging.ERROR)
    import matplotlib
    import matplotlib.style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import DateFormatter, WeekdayLocator
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    hyps = brief.hypotheses
    with matplotlib.style.context("default"), matplotlib.rc_context(_CHART_RC):  # type: ignore[arg-type]
        height = 1.9 * len(hyps) + 0.4
        fig = Figure(figsize=(7.2, height), dpi=_CHART_DPI)
        # Fixed margins, not a layout engine: faster, and the same picture whatever the labels.
        fig.subplots_adjust(left=0.08, right=0.80, top=1 - 0.3 / height, bottom=0.35 / height, hspace=0.45)
        FigureCanvasAgg(fig)
        axes = fig.subplots(len(hyps), 1, sharex=True, squeeze=False)[:, 0]
        xs = [p.as_of for p in brief.trend]
        for ax, (hid, states) in zip(axes, hyps, strict=True):
            for k, sid in enumerate(states):
                colour = _PALETTE[k % len(_PALETTE)]
                ys = [p.values.get(hid, {}).get(sid, (math.nan, None, None))[0] for p in brief.trend]
                lo = [_nan(p.values.get(hid, {}).get(sid, (0.0, None, None))[1]) for p in brief.trend]
                hi = [_nan(p.values.get(hid, {}).get(sid, (0.0, None, None))[2]) for p in brief.trend]
                if any(v == v for v in lo):
                    # A band between neighbouring sampled runs, and a bar on each (a lone one too).
                    ax.fill_between(xs, lo, hi, color=colour, alpha=0.18, linewidth=0)
                    banded = [(x, a, b) for x, a, b in zip(xs, lo, hi, strict=True) if a == a]
                    ax.vlines(
                        [x for x, _, _ in banded],
                        [a for _, a, _ in banded],
                        [b for _, _, b in banded],
                        color=colour,
                        alpha=0.45,
                        linewidth=2.5,
                    )
                ax.plot(xs, ys, color=colour, linewidth=1.4, marker="o", markersize=2.5, label=words(sid))
            ax.set_title(words(hid), loc="left")
            ax.set_ylim(0, 1)
            ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
            ax.grid(axis="y", color="#dddddd", linewidth=0.6)
            ax.legend(loc="center left", frameon=False, fontsize=7.5, bbox_to_anchor=(1.01, 0.5))
        last = axes[-1]
        last.set_xlim(brief.trend_since, brief.result.as_of + dt.timedelta(days=1))
        last.xaxis.set_major_locator(WeekdayLocator(byweekday=0, interval=2))
        last.xaxis.set_major_formatter(DateFormatter("%d %b"))
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=_CHART_DPI, metadata={"Software": None})
    return buf.getvalue()


def _nan(x: float | None) -> float:
    return math.nan if x is None else x


_MD_SPECIAL = re.compile(r"([\\`*\[\]|#~])")
_MD_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def md_escape(value: Any) -> str:
    """Analyst text made inert in Markdown: HTML special characters as entities (a Markdown viewer
    passes raw HTML through), Markdown punctuation backslash-escaped, line breaks as spaces."""
    from markupsafe import Markup

    if isinstance(value, Markup):
        return str(value)
    text = " ".join(str(value).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return _MD_UNDERSCORE.sub(r"\\_", text)


def _safe_url(url: str) -> str:
    """Only http(s) links become links; anything else (javascript:, data:) stays text."""
    return url if re.match(r"^https?://[^\s<>\"']+$", url.strip()) else ""


def _environment(kind: str) -> Any:
    import jinja2

    common: dict[str, Any] = {
        "loader": jinja2.PackageLoader("forecaster.outputs", "templates"),
        "undefined": jinja2.StrictUndefined,
        "keep_trailing_newline": True,
        "trim_blocks": True,
        "lstrip_blocks": True,
    }
    numbers: dict[str, Callable[..., str]] = {"pct": pct, "interval_pct": interval_pct, "pp": pp}
    if kind == "html":
        env = jinja2.Environment(autoescape=True, **common)
    else:
        # Markdown: every value passes md_escape on output, as HTML values pass autoescape. Our own
        # number formats are inert in Markdown ("<1 %" opens no tag) and stay as written.
        from markupsafe import Markup

        env = jinja2.Environment(autoescape=False, finalize=md_escape, **common)  # noqa: S701 - md_escape is the escape
        numbers = {name: _as_markup(fn, Markup) for name, fn in numbers.items()}
    env.filters.update(numbers, words=words, safe_url=_safe_url)
    return env


def _as_markup(fn: Callable[..., str], markup: Callable[[str], str]) -> Callable[..., str]:
    return lambda *a: markup(fn(*a))


def _context(brief: Brief) -> dict[str, Any]:
    r = brief.result
    posteriors = {h.id: {s.id: s for s in h.states} for h in r.hypotheses}
    return {
        "b": brief,
        "r": r,
        "posteriors": posteriors,
        "changes_by_hypothesis": [
            (hid, [c for c in brief.changes if c.hypothesis == hid]) for hid, _ in brief.hypotheses
        ],
        "provenance": brief.provenance,
    }


def render_markdown(brief: Brief, *, chart_file: str | None) -> str:
    return str(_environment("md").get_template("brief.md.j2").render(**_context(brief), chart_file=chart_file))


def render_html(brief: Brief, *, png: bytes | None) -> str:
    chart = None if png is None else "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return str(_environment("html").get_template("brief.html.j2").render(**_context(brief), chart=chart))


def _r(x: float | None, nd: int = 6) -> float | None:
    return None if x is None or x != x else round(float(x), nd)


def brief_json(brief: Brief) -> dict[str, Any]:
    r = brief.result
    return {
        "schema": SCHEMA,
        "name": brief.period.name,
        "period": {"since": brief.period.since.isoformat(), "until": brief.period.until.isoformat()},
        "as_of": r.as_of.isoformat(),
        "stale": brief.stale,
        "headline": [
            {
                "hypothesis": h.hypothesis,
                "state": h.state,
                "posterior": _r(h.posterior),
                "interval": None if h.interval is None else [_r(h.interval[0]), _r(h.interval[1])],
                "term": h.term,
                "sentence": h.sentence,
                "definition": h.definition,
            }
            for h in brief.headline
        ],
        "posteriors": {
            h.id: {
                s.id: {
                    "posterior": _r(s.posterior),
                    "low": _r(s.interval[0]),
                    "high": _r(s.interval[1]),
                    "prior": _r(s.prior),
                }
                for s in h.states
            }
            for h in r.hypotheses
        },
        "baseline": {
            "kind": brief.baseline.kind,
            "label": brief.baseline.label,
            "run_id": brief.baseline.run_id,
            "as_of": brief.baseline.as_of.isoformat() if brief.baseline.as_of else None,
            "priors_changed": brief.priors_changed,
        },
        "changes": [
            {
                "hypothesis": c.hypothesis,
                "state": c.state,
                "before": _r(c.before),
                "after": _r(c.after),
                "change": _r(c.delta),
            }
            for c in brief.changes
        ],
        "drivers": [
            {
                "indicator": d.indicator,
                "new_reports": d.new,
                "dropped_reports": d.dropped,
                "largest": {"hypothesis": d.largest[0], "state": d.largest[1], "shift": _r(d.largest[2])},
                "shift": {h: {s: _r(v) for s, v in st.items()} for h, st in d.shift.items()},
            }
            for d in brief.drivers
        ],
        "reports": {
            "new": [_report_json(i) for i in brief.new_reports],
            "retracted": [_report_json(i) for i in brief.retracted_reports],
            "left_window": [_report_json(i) for i in brief.left_window],
        },
        "watch": {
            "grade": f"{WATCH_GRADE[0]}{WATCH_GRADE[1]}",
            "unreported": brief.unreported,
            "indicators": [
                {
                    "indicator": w.indicator,
                    "bits": _r(w.bits),
                    "bits_by_hypothesis": {h: _r(v) for h, v in w.bits_by_hypothesis.items()},
                    "expected_shift": _r(w.expected_shift),
                    "hypothesis": w.shift_hypothesis,
                    "state": w.shift_state,
                }
                for w in brief.watch
            ],
        },
        "trend": [
            {
                "as_of": p.as_of.isoformat(),
                "run_id": p.run_id,
                "kind": p.kind,
                "sampler": p.sampler,
                "states": {h: {s: [_r(v[0]), _r(v[1]), _r(v[2])] for s, v in st.items()} for h, st in p.values.items()},
            }
            for p in brief.trend
        ],
        "alerts": [
            {
                "rule": a.alert.rule,
                "hypothesis": a.alert.hypothesis,
                "state": a.alert.state,
                "op": a.alert.op,
                "threshold": a.alert.threshold,
                "value": _r(a.value),
                "fired": a.fired,
            }
            for a in brief.alerts
        ],
        "provenance": dict(brief.provenance),
    }


def _report_json(i: ReportItem) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": i.id,
        "indicator": i.indicator,
        "date": i.date.isoformat(),
        "occurred": i.occurred,
        "grade": i.grade,
        "source": i.source,
        "url": i.url,
        "note": i.note,
        "analyst": i.analyst,
    }
    if i.reason:
        out.update(retraction_reason=i.reason, retracted_by=i.retracted_by)
    return out


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BriefFiles:
    folder: Path
    name: str
    paths: tuple[Path, ...]


def render_files(brief: Brief) -> dict[str, bytes]:
    """Every file of the brief, in memory, by suffix."""
    png = trend_png(brief)
    name = brief.period.name
    md = render_markdown(brief, chart_file=f"{name}.png")
    html = render_html(brief, png=png)
    data = json.dumps(brief_json(brief), indent=2, ensure_ascii=False) + "\n"
    return {".png": png, ".md": md.encode("utf-8"), ".html": html.encode("utf-8"), ".json": data.encode("utf-8")}


def write_brief(brief: Brief, folder: Path) -> BriefFiles:
    """Render everything first, then write each file atomically (temp file + rename), the JSON last:
    a killed job leaves each file old or new, never half of one."""
    files = render_files(brief)
    name = brief.period.name
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _remove_stale_temps(folder, name)
        paths = []
        for suffix in SUFFIXES:
            path = folder / f"{name}{suffix}"
            write_bytes_atomic(path, files[suffix])
            paths.append(path)
    except OSError as e:
        raise ForecastError(f"cannot write the brief to {folder}: {e.strerror or e}") from None
    return BriefFiles(folder, name, tuple(paths))


def _remove_stale_temps(folder: Path, name: str) -> None:
    """Temp files a killed brief left behind (atomic.py names them .NAME.SUFFIX.*.tmp)."""
    now = time.time()
    for suffix in SUFFIXES:
        for f in folder.glob(f".{name}{suffix}.*.tmp"):
            try:
                if now - f.stat().st_mtime > STALE_TEMP_S:
                    f.unlink()
            except FileNotFoundError:
                continue


# ---------------------------------------------------------------------------------------------
# The whole job, as `forecast brief` runs it
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MadeBrief:
    brief: Brief
    files: BriefFiles
    how: str  # "cached": the run for the current inputs was recorded; "updated": computed now; "stale": --no-update


def make_brief(
    ws: Workspace,
    priors: Priors,
    *,
    period: Period,
    alerts: Sequence[Alert] = (),
    folder: Path,
    update: bool = True,
    seed: int,
    exact: bool = False,
    sampler_kwargs: dict[str, Any] | None = None,
    on_update: Callable[[], None] | None = None,
) -> MadeBrief:
    """Find the run for the current inputs (as of the period's end), run it if it is missing
    (unless `update` is False: then the last recorded run, marked stale), build and write the brief."""
    from forecaster.store import runs
    from forecaster.store.events import EventStore
    from forecaster.workflow.updating import gather_reports, planned_run_id, update_forecast

    as_of = period.until
    reports = gather_reports(ws, priors, as_of=as_of)
    run_id = planned_run_id(priors, reports, as_of=as_of, seed=seed, exact=exact, sampler_kwargs=sampler_kwargs)
    with EventStore(ws.db_path) as store:
        result = runs.load_result(store, run_id)
        how = "cached"
        if result is None and not update:
            latest = [
                r for r in runs.list_runs(store, kinds=("update",), evidence=("store",), until=as_of, with_states=False)
            ]
            if not latest:
                raise ForecastError(
                    f"no run recorded as of {as_of.isoformat()} or earlier, and --no-update forbids one: "
                    "run `forecast update` first"
                )
            pick = max(latest, key=lambda r: (r.as_of, r.recorded_at))
            result = runs.load_result(store, pick.run_id)
            if result is None:
                raise ForecastError(f"the record of run {pick.run_id} cannot be read; run `forecast update --force`")
            how = "stale"
    if result is None:
        if on_update is not None:
            on_update()
        result, cached = update_forecast(ws, priors, as_of=as_of, seed=seed, exact=exact, sampler_kwargs=sampler_kwargs)
        how = "cached" if cached else "updated"
    with EventStore(ws.db_path) as store:
        # The brief reads the run as recorded (rounded as its JSON is), whether it was computed just
        # now or long ago: the same store gives the same bytes either way.
        result = runs.load_result(store, result.run_id) or result
        record = runs.list_runs(store, run_ids=[result.run_id], with_states=False)
        netcdf = (
            record[0].netcdf if record and record[0].netcdf and (ws.runs_dir / record[0].netcdf).is_file() else None
        )
        brief = build_brief(
            store,
            priors,
            result,
            period=period,
            alerts=alerts,
            previous_briefs=folder,
            stale=how == "stale",
            netcdf=netcdf,
        )
    return MadeBrief(brief, write_brief(brief, folder), how)
