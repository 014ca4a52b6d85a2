"""The event store (issue 3): graded reports in an embedded SQLite file, append-only.

The only module that touches SQLite for reports. It also reads and writes the exchange formats
(CSV, YAML, JSON) that `forecast event import` and `export` use, so that a notebook can do all of it
without the CLI:

    with EventStore(ws.db_path) as store:
        report = store.add(Report("arms_purchase_east", dt.date(2025, 3, 18), True, "B", 2, "Reuters"), analyst="ana")
        store.retract(report.id, reason="misread the source", who="ana")

Guarantees, each pinned by a test in tests/test_store.py:
- a file that is not ours (not SQLite, or SQLite with other tables) is refused before anything is
  written to it; a fresh or old file of ours is migrated on open (`MIGRATIONS`);
- concurrent writers wait for each other (WAL, a busy timeout, and a retry), never "database is locked";
- every multi-row write is one transaction: an import killed half-way leaves nothing behind;
- reports and retractions are never updated or deleted (triggers refuse it).
"""

from __future__ import annotations

import builtins
import contextlib
import csv
import dataclasses
import datetime as dt
import hashlib
import io
import json
import os
import random
import re
import sqlite3
import time
import urllib.parse
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, NamedTuple, Self, TypeVar

from forecaster.core.errors import EvidenceError, StoreError, UsageError, did_you_mean
from forecaster.core.yamlio import line_of, load_yaml
from forecaster.model.evidence import CREDIBILITY, RELIABILITY, Report, report_from_mapping

T = TypeVar("T")
Format = Literal["csv", "yaml", "json"]
FORMATS: tuple[Format, ...] = ("csv", "yaml", "json")

APPLICATION_ID = 0x46435354  # "FCST" in the file header: marks a file as a forecast event store
SQLITE_MAGIC = b"SQLite format 3\x00"
BUSY_TIMEOUT_S = 30.0  # SQLite's own wait for a lock, per statement
LOCK_PATIENCE_S = 120.0  # our retries on top of it, for the cases SQLite does not wait (see _retry)
ID_HEX = 12  # r- + 12 hex digits: 48 bits, collision-free in practice for millions of reports
CLOCK_SKEW = dt.timedelta(minutes=10)  # how far a recorded_at in a file may lie ahead of our clock

_ID = re.compile(r"^r-[0-9a-f]{6,64}$")


# ---------------------------------------------------------------------------------------------
# Migrations: plain numbered functions, applied in order inside one transaction and recorded in
# `schema_migrations`. Append new ones at the end of MIGRATIONS (in this file, so every process
# knows every migration); never edit or reorder one that has shipped. A database that records a
# migration this version does not know was written by a newer `forecast` and is refused.
# ---------------------------------------------------------------------------------------------


def m001_reports(db: sqlite3.Connection) -> None:
    """Reports, retractions, and triggers that make both append-only."""
    statements = [
        """CREATE TABLE reports (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            indicator TEXT NOT NULL,
            event_date TEXT NOT NULL CHECK (event_date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
            recorded_at TEXT NOT NULL,
            occurred INTEGER NOT NULL CHECK (occurred IN (0, 1)),
            reliability TEXT NOT NULL CHECK (reliability IN ('A', 'B', 'C', 'D', 'E', 'F')),
            credibility INTEGER NOT NULL CHECK (credibility BETWEEN 1 AND 6),
            source TEXT NOT NULL CHECK (source <> ''),
            url TEXT NOT NULL,
            note TEXT NOT NULL,
            analyst TEXT NOT NULL CHECK (analyst <> ''),
            content_key TEXT NOT NULL UNIQUE
        )""",
        "CREATE INDEX reports_event_date ON reports (event_date, recorded_at)",
        "CREATE INDEX reports_indicator ON reports (indicator, event_date)",
        "CREATE INDEX reports_recorded_at ON reports (recorded_at)",
        """CREATE TABLE retractions (
            report_id TEXT PRIMARY KEY REFERENCES reports (id),
            reason TEXT NOT NULL CHECK (reason <> ''),
            retracted_at TEXT NOT NULL,
            retracted_by TEXT NOT NULL CHECK (retracted_by <> '')
        )""",
    ]
    for table in ("reports", "retractions"):
        for op in ("UPDATE", "DELETE"):
            statements.append(
                f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} are append-only'); END"
            )
    statements.append(f"PRAGMA application_id = {APPLICATION_ID}")
    for sql in statements:
        db.execute(sql)


def m002_runs(db: sqlite3.Connection) -> None:
    """The run log (issue 4); its schema lives in forecaster.store.runs, which imports this module."""
    from forecaster.store.runs import m002_runs as create_run_tables

    create_run_tables(db)


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [m001_reports, m002_runs]


# ---------------------------------------------------------------------------------------------
# What the store holds
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Retraction:
    """A report withdrawn: why, when (UTC) and by whom. The report itself stays."""

    report_id: str
    reason: str
    retracted_at: dt.datetime
    retracted_by: str


@dataclass(frozen=True)
class StoredReport:
    """A report as the store holds it: the report (with id, recorded_at, analyst) and its retraction, if any."""

    report: Report
    retraction: Retraction | None = None

    @property
    def retracted(self) -> bool:
        return self.retraction is not None


@dataclass(frozen=True)
class IndicatorCount:
    reports: int  # not retracted
    retracted: int
    last_date: dt.date | None  # latest event date among the reports not retracted


class ImportResult(NamedTuple):
    added: int
    skipped: int  # already in the store (same content key), or repeated in the batch
    retracted: int  # retractions the batch carried for reports the store had not retracted


class DuplicateReportError(EvidenceError):
    """The store already holds a report with the same content."""

    def __init__(self, existing: StoredReport) -> None:
        r = existing.report
        state = " (retracted; a new report must differ from it, e.g. in its note)" if existing.retracted else ""
        super().__init__(f"an identical report is already recorded as {r.id}{state}")
        self.existing = existing


class ImportFileError(EvidenceError):
    """A file to import has bad rows; `problems` names each (file:line: field: what is wrong)."""

    def __init__(self, name: str, problems: Sequence[str]) -> None:
        n = len(problems)
        head = f"{name}: {n} bad {'row' if n == 1 else 'rows'}; nothing was imported"
        super().__init__("\n".join([head, *("  " + p for p in problems)]))
        self.problems = list(problems)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def format_time(t: dt.datetime) -> str:
    """UTC, microseconds, 'Z': fixed width, so text order is time order in SQL."""
    return t.astimezone(dt.UTC).isoformat(timespec="microseconds")[:26] + "Z"


def parse_time(value: Any) -> dt.datetime:
    """An ISO timestamp (a naive one is read as UTC) -> aware UTC datetime; ValueError otherwise."""
    t = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value).strip())
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.astimezone(dt.UTC)


def content_key(report: Report) -> str:
    """The hash of what a report says (not who recorded it or when): the de-duplication key."""
    fields = [
        report.indicator, report.date.isoformat(), report.occurred, report.reliability, report.credibility,
        report.source, report.url, report.note,
    ]
    payload = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


# Unicode's control characters (category Cc) but tab, LF and CR, and lone surrogates (Cs).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def check_text(name: str, value: str, *, required: bool = False) -> str:
    """Text fields hold printable text: tabs and line breaks yes, other control characters no
    (they do not survive CSV and YAML, and nobody means them)."""
    bad = _CONTROL.search(value)
    if bad:
        raise EvidenceError(f"field {name!r}: contains the control character {bad.group()!r}")
    if required and not value.strip():
        raise EvidenceError(f"field {name!r}: empty")
    return value


def check_report(report: Report) -> None:
    """What the store insists on, however a report arrives (the CLI and files check more, and
    earlier, with better messages): a grade in range and printable text."""
    if report.reliability not in RELIABILITY or len(report.reliability) != 1:
        raise EvidenceError(f"field 'reliability': {report.reliability!r} is out of range: expected one letter A–F")
    if report.credibility not in CREDIBILITY or isinstance(report.credibility, bool):
        raise EvidenceError(f"field 'credibility': {report.credibility!r} is out of range: expected a number 1–6")
    if type(report.date) is not dt.date:
        raise EvidenceError(f"field 'date': {report.date!r} is not a date")
    check_text("source", report.source, required=True)
    check_text("url", report.url)
    check_text("note", report.note)
    if report.analyst:
        check_text("analyst", report.analyst)


# ---------------------------------------------------------------------------------------------
# The store
# ---------------------------------------------------------------------------------------------

_COLUMNS = (
    "r.id, r.indicator, r.event_date, r.recorded_at, r.occurred, r.reliability, r.credibility, "
    "r.source, r.url, r.note, r.analyst, t.reason, t.retracted_at, t.retracted_by"
)
_FROM = "FROM reports r LEFT JOIN retractions t ON t.report_id = r.id"


def _report(row: Sequence[Any]) -> Report:
    # Stored times are always format_time's "…Z", which fromisoformat reads as UTC directly: this
    # runs once per report read (100,000 for a large export), so it skips parse_time's checks.
    return Report(
        indicator=row[1], date=dt.date.fromisoformat(row[2]), occurred=bool(row[4]), reliability=row[5],
        credibility=row[6], source=row[7], url=row[8], note=row[9], analyst=row[10], id=row[0],
        recorded_at=dt.datetime.fromisoformat(row[3]),
    )


def _entry(row: Sequence[Any]) -> StoredReport:
    retraction = None if row[11] is None else Retraction(row[0], row[11], dt.datetime.fromisoformat(row[12]), row[13])
    return StoredReport(_report(row), retraction)


def _is_busy(e: sqlite3.Error) -> bool:
    msg = str(e).lower()
    return "locked" in msg or "busy" in msg


class EventStore:
    """The event store in one SQLite file, opened (created and migrated if need be) on construction.

    Use as a context manager, or call `close()`. One instance per thread."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._db = self._retry("open", self._open)

    # -- opening -----------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        path = self.path
        if path.is_dir():
            raise StoreError(f"{path} is a folder, not an event store file")
        if not path.parent.is_dir():
            raise StoreError(f"cannot create the event store {path}: folder {path.parent} does not exist")
        created = False
        try:
            # Created here, mode 0600, so SQLite never creates it with the umask's wider mode.
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            created = True
        except FileExistsError:
            pass
        except OSError as e:
            raise StoreError(f"cannot create the event store {path}: {e.strerror}") from None
        if not created:
            self._inspect()
        try:
            db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as e:
            raise StoreError(f"cannot open the event store {path}: {e}") from None
        try:
            db.execute("PRAGMA foreign_keys = ON")
            # Up to 64 MiB of page cache (taken only as used): a large import into a large store
            # touches pages all over the unique indexes, and a small cache turns that into disk I/O.
            db.execute("PRAGMA cache_size = -65536")
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode = WAL")
            self._migrate(db)
        except BaseException:
            db.close()
            raise
        return db

    def _inspect(self) -> None:
        """Refuse a file that is not ours before writing a byte: check the header, then the schema
        through a read-only connection."""
        path = self.path
        try:
            with path.open("rb") as f:
                header = f.read(100)
        except OSError as e:
            raise StoreError(f"cannot read the event store {path}: {e.strerror}") from None
        if not header:
            return  # an empty file is an empty SQLite database: ours to set up
        if not header.startswith(SQLITE_MAGIC) or len(header) < 100:
            raise StoreError(f"{path} is not a forecast event store: not an SQLite database (left untouched)")
        if int.from_bytes(header[68:72], "big") == APPLICATION_ID:
            return
        uri = "file:" + urllib.parse.quote(str(path.resolve())) + "?mode=ro"
        try:
            ro = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S)
            try:
                app_id = ro.execute("PRAGMA application_id").fetchone()[0]
                tables = [r[0] for r in ro.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
            finally:
                ro.close()
        except sqlite3.OperationalError as e:
            if _is_busy(e):
                raise
            raise StoreError(f"{path} is not a readable forecast event store ({e}); left untouched") from None
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{path} is corrupt or not a forecast event store ({e}); left untouched") from None
        if app_id == APPLICATION_ID or not tables:
            return
        shown = ", ".join(tables[:5]) + (", …" if len(tables) > 5 else "")
        raise StoreError(
            f"{path} is an SQLite database of another program (tables: {shown}), not a forecast event store; "
            "left untouched — choose another file with --db"
        )

    def _migrate(self, db: sqlite3.Connection) -> None:
        if self._applied(db) == len(MIGRATIONS):
            return  # the common case: no write lock taken just to open
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            done = self._applied(db)
            for version, migration in enumerate(MIGRATIONS[done:], start=done + 1):
                migration(db)
                db.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (version, migration.__name__, format_time(utcnow())),
                )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def _applied(self, db: sqlite3.Connection) -> int:
        """How many migrations the file records (0 for a fresh file); refuses a newer schema."""
        has_table = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").fetchone()
        if not has_table:
            return 0
        versions = [r[0] for r in db.execute("SELECT version FROM schema_migrations ORDER BY version")]
        if versions != list(range(1, len(versions) + 1)):
            raise StoreError(f"{self.path}: schema_migrations is inconsistent ({versions}); refusing to touch it")
        if len(versions) > len(MIGRATIONS):
            raise StoreError(
                f"{self.path} was written by a newer forecast (schema {len(versions)}; this one knows {len(MIGRATIONS)}): upgrade forecast"
            )
        return len(versions)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- locking -----------------------------------------------------------------------------

    def _retry(self, what: str, fn: Callable[[], T]) -> T:
        """Run fn, waiting out other writers. SQLite's busy timeout covers most waits; it does not
        cover a few (switching to WAL, WAL recovery after a crash), which return SQLITE_BUSY at once.
        Those are retried with jittered backoff, so "database is locked" never reaches the user."""
        deadline = time.monotonic() + LOCK_PATIENCE_S
        delay = 0.005
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as e:
                if not _is_busy(e):
                    raise StoreError(f"{self.path}: {what} failed: {e}") from None
                if time.monotonic() > deadline:
                    raise StoreError(
                        f"{self.path}: another process kept the event store busy for over {LOCK_PATIENCE_S:.0f} s; try again"
                    ) from None
            except sqlite3.Error as e:
                raise StoreError(f"{self.path}: {what} failed: {e}") from None
            time.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 0.25)

    def _write(self, what: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        """fn inside one write transaction (taken at once, so writers queue instead of deadlocking)."""

        def attempt() -> T:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = fn(self._db)
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            return result

        return self._retry(what, attempt)

    def _read(self, what: str, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._retry(what, lambda: self._db.execute(sql, params).fetchall())

    # -- writing -----------------------------------------------------------------------------

    def add(self, report: Report, *, analyst: str | None = None, recorded_at: dt.datetime | None = None) -> Report:
        """Record one report; returns it with its id, recorded_at (now, UTC) and analyst.

        `analyst` overrides `report.analyst`; one of them must be given. An identical report
        (same content key) is not recorded twice: DuplicateReportError names the one there."""
        # The canonical form is what a file import produces (evidence.report_from_mapping), so that
        # the content key of a report is the same however it arrived.
        who = analyst if analyst is not None else report.analyst
        report = dataclasses.replace(report, source=report.source.strip(), analyst=who.strip(), id=None)
        check_report(report)
        check_text("analyst", report.analyst, required=True)
        when = recorded_at or utcnow()
        if when > utcnow() + CLOCK_SKEW:
            raise EvidenceError(f"recorded_at {format_time(when)} lies in the future")
        key = content_key(report)

        def insert(db: sqlite3.Connection) -> Report:
            rid, existing = self._place(db, report, key, format_time(when), report.analyst)
            if existing is not None:
                raise DuplicateReportError(existing)
            return dataclasses.replace(report, id=rid, recorded_at=when)

        return self._write("adding a report", insert)

    def _place(
        self, db: sqlite3.Connection, r: Report, key: str, recorded_at: str, analyst: str
    ) -> tuple[str, StoredReport | None]:
        """Insert a report unless its content is stored already: (new id, None) or (id, the stored one).

        A new report's id is r- and the first 12 hex digits of its content key, so the same report
        gets the same id in every store; in the rare clash with another report's id, a longer prefix.
        A report that carries an id (from an export) keeps it; _IdTaken if it names another report.
        One INSERT per report in the common case: the unique indexes do the looking up."""
        candidates = [r.id] if r.id is not None else ["r-" + key[:n] for n in (ID_HEX, 16, 24, 64)]
        for rid in candidates:
            try:
                db.execute(
                    "INSERT INTO reports (id, indicator, event_date, recorded_at, occurred, reliability, credibility, "
                    "source, url, note, analyst, content_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        rid, r.indicator, r.date.isoformat(), recorded_at, int(r.occurred), r.reliability,
                        r.credibility, r.source, r.url, r.note, analyst, key,
                    ),
                )
                return rid, None
            except sqlite3.IntegrityError as e:
                if "UNIQUE" not in str(e):
                    raise
            row = db.execute(f"SELECT {_COLUMNS} {_FROM} WHERE r.content_key = ?", (key,)).fetchone()
            if row is not None:
                existing = _entry(row)
                assert existing.report.id is not None
                return existing.report.id, existing
        raise _IdTaken(candidates[-1])

    def retract(self, report_id: str, reason: str, who: str) -> Retraction:
        """Withdraw a report (it stays in the store, marked). `report_id` may be a unique prefix."""
        reason, who = reason.strip(), who.strip()
        check_text("reason", reason, required=True)
        check_text("who", who, required=True)

        def insert(db: sqlite3.Connection) -> Retraction:
            entry = self._resolve(db, report_id)
            if entry.retraction is not None:
                t = entry.retraction
                raise UsageError(
                    f"{entry.report.id} was already retracted on {format_time(t.retracted_at)} by {t.retracted_by}: {t.reason}"
                )
            assert entry.report.id is not None
            retraction = Retraction(entry.report.id, reason, utcnow(), who)
            self._insert_retraction(db, retraction)
            return retraction

        return self._write("retracting a report", insert)

    @staticmethod
    def _insert_retraction(db: sqlite3.Connection, t: Retraction) -> None:
        db.execute(
            "INSERT INTO retractions (report_id, reason, retracted_at, retracted_by) VALUES (?, ?, ?, ?)",
            (t.report_id, t.reason, format_time(t.retracted_at), t.retracted_by),
        )

    def import_reports(
        self,
        reports: Iterable[Report | StoredReport],
        *,
        analyst: str | None = None,
        dry_run: bool = False,
        labels: Sequence[str] | None = None,
    ) -> ImportResult:
        """Add many reports in one transaction: all of them or, on any problem, none.

        A report keeps the id, recorded_at and analyst it carries (an export's); missing ones get a
        fresh id, now, and `analyst`. A report whose content is already stored, or repeated in the
        batch, is skipped; a retraction it carries is added if the stored report has none. An id
        already naming a different report is an error. `labels[i]` (e.g. "file.csv:7") names the
        i-th report in errors. With `dry_run`, everything is checked and counted, nothing kept."""
        entries = [r if isinstance(r, StoredReport) else StoredReport(r) for r in reports]
        now = format_time(utcnow())
        fallback = (analyst or "").strip()

        def where(i: int) -> str:
            return labels[i] if labels is not None else f"report {i + 1}"

        def run(db: sqlite3.Connection) -> ImportResult:
            added = skipped = retracted = 0
            problems: list[str] = []
            for i, entry in enumerate(entries):
                r = entry.report
                if r.source != r.source.strip():  # the canonical form, as in add()
                    r = dataclasses.replace(r, source=r.source.strip())
                who = (r.analyst or fallback).strip()
                try:
                    check_report(r)
                    check_text("analyst", who, required=True)
                    key = content_key(r)
                    rid, existing = self._place(db, r, key, format_time(r.recorded_at) if r.recorded_at else now, who)
                except EvidenceError as e:
                    problems.append(f"{where(i)}: {e}")
                    continue
                except _IdTaken as e:
                    problems.append(f"{where(i)}: field 'id': {e.report_id} already names a different report in the store")
                    continue
                if existing is not None:
                    if r.id is not None and r.id != rid:
                        problems.append(f"{where(i)}: field 'id': the store holds this report as {rid}, not {r.id}")
                        continue
                    skipped += 1
                    if entry.retraction is None or existing.retraction is not None:
                        continue
                else:
                    added += 1
                if entry.retraction is not None:
                    self._insert_retraction(db, dataclasses.replace(entry.retraction, report_id=rid))
                    retracted += 1
            if problems:
                raise ImportFileError("import", problems)
            if dry_run:
                raise _DryRun(ImportResult(added, skipped, retracted))
            return ImportResult(added, skipped, retracted)

        try:
            return self._write("importing reports", run)
        except _DryRun as d:
            return d.result

    # -- reading -----------------------------------------------------------------------------

    def get(self, report_id: str) -> StoredReport:
        """One report by id or unique id prefix (with or without the `r-`)."""
        return self._retry("reading a report", lambda: self._resolve(self._db, report_id))

    def _resolve(self, db: sqlite3.Connection, report_id: str) -> StoredReport:
        rid = report_id.strip().lower()
        if rid and not rid.startswith("r-"):
            rid = "r-" + rid
        row = db.execute(f"SELECT {_COLUMNS} {_FROM} WHERE r.id = ?", (rid,)).fetchone()
        if row:
            return _entry(row)
        if len(rid) >= 6:  # r- and at least four digits: short enough to type, long enough to mean one
            rows = db.execute(
                f"SELECT {_COLUMNS} {_FROM} WHERE r.id >= ? AND r.id < ? ORDER BY r.id LIMIT 6", (rid, rid + "\U0010ffff")
            ).fetchall()
            if len(rows) == 1:
                return _entry(rows[0])
            if rows:
                shown = ", ".join(r[0] for r in rows[:5])
                raise UsageError(f"report id {report_id!r} is ambiguous: it starts {shown}{', …' if len(rows) > 5 else ''}")
        raise UsageError(f"no report {report_id!r} in {self.path} (see `forecast event list`)")

    def list(
        self,
        *,
        indicator: str | None = None,
        since: dt.date | None = None,
        until: dt.date | None = None,
        include_retracted: bool = False,
        limit: int | None = None,
        newest_first: bool = True,
    ) -> Generator[StoredReport, None, None]:
        """Reports by event date (newest first unless told), streamed from the database."""
        where: builtins.list[str] = ["1 = 1"]
        params: builtins.list[Any] = []
        if indicator is not None:
            where.append("r.indicator = ?")
            params.append(indicator)
        if since is not None:
            where.append("r.event_date >= ?")
            params.append(since.isoformat())
        if until is not None:
            where.append("r.event_date <= ?")
            params.append(until.isoformat())
        if not include_retracted:
            where.append("t.report_id IS NULL")
        order = "DESC" if newest_first else "ASC"
        sql = f"SELECT {_COLUMNS} {_FROM} WHERE {' AND '.join(where)} ORDER BY r.event_date {order}, r.recorded_at {order}, r.id {order}"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return self._stream("listing reports", sql, params)

    def _stream(self, what: str, sql: str, params: Sequence[Any]) -> Generator[StoredReport, None, None]:
        cursor = self._retry(what, lambda: self._db.execute(sql, params))
        try:
            while True:
                rows = self._retry(what, lambda: cursor.fetchmany(500))
                if not rows:
                    return
                yield from (_entry(r) for r in rows)
        finally:
            with contextlib.suppress(sqlite3.ProgrammingError):  # the store was closed first
                cursor.close()

    def all(self) -> Generator[StoredReport, None, None]:
        """Every report, retracted ones too, in the order they became known (recorded_at, then id)."""
        return self._stream("reading reports", f"SELECT {_COLUMNS} {_FROM} ORDER BY r.recorded_at, r.id", ())

    def export(self, stream: IO[str], *, fmt: Format = "csv") -> int:
        """Write every report (retracted ones with their retraction) to `stream`; returns how many.
        Importing the output into an empty store and exporting again gives the same text."""
        return write_reports(stream, self.all(), fmt=fmt)

    def counts(self) -> dict[str, int]:
        """Totals: {"total": every report, "active": not retracted, "retracted": retracted}."""
        total, retracted = self._read(
            "counting reports", "SELECT (SELECT COUNT(*) FROM reports), (SELECT COUNT(*) FROM retractions)"
        )[0]
        return {"total": total, "active": total - retracted, "retracted": retracted}

    def indicator_counts(self) -> dict[str, IndicatorCount]:
        """Per indicator: reports not retracted, retracted, and the latest event date."""
        rows = self._read(
            "counting reports",
            "SELECT r.indicator, SUM(t.report_id IS NULL), SUM(t.report_id IS NOT NULL), "
            f"MAX(CASE WHEN t.report_id IS NULL THEN r.event_date END) {_FROM} GROUP BY r.indicator ORDER BY r.indicator",
        )
        return {
            ind: IndicatorCount(live, dead, dt.date.fromisoformat(last) if last else None) for ind, live, dead, last in rows
        }

    def reports_for_update(self, as_of: dt.date, window_days: int, *, by_event_time: bool = False) -> builtins.list[Report]:
        """The reports inference uses: event date in [as_of − window_days, as_of], not retracted.

        Knowledge time (the default): only what was known at the end of `as_of` (UTC) — reports
        recorded by then, hidden only by retractions recorded by then. `by_event_time` replays by
        event date instead (back-testing): every report in the window, less every retraction."""
        start = (as_of - dt.timedelta(days=window_days)).isoformat()
        sql = f"SELECT {_COLUMNS} {_FROM} WHERE r.event_date BETWEEN ? AND ?"
        params: list[Any] = [start, as_of.isoformat()]
        if by_event_time:
            sql += " AND t.report_id IS NULL"
        else:
            cutoff = format_time(dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC))
            sql += " AND r.recorded_at < ? AND (t.report_id IS NULL OR t.retracted_at >= ?)"
            params += [cutoff, cutoff]
        sql += " ORDER BY r.event_date, r.id"
        return [_report(r) for r in self._read("reading reports", sql, params)]


class _IdTaken(Exception):
    def __init__(self, report_id: str) -> None:
        super().__init__(report_id)
        self.report_id = report_id


class _DryRun(Exception):
    """Unwinds the import transaction (rolling it back) carrying what it would have done."""

    def __init__(self, result: ImportResult) -> None:
        self.result = result


# ---------------------------------------------------------------------------------------------
# Exchange formats: CSV, YAML, JSON with the same fields. `forecast event export` writes them,
# `forecast event import` reads them, and a round trip through an empty store changes nothing.
#
# CSV formula injection: a cell that a spreadsheet would run as a formula (it begins with = + - @,
# a tab or a carriage return) is written with a leading apostrophe, which spreadsheets show as text.
# So that this is reversible, a cell that already begins with apostrophes followed by one of those
# characters gets one more apostrophe; import removes exactly one apostrophe from any cell that
# begins with apostrophes followed by one of them. A hand-written cell like "'quoted' text" is
# never touched.
# ---------------------------------------------------------------------------------------------

EXPORT_FIELDS = (
    "id", "indicator", "date", "occurred", "grade", "source", "url", "note", "analyst", "recorded_at",
    "retracted_at", "retracted_by", "retraction_reason",
)
_RETRACTION_FIELDS = ("retracted_at", "retracted_by", "retraction_reason")
_STORE_FIELDS = {"id", "recorded_at", *_RETRACTION_FIELDS}
_IMPORT_FIELDS = {"indicator", "date", "occurred", "reliability", "credibility", "grade", "source", "url", "note",
                  "analyst", "citation", *_STORE_FIELDS}
_RISKY = frozenset("=+-@\t\r'")  # the first characters that may need the escape
_FORMULA = re.compile(r"^'*[=+\-@\t\r]")
_ESCAPED_FORMULA = re.compile(r"^'+[=+\-@\t\r]")


def escape_cell(text: str) -> str:
    return "'" + text if text[:1] in _RISKY and _FORMULA.match(text) else text


def unescape_cell(text: str) -> str:
    return text[1:] if text[:1] == "'" and _ESCAPED_FORMULA.match(text) else text


def report_to_row(entry: StoredReport) -> dict[str, Any]:
    """The export fields of one stored report, as JSON-ready values."""
    r, t = entry.report, entry.retraction
    return {
        "id": r.id,
        "indicator": r.indicator,
        "date": r.date.isoformat(),
        "occurred": r.occurred,
        "grade": r.grade,
        "source": r.source,
        "url": r.url,
        "note": r.note,
        "analyst": r.analyst,
        "recorded_at": format_time(r.recorded_at) if r.recorded_at else None,
        "retracted_at": format_time(t.retracted_at) if t else None,
        "retracted_by": t.retracted_by if t else None,
        "retraction_reason": t.reason if t else None,
    }


def write_reports(stream: IO[str], entries: Iterable[StoredReport], *, fmt: Format) -> int:
    """Stream reports in an exchange format; returns how many were written."""
    n = 0
    if fmt == "csv":
        writer = csv.writer(stream, lineterminator="\r\n")
        writer.writerow(EXPORT_FIELDS)
        for entry in entries:
            writer.writerow([escape_cell(cell) for cell in _csv_cells(entry)])
            n += 1
    elif fmt == "json":
        stream.write('{"reports": [')
        for entry in entries:
            stream.write(("," if n else "") + "\n  " + json.dumps(_compact(report_to_row(entry)), ensure_ascii=False))
            n += 1
        stream.write("\n]}\n" if n else "]}\n")
    elif fmt == "yaml":
        import yaml

        dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        for entry in entries:
            row = _compact(report_to_row(entry))
            row["date"] = entry.report.date  # a YAML date, unquoted
            # One item at a time, so a large export streams: "reports:" then "- ..." items.
            stream.write(("" if n else "reports:\n") + yaml.dump([row], Dumper=dumper, sort_keys=False, allow_unicode=True))
            n += 1
        if not n:
            stream.write("reports: []\n")
    else:
        raise UsageError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
    return n


def _csv_cells(entry: StoredReport) -> list[str]:
    """report_to_row as CSV text, in EXPORT_FIELDS order (the export's hot loop: kept direct)."""
    r, t = entry.report, entry.retraction
    cells = [
        r.id or "", r.indicator, r.date.isoformat(), "true" if r.occurred else "false", r.grade, r.source, r.url,
        r.note, r.analyst, format_time(r.recorded_at) if r.recorded_at else "",
    ]
    cells += [format_time(t.retracted_at), t.retracted_by, t.reason] if t else ["", "", ""]
    return cells


def _compact(row: dict[str, Any]) -> dict[str, Any]:
    """Without the retraction fields of a report that has none (YAML and JSON; CSV keeps empty cells)."""
    return {k: v for k, v in row.items() if not (k in _RETRACTION_FIELDS and v is None)}


def format_from_name(path: Path) -> Format:
    suffix = path.suffix.lower().lstrip(".")
    if suffix == "yml":
        suffix = "yaml"
    if suffix in FORMATS:
        return suffix
    raise UsageError(f"{path}: cannot tell the format from the name; add --format {' | '.join(FORMATS)}")


@dataclass(frozen=True)
class ReportsFile:
    """Reports read and validated from a file, each with where it stood (file:line)."""

    entries: list[StoredReport]
    labels: list[str]


def read_reports_file(
    path: Path, *, known: Iterable[str], fmt: Format | None = None, today: dt.date | None = None
) -> ReportsFile:
    """Read and validate every report in a CSV, YAML or JSON file (the export fields; id,
    recorded_at, analyst and the retraction fields optional). Every row is checked; if any is bad,
    ImportFileError lists them all, each as file:line: field: problem."""
    fmt = fmt or format_from_name(path)
    known = set(known)
    today = today or dt.date.today()
    if fmt == "csv":
        rows = _csv_rows(path)
    elif fmt == "yaml":
        rows = _yaml_rows(path)
    elif fmt == "json":
        rows = _json_rows(path)
    else:
        raise UsageError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
    entries: list[StoredReport] = []
    labels: list[str] = []
    problems: list[str] = []
    for where, row in rows:
        if isinstance(row, str):  # a row the reader could not even split into fields
            problems.append(f"{where}: {row}")
            continue
        try:
            entries.append(entry_from_mapping(row, known=known, where=where, today=today))
            labels.append(where)
        except EvidenceError as e:
            problems.append(str(e))
    if problems:
        raise ImportFileError(str(path), problems)
    return ReportsFile(entries, labels)


def entry_from_mapping(
    row: Mapping[str, Any], *, known: Iterable[str], where: str, today: dt.date | None = None
) -> StoredReport:
    """One report of an exchange file: the report fields (evidence.report_from_mapping) plus the
    store's own (id, recorded_at, retraction)."""
    bad_keys = [k for k in row if not isinstance(k, str)]
    if bad_keys:
        raise EvidenceError(f"{where}: field names must be text, got {bad_keys[0]!r}")
    unknown = sorted(set(row) - _IMPORT_FIELDS)
    if unknown:
        raise EvidenceError(f"{where}: unknown field {unknown[0]!r}{did_you_mean(unknown[0], _IMPORT_FIELDS)}")
    report = report_from_mapping({k: v for k, v in row.items() if k not in _STORE_FIELDS}, known=known, where=where, today=today)

    def text(name: str) -> str:
        v = row.get(name)
        return "" if v is None else str(v)

    rid = text("id").strip().lower() or None
    if rid is not None and not _ID.match(rid):
        raise EvidenceError(f"{where}: field 'id': {rid!r} is not a report id (r- and hex digits); leave it empty to assign one")
    recorded_at = _time_field(row, "recorded_at", where)
    retraction = None
    given = [k for k in _RETRACTION_FIELDS if text(k).strip()]
    if given:
        missing = [k for k in _RETRACTION_FIELDS if k not in given]
        if missing:
            raise EvidenceError(f"{where}: field {missing[0]!r}: missing (a retraction needs {', '.join(_RETRACTION_FIELDS)})")
        retracted_at = _time_field(row, "retracted_at", where)
        assert retracted_at is not None
        if recorded_at is not None and retracted_at < recorded_at:
            raise EvidenceError(f"{where}: field 'retracted_at': before the report was recorded ({format_time(recorded_at)})")
        retraction = Retraction(
            rid or "", text("retraction_reason").strip(), retracted_at, text("retracted_by").strip()
        )
    for name, value in (("source", report.source), ("url", report.url), ("note", report.note), ("analyst", report.analyst)):
        try:
            check_text(name, value)
        except EvidenceError as e:
            raise EvidenceError(f"{where}: {e}") from None
    if retraction is not None:
        for name, value in (("retraction_reason", retraction.reason), ("retracted_by", retraction.retracted_by)):
            try:
                check_text(name, value, required=True)
            except EvidenceError as e:
                raise EvidenceError(f"{where}: {e}") from None
    return StoredReport(dataclasses.replace(report, id=rid, recorded_at=recorded_at), retraction)


def _time_field(row: Mapping[str, Any], name: str, where: str) -> dt.datetime | None:
    value = row.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        t = parse_time(value)
    except (ValueError, TypeError):
        raise EvidenceError(f"{where}: field {name!r}: {value!r} is not an ISO timestamp (e.g. 2025-03-18T09:30:00Z)") from None
    if t > utcnow() + CLOCK_SKEW:
        raise EvidenceError(f"{where}: field {name!r}: {format_time(t)} lies in the future")
    return t


Row = tuple[str, "Mapping[str, Any] | str"]


def _csv_rows(path: Path) -> list[Row]:
    """(file:line, row) for every data row; line is where the row starts (a quoted cell may span lines)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:  # newline="": a quoted CRLF stays CRLF
            text = f.read()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except UnicodeDecodeError as e:
        line = path.read_bytes()[: e.start].count(b"\n") + 1
        raise UsageError(f"{path}:{line}: not UTF-8 text; save the file as UTF-8 (CSV UTF-8 in Excel)") from None
    except OSError as e:
        raise UsageError(f"{path}: cannot read: {e.strerror}") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise EvidenceError(f"{path}: empty file; expected a header row ({', '.join(EXPORT_FIELDS)})") from None
    except csv.Error as e:
        raise EvidenceError(f"{path}:1: malformed CSV header: {e}") from None
    columns = [h.strip().lower() for h in header]
    unknown = [c for c in columns if c not in _IMPORT_FIELDS]
    if unknown:
        raise EvidenceError(
            f"{path}:1: unknown column {unknown[0]!r}{did_you_mean(unknown[0], _IMPORT_FIELDS)}; columns are {', '.join(EXPORT_FIELDS)}"
        )
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes:
        raise EvidenceError(f"{path}:1: column {dupes[0]!r} appears twice")
    needed = [c for c in ("indicator", "date", "source") if c not in columns]
    if "grade" not in columns and not {"reliability", "credibility"} <= set(columns):
        needed.append("grade")
    if needed:
        raise EvidenceError(f"{path}:1: missing column {needed[0]!r}; columns are {', '.join(EXPORT_FIELDS)}")
    rows: list[Row] = []
    end = reader.line_num
    while True:
        start = end + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            rows.append((f"{path}:{start}", f"malformed CSV: {e}"))
            break  # the reader cannot resynchronise after a broken quote
        end = reader.line_num
        if not cells or cells == [""]:
            continue
        if len(cells) != len(columns):
            rows.append((f"{path}:{start}", f"expected {len(columns)} cells (one per column), found {len(cells)}"))
            continue
        row: dict[str, Any] = {}
        for column, cell in zip(columns, cells, strict=True):
            cell = unescape_cell(cell)
            if cell != "" or column == "occurred":  # an empty cell is an absent field; occurred must be said
                row[column] = cell
        rows.append((f"{path}:{start}", row))
    return rows


def _yaml_rows(path: Path) -> list[Row]:
    data = load_yaml(path)
    items = data.get("reports") if isinstance(data, dict) else data
    if items is None:
        items = []
    if not isinstance(items, list):
        raise EvidenceError(f"{path}: expected a list of reports, or a mapping with a 'reports:' list")
    rows: list[Row] = []
    for i, item in enumerate(items, 1):
        where = f"{path}:{line_of(item) or '?'}"
        rows.append((where, item if isinstance(item, dict) else f"report {i}: expected a mapping of report fields"))
    return rows


def _json_rows(path: Path) -> list[Row]:
    """JSON has no line numbers after parsing; rows are named by position (report N) instead."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except json.JSONDecodeError as e:
        raise UsageError(f"{path}:{e.lineno}: malformed JSON: {e.msg}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: cannot read: {e}") from None
    items = data.get("reports") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise EvidenceError(f"{path}: expected a list of reports, or an object with a \"reports\" list")
    return [
        (f"{path}: report {i}", item if isinstance(item, dict) else "expected an object of report fields")
        for i, item in enumerate(items, 1)
    ]
