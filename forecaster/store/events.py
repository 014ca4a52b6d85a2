"""The event store (issues 3, 13): graded reports, append-only, in an embedded SQLite file or in a
PostgreSQL database shared by a team — the same code for both, through `backend.Db`.

The only module that writes reports. It also reads and writes the exchange formats (CSV, YAML,
JSON) that `forecast event import` and `export` use, so that a notebook can do all of it
without the CLI:

    with EventStore(ws.db) as store:   # a path, sqlite:///PATH or postgresql://user@host/db
        report = store.add(Report("arms_purchase_east", dt.date(2025, 3, 18), True, "B", 2, "Reuters"), analyst="ana")
        store.retract(report.id, reason="misread the source", who="ana")

Guarantees, each pinned by a test in tests/test_store.py (both backends) or test_team_store.py:
- a file or database that is not ours is refused before anything is written to it; a fresh or
  old file of ours is migrated on open (`MIGRATIONS`), a server database only by `upgrade=True`
  (`forecast db upgrade`); a newer schema is refused on both;
- concurrent writers wait for each other (SQLite: WAL, a busy timeout and a retry; PostgreSQL:
  an advisory lock per write transaction), never "database is locked";
- every multi-row write is one transaction: an import killed half-way, or cut off by a server
  that stops, leaves nothing behind;
- reports and retractions are never updated or deleted (the database's triggers refuse it).
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import datetime as dt
import os
import random
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from forecaster.core.errors import EvidenceError, StoreError, UsageError
from forecaster.core.text import canonical_text
from forecaster.model.evidence import Report
from forecaster.store.backend import POSTGRES_EXTRA, Db, DriverError, SqliteDb, Target, connection_error, parse_target
from forecaster.store.coded import CodedImports
from forecaster.store.formats import write_reports
from forecaster.store.migrations import MIGRATIONS
from forecaster.store.opening import FileBusy, inspect_file, tighten
from forecaster.store.placing import (
    _COLUMNS,
    _FROM,
    _INSERT_RETRACTION,
    _entry,
    _Neighbours,
    _Placer,
    _report,
    _retraction_row,
    checked_entry,
    place_entry,
)
from forecaster.store.records import (
    CLOCK_SKEW,
    LOCK_PATIENCE_S,
    DuplicateReportError,
    Format,
    ImportFileError,
    ImportResult,
    IndicatorCount,
    Retraction,
    Similar,
    StoredReport,
    T,
    ambiguous,
    canonical_report,
    check_report,
    check_text,
    content_key,
    date_range,
    format_time,
    readable,
    rows_by_prefix,
    take_unreadable,
    utcnow,
)

# ---------------------------------------------------------------------------------------------
# The store
# ---------------------------------------------------------------------------------------------


def connect(target: Target) -> Db:
    """One connection to the store (no transaction open); DriverError when it cannot be had.
    The PostgreSQL driver (SQLAlchemy, psycopg) is imported only for a server store."""
    if target.is_file:
        return SqliteDb(target)
    try:
        from forecaster.store.pg import PostgresDb
    except ImportError:
        raise StoreError(f"{target.shown}: {POSTGRES_EXTRA}") from None
    return PostgresDb(target)


class EventStore(CodedImports):
    """The event store: an SQLite file, or a PostgreSQL database (issue 13), opened on construction.
    Coded event data (`coded_reports`, `apply_coded`; issue 15) comes from `store.coded`.

    `where` is a path, `sqlite:///PATH` or `postgresql://user@host:port/dbname`. A file is created
    and migrated if need be; a server database must be at this version's schema (`forecast db
    upgrade`, or `upgrade=True`, migrates it). Use as a context manager, or call `close()`. One
    instance per thread."""

    def __init__(self, where: Path | str | Target, *, upgrade: bool = False) -> None:
        self.target = where if isinstance(where, Target) else parse_target(where)
        self.path = self.target.path  # the file (SQLite); None for a server
        self.name = self.target.shown  # for messages: the file, or the URL without its password
        self.schema_before = 0  # the schema version found on opening (before any migration)
        self._upgrade = upgrade or self.target.is_file
        self._db = self._retry("opening the store", self._open)

    @property
    def dialect(self) -> str:
        return self.target.dialect

    # -- opening -----------------------------------------------------------------------------

    def _open(self) -> Db:
        if self.path is not None:
            self._create_file(self.path)
        db = connect(self.target)
        try:
            self._migrate(db)
        except BaseException:
            with contextlib.suppress(Exception):
                if db.in_transaction:
                    db.rollback()
            db.close()
            raise
        return db

    def _create_file(self, path: Path) -> None:
        if path.is_dir():
            raise StoreError(f"{path} is a folder, not an event store file")
        if not path.parent.is_dir():
            raise StoreError(f"cannot create the event store {path}: folder {path.parent} does not exist")
        try:
            # Created here, mode 0600, so SQLite never creates it with the umask's wider mode.
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            inspect_file(path)
            tighten(path)
        except OSError as e:
            raise StoreError(f"cannot create the event store {path}: {e.strerror}") from None

    def _migrate(self, db: Db) -> None:
        done = self.schema_before = self._applied(db)
        if done == len(MIGRATIONS):
            return  # the common case: no write lock taken just to open
        if not self._upgrade:
            have = "holds no forecast store yet" if done == 0 else f"is at schema {done} of {len(MIGRATIONS)}"
            raise StoreError(f"{self.name} {have}: run `forecast db upgrade` (as the database's owner)")
        db.begin_write()
        try:
            db.driver_sql(
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
            db.commit()
        except BaseException:
            if db.in_transaction:
                db.rollback()
            raise

    def _applied(self, db: Db) -> int:
        """How many migrations the store records (0 for a fresh one); refuses a newer schema and a
        server database that holds another program's tables."""
        tables = db.tables()
        if "schema_migrations" not in tables and (hidden := db.unreadable_store()):
            self._end_read(db)
            raise StoreError(
                f"{self.name}: login {self.target.user!r} may not read the forecast store in schema {hidden!r}: "
                f"ask the store's owner to grant it (GRANT forecast_analyst TO {self.target.user}; forecast db grant-analysts)"
            )
        if "schema_migrations" not in tables:
            if tables and not self.target.is_file:
                shown = ", ".join(tables[:5]) + (", …" if len(tables) > 5 else "")
                raise StoreError(
                    f"{self.name} holds tables of another program ({shown}), not a forecast store; left untouched — "
                    "choose another database or schema"
                )
            self._end_read(db)
            return 0
        versions = [r[0] for r in db.execute("SELECT version FROM schema_migrations ORDER BY version")]
        self._end_read(db)
        if versions != list(range(1, len(versions) + 1)):
            raise StoreError(f"{self.name}: schema_migrations is inconsistent ({versions}); refusing to touch it")
        if len(versions) > len(MIGRATIONS):
            raise StoreError(
                f"{self.name} was written by a newer forecast (schema {len(versions)}; this one knows {len(MIGRATIONS)}): upgrade forecast"
            )
        return len(versions)

    @staticmethod
    def _end_read(db: Db) -> None:
        if db.in_transaction and not db.writing_tx:
            db.rollback()

    def tables(self) -> builtins.list[str]:
        def fetch() -> builtins.list[str]:
            try:
                return self._db.tables()
            finally:
                self._end_read(self._db)

        return self._retry("reading the schema", fetch)

    @property
    def schema_version(self) -> int:
        return len(MIGRATIONS)

    def close(self) -> None:
        db = getattr(self, "_db", None)
        if db is not None:
            with contextlib.suppress(Exception):
                if db.in_transaction:
                    db.rollback()
            db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- locking -----------------------------------------------------------------------------

    def _retry(self, what: str, fn: Callable[[], T]) -> T:
        """Run fn, waiting out other writers. SQLite's busy timeout covers most waits; it does not
        cover a few (switching to WAL, WAL recovery after a crash), which return SQLITE_BUSY at once;
        PostgreSQL writers queue on a lock but may still meet a deadlock or serialization failure.
        Those are retried with jittered backoff, so "database is locked" never reaches the user.
        A dropped connection is not retried: the server rolled back, and the error says so."""
        deadline = time.monotonic() + LOCK_PATIENCE_S
        delay = 0.005
        while True:
            try:
                return fn()
            except FileBusy:
                if time.monotonic() > deadline:
                    raise StoreError(f"{self.name}: another process kept the event store busy; try again") from None
            except DriverError as e:
                if not e.busy:
                    raise connection_error(self.target, what, e) from None
                if time.monotonic() > deadline:
                    raise StoreError(
                        f"{self.name}: another process kept the event store busy for over {LOCK_PATIENCE_S:.0f} s; try again"
                    ) from None
            time.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 0.25)

    def _write(self, what: str, fn: Callable[[Db], T]) -> T:
        """fn inside one write transaction (taken at once, so writers queue instead of deadlocking)."""

        def attempt() -> T:
            db = self._db
            if db.in_transaction:
                db.rollback()  # a read's snapshot, left open by a stream
            db.begin_write()
            try:
                result = fn(db)
                db.commit()
            except BaseException:
                with contextlib.suppress(DriverError):
                    if db.in_transaction:
                        db.rollback()
                raise
            return result

        return self._retry(what, attempt)

    def _snapshot(self, what: str, fn: Callable[[Db], T]) -> T:
        """fn inside one read-only transaction that sees one state of the store throughout
        (SQLite's WAL snapshot; PostgreSQL's REPEATABLE READ), without holding up writers."""

        def attempt() -> T:
            db = self._db
            if db.in_transaction:
                db.rollback()
            db.begin_read()
            try:
                return fn(db)
            finally:
                with contextlib.suppress(DriverError):
                    db.rollback()

        return self._retry(what, attempt)

    def _read(self, what: str, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        def fetch() -> list[Any]:
            try:
                return list(self._db.execute(sql, params).fetchall())
            finally:
                self._end_read(self._db)

        return self._retry(what, fetch)

    # -- writing -----------------------------------------------------------------------------

    def add(self, report: Report, *, analyst: str | None = None, recorded_at: dt.datetime | None = None) -> Report:
        """Record one report; returns it with its id, recorded_at (now, UTC) and analyst. A given
        `recorded_at` (API callers rebuilding history) is kept only for the store's owner: on a
        server, anyone else's report is stamped with the server's clock (m008).

        `analyst` overrides `report.analyst`; one of them must be given. An identical report
        (same content key) is not recorded twice: DuplicateReportError names the one there."""
        # The canonical form is what a file import produces (evidence.report_from_mapping), so that
        # the content key of a report is the same however it arrived.
        who = analyst if analyst is not None else report.analyst
        report = canonical_report(dataclasses.replace(report, analyst=who, id=None))
        check_report(report)
        check_text("analyst", report.analyst, required=True)
        if recorded_at is not None and recorded_at > utcnow() + CLOCK_SKEW:
            raise EvidenceError(f"recorded_at {format_time(recorded_at)} lies in the future")
        key = content_key(report)

        def insert(db: Db) -> Report:
            if recorded_at is not None:
                db.keep_times()  # kept for the store's owner only: for anyone else the server stamps its own time (m008)
            when = recorded_at or db.now()
            placer = _Placer(db, [(report, report.analyst, key)])
            rid, existing = placer.place(report, key, format_time(when), report.analyst)
            if existing is not None:
                raise DuplicateReportError(existing)
            placer.flush()
            return dataclasses.replace(report, id=rid, recorded_at=when)

        return self._write("adding a report", insert)

    def similar(self, report: Report) -> Similar:
        """Stored reports (not retracted) the new `report` may repeat (issue 10): an exact duplicate
        (same indicator, date, outcome and source after NFC and whitespace folding), and, when it
        names no origin, likely same-episode reports (same indicator and outcome within 3 days)."""

        def look() -> Similar:
            try:
                return _Neighbours(self._db, [report]).similar(report)
            finally:
                self._end_read(self._db)

        return self._retry("looking for duplicates", look)

    def retract(self, report_id: str, reason: str, who: str) -> Retraction:
        """Withdraw a report (it stays in the store, marked). `report_id` may be a unique prefix."""
        reason, who = canonical_text(reason), canonical_text(who, single_line=True)
        check_text("reason", reason, required=True)
        check_text("who", who, required=True)

        def insert(db: Db) -> Retraction:
            entry = self._resolve(db, report_id)
            if entry.retraction is not None:
                t = entry.retraction
                raise UsageError(
                    f"{entry.report.id} was already retracted on {format_time(t.retracted_at)} by {t.retracted_by}: {t.reason}"
                )
            assert entry.report.id is not None
            # Never before the report was recorded (an API caller may record up to CLOCK_SKEW ahead).
            now = db.now()
            when = max(now, entry.report.recorded_at or now)
            retraction = Retraction(entry.report.id, reason, when, who)
            db.execute(_INSERT_RETRACTION, _retraction_row(retraction))
            return retraction

        return self._write("retracting a report", insert)

    def import_reports(
        self,
        reports: Iterable[Report | StoredReport],
        *,
        analyst: str | None = None,
        dry_run: bool = False,
        labels: Sequence[str] | None = None,
        notes: builtins.list[str] | None = None,
        keep_times: bool = False,
    ) -> ImportResult:
        """Add many reports in one transaction: all of them or, on any problem, none.

        Knowledge time is this store's clock, never the file's: every report added is recorded
        now, and every retraction added is retracted now, whatever times the entries carry (so an
        import cannot backdate what a past as-of replay saw, and a retraction never predates its
        report). Only a trusted caller rebuilding a store from its own history (tests, benchmarks)
        passes `keep_times`; the CLI never does.

        A report keeps the id and analyst it carries (an export's); missing ones get a fresh id
        and `analyst`. A report whose content is already stored, or repeated in the
        batch, is skipped; a retraction it carries is added if the stored report has none. An id
        already naming a different report is an error. `labels[i]` (e.g. "file.csv:7") names the
        i-th report in errors. With `dry_run`, everything is checked and counted, nothing kept.

        With `notes` (a list, filled in), each new report is also compared with the store and the
        batch before it (`similar`): an exact duplicate is skipped, a likely same-episode report
        added; each gets one line naming its row and the other report's id."""
        entries = [r if isinstance(r, StoredReport) else StoredReport(r) for r in reports]
        fallback = (analyst or "").strip()

        def where(i: int) -> str:
            return labels[i] if labels is not None else f"report {i + 1}"

        checked = [checked_entry(e, fallback, where(i)) for i, e in enumerate(entries)]

        def run(db: Db) -> ImportResult:
            if keep_times:
                db.keep_times()
            now_t = db.now()
            now = format_time(now_t)
            added = skipped = retracted = 0
            problems = [(i, c) for i, c in enumerate(checked) if isinstance(c, str)]
            good = [c for c in checked if not isinstance(c, str)]
            placer = _Placer(db, [(r, who, key) for r, who, key, _ in good])
            near = _Neighbours(db, [r for r, *_ in good]) if notes is not None else None
            for i, c in enumerate(checked):
                if isinstance(c, str):
                    continue
                done = place_entry(c, where(i), placer, near, notes, (now, now_t), keep_times)
                if isinstance(done, str):
                    problems.append((i, done))
                    continue
                added, skipped, retracted = added + done[0], skipped + done[1], retracted + done[2]
            if problems:
                raise ImportFileError("import", [p for _, p in sorted(problems)])
            placer.flush()
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
        def resolve() -> StoredReport:
            try:
                return self._resolve(self._db, report_id)
            finally:
                self._end_read(self._db)

        return self._retry("reading a report", resolve)

    def _resolve(self, db: Db, report_id: str) -> StoredReport:
        rid = report_id.strip().lower()
        if rid and not rid.startswith("r-"):
            rid = "r-" + rid
        rows = rows_by_prefix(db, f"SELECT {_COLUMNS} {_FROM}", "r.id", rid, min_length=len("r-") + 4)
        if len(rows) == 1:
            for entry in readable("reports", rows, _entry):
                return entry
            raise UsageError(take_unreadable()[0])
        if rows:
            raise UsageError(ambiguous("report", report_id, [r[0] for r in rows]))
        raise UsageError(f"no report {report_id!r} in {self.name} (see `forecast event list`)")

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
        date_range("r.event_date", since, until, where, params)
        if not include_retracted:
            where.append("t.report_id IS NULL")
        order = "DESC" if newest_first else "ASC"
        sql = f"SELECT {_COLUMNS} {_FROM} WHERE {' AND '.join(where)} ORDER BY r.event_date {order}, r.recorded_at {order}, r.id {order}"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return self._stream("listing reports", sql, params)

    def _stream(self, what: str, sql: str, params: Sequence[Any]) -> Generator[StoredReport, None, None]:
        db = self._db
        if db.in_transaction and not db.writing_tx:
            db.rollback()
        try:
            cursor = self._retry(what, lambda: db.execute(sql, params, stream=True))
            while True:
                rows = self._retry(what, lambda: cursor.fetchmany(500))
                if not rows:
                    return
                yield from readable("reports", rows, _entry)
        finally:
            with contextlib.suppress(Exception):  # the store was closed first, or the connection dropped
                self._end_read(db)

    def all(self) -> Generator[StoredReport, None, None]:
        """Every report, retracted ones too, in the order they became known (recorded_at, then id)."""
        return self._stream("reading reports", f"SELECT {_COLUMNS} {_FROM} ORDER BY r.recorded_at, r.id", ())

    def by_ids(self, ids: Iterable[str]) -> builtins.list[Report]:
        """The stored reports with these ids (retracted or not), by id; ids not stored are left out."""
        wanted = sorted(set(ids))
        rows = [r for i in range(0, len(wanted), 500) for r in self._read(
            "reading reports", f"SELECT {_COLUMNS} {_FROM} WHERE r.id IN ({', '.join('?' * len(wanted[i:i + 500]))})", wanted[i:i + 500])]
        return list(readable("reports", sorted(rows, key=lambda r: r[0]), _report))

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
            "SELECT r.indicator, SUM(CASE WHEN t.report_id IS NULL THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN t.report_id IS NULL THEN 0 ELSE 1 END), "
            f"MAX(CASE WHEN t.report_id IS NULL THEN r.event_date END) {_FROM} GROUP BY r.indicator ORDER BY r.indicator",
        )
        return {
            ind: IndicatorCount(live, dead, _day(last)) for ind, live, dead, last in rows
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
        return list(readable("reports", self._read("reading reports", sql, params), _report))


def _day(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:  # a row stored before dates were checked (m008): `readable` names it elsewhere
        return None


class _DryRun(Exception):
    """Unwinds the import transaction (rolling it back) carrying what it would have done."""

    def __init__(self, result: ImportResult) -> None:
        self.result = result


