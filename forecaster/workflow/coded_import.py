"""Coded event data into the store (issue 15): the job behind `forecast event import FILE --rules`.

    kind = detect_format(path)                         # or given: "acled", "gdelt", "acled-deletions"
    result = import_coded(store, path, kind=kind, rules=rules, analyst="ana", dry_run=False)

All or nothing, in four steps:
1. Read the whole file (streamed) and map every row through the rules (`ingest.map_rows`); a bad
   row stops the import here, naming file, line and field, before anything is written.
2. Meanwhile, every LOOKUP_ROWS rows, look their events up in the store (`coded_reports`, by
   origin). Per event only its newest row's line, timestamp and what its reports say are kept
   (and, up to KEEP_DRAFTS, the reports themselves); a row matching no rule whose event was
   never imported is only counted. Memory follows the rows that matter, not the file.
3. Plan, per event (the newest of its rows in the file):
   - not imported before: add its reports (one per matching rule, all sharing the origin);
   - imported, and this row is newer at source (ACLED `timestamp`, GDELT DATEADDED): supersede —
     retract each of its reports in force, "updated at source", and add the new row's reports;
   - the same version again: nothing (but the reports of rules it did not match before);
   - an older version: ignored.
   A deletions file retracts the reports in force of each event it names ("deleted at source").
4. Unless a dry run, write the plan in ONE transaction (`EventStore.apply_coded`). Up to
   KEEP_DRAFTS reports are held from step 1; beyond that they are mapped again from the file as
   they are written, so memory stays bounded whatever the file's size. If the store changed
   since step 2 (another writer), the import starts again (at most ATTEMPTS times).
Knowledge time is the store's clock; the source's time of each row is kept as `source_time`.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forecaster.core.errors import EvidenceError
from forecaster.ingest import (
    CodedFormat,
    CodedRow,
    DryRun,
    DryRunResult,
    FileKind,
    ReportDraft,
    Rules,
    check_format,
    map_rows,
    read_coded,
    read_deletions,
)
from forecaster.model.evidence import Report
from forecaster.store.coded import CodedAdd, CodedRetraction, CodedStored, StoreChangedError
from forecaster.store.events import EventStore

ATTEMPTS = 3  # plans made again when another writer changes the store in between
SAMPLE = 5  # retractions and reports shown by a dry run
# Reports held in memory between reading the file and writing them (about 1 KB each); a file
# making more is mapped again while it is written, so memory stays bounded whatever its size.
KEEP_DRAFTS = 50_000
LOOKUP_ROWS = 10_000  # rows read between two look-ups of their events in the store

Ident = tuple[str, bool]  # what a report of an event says: (indicator, occurred)


@dataclass(frozen=True, slots=True)
class _Row:
    """The newest row of one event in the file: all the plan keeps of it."""

    line: int
    stamp: int
    idents: tuple[Ident, ...]


@dataclass(frozen=True)
class CodedImportResult:
    """What an import did (or, with dry_run, would do). Events are counted once each, by their
    newest row in the file; reports are the store's."""

    file: str
    kind: FileKind
    rules_file: str | None
    dry_run: bool
    rows: int  # rows read (events or deletions)
    events: int  # distinct events in the file
    new_events: int = 0  # not imported before, with reports to add
    updated_events: int = 0  # newer at source than the version imported: superseded
    repeated_events: int = 0  # the version imported already: nothing to do
    extended_events: int = 0  # the version imported already, matching a rule it did not before
    older_rows: int = 0  # events whose row is older than the version imported: ignored
    repeated_rows: int = 0  # an event's other rows in the file (not its newest): ignored
    unmatched_events: int = 0  # not imported before and matching no rule
    deleted_events: int = 0  # deletions that retract reports
    kept_events: int = 0  # deletions older than the version imported: nothing retracted
    already_deleted: int = 0  # deletions applied before
    unknown_deletions: int = 0  # deletions naming no imported event
    to_add: int = 0  # reports the plan adds
    to_retract: int = 0  # reports the plan retracts
    added: int = 0  # written (0 for a dry run)
    skipped: int = 0  # same content stored already (added another way)
    retracted: int = 0
    add_per_indicator: tuple[tuple[str, int], ...] = ()
    tally: DryRunResult | None = None  # per rule: rows matched, examples; rows matched by none
    sample: tuple[Report, ...] = ()  # the first reports to add, as they would be stored
    retractions: tuple[tuple[str, str], ...] = field(default=())  # the first (report id, reason)
    dates: tuple[tuple[dt.date, int], ...] = ()  # event dates of the reports added, with how many
    attempts: int = 1  # plans made (more than one: another writer changed the store meanwhile)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "file": self.file, "format": self.kind, "rules_file": self.rules_file, "dry_run": self.dry_run,
            "rows": self.rows, "events": self.events,
        }  # fmt: skip
        if self.kind == "acled-deletions":
            out["deletions"] = {
                "deleted_events": self.deleted_events, "kept_events": self.kept_events,
                "already_deleted": self.already_deleted, "unknown": self.unknown_deletions,
                "repeated_rows": self.repeated_rows,
            }  # fmt: skip
        else:
            out["events_by_status"] = {
                "new": self.new_events, "updated": self.updated_events, "repeated": self.repeated_events,
                "extended": self.extended_events, "older": self.older_rows, "unmatched": self.unmatched_events,
                "repeated_rows": self.repeated_rows,
            }  # fmt: skip
        out["plan"] = {"add": self.to_add, "retract": self.to_retract, "add_per_indicator": dict(self.add_per_indicator)}
        out["written"] = {"added": self.added, "skipped": self.skipped, "retracted": self.retracted}
        out["attempts"] = self.attempts
        if self.tally is not None:
            t = self.tally.to_dict()
            for key in ("matched_rows", "unmatched_rows", "unmatched_examples", "per_rule", "drafts", "per_indicator"):
                out[key] = t[key]
        out["sample"] = [
            {"indicator": r.indicator, "date": r.date.isoformat(), "occurred": r.occurred, "grade": r.grade,
             "source": r.source, "url": r.url, "note": r.note, "origin": r.origin}
            for r in self.sample
        ]  # fmt: skip
        out["retractions"] = [{"report_id": rid, "reason": reason} for rid, reason in self.retractions]
        return out


# ----------------------------------------------------------------------------- step 1: read the file


class _Last:
    """The row map_rows is on: it maps one row at a time, in order, yielding one item per row."""

    row: CodedRow | None = None

    def feed(self, rows: Iterator[CodedRow]) -> Iterator[CodedRow]:
        for row in rows:
            self.row = row
            yield row


Kept = dict[str, list[ReportDraft]]
Stored = Mapping[str, list[tuple[int, CodedStored]]]  # origin -> (source time as unix seconds, report)


class _Looker:
    """The store's reports of the file's events, looked up a chunk of rows at a time (`coded_reports`),
    with the store's state before the first look (`token`; None without a store)."""

    def __init__(self, store: EventStore | None) -> None:
        self.store = store
        self.stored: dict[str, list[tuple[int, CodedStored]]] = {}
        self.token: str | None = None

    def look(self, origins: list[str]) -> None:
        origins = [o for o in origins if o not in self.stored]  # an event found in an earlier chunk: known
        if self.store is None or not origins:
            return
        lookup = self.store.coded_reports(origins)
        if self.token is None:
            self.token = lookup.token
        for s in lookup.reports:
            self.stored.setdefault(s.origin, []).append((_stamp(s.source_time), s))


def _scan_rows(
    path: Path, kind: FileKind, rules: Rules, today: dt.date, keep: int, looker: _Looker, now: int
) -> tuple[dict[str, _Row], int, int, int, DryRun, Kept | None]:
    """(newest row per event worth planning, rows read, other rows of the same events, rows
    dropped, the dry-run tally, the kept rows' drafts while they number at most `keep`, else None:
    the write maps them again). A row matching no rule whose event the store has never imported
    needs nothing: it is only counted (dropped), so memory follows the rows that matter."""
    tally = DryRun(rules)
    last = _Last()
    latest: dict[str, _Row] = {}
    held = 0
    rows = repeats = dropped = 0
    empty: tuple[Ident, ...] = ()
    fmt: CodedFormat = "acled" if kind == "acled" else "gdelt"
    pending: list[tuple[str, _Row, list[ReportDraft]]] = []
    kept: Kept | None = {} if keep > 0 else None

    def flush() -> None:
        nonlocal repeats, dropped, held, kept
        looker.look([origin for origin, _, _ in pending])
        for origin, new, drafts in pending:
            seen = latest.get(origin)
            if seen is not None:
                repeats += 1
                if new.stamp <= seen.stamp:
                    continue  # the file's newest row of an event counts; the first of equal ones
                if kept is not None:
                    kept.pop(origin, None)
            elif not drafts and origin not in looker.stored:
                dropped += 1
                continue
            latest[origin] = new
            if drafts and kept is not None:
                kept[origin] = drafts
                held += len(drafts)
                if held > keep:
                    kept = None  # too many to hold: mapped again from the file as they are written
        pending.clear()

    for item in tally.watch(map_rows(last.feed(read_coded(path, fmt, now=now)), rules, path.name, today=today)):
        row = last.row
        assert row is not None and row.line == item[0]
        rows += 1
        drafts = item[2]
        idents = tuple((d.indicator, d.occurred) for d in drafts) if drafts else empty
        pending.append((row.origin, _Row(row.line, row.timestamp, idents), drafts))
        if len(pending) >= LOOKUP_ROWS:
            flush()
    flush()
    return latest, rows, repeats, dropped, tally, kept


def _scan_deletions(path: Path, now: int) -> tuple[dict[str, _Row], int, int]:
    latest: dict[str, _Row] = {}
    rows = repeats = 0
    for d in read_deletions(path, now=now):
        rows += 1
        seen = latest.get(d.origin)
        if seen is not None:
            repeats += 1
            if d.deleted_timestamp <= seen.stamp:
                continue
        latest[d.origin] = _Row(d.line, d.deleted_timestamp, ())
    return latest, rows, repeats


# ----------------------------------------------------------------------------- step 3: the plan


@dataclass
class _Plan:
    wanted: dict[str, tuple[_Row, frozenset[int] | None]] = field(default_factory=dict)  # origin -> row, drafts to add (None: all)
    retractions: list[CodedRetraction] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    per_indicator: Counter[str] = field(default_factory=Counter)
    dates: Counter[dt.date] = field(default_factory=Counter)  # of the reports written, filled by _adds


def _utc(stamp: int) -> str:
    return dt.datetime.fromtimestamp(stamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _stamp(t: dt.datetime) -> int:
    return int(t.timestamp())


def _plan_rows(latest: Mapping[str, _Row], stored: Stored, file: str, who: str) -> _Plan:
    plan = _Plan()
    c = plan.counts
    for origin, row in latest.items():
        mine = stored.get(origin)
        if not mine:
            if row.idents:
                plan.wanted[origin] = (row, None)
                c["new"] += 1
            else:
                c["unmatched"] += 1
            continue
        newest = max(stamp for stamp, _ in mine)
        if row.stamp > newest:
            c["updated"] += 1
            source, event = origin.split(":", 1)
            head = f"updated at source: {file} line {row.line} holds a newer version of {source.upper()} {event} ({_utc(row.stamp)}"
            for stamp, s in mine:
                if not s.retracted:
                    reason = f"{head}; this report is of the version of {_utc(stamp)})"
                    plan.retractions.append(CodedRetraction(s.id, reason, who, s.recorded_at))
            if row.idents:
                plan.wanted[origin] = (row, None)
        elif row.stamp == newest:
            have = {(s.indicator, s.occurred) for stamp, s in mine if stamp == row.stamp}
            mask = frozenset(i for i, ident in enumerate(row.idents) if ident not in have)
            if mask:
                plan.wanted[origin] = (row, mask)
                c["extended"] += 1
            else:
                c["repeated"] += 1
        else:
            c["older"] += 1
    for kept, only in plan.wanted.values():
        for i, (indicator, _) in enumerate(kept.idents):
            if only is None or i in only:
                plan.per_indicator[indicator] += 1
    return plan


def _plan_deletions(latest: Mapping[str, _Row], stored: Stored, file: str, who: str) -> _Plan:
    plan = _Plan()
    c = plan.counts
    for origin, row in latest.items():
        mine = stored.get(origin)
        if not mine:
            c["unknown"] += 1
            continue
        live = [(stamp, s) for stamp, s in mine if not s.retracted]
        gone = [s for stamp, s in live if stamp <= row.stamp]
        if gone:
            c["deleted"] += 1
            event = origin.split(":", 1)[1]
            for s in gone:
                reason = f"deleted at source: the ACLED deletions file {file} line {row.line} deletes {event} ({_utc(row.stamp)})"
                plan.retractions.append(CodedRetraction(s.id, reason, who, s.recorded_at))
        elif live:
            c["kept"] += 1  # the version imported is newer than the deletion
        else:
            c["already"] += 1
    return plan


# ----------------------------------------------------------------------------- step 4: the reports to add


_VERSION = {"acled": "ACLED timestamp", "gdelt": "GDELT DATEADDED"}


def to_report(d: ReportDraft, *, analyst: str) -> Report:
    """A draft as the store keeps it: with its origin, and the source's version of the row in the
    note (so a newer version is never mistaken for the same content)."""
    fmt = d.origin.split(":", 1)[0]
    raw = str(int(d.source_timestamp.timestamp())) if fmt == "acled" else d.source_timestamp.strftime("%Y%m%d%H%M%S")
    note = f"{d.note} Source version: {_VERSION.get(fmt, 'timestamp')} {raw} ({d.source_timestamp.strftime('%Y-%m-%d %H:%M:%S UTC')})."
    return Report(
        indicator=d.indicator, date=d.date, occurred=d.occurred, reliability=d.reliability, credibility=d.credibility,
        source=d.source, url=d.url, note=note, analyst=analyst, origin=d.origin,
    )  # fmt: skip


def _mapped(
    path: Path, kind: FileKind, rules: Rules, today: dt.date, plan: _Plan, kept: Kept | None, now: int
) -> Iterator[tuple[int, list[ReportDraft]]]:
    """(line, drafts) of the plan's rows, in file order: held from the first reading, or mapped again."""
    wanted = plan.wanted
    if kept is not None:
        for origin, (row, _) in sorted(wanted.items(), key=lambda kv: kv[1][0].line):
            yield row.line, kept[origin]
        return
    fmt: CodedFormat = "acled" if kind == "acled" else "gdelt"
    rows = (r for r in read_coded(path, fmt, now=now) if (w := wanted.get(r.origin)) is not None and w[0].line == r.line)
    for line, _, drafts in map_rows(rows, rules, path.name, today=today):
        yield line, drafts


def _adds(
    path: Path, kind: FileKind, rules: Rules, today: dt.date, plan: _Plan, who: str, kept: Kept | None, now: int
) -> Iterator[CodedAdd]:
    """The plan's reports (run inside the write transaction); a file that changed since it was
    first read (rows mapped again differ) stops the import, writing nothing."""
    wanted = plan.wanted
    expected = sum(len(r.idents) if m is None else len(m) for r, m in wanted.values())
    n = 0
    changed = EvidenceError(f"{path}: the file changed while it was imported; nothing was written — run it again")
    for line, drafts in _mapped(path, kind, rules, today, plan, kept, now):
        if not drafts:
            raise changed
        row, mask = wanted[drafts[0].origin]
        if row.line != line or tuple((d.indicator, d.occurred) for d in drafts) != row.idents:
            raise changed
        for i, d in enumerate(drafts):
            if _stamp(d.source_timestamp) != row.stamp:
                raise changed
            if mask is None or i in mask:
                n += 1
                plan.dates[d.date] += 1
                yield CodedAdd(to_report(d, analyst=who), d.source_timestamp, f"{path.name}:{line}, rule {d.rule}")
    if n != expected:
        raise changed


def _sample(
    path: Path, kind: FileKind, rules: Rules, today: dt.date, plan: _Plan, who: str, kept: Kept | None, now: int
) -> tuple[Report, ...]:
    """The first reports the plan adds (a dry run shows them), read from the file's start."""
    if not plan.wanted:
        return ()
    out: list[Report] = []
    for a in _adds(path, kind, rules, today, _first(plan, SAMPLE), who, kept, now):
        out.append(a.report)
        if len(out) >= SAMPLE:
            break
    return tuple(out)


def _first(plan: _Plan, n: int) -> _Plan:
    """The plan cut to its first `n` events in file order (for the sample)."""
    first = sorted(plan.wanted.items(), key=lambda kv: kv[1][0].line)[:n]
    return _Plan(wanted=dict(first))


# ----------------------------------------------------------------------------- the job


def import_coded(
    store: EventStore | None,
    path: Path,
    *,
    kind: FileKind,
    rules: Rules | None,
    analyst: str,
    dry_run: bool = False,
    today: dt.date | None = None,
    keep: int = KEEP_DRAFTS,
    now: int | None = None,
) -> CodedImportResult:
    """Import (or, with dry_run, plan) one ACLED/GDELT export or ACLED deletions file; see the
    module's docstring. `store` None: plan against an empty store (a dry run before the store
    exists). `rules` are required for an export and ignored for a deletions file. Up to `keep`
    reports are held in memory from the first reading; more are mapped again as they are written.
    `now` (unix seconds; default the clock): a source timestamp later than it is refused."""
    today = today or dt.date.today()
    now = int(time.time()) if now is None else now
    tally: DryRun | None = None
    kept: Kept | None = None
    if dry_run:
        keep = 0  # nothing to write: the sample maps its few rows again
    if kind != "acled-deletions":
        if rules is None:
            raise EvidenceError(f"{path}: importing coded event data needs mapping rules: give --rules RULES.yaml")
        check_format(rules, kind, path)
    for attempt in range(ATTEMPTS):
        looker = _Looker(store)
        dropped = 0
        if kind == "acled-deletions":
            latest, rows, repeats = _scan_deletions(path, now)
            looker.look(list(latest))
        else:
            assert rules is not None
            latest, rows, repeats, dropped, tally, kept = _scan_rows(path, kind, rules, today, keep, looker, now)
        stored, token = looker.stored, looker.token
        if kind == "acled-deletions":
            plan = _plan_deletions(latest, stored, path.name, analyst)
        else:
            plan = _plan_rows(latest, stored, path.name, analyst)
            plan.counts["unmatched"] += dropped
        to_add = sum(plan.per_indicator.values())
        written = (0, 0, 0)
        if not dry_run and (to_add or plan.retractions):
            assert store is not None
            adds = _adds(path, kind, rules, today, plan, analyst, kept, now) if rules is not None and to_add else iter(())
            try:
                done = store.apply_coded(adds, plan.retractions, expect=token)
                written = (done.added, done.skipped, done.retracted)
            except StoreChangedError:
                if attempt == ATTEMPTS - 1:
                    raise
                continue
        break
    c = plan.counts
    sample = _sample(path, kind, rules, today, plan, analyst, kept, now) if dry_run and rules is not None and kind != "acled-deletions" else ()
    return CodedImportResult(
        file=str(path), kind=kind, rules_file=rules.path if rules is not None and kind != "acled-deletions" else None,
        dry_run=dry_run, rows=rows, events=len(latest) + dropped, new_events=c["new"], updated_events=c["updated"],
        repeated_events=c["repeated"], extended_events=c["extended"], older_rows=c["older"], repeated_rows=repeats,
        unmatched_events=c["unmatched"], deleted_events=c["deleted"], kept_events=c["kept"],
        already_deleted=c["already"], unknown_deletions=c["unknown"], to_add=to_add, to_retract=len(plan.retractions),
        added=written[0], skipped=written[1], retracted=written[2],
        add_per_indicator=tuple(sorted(plan.per_indicator.items(), key=lambda kv: (-kv[1], kv[0]))),
        tally=tally.result() if tally is not None else None, sample=sample,
        retractions=tuple((t.report_id, t.reason) for t in plan.retractions[:SAMPLE]),
        dates=tuple(sorted(plan.dates.items())) if written[0] else (), attempts=attempt + 1,
    )  # fmt: skip
