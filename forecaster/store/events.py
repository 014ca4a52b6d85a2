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
import dataclasses
import datetime as dt
import os
import random
import sqlite3
import time
import urllib.parse
from collections.abc import Callable, Generator, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from forecaster.core.errors import EvidenceError, StoreError, UsageError
from forecaster.core.text import canonical_text
from forecaster.model.evidence import Report
from forecaster.store.coded import CodedImports
from forecaster.store.formats import write_reports
from forecaster.store.migrations import APPLICATION_ID, MIGRATIONS
from forecaster.store.records import (
    BUSY_TIMEOUT_S,
    CLOCK_SKEW,
    EPISODE_DAYS,
    ID_HEX,
    LOCK_PATIENCE_S,
    SQLITE_MAGIC,
    DuplicateReportError,
    Format,
    ImportFileError,
    ImportResult,
    IndicatorCount,
    Retraction,
    Similar,
    StoredReport,
    T,
    canonical_report,
    check_report,
    check_text,
    content_key,
    format_time,
    normal_text,
    utcnow,
)

# ---------------------------------------------------------------------------------------------
# The store
# ---------------------------------------------------------------------------------------------

_COLUMNS = (
    "r.id, r.indicator, r.event_date, r.recorded_at, r.occurred, r.reliability, r.credibility, "
    "r.source, r.url, r.note, r.analyst, t.reason, t.retracted_at, t.retracted_by, r.origin"
)
_FROM = "FROM reports r LEFT JOIN retractions t ON t.report_id = r.id"


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


def _tighten(path: Path) -> None:
    """The store is private (0600) whatever the umask was: a file of ours (and its WAL and shared
    memory files) opened to the group or the world is closed again."""
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            st = p.stat()
            if st.st_uid == os.getuid() and st.st_mode & 0o077:
                os.chmod(p, st.st_mode & 0o700)
        except (OSError, AttributeError):
            continue


def _is_busy(e: sqlite3.Error) -> bool:
    msg = str(e).lower()
    return "locked" in msg or "busy" in msg


class EventStore(CodedImports):
    """The event store in one SQLite file, opened (created and migrated if need be) on construction.

    Use as a context manager, or call `close()`. One instance per thread. Coded event data
    (`coded_reports`, `apply_coded`; issue 15) comes from `forecaster.store.coded`."""

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
            _tighten(path)
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
        report = canonical_report(dataclasses.replace(report, analyst=who, id=None))
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
        self, db: sqlite3.Connection, r: Report, key: str, recorded_at: str, analyst: str, *, source_time: str | None = None
    ) -> tuple[str, StoredReport | None]:
        """Insert a report unless its content is stored already: (new id, None) or (id, the stored one).

        A new report's id is r- and the first 12 hex digits of its content key, so the same report
        gets the same id in every store; in the rare clash with another report's id, a longer prefix.
        A report that carries an id (from an export) keeps it; _IdTaken if it names another report.
        One INSERT per report in the common case: the unique indexes do the looking up.
        `source_time` (m007): the coded source's time of the row a report came from (issue 15)."""
        candidates = [r.id] if r.id is not None else ["r-" + key[:n] for n in (ID_HEX, 16, 24, 64)]
        for rid in candidates:
            try:
                db.execute(
                    "INSERT INTO reports (id, indicator, event_date, recorded_at, occurred, reliability, credibility, "
                    "source, url, note, analyst, content_key, origin, source_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        rid, r.indicator, r.date.isoformat(), recorded_at, int(r.occurred), r.reliability,
                        r.credibility, r.source, r.url, r.note, analyst, key, r.origin, source_time,
                    ),
                )
                return rid, None
            except sqlite3.IntegrityError as e:
                if "UNIQUE" not in str(e) and "append-only" not in str(e):  # m005's trigger says both
                    raise
            row = db.execute(f"SELECT {_COLUMNS} {_FROM} WHERE r.content_key = ?", (key,)).fetchone()
            if row is not None:
                existing = _entry(row)
                assert existing.report.id is not None
                return existing.report.id, existing
        raise _IdTaken(candidates[-1])

    def similar(self, report: Report) -> Similar:
        """Stored reports (not retracted) the new `report` may repeat (issue 10): an exact duplicate
        (same indicator, date, outcome and source after NFC and whitespace folding), and, when it
        names no origin, likely same-episode reports (same indicator and outcome within 3 days)."""
        return self._retry("looking for duplicates", lambda: self._similar(self._db, report))

    @staticmethod
    def _similar(db: sqlite3.Connection, r: Report, *, exclude: str | None = None) -> Similar:
        lo = (r.date - dt.timedelta(days=EPISODE_DAYS)).isoformat()
        hi = (r.date + dt.timedelta(days=EPISODE_DAYS)).isoformat()
        rows = db.execute(
            f"SELECT {_COLUMNS} {_FROM} WHERE r.indicator = ? AND r.event_date BETWEEN ? AND ? AND r.occurred = ? "
            "AND t.report_id IS NULL ORDER BY abs(julianday(r.event_date) - julianday(?)), r.recorded_at, r.id",
            (r.indicator, lo, hi, int(r.occurred), r.date.isoformat()),
        ).fetchall()
        entries = [e for e in map(_entry, rows) if e.report.id != exclude]
        source = normal_text(r.source)
        duplicate = next((e for e in entries if e.report.date == r.date and normal_text(e.report.source) == source), None)
        episode = tuple(e for e in entries if e is not duplicate) if not r.origin else ()
        return Similar(duplicate, episode)

    def retract(self, report_id: str, reason: str, who: str) -> Retraction:
        """Withdraw a report (it stays in the store, marked). `report_id` may be a unique prefix."""
        reason, who = canonical_text(reason), canonical_text(who, single_line=True)
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
            # Never before the report was recorded (an API caller may record up to CLOCK_SKEW ahead).
            when = max(utcnow(), entry.report.recorded_at or utcnow())
            retraction = Retraction(entry.report.id, reason, when, who)
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
        now_t = utcnow()
        now = format_time(now_t)
        fallback = (analyst or "").strip()

        def where(i: int) -> str:
            return labels[i] if labels is not None else f"report {i + 1}"

        def run(db: sqlite3.Connection) -> ImportResult:
            added = skipped = retracted = 0
            problems: list[str] = []
            for i, entry in enumerate(entries):
                r = entry.report
                t = entry.retraction
                try:
                    r = canonical_report(r)  # the canonical form, as in add()
                    who = canonical_text(r.analyst or fallback, single_line=True)
                    check_report(r)
                    check_text("analyst", who, required=True)
                    if t is not None:
                        t = dataclasses.replace(
                            t, reason=canonical_text(t.reason), retracted_by=canonical_text(t.retracted_by, single_line=True)
                        )
                        check_text("retraction_reason", t.reason, required=True)
                        check_text("retracted_by", t.retracted_by, required=True)
                    key = content_key(r)
                    near = self._similar(db, r) if notes is not None else None
                    if notes is not None and near is not None and near.duplicate is not None and near.duplicate.report.id != r.id:
                        same = db.execute("SELECT 1 FROM reports WHERE content_key = ?", (key,)).fetchone()
                        if same is None:
                            notes.append(f"{where(i)}: duplicate of {near.duplicate.report.id} (same indicator, date, "
                                         "outcome and source); skipped")
                            skipped += 1
                            continue
                    when = format_time(r.recorded_at) if keep_times and r.recorded_at else now
                    rid, existing = self._place(db, r, key, when, who)
                    if existing is None and near is not None and near.episode and notes is not None:
                        other = near.episode[0].report
                        notes.append(f"{where(i)}: likely the same episode as {other.id} ({other.date.isoformat()}); "
                                     "give both an origin if they repeat one source")
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
                    if t is None or existing.retraction is not None:
                        continue
                else:
                    added += 1
                if t is not None:
                    t = dataclasses.replace(t, report_id=rid, retracted_at=t.retracted_at if keep_times else now_t)
                    self._insert_retraction(db, t)
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


