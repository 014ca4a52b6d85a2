"""Placing reports (issues 3, 13): how a stored report reads back from a row, and `_Placer`, which
decides for a batch of reports which are new, which are stored already and which ids they get,
then writes the new ones in one multi-row INSERT. Used by `EventStore` only, inside its write
transactions, on either backend."""

from __future__ import annotations

import builtins
import dataclasses
import datetime as dt
from collections.abc import Generator, Sequence
from typing import Any

from forecaster.core.errors import EvidenceError
from forecaster.core.text import canonical_text
from forecaster.model.evidence import Report
from forecaster.store.backend import Db
from forecaster.store.records import (
    EPISODE_DAYS,
    ID_HEX,
    Retraction,
    Similar,
    StoredReport,
    canonical_report,
    check_report,
    check_text,
    content_key,
    format_time,
    normal_text,
    not_quarantined,
    readable,
)

_COLUMNS = (
    "r.id, r.indicator, r.event_date, r.recorded_at, r.occurred, r.reliability, r.credibility, "
    "r.source, r.url, r.note, r.analyst, t.reason, t.retracted_at, t.retracted_by, r.origin, r.content_key"
)
_FROM = f"FROM {not_quarantined('reports', 'r')} LEFT JOIN retractions t ON t.report_id = r.id"


def _report(row: Sequence[Any]) -> Report:
    # Stored times are always format_time's "…Z", which fromisoformat reads as UTC directly: this
    # runs once per report read (100,000 for a large export), so it skips parse_time's checks.
    return Report(
        indicator=row[1], date=dt.date.fromisoformat(row[2]), occurred=bool(row[4]), reliability=row[5],
        credibility=row[6], source=row[7], url=row[8], note=row[9], analyst=row[10], id=row[0],
        recorded_at=dt.datetime.fromisoformat(row[3]), origin=row[14],
    )


def _entry(row: Sequence[Any]) -> StoredReport:
    retraction = None if row[11] is None else Retraction(row[0], row[11], dt.datetime.fromisoformat(row[12]), row[13])
    return StoredReport(_report(row), retraction)


_INSERT_REPORT = (
    "INSERT INTO reports (id, indicator, event_date, recorded_at, occurred, reliability, credibility, "
    "source, url, note, analyst, content_key, origin, source_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_RETRACTION = "INSERT INTO retractions (report_id, reason, retracted_at, retracted_by) VALUES (?, ?, ?, ?)"
_CHUNK = 500  # keys per IN (...) look-up


def _retraction_row(t: Retraction) -> tuple[Any, ...]:
    return (t.report_id, t.reason, format_time(t.retracted_at), t.retracted_by)


class _Placer:
    """Placing a batch of reports in one write transaction, on either backend, with two look-ups
    per 500 reports and one multi-row INSERT, not a statement per report: which content keys and
    which candidate ids the store holds already, then every decision in memory (writers hold the
    write lock, so nothing changes underneath), then `flush`.

    A new report's id is r- and the first 12 hex digits of its content key, so the same report
    gets the same id in every store; in the rare clash with another report's id, a longer prefix.
    A report that carries an id (from an export) keeps it; _IdTaken if it names another report.
    No INSERT ever meets a unique index: PostgreSQL would abort the whole transaction on one."""

    def __init__(self, db: Db, items: Sequence[tuple[Report, str, str]]) -> None:
        """`items`: (report, analyst, content key) of every report the batch may place."""
        self.db = db
        keys = {k for _, _, k in items}
        self.by_key: dict[str, StoredReport] = {}
        self.key_of: dict[str, str] = {}  # id -> content key, for what this batch placed
        for part in _chunks(sorted(keys)):
            rows = db.execute(f"SELECT {_COLUMNS} {_FROM} WHERE r.content_key IN ({_marks(part)})", part)
            for entry, key in readable("reports", rows, lambda row: (_entry(row), row[-1])):
                self.by_key[key] = entry  # (a row it cannot read is named: its content is never a new report's)
                assert entry.report.id is not None
                self.key_of[entry.report.id] = key
        # The first candidate id of each report; the longer ones are looked up only on a clash.
        candidates = {r.id if r.id is not None else "r-" + k[:ID_HEX] for r, _, k in items}
        self.checked = set(candidates)
        self.taken: set[str] = set()
        for part in _chunks(sorted(candidates)):
            self.taken.update(row[0] for row in db.execute(f"SELECT id FROM reports WHERE id IN ({_marks(part)})", part))
        self.reports: list[tuple[Any, ...]] = []
        self.retractions: list[tuple[Any, ...]] = []

    def place(
        self, r: Report, key: str, recorded_at: str, analyst: str, *, source_time: str | None = None
    ) -> tuple[str, StoredReport | None]:
        """(new id, None), or (id, the stored report) when its content is stored or placed already.
        `source_time` (m007): the coded source's time of the row a report came from (issue 15)."""
        existing = self.by_key.get(key)
        if existing is not None:
            assert existing.report.id is not None
            return existing.report.id, existing
        candidates = [r.id] if r.id is not None else ["r-" + key[:n] for n in (ID_HEX, 16, 24, 64)]
        for rid in candidates:
            if rid not in self.checked:  # a clash on a shorter id: the rare path
                self.checked.add(rid)
                if self.db.execute("SELECT 1 FROM reports WHERE id = ?", (rid,)).fetchone():
                    self.taken.add(rid)
            if rid in self.taken:
                continue
            self.taken.add(rid)
            when = dt.datetime.fromisoformat(recorded_at)
            self.by_key[key] = StoredReport(dataclasses.replace(r, id=rid, analyst=analyst, recorded_at=when))
            self.key_of[rid] = key
            self.reports.append((
                rid, r.indicator, r.date.isoformat(), recorded_at, int(r.occurred), r.reliability,
                r.credibility, r.source, r.url, r.note, analyst, key, r.origin, source_time,
            ))
            return rid, None
        raise _IdTaken(candidates[-1])

    def retract(self, t: Retraction) -> None:
        key = self.key_of.get(t.report_id)
        if key is not None:
            self.by_key[key] = dataclasses.replace(self.by_key[key], retraction=t)
        self.retractions.append(_retraction_row(t))

    def flush(self) -> None:
        self.db.executemany(_INSERT_REPORT, self.reports)
        self.db.executemany(_INSERT_RETRACTION, self.retractions)
        self.reports, self.retractions = [], []


class _Neighbours:
    """Stored reports in force near a batch's (same indicator and outcome, event dates within
    EPISODE_DAYS), read in a few range queries up front rather than one per report, and kept up
    to date with what the batch places (`add`) and retracts (`drop`): `similar` sees the store
    and the batch before it, as one report at a time would.

    Rows are indexed as they come from the database and become StoredReports only when
    `similar` returns them: a batch near 50,000 stored reports builds two per report, not 50,000."""

    _MAX_RANGES = 50  # more date ranges than this: one query over the whole span
    _MAX_IN = 200  # indicators named in the query (more: filtered here)

    def __init__(self, db: Db, reports: Sequence[Report]) -> None:
        # (indicator, occurred, date ordinal) -> [(recorded_at text, id, source, row or StoredReport)]
        self.index: dict[tuple[str, bool, int], list[tuple[str, str, str, Any]]] = {}
        self.key_of: dict[str, tuple[str, bool, int]] = {}
        if not reports:
            return
        span = dt.timedelta(days=EPISODE_DAYS)
        ranges: list[list[dt.date]] = []
        for d in sorted({r.date for r in reports}):
            lo, hi = d - span, d + span
            if ranges and lo <= ranges[-1][1] + dt.timedelta(days=1):
                ranges[-1][1] = max(ranges[-1][1], hi)
            else:
                ranges.append([lo, hi])
        if len(ranges) > self._MAX_RANGES:
            ranges = [[ranges[0][0], ranges[-1][1]]]
        indicators = sorted({r.indicator for r in reports})
        named = len(indicators) <= self._MAX_IN
        where = f" AND r.indicator IN ({_marks(indicators)})" if named else ""
        wanted = set(indicators)
        for lo, hi in ranges:
            rows = db.execute(
                f"SELECT {_COLUMNS} {_FROM} WHERE r.event_date BETWEEN ? AND ? AND t.report_id IS NULL{where}",
                (lo.isoformat(), hi.isoformat(), *(indicators if named else ())),
            )
            for row, day in readable("reports", rows, lambda r: (r, dt.date.fromisoformat(r[2]).toordinal())):
                if row[1] in wanted:
                    self._put((row[1], bool(row[4]), day), (row[3], row[0], row[7], row))

    def _put(self, key: tuple[str, bool, int], item: tuple[str, str, str, Any]) -> None:
        self.index.setdefault(key, []).append(item)
        self.key_of[item[1]] = key

    def add(self, entry: StoredReport) -> None:
        r = entry.report
        assert r.id is not None
        when = format_time(r.recorded_at) if r.recorded_at else ""
        self._put((r.indicator, r.occurred, r.date.toordinal()), (when, r.id, r.source, entry))

    def drop(self, report_id: str) -> None:
        key = self.key_of.pop(report_id, None)
        if key is not None:
            self.index[key] = [i for i in self.index[key] if i[1] != report_id]

    def similar(self, r: Report) -> Similar:
        """An exact duplicate of `r` (same indicator, date, outcome and source, folded), and when
        `r` names no origin, the nearest likely same-episode report (nearest date, then the
        earliest recorded)."""
        day = r.date.toordinal()
        found = sorted(
            (abs(k), item[0], item[1], item)
            for k in range(-EPISODE_DAYS, EPISODE_DAYS + 1)
            for item in self.index.get((r.indicator, r.occurred, day + k), ())
        )
        source = normal_text(r.source)
        duplicate = next((f[3] for f in found if f[0] == 0 and normal_text(f[3][2]) == source), None)
        episode = next((f[3] for f in found if f[3] is not duplicate), None) if not r.origin else None
        return Similar(
            _stored(duplicate) if duplicate is not None else None, (_stored(episode),) if episode is not None else ()
        )


def _stored(item: tuple[str, str, str, Any]) -> StoredReport:
    payload = item[3]
    return payload if isinstance(payload, StoredReport) else _entry(payload)


def _chunks(items: Sequence[str]) -> Generator[builtins.list[str], None, None]:
    for i in range(0, len(items), _CHUNK):
        yield builtins.list(items[i : i + _CHUNK])


def _marks(part: Sequence[Any]) -> str:
    return ", ".join("?" * len(part))


class _IdTaken(Exception):
    def __init__(self, report_id: str) -> None:
        super().__init__(report_id)
        self.report_id = report_id


Checked = tuple[Report, str, str, Retraction | None]


def checked_entry(entry: StoredReport, fallback: str, label: str) -> Checked | str:
    """An imported entry's canonical report, its analyst, content key and retraction; or what is wrong."""
    t = entry.retraction
    try:
        r = canonical_report(entry.report)  # the canonical form, as in add()
        who = canonical_text(r.analyst or fallback, single_line=True)
        check_report(r)
        check_text("analyst", who, required=True)
        if t is not None:
            t = dataclasses.replace(
                t, reason=canonical_text(t.reason), retracted_by=canonical_text(t.retracted_by, single_line=True)
            )
            check_text("retraction_reason", t.reason, required=True)
            check_text("retracted_by", t.retracted_by, required=True)
        return r, who, content_key(r), t
    except EvidenceError as e:
        return f"{label}: {e}"


def place_entry(
    c: Checked,
    label: str,
    placer: _Placer,
    near: _Neighbours | None,
    notes: builtins.list[str] | None,
    now: tuple[str, dt.datetime],
    keep_times: bool,
) -> tuple[int, int, int] | str:
    """Place one checked imported report and its retraction (EventStore.import_reports): how many
    were (added, skipped, retracted), or what is wrong. `notes` hears duplicates and likely episodes."""
    r, who, key, t = c
    similar = near.similar(r) if near is not None else None
    dup = similar.duplicate if similar is not None else None
    if notes is not None and dup is not None and dup.report.id != r.id and key not in placer.by_key:
        notes.append(f"{label}: duplicate of {dup.report.id} (same indicator, date, outcome and source); skipped")
        return 0, 1, 0
    when = format_time(r.recorded_at) if keep_times and r.recorded_at else now[0]
    try:
        rid, existing = placer.place(r, key, when, who)
    except _IdTaken as e:
        return f"{label}: field 'id': {e.report_id} already names a different report in the store"
    if existing is None and near is not None:
        placed = placer.by_key[key]
        if similar is not None and similar.episode and notes is not None:
            other = similar.episode[0].report
            notes.append(f"{label}: likely the same episode as {other.id} ({other.date.isoformat()}); "
                         "if both repeat one source, give both one origin (forecast event amend ID --origin ORIGIN)")
        near.add(placed)
    if existing is not None:
        if r.id is not None and r.id != rid:
            return f"{label}: field 'id': the store holds this report as {rid}, not {r.id}"
        if t is None or existing.retraction is not None:
            return 0, 1, 0
    if t is None:
        return int(existing is None), int(existing is not None), 0
    t = dataclasses.replace(t, report_id=rid, retracted_at=t.retracted_at if keep_times else now[1])
    placer.retract(t)
    if near is not None:
        near.drop(rid)
    return int(existing is None), int(existing is not None), 1
