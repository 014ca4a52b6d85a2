"""The store's schema: numbered migrations, applied in order inside one transaction and recorded
in `schema_migrations`. Append new ones at the end of MIGRATIONS (in this file, so every process
knows every migration); never edit or reorder one that has shipped. A database that records a
migration this version does not know was written by a newer `forecast` and is refused."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

#: What a run may be, and what evidence it read (the run log's CHECK constraints).
KINDS = ("update", "backfill")
EVIDENCE = ("store", "store-event-time", "file", "unknown")
APPLICATION_ID = 0x46435354  # "FCST" in the file header: marks a file as a forecast event store


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
    """The run log: runs, their hypothesis states, the reports each used."""
    statements = [
        f"""CREATE TABLE runs (
            run_id TEXT PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ({", ".join(repr(k) for k in KINDS)})),
            evidence TEXT NOT NULL CHECK (evidence IN ({", ".join(repr(e) for e in EVIDENCE)})),
            recorded_at TEXT NOT NULL,
            as_of TEXT NOT NULL CHECK (as_of GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
            window_start TEXT NOT NULL,
            priors_hash TEXT NOT NULL,
            events_hash TEXT NOT NULL,
            settings_hash TEXT NOT NULL,
            settings TEXT NOT NULL,
            seed INTEGER NOT NULL,
            version TEXT NOT NULL,
            sampler TEXT NOT NULL,
            reports INTEGER NOT NULL,
            r_hat_max REAL,
            ess_min REAL,
            divergences INTEGER NOT NULL,
            wall_seconds REAL NOT NULL,
            netcdf TEXT,
            previous_run_id TEXT,
            result TEXT NOT NULL
        )""",
        "CREATE INDEX runs_as_of ON runs (as_of, recorded_at)",
        "CREATE INDEX runs_recorded_at ON runs (recorded_at)",
        "CREATE INDEX runs_priors_hash ON runs (priors_hash)",
        """CREATE TABLE run_states (
            run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
            hypothesis TEXT NOT NULL,
            state TEXT NOT NULL,
            position INTEGER NOT NULL,
            prior REAL NOT NULL,
            prior_low REAL,
            prior_high REAL,
            posterior REAL NOT NULL,
            low REAL,
            high REAL,
            exact REAL NOT NULL,
            PRIMARY KEY (run_id, hypothesis, state)
        )""",
        # Report ids are not foreign keys: a run on an events file uses reports the store never held.
        """CREATE TABLE run_reports (
            run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
            report_id TEXT NOT NULL,
            PRIMARY KEY (run_id, report_id)
        )""",
        "CREATE INDEX run_reports_report ON run_reports (report_id)",
    ]
    for sql in statements:
        db.execute(sql)


def m003_origin(db: sqlite3.Connection) -> None:
    """Reports gain an optional origin (MODEL.md §3: same-origin reports on one indicator fold)."""
    db.execute("ALTER TABLE reports ADD COLUMN origin TEXT CHECK (origin IS NULL OR origin <> '')")
    db.execute("CREATE INDEX reports_indicator_origin ON reports (indicator, origin)")


def m004_resolutions(db: sqlite3.Connection) -> None:
    """Resolutions (MODEL.md §6) and their retractions, append-only like reports.

    Besides refusing UPDATE and DELETE, a BEFORE INSERT trigger refuses a row whose id (or, for a
    resolution, content key) is already there: `INSERT OR REPLACE` would otherwise swap a row out,
    as REPLACE's implicit delete fires no delete trigger. WITHOUT ROWID, so no rowid can be given
    to replace a row by either."""
    statements = [
        """CREATE TABLE resolutions (
            id TEXT PRIMARY KEY,
            hypothesis TEXT NOT NULL CHECK (hypothesis <> ''),
            state TEXT NOT NULL CHECK (state <> ''),
            period_from TEXT NOT NULL CHECK (period_from GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
            period_to TEXT NOT NULL CHECK (period_to GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
            rationale TEXT NOT NULL CHECK (rationale <> ''),
            source TEXT NOT NULL CHECK (source <> ''),
            analyst TEXT NOT NULL CHECK (analyst <> ''),
            recorded_at TEXT NOT NULL,
            content_key TEXT NOT NULL UNIQUE,
            CHECK (period_from <= period_to)
        ) WITHOUT ROWID""",
        "CREATE INDEX resolutions_hypothesis ON resolutions (hypothesis, period_from)",
        """CREATE TABLE resolution_retractions (
            resolution_id TEXT PRIMARY KEY REFERENCES resolutions (id),
            reason TEXT NOT NULL CHECK (reason <> ''),
            retracted_at TEXT NOT NULL,
            retracted_by TEXT NOT NULL CHECK (retracted_by <> '')
        ) WITHOUT ROWID""",
        "CREATE TRIGGER resolutions_no_replace BEFORE INSERT ON resolutions "
        "WHEN EXISTS (SELECT 1 FROM resolutions WHERE id = NEW.id OR content_key = NEW.content_key) "
        "BEGIN SELECT RAISE(ABORT, 'resolutions are append-only: this id or content is already recorded'); END",
        "CREATE TRIGGER resolution_retractions_no_replace BEFORE INSERT ON resolution_retractions "
        "WHEN EXISTS (SELECT 1 FROM resolution_retractions WHERE resolution_id = NEW.resolution_id) "
        "BEGIN SELECT RAISE(ABORT, 'resolution_retractions are append-only: this resolution is already retracted'); END",
    ]
    for table in ("resolutions", "resolution_retractions"):
        for op in ("UPDATE", "DELETE"):
            statements.append(
                f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} are append-only'); END"
            )
    for sql in statements:
        db.execute(sql)


def m005_append_only(db: sqlite3.Connection) -> None:
    """Append-only in the database itself, for every SQL path. m001's UPDATE/DELETE triggers do not
    see `INSERT OR REPLACE`, `REPLACE INTO` or an upsert: REPLACE deletes the clashing row without
    firing delete triggers (unless recursive_triggers is on). A BEFORE INSERT trigger runs before
    any conflict resolution, so refusing an insert whose id, content key or rowid is taken already
    closes them all. A retraction must name a stored report and cannot predate it."""
    statements = [
        """CREATE TRIGGER reports_no_replace BEFORE INSERT ON reports
        WHEN EXISTS (SELECT 1 FROM reports WHERE id = NEW.id OR content_key = NEW.content_key OR seq = NEW.seq)
        BEGIN SELECT RAISE(ABORT, 'reports are append-only: UNIQUE id or content already stored'); END""",
        """CREATE TRIGGER retractions_no_replace BEFORE INSERT ON retractions
        WHEN EXISTS (SELECT 1 FROM retractions WHERE report_id = NEW.report_id OR rowid = NEW.rowid)
        BEGIN SELECT RAISE(ABORT, 'retractions are append-only: UNIQUE report already retracted'); END""",
        """CREATE TRIGGER retractions_need_report BEFORE INSERT ON retractions
        WHEN NOT EXISTS (SELECT 1 FROM reports WHERE id = NEW.report_id)
        BEGIN SELECT RAISE(ABORT, 'a retraction must name a stored report'); END""",
        """CREATE TRIGGER retractions_not_before_report BEFORE INSERT ON retractions
        WHEN NEW.retracted_at < (SELECT recorded_at FROM reports WHERE id = NEW.report_id)
        BEGIN SELECT RAISE(ABORT, 'a retraction cannot predate its report'); END""",
    ]
    for sql in statements:
        db.execute(sql)


def m007_source_time(db: sqlite3.Connection) -> None:
    """Reports imported from coded event data (ACLED, GDELT; issue 15) keep the source's own time
    of the row they came from (ACLED's `timestamp`, GDELT's DATEADDED; UTC, in format_time's
    fixed-width form), so a re-import tells a repeat (same time) from an update at source (a
    newer one); NULL for every other report. The index finds an event's reports by origin.
    Portable SQL (SQLite and PostgreSQL alike). Numbered 7: 6 is the run-draws migration (issue 13)."""
    db.execute("ALTER TABLE reports ADD COLUMN source_time TEXT")
    db.execute("CREATE INDEX reports_origin_source_time ON reports (origin, source_time)")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    m001_reports, m002_runs, m003_origin, m004_resolutions, m005_append_only, m007_source_time,
]
