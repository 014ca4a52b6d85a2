"""The store side of coded event data (issue 15): `forecast event import FILE --rules`.

`EventStore` takes these two methods from `CodedImports` (kept here, apart, so the store's
backends port one small block):

    lookup = store.coded_reports(origins)          # imported events' reports, by origin, and a token
    store.apply_coded(adds, retractions, expect=lookup.token)   # ONE transaction: all or nothing

Reports stay append-only: an event updated at source is a retraction plus a new report, never an
update. Migration m007_source_time gives reports the column `source_time` (the source's time of
the row a report came from: ACLED `timestamp`, GDELT DATEADDED), NULL for every other report,
and an index on (origin, source_time). The SQL here is portable (SQLite and PostgreSQL) but for
the `?` placeholders; everything else goes through EventStore's own helpers (`_read`, `_write`,
`_Placer`, `_INSERT_RETRACTION`), on either backend.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from forecaster.core.errors import EvidenceError, StoreError
from forecaster.core.text import canonical_text
from forecaster.model.evidence import Report
from forecaster.store.backend import Db
from forecaster.store.placing import _INSERT_RETRACTION, _IdTaken, _Placer, _retraction_row
from forecaster.store.records import (
    ImportFileError,
    ImportResult,
    Retraction,
    T,
    canonical_report,
    check_report,
    check_text,
    content_key,
    format_time,
)


@dataclass(frozen=True, slots=True)
class CodedStored:
    """A report imported from coded event data, as a re-import compares it: its origin
    (`acled:XKX1234`), what it says, the source's time of its row, and whether it is retracted."""

    id: str
    origin: str
    indicator: str
    occurred: bool
    source_time: dt.datetime
    recorded_at: dt.datetime
    retracted: bool


@dataclass(frozen=True)
class CodedLookup:
    """What `coded_reports` found, and the store's state when it looked (pass `token` to
    `apply_coded(expect=…)`, which refuses to write over a store that changed since)."""

    reports: tuple[CodedStored, ...]
    token: str


@dataclass(frozen=True, slots=True)
class CodedAdd:
    """A report to add from a coded row: the report (with origin and analyst), the source's time
    of the row, and where it came from (`file.csv:12, rule x`), for errors."""

    report: Report
    source_time: dt.datetime
    label: str


@dataclass(frozen=True, slots=True)
class CodedRetraction:
    """A report to retract because its event was updated or deleted at source."""

    report_id: str
    reason: str
    who: str
    recorded_at: dt.datetime | None = None  # the report's, from the lookup: with `expect`, no need to read it again


class StoreChangedError(StoreError):
    """Another writer changed the store between an import's plan and its write; nothing was written."""

    def __init__(self, path: object) -> None:
        super().__init__(
            f"{path}: the event store changed while the import was planned (another writer); nothing was written — run it again"
        )


_SELECT = (
    "SELECT r.id, r.origin, r.indicator, r.occurred, r.source_time, r.recorded_at, t.report_id "
    "FROM reports r LEFT JOIN retractions t ON t.report_id = r.id WHERE r.source_time IS NOT NULL AND "
)
_CHUNK = 500  # origins per IN (…): well under every driver's limit on parameters
_BATCH = 5000  # reports placed at a time (the rows of a batch are held until its INSERT)


class CodedImports:
    """EventStore's methods for coded event data (mixed into EventStore)."""

    name: str

    if TYPE_CHECKING:  # EventStore's helpers, which these methods use

        def _read(self, what: str, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...
        def _write(self, what: str, fn: Callable[[Db], T]) -> T: ...

    def coded_reports(self, origins: Iterable[str]) -> CodedLookup:
        """Reports imported from coded event data (source_time set) whose origin is one of
        `origins`, retracted ones too, with a token of the store's state read before them."""
        wanted = sorted(set(origins))
        token = self._read("reading the store's state", _TOKEN)[0]
        token_text = f"{token[0]}/{token[1]}"
        if not wanted:
            return CodedLookup((), token_text)
        rows: list[Any] = []
        for i in range(0, len(wanted), _CHUNK):  # each origin one probe of the (origin, source_time) index
            chunk = wanted[i : i + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows += self._read("looking up imported events", _SELECT + f"r.origin IN ({marks})", chunk)
        reports = tuple(
            CodedStored(r[0], r[1], r[2], bool(r[3]), _time(r[4]), _time(r[5]), r[6] is not None) for r in rows
        )
        return CodedLookup(reports, token_text)

    def apply_coded(
        self, adds: Iterable[CodedAdd], retractions: Iterable[CodedRetraction], *, expect: str | None = None
    ) -> ImportResult:
        """An import of coded event data in ONE transaction: every retraction (events updated or
        deleted at source), then every new report with its source_time; all or, on any problem,
        none. `adds` may be a generator (rows read from the file while they are written: flat
        memory); if it raises, everything is rolled back. With `expect` (a `coded_reports` token),
        a store that changed since is refused (StoreChangedError), as is a retraction of a report
        gone or retracted since. Knowledge time is this store's clock: reports are recorded now,
        retractions retracted now (never before their report). A report whose content is stored
        already is skipped. Returns (added, skipped, retracted)."""
        started = False

        def run(db: Db) -> ImportResult:
            nonlocal started
            now_t = db.now()  # the store's clock (the server's: it stamps the rows so anyway)
            now = format_time(now_t)
            if started and not isinstance(adds, Sequence):  # a retry after a busy error: the generator is spent
                raise StoreError(f"{self.name}: another writer interrupted the import; nothing was written — run it again")
            started = True
            if expect is not None:
                total, retracted_n = db.execute(_TOKEN).fetchone()
                if f"{total}/{retracted_n}" != expect:
                    raise StoreChangedError(self.name)
            retracted, added, skipped = _retract(db, retractions, now_t, expect is not None, self.name), 0, 0
            problems: list[str] = []
            batch: list[tuple[Report, str, str, str]] = []

            def place() -> None:  # a batch of adds: two look-ups and one multi-row INSERT (store.placing)
                nonlocal added, skipped
                placer = _Placer(db, [(r, r.analyst, key) for r, key, _, _ in batch])
                for r, key, when, label in batch:
                    try:
                        _, existing = placer.place(r, key, now, r.analyst, source_time=when)
                    except _IdTaken as e:
                        problems.append(f"{label}: its id {e.report_id} already names a different report in the store")
                        continue
                    if existing is None:
                        added += 1
                    else:
                        skipped += 1
                placer.flush()
                batch.clear()

            for a in adds:
                r = _checked_add(a)
                if isinstance(r, str):
                    problems.append(r)
                    continue
                batch.append((r, content_key(r), format_time(a.source_time), a.label))
                if len(batch) >= _BATCH:
                    if problems:
                        batch.clear()  # nothing will be written: only the problems are wanted now
                    else:
                        place()
            if not problems:
                place()
            if problems:
                raise ImportFileError("import", problems)
            return ImportResult(added, skipped, retracted)

        return self._write("importing coded events", run)


def _retract(db: Db, retractions: Iterable[CodedRetraction], now_t: dt.datetime, trusted: bool, name: str) -> int:
    """Write a coded import's retractions (apply_coded), each at the store's clock and never before its
    report; how many. `trusted` (an `expect` token held): a retraction's looked-up recorded_at still holds."""
    retracted = 0
    for t in retractions:
        reason, who = canonical_text(t.reason), canonical_text(t.who, single_line=True)
        check_text("reason", reason, required=True)
        check_text("retracted_by", who, required=True)
        if trusted and t.recorded_at is not None:
            recorded = t.recorded_at  # unchanged since the lookup: the token says so
        else:
            row = db.execute(
                "SELECT r.recorded_at, t.report_id FROM reports r LEFT JOIN retractions t ON t.report_id = r.id "
                "WHERE r.id = ?", (t.report_id,),
            ).fetchone()  # fmt: skip
            if row is None or row[1] is not None:
                raise StoreChangedError(name)  # gone or retracted since the plan
            recorded = _time(row[0])
        when = max(now_t, recorded)
        db.execute(_INSERT_RETRACTION, _retraction_row(Retraction(t.report_id, reason, when, who)))
        retracted += 1
    return retracted


def _checked_add(a: CodedAdd) -> Report | str:
    """A coded add's canonical report, checked; or what is wrong (named by its label)."""
    try:
        r = canonical_report(a.report)
        check_report(r)
        check_text("analyst", r.analyst, required=True)
        if not r.origin:
            raise EvidenceError("field 'origin': empty; a report of coded event data names its event")
    except EvidenceError as e:
        return f"{a.label}: {e}"
    return r


_TOKEN = "SELECT (SELECT COUNT(*) FROM reports), (SELECT COUNT(*) FROM retractions)"


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)  # format_time's "…Z": read as UTC
