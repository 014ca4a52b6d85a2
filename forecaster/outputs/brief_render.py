"""The weekly brief rendered: the trend chart (PNG), Markdown and HTML (Jinja2, autoescaped), JSON,
and the files written atomically; `make_brief` runs the whole job as `forecast brief` does.
Renders only: every number comes from forecaster.workflow.brief."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forecaster.core.atomic import write_bytes_atomic
from forecaster.core.errors import ForecastError
from forecaster.core.safe_cache import public_dir, public_mode
from forecaster.core.text import json_safe, neutral
from forecaster.outputs.robustness import brief_context as robustness_context
from forecaster.outputs.robustness import brief_json as robustness_json
from forecaster.workflow.baseline import SCHEMA, Clock, choose_clock
from forecaster.workflow.brief import (
    STALE_TEMP_S,
    SUFFIXES,
    WATCH_GRADE,
    Brief,
    ReportItem,
    alert_pct,
    build_brief,
    interval_pct,
    moved,
    pct,
    pp,
    threshold_pct,
    trend_caption,
    words,
)
from forecaster.workflow.period import Alert, Period

if TYPE_CHECKING:
    from forecaster.core.workspace import Workspace
    from forecaster.inference.update import UpdateResult
    from forecaster.model.priors import Priors
    from forecaster.store.events import EventStore
    from forecaster.workflow.brief import AlertResult, Driver, Headline, WatchItem
    from forecaster.workflow.trend import TrendPoint


# ---------------------------------------------------------------------------------------------
# Rendering: chart, Markdown, HTML, JSON
# ---------------------------------------------------------------------------------------------

# One colour per state across every panel (Tableau 20 order: the ten dark ones first), so a colour
# always means the same state of the same hypothesis; past 20 states colours repeat.
_PALETTE = (
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
    "#17becf", "#aec7e8", "#ff9896", "#98df8a", "#c5b0d5", "#ffbb78", "#c49c94", "#f7b6d2", "#c7c7c7",
    "#dbdb8d", "#9edae5",
)
_CHART_DPI = 100  # the house chart style's (analysis.reliability.CHART_RC, read in trend_png: it imports numpy)


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

    from forecaster.analysis.reliability import CHART_RC

    hyps = brief.hypotheses
    rc = {**CHART_RC, "svg.hashsalt": "forecast"}
    with matplotlib.style.context("default"), matplotlib.rc_context(rc):
        height = 1.9 * len(hyps) + 0.4
        fig = Figure(figsize=(7.2, height), dpi=_CHART_DPI)
        # Fixed margins, not a layout engine: faster, and the same picture whatever the labels.
        fig.subplots_adjust(left=0.08, right=0.80, top=1 - 0.3 / height, bottom=0.35 / height, hspace=0.45)
        FigureCanvasAgg(fig)
        axes = fig.subplots(len(hyps), 1, sharex=True, squeeze=False)[:, 0]
        colour = 0
        for ax, (hid, states) in zip(axes, hyps, strict=True):
            for sid in states:
                _plot_state(ax, brief, hid, sid, _PALETTE[colour % len(_PALETTE)])
                colour += 1
            _mark_baseline(ax, brief)
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


def _plot_state(ax: Any, brief: Brief, hid: str, sid: str, colour: str) -> None:
    """One state's line: recorded runs as filled dots (sampled ones with their 90 % band), exact
    replays filling a new workspace's weeks as hollow dots, and the baseline the table compares
    against as a diamond."""
    xs = [p.as_of for p in brief.trend]
    ys = [p.values.get(hid, {}).get(sid, (math.nan, None, None))[0] for p in brief.trend]
    lo = [_nan(p.values.get(hid, {}).get(sid, (0.0, None, None))[1]) for p in brief.trend]
    hi = [_nan(p.values.get(hid, {}).get(sid, (0.0, None, None))[2]) for p in brief.trend]
    if any(v == v for v in lo):
        # A band between neighbouring sampled runs, and a bar on each (a lone one too).
        ax.fill_between(xs, lo, hi, color=colour, alpha=0.18, linewidth=0)
        banded = [(x, a, b) for x, a, b in zip(xs, lo, hi, strict=True) if a == a]
        ax.vlines([x for x, _, _ in banded], [a for _, a, _ in banded], [b for _, _, b in banded],
                  color=colour, alpha=0.45, linewidth=2.5)
    ax.plot(xs, ys, color=colour, linewidth=1.4, label=words(sid))
    for replay in (False, True):
        pts = [(x, y) for x, y, p in zip(xs, ys, brief.trend, strict=True) if (p.kind == "replay") == replay]
        if pts:
            ax.plot([x for x, _ in pts], [y for _, y in pts], linestyle="none", marker="o", markersize=3,
                    color=colour, markerfacecolor="white" if replay else colour)
    before = brief.baseline.posteriors.get(hid, {}).get(sid)
    if before is not None and brief.baseline.as_of is not None:
        ax.plot([brief.baseline.as_of], [before], linestyle="none", marker="D", markersize=4.5,
                color=colour, markeredgecolor="black", markeredgewidth=0.6)


def _mark_baseline(ax: Any, brief: Brief) -> None:
    """A dotted line at the date "what changed" compares against, labelled."""
    when = brief.baseline.as_of
    if when is None or when < brief.trend_since:
        return
    ax.axvline(when, color="#555555", linestyle=":", linewidth=0.9)
    ax.annotate("compared with", (when, 1.0), xytext=(2, -2), textcoords="offset points",
                fontsize=6.5, color="#555555", va="top")


def _nan(x: float | None) -> float:
    return math.nan if x is None else x


_MD_SPECIAL = re.compile(r"([\\`*\[\]|#~])")
_MD_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
_MD_TAG = re.compile(r"<(?=[A-Za-z/!?])")  # what could open raw HTML or an autolink
_MD_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")  # what a viewer would read as a character reference


def md_escape(value: Any) -> str:
    """Analyst text made inert in Markdown by Markdown's own escapes, not HTML's: the brief is read
    as plain text in a mail body too, where `&amp;` or `&gt;` would show as such. A `<` that could
    open a tag and an `&` that could start an entity are backslash-escaped (`\\<b>` shows as `<b>`
    in a viewer and passes no HTML through), as is Markdown punctuation; line breaks become spaces."""
    from markupsafe import Markup

    if isinstance(value, Markup):
        return str(value)
    text = neutral(" ".join(str(value).split()), newlines=False)  # no ESC/OSC/CR reaches a mail reader
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = _MD_TAG.sub(r"\\<", text)
    text = _MD_ENTITY.sub(r"\\&", text)
    if text.startswith(">"):  # a block quote, were the value to start a line
        text = "\\" + text
    return _MD_UNDERSCORE.sub(r"\\_", text)


def _html_neutral(value: Any) -> Any:
    """Jinja's finalize for HTML: every value's control characters shown (core.text.neutral), then autoescaped."""
    from markupsafe import Markup

    return value if isinstance(value, Markup) or not isinstance(value, str) else neutral(value)


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
    numbers: dict[str, Callable[..., str]] = {
        "pct": pct, "interval_pct": interval_pct, "pp": pp, "alert_pct": alert_pct, "threshold_pct": threshold_pct,
        "moved": moved, "trend_caption": trend_caption,
    }
    if kind == "html":
        # Every value is neutralised (control characters shown, core.text.neutral), then autoescaped.
        env = jinja2.Environment(autoescape=True, finalize=_html_neutral, **common)
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
        **_track_context(brief),
        **robustness_context(brief),
    }


CALIBRATION_SUFFIX = ".calibration.png"  # the track record's reliability diagram, when one is drawn


def _track_context(brief: Brief) -> dict[str, Any]:
    from forecaster.outputs.track_record import display_rows, nothing_resolved

    tr = brief.track_record
    if tr is None:
        return {"track": None, "track_rows": [], "track_note": ""}
    return {"track": tr, "track_rows": display_rows(tr), "track_note": "" if tr.resolved else nothing_resolved(tr)}


def render_markdown(brief: Brief, *, chart_file: str | None, calibration_file: str | None = None) -> str:
    return str(
        _environment("md")
        .get_template("brief.md.j2")
        .render(**_context(brief), chart_file=chart_file, calibration_file=calibration_file)
    )


def _data_uri(png: bytes | None) -> str | None:
    return None if png is None else "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def render_html(brief: Brief, *, png: bytes | None, calibration_png: bytes | None = None) -> str:
    template = _environment("html").get_template("brief.html.j2")
    return str(template.render(**_context(brief), chart=_data_uri(png), calibration=_data_uri(calibration_png)))


def _r(x: float | None, nd: int = 6) -> float | None:
    return None if x is None or x != x else round(float(x), nd)


def brief_json(brief: Brief) -> dict[str, Any]:
    r = brief.result
    return {
        "schema": SCHEMA,
        "name": brief.period.name,
        "period": {"since": brief.period.since.isoformat(), "until": brief.period.until.isoformat()},
        "as_of": r.as_of.isoformat(),
        "clock": brief.clock.name,
        "clock_note": brief.clock.sentence,
        "horizon_months": brief.horizon_months,
        "horizon": brief.horizon,
        "illustrative": brief.illustrative,
        "bottom_line": brief.bottom_line,
        "stale": brief.stale,
        "headline": [_headline_json(h) for h in brief.headline],
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
        "drivers": [_driver_json(d) for d in brief.drivers],
        "reports": {
            "new": [_report_json(i) for i in brief.new_reports],
            "retracted": [_report_json(i) for i in brief.retracted_reports],
            "left_window": [_report_json(i) for i in brief.left_window],
        },
        **robustness_json(brief),
        "watch": {
            "grade": f"{WATCH_GRADE[0]}{WATCH_GRADE[1]}",
            "unreported": brief.unreported,
            "indicators": [_watch_json(w) for w in brief.watch],
        },
        "trend": [_trend_json(p) for p in brief.trend],
        "alerts": [_alert_json(a) for a in brief.alerts],
        **_track_json(brief),
        "provenance": dict(brief.provenance),
    }


def _headline_json(h: Headline) -> dict[str, Any]:
    return {
        "hypothesis": h.hypothesis,
        "question": h.question,
        "state": h.state,
        "posterior": _r(h.posterior),
        "interval": None if h.interval is None else [_r(h.interval[0]), _r(h.interval[1])],
        "term": h.term,
        "sentence": h.sentence,
        "definition": h.definition,
    }


def _driver_json(d: Driver) -> dict[str, Any]:
    return {
        "indicator": d.indicator,
        "new_reports": d.new,
        "dropped_reports": d.dropped,
        "largest": {"hypothesis": d.largest[0], "state": d.largest[1], "shift": _r(d.largest[2])},
        "shift": {h: {s: _r(v) for s, v in st.items()} for h, st in d.shift.items()},
    }


def _watch_json(w: WatchItem) -> dict[str, Any]:
    return {
        "indicator": w.indicator,
        "bits": _r(w.bits),
        "bits_by_hypothesis": {h: _r(v) for h, v in w.bits_by_hypothesis.items()},
        "expected_shift": _r(w.expected_shift),
        "hypothesis": w.shift_hypothesis,
        "state": w.shift_state,
        "shift_if_occurred": _r(w.shift_delta),
    }


def _trend_json(p: TrendPoint) -> dict[str, Any]:
    return {
        "as_of": p.as_of.isoformat(),
        "run_id": p.run_id or None,
        "kind": p.kind,
        "sampler": p.sampler,
        "states": {h: {s: [_r(v[0]), _r(v[1]), _r(v[2])] for s, v in st.items()} for h, st in p.values.items()},
    }


def _alert_json(a: AlertResult) -> dict[str, Any]:
    return {
        "rule": a.alert.rule,
        "hypothesis": a.alert.hypothesis,
        "state": a.alert.state,
        "op": a.alert.op,
        "threshold": a.alert.threshold,
        "value": _r(a.value),
        "fired": a.fired,
    }


def _track_json(brief: Brief) -> dict[str, Any]:
    """The "track_record" key, present only when the brief has a track record (no resolutions: no key)."""
    if brief.track_record is None:
        return {}
    from forecaster.outputs.track_record import track_record_json

    return {"track_record": track_record_json(brief.track_record, forecasts=False)}


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
    tr = brief.track_record
    cal = None
    if tr is not None and tr.resolved:
        from forecaster.outputs.track_record import track_png

        cal = track_png(tr)
    md = render_markdown(brief, chart_file=f"{name}.png", calibration_file=f"{name}{CALIBRATION_SUFFIX}" if cal else None)
    html = render_html(brief, png=png, calibration_png=cal)
    data = json_safe(json.dumps(brief_json(brief), indent=2, ensure_ascii=False)) + "\n"  # C1 and bidi controls as \u escapes
    files = {".png": png, ".md": md.encode("utf-8"), ".html": html.encode("utf-8"), ".json": data.encode("utf-8")}
    if cal is not None:
        files[CALIBRATION_SUFFIX] = cal
    return files


def _order(files: dict[str, bytes]) -> list[str]:
    """The suffixes to write, the JSON (read as "the previous brief") last."""
    return [s for s in (CALIBRATION_SUFFIX, *SUFFIXES) if s in files]


def write_brief(brief: Brief, folder: Path) -> BriefFiles:
    """Render everything first, then write each file atomically (temp file + rename), the JSON last:
    a killed job leaves each file old or new, never half of one."""
    files = render_files(brief)
    name = brief.period.name
    try:
        public_dir(folder)  # readable as the umask says, never group- or world-writable (core.safe_cache)
        _remove_stale_temps(folder, name)
        paths = []
        mode = public_mode()  # readable as the umask says, never group- or world-writable
        for suffix in _order(files):
            path = folder / f"{name}{suffix}"
            write_bytes_atomic(path, files[suffix], mode=mode)
            paths.append(path)
    except OSError as e:
        raise ForecastError(f"cannot write the brief to {folder}: {e.strerror or e}") from None
    return BriefFiles(folder, name, tuple(paths))


def _remove_stale_temps(folder: Path, name: str) -> None:
    """Temp files a killed brief left behind (atomic.py names them .NAME.SUFFIX.*.tmp)."""
    now = time.time()
    for suffix in (*SUFFIXES, CALIBRATION_SUFFIX):
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
    event_time: bool = False,
) -> MadeBrief:
    """Find the run for the current inputs (as of the period's end), run it if it is missing
    (unless `update` is False: then the last recorded run, marked stale), build and write the brief."""
    from forecaster.store import runs
    from forecaster.store.events import EventStore
    from forecaster.workflow.updating import gather_reports, planned_run_id, update_forecast

    as_of = period.until
    clock = Clock()
    if ws.has_store() or event_time:
        with EventStore(ws.db) as store:
            clock = choose_clock(store, period, event_time=event_time, window_days=priors.evidence_window_days)
    reports = gather_reports(ws, priors, as_of=as_of, event_time=clock.event_time)
    run_id = planned_run_id(priors, reports, as_of=as_of, seed=seed, exact=exact, sampler_kwargs=sampler_kwargs)
    with EventStore(ws.db) as store:
        result = runs.load_result(store, run_id)
        how = "cached"
        if result is None and not update:
            result = _last_recorded(store, clock, as_of)
            how = "stale"
    if result is None:
        if on_update is not None:
            on_update()
        result, cached = update_forecast(
            ws,
            priors,
            as_of=as_of,
            seed=seed,
            exact=exact,
            sampler_kwargs=sampler_kwargs,
            event_time=clock.event_time,
        )
        how = "cached" if cached else "updated"
    with EventStore(ws.db) as store:
        # The brief reads the run as recorded (rounded as its JSON is), whether it was computed just
        # now or long ago: the same store gives the same bytes either way.
        result = runs.load_result(store, result.run_id) or result
        record = runs.list_runs(store, run_ids=[result.run_id], with_states=False)
        netcdf = (
            record[0].netcdf if record and record[0].netcdf else None  # the store holds the draws
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
            clock=clock,
        )
    return MadeBrief(brief, write_brief(brief, folder), how)


def _last_recorded(store: EventStore, clock: Clock, as_of: dt.date) -> UpdateResult:
    """`--no-update`: the last update recorded on this clock as of the date, or a clear error."""
    from forecaster.store import runs

    latest = [
        r
        for r in runs.list_runs(
            store, kinds=("update",), evidence=clock.evidence, until=as_of, with_states=False
        )
    ]
    if not latest:
        which = "event-time " if clock.event_time else ""
        why = " (this brief replays by event time: see `forecast brief --help`)" if clock.event_time else ""
        raise ForecastError(
            f"no {which}run recorded as of {as_of.isoformat()} or earlier, and --no-update forbids one{why}: "
            f"run `forecast update{' --event-time' if clock.event_time else ''}` first"
        )
    pick = max(latest, key=lambda r: (r.as_of, r.recorded_at))
    result = runs.load_result(store, pick.run_id)
    if result is None:
        raise ForecastError(f"the record of run {pick.run_id} cannot be read; run `forecast update --force`")
    return result


def summary_line(made: MadeBrief, alerts_checked: int) -> str:
    """The one line a cron job logs: where the files are (absolute), how many reports, the headline,
    which run, and the alerts."""
    b = made.brief
    how = {"cached": "recorded run", "updated": "new run", "stale": "STALE run (--no-update)"}[made.how]
    n = len(b.result.report_ids)
    headline = ", ".join(f"{h.hypothesis} {h.state} {pct(h.posterior)}" for h in b.headline)
    line = (
        f"brief {made.files.name}: wrote {made.files.folder.resolve()}/{made.files.name}.{{md,html,json,png}} "
        f"({n} report{'s' if n != 1 else ''}; {headline}) from {how} {b.result.run_id} as of "
        f"{b.result.as_of.isoformat()} ({b.clock.name} time)"
    )
    if b.result.diagnostics.warnings:
        w = len(b.result.diagnostics.warnings)
        line += f"; {w} sampler warning{'s' if w != 1 else ''} (see the brief)"
    if b.baseline.skipped:
        line += f"; skipped unreadable {', '.join(b.baseline.skipped)}"
    if b.fired:
        line += "; ALERT " + ", ".join(
            f"{a.alert.hypothesis}.{a.alert.state} {alert_pct(a.value, a.alert.threshold)} {a.alert.op} "
            f"{threshold_pct(a.alert.threshold)}"
            for a in b.fired
        )
    elif alerts_checked:
        line += f"; {alerts_checked} alert{'s' if alerts_checked != 1 else ''} checked, none fired"
    return line
