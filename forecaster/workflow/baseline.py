"""What a brief compares against (its baseline) and on which clock (knowledge or event time).

- **Clock**: `knowledge` (the default) selects, at each date, the reports the store knew at the end
  of it (recorded by then; retractions count from when they were recorded); `event` selects every
  report in force whose event date lies in the window (`update --event-time`). A brief uses event
  time when asked (`brief --event-time`) or when the store knew no report before the period began
  (a new workspace or a bulk import), and says so.
- **Baseline**: the newest earlier brief written on the same clock; else the last run recorded before
  the period whose reports are exactly those the clock selects at its date (an update, or a backfill
  point when the clock is event time or the selections agree); else an exact-engine replay as of the
  day before the period; else the prior. Like is compared with like.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forecaster.workflow.period import Period

if TYPE_CHECKING:
    from forecaster.inference.update import UpdateResult
    from forecaster.model.network import Network
    from forecaster.model.priors import Priors
    from forecaster.store.events import EventStore

SCHEMA = "forecast-brief/1"
# Runs on the store's reports (and those moved in from the JSON-file log), not replays of --events files.
STORE_EVIDENCE = ("store", "store-event-time", "unknown")


@dataclass(frozen=True)
class Clock:
    """Which reports a brief uses: `knowledge` (what the store knew at the end of each date, recorded
    by then, hidden by retractions recorded by then) or `event` (every report whose event date lies
    in the window, less every retraction: `update --event-time`). `reason` says why, when not the default."""

    name: str = "knowledge"
    reason: str = ""

    @property
    def event_time(self) -> bool:
        return self.name == "event"

    @property
    def evidence(self) -> tuple[str, ...]:
        """The run-log evidence labels of runs on this clock (forecaster.store.runs.EVIDENCE)."""
        return ("store-event-time",) if self.event_time else ("store", "unknown")

    @property
    def sentence(self) -> str:
        if self.event_time:
            lead = (
                "Clock: event time. Reports are selected by event date (every report in force whose event "
                "date lies in the evidence window, whenever it was recorded), on both sides of the comparison."
            )
        else:
            lead = (
                "Clock: knowledge time. Reports are those the store knew at the end of each date (recorded by "
                "then; retractions count from when they were recorded), on both sides of the comparison."
            )
        return f"{lead} {self.reason}".strip()


def choose_clock(store: EventStore, period: Period, *, event_time: bool, window_days: int | None = None) -> Clock:
    """The brief's clock: event time when asked (--event-time), or when the store knew no report before
    the period began (a new workspace or a bulk import: a knowledge-time replay would start from nothing
    and show the whole history as this period's news); knowledge time otherwise."""
    if event_time:
        return Clock("event", "Asked for with --event-time.")
    rows = store._read("reading reports", "SELECT MIN(recorded_at) FROM reports")
    first = rows[0][0] if rows else None
    if first is None:
        return Clock()
    start = dt.datetime.combine(period.since, dt.time(), tzinfo=dt.UTC)
    try:
        first_at = dt.datetime.fromisoformat(str(first).replace("Z", "+00:00"))
    except ValueError:
        return Clock()
    if first_at.tzinfo is None:
        first_at = first_at.replace(tzinfo=dt.UTC)
    if first_at < start and window_days is not None:
        late = _recorded_late(store, period.until, window_days)
        if late:
            return Clock(
                "knowledge",
                f"{late} report{'s' if late != 1 else ''} dated in the evidence window "
                f"{'were' if late != 1 else 'was'} recorded after {period.until.isoformat()} and "
                f"{'are' if late != 1 else 'is'} not in this brief; --event-time selects reports by event date.",
            )
    if first_at >= start:
        return Clock(
            "event",
            f"Chosen because every report in the store was recorded on or after {first_at.date().isoformat()}, "
            f"after the period began ({period.since.isoformat()}): a replay by knowledge time would compare "
            "against an empty store. Use --event-time to ask for it explicitly.",
        )
    return Clock()


def _recorded_late(store: EventStore, as_of: dt.date, window_days: int) -> int:
    """Reports in force dated in the window ending `as_of` but recorded after it."""
    everything = store.reports_for_update(as_of=as_of, window_days=window_days, by_event_time=True)
    known = store.reports_for_update(as_of=as_of, window_days=window_days)
    return len({r.id for r in everything} - {r.id for r in known})


@dataclass(frozen=True)
class Baseline:
    kind: str  # "brief" | "run" | "replay" (exact engine, computed for the brief) | "prior"
    label: str
    run_id: str | None
    as_of: dt.date | None
    posteriors: Mapping[str, Mapping[str, float]]
    report_ids: frozenset[str]
    priors_hash: str | None
    skipped: tuple[str, ...] = ()  # earlier brief files that could not be read (named in the brief)


def baseline_for(
    store: EventStore,
    result: UpdateResult,
    period: Period,
    folder: Path | None,
    clock: Clock,
    priors: Priors,
    net: Network,
) -> Baseline:
    """What "what changed" compares against, on the brief's own clock (like with like): the previous
    brief written on the same clock; else the last run before the period whose reports are the ones the
    clock selects at its date; else an exact-engine replay of the store at the day before the period."""
    earlier, skipped = scan_briefs(folder, before=period.since, clock=clock.name) if folder else (None, ())
    chosen = (
        _from_brief(*earlier)
        if earlier is not None
        else _from_run(store, result, period, clock, priors) or _replay(store, result, period, clock, priors, net)
    )
    return replace(chosen, skipped=skipped)


def _from_brief(name: str, data: dict[str, Any]) -> Baseline:
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


def _from_run(store: EventStore, result: UpdateResult, period: Period, clock: Clock, priors: Priors) -> Baseline | None:
    """The last run recorded before the period whose reports are the ones the clock selects at its date."""
    from forecaster.store import runs

    records = runs.list_runs(store, evidence=STORE_EVIDENCE, until=period.since - dt.timedelta(days=1))
    if not records:
        return None
    last = max(
        records,
        key=lambda r: (
            r.as_of,
            r.priors_hash == result.priors_hash,
            r.evidence in clock.evidence,
            r.kind == "update",
            r.sampled == (result.diagnostics.sampler != "exact"),
            r.recorded_at,
        ),
    )
    old = runs.load_result(store, last.run_id)
    ids = frozenset(old.report_ids) if old else frozenset()
    window_days = priors.evidence_window_days
    chosen = store.reports_for_update(as_of=last.as_of, window_days=window_days, by_event_time=clock.event_time)
    if old is None or ids != frozenset(r.id for r in chosen if r.id):
        return None
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


def _replay(
    store: EventStore, result: UpdateResult, period: Period, clock: Clock, priors: Priors, net: Network
) -> Baseline:
    """An exact-engine replay of the store as of the day before the period (the prior when it held nothing)."""
    day = period.since - dt.timedelta(days=1)
    reports = store.reports_for_update(as_of=day, window_days=priors.evidence_window_days, by_event_time=clock.event_time)
    if not reports:
        known = {h.id: {s.id: s.prior for s in h.states} for h in result.hypotheses}
        return Baseline(
            "prior",
            f"the prior (no report {'dated' if clock.event_time else 'known'} by {day.isoformat()} in the evidence window)",
            None,
            day,
            known,
            frozenset(),
            None,
        )
    from forecaster.inference.exact import posterior

    post = posterior(net, net.log_lambda(priors.fold(reports, as_of=day)))
    posteriors = {
        hid: {sid: float(post[h][k]) for k, sid in enumerate(net.states[h])} for h, hid in enumerate(net.hypothesis_ids)
    }
    how = "reports by event date" if clock.event_time else "the store as known at the end of that day"
    return Baseline(
        "replay",
        f"the start of the period (exact-engine replay as of {day.isoformat()}, {how}, {len(reports)} "
        f"report{'s' if len(reports) != 1 else ''})",
        None,
        day,
        posteriors,
        frozenset(r.id for r in reports if r.id),
        priors.hash,
    )


def _date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return None


def _check_brief_data(data: Any) -> None:
    """Raise (TypeError, ValueError, …) unless `data` holds what `baseline_for` reads from a brief."""
    prov = data.get("provenance", {})
    posteriors = data.get("posteriors", {})
    if not isinstance(prov, dict) or not isinstance(posteriors, dict):
        raise TypeError("provenance and posteriors are objects")
    for states in posteriors.values():
        for v in states.values():
            if not math.isfinite(float(v["posterior"])):
                raise ValueError("posterior")
    ids = prov.get("report_ids", [])
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise TypeError("report_ids")
    for key in ("run_id", "priors_hash", "as_of"):
        if prov.get(key) is not None and not isinstance(prov[key], str):
            raise TypeError(key)


BRIEF_JSON_MAX = 16 * 2**20  # bytes: a brief's JSON is kilobytes; anything past this is not one of ours


def previous_brief(folder: Path, *, before: dt.date, clock: str | None = None) -> tuple[str, dict[str, Any]] | None:
    """The newest readable brief before `before` on `clock` (see `scan_briefs`): (name, data), or None."""
    return scan_briefs(folder, before=before, clock=clock)[0]


def scan_briefs(
    folder: Path, *, before: dt.date, clock: str | None = None
) -> tuple[tuple[str, dict[str, Any]] | None, tuple[str, ...]]:
    """The newest brief JSON in `folder` whose period ended before `before` (and, given `clock`, written
    on that clock; a brief without one was written on knowledge time): (name, data), or None; and the
    names of the files that could not be read as a brief (skipped: they never block a later brief)."""
    if not folder.is_dir():
        return None, ()
    best: tuple[dt.date, str, dict[str, Any]] | None = None
    skipped: list[str] = []
    for f in sorted(folder.glob("*.json")):
        if f.name.startswith(".") or f.is_symlink() or not f.is_file():  # a FIFO would hang the brief
            continue
        data = _read_brief(f)
        if data is None:
            skipped.append(f.name)
            continue
        until = dt.date.fromisoformat(data["period"]["until"])
        if data.get("schema") != SCHEMA or until >= before:
            continue
        if clock is not None and data.get("clock", "knowledge") != clock:
            continue
        if best is None or (until, f.stem) > (best[0], best[1]):
            best = (until, f.stem, data)
    return (None if best is None else (best[1], best[2])), tuple(skipped)


def _read_brief(f: Path) -> dict[str, Any] | None:
    """A brief's JSON, checked for what `baseline_for` reads; None when it cannot be read as one."""
    try:
        if f.stat().st_size > BRIEF_JSON_MAX:
            return None
        data = json.loads(f.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            return None
        dt.date.fromisoformat(data["period"]["until"])
        _check_brief_data(data)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None
    return data
