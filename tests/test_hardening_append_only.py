"""Append-only holds in the database itself: no SQL path through plain sqlite3 rewrites a stored
report or retraction (issue 12)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from forecaster.model.evidence import Report
from forecaster.store.events import EventStore

_COLS = "seq, id, indicator, event_date, recorded_at, occurred, reliability, credibility, source, url, note, analyst, content_key"


@pytest.fixture
def stored(tmp_path: Path) -> tuple[Path, str]:
    db = tmp_path / "f.db"
    with EventStore(db) as store:
        r = store.add(Report("arms_purchase_east", dt.date(2025, 3, 18), True, "B", 2, "Reuters"), analyst="ana")
        other = store.add(Report("arms_purchase_east", dt.date(2025, 3, 19), True, "B", 2, "AP"), analyst="ana")
        store.retract(other.id or "", reason="misread", who="ana")
    assert r.id is not None
    return db, r.id


def _snapshot(db: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    raw = sqlite3.connect(db)
    try:
        return (
            raw.execute(f"SELECT {_COLS} FROM reports ORDER BY seq").fetchall(),
            raw.execute("SELECT rowid, * FROM retractions ORDER BY rowid").fetchall(),
        )
    finally:
        raw.close()


def _row(db: Path, rid: str) -> tuple[object, ...]:
    raw = sqlite3.connect(db)
    try:
        return raw.execute(f"SELECT {_COLS} FROM reports WHERE id = ?", (rid,)).fetchone()
    finally:
        raw.close()


REPORT_ATTACKS = [
    # same id, same seq, same content key, each with a changed note
    "INSERT OR REPLACE INTO reports ({cols}) VALUES ({vals})",
    "REPLACE INTO reports ({cols}) VALUES ({vals})",
    "INSERT INTO reports ({cols}) VALUES ({vals}) ON CONFLICT DO UPDATE SET note = excluded.note",
    "INSERT INTO reports ({cols}) VALUES ({vals}) ON CONFLICT (id) DO UPDATE SET note = excluded.note",
    "INSERT INTO reports ({cols}) VALUES ({vals}) ON CONFLICT (content_key) DO UPDATE SET note = excluded.note",
    "INSERT OR IGNORE INTO reports ({cols}) VALUES ({vals})",
    "UPDATE OR REPLACE reports SET note = 'x'",
    "DELETE FROM reports",
]


@pytest.mark.parametrize("sql", REPORT_ATTACKS)
@pytest.mark.parametrize("clash", ["id", "seq", "content_key"])
@pytest.mark.parametrize("recursive", [False, True])
def test_no_sql_path_rewrites_a_report(stored: tuple[Path, str], sql: str, clash: str, recursive: bool) -> None:
    db, rid = stored
    before = _snapshot(db)
    row = list(_row(db, rid))
    # A fresh row that clashes with the stored one on exactly one unique column.
    fresh = dict(zip(_COLS.split(", "), row, strict=True))
    fresh.update(note="rewritten", seq=999, id="r-ffffffffffff", content_key="f" * 64)
    fresh[clash] = dict(zip(_COLS.split(", "), row, strict=True))[clash]
    cols = ", ".join(fresh)
    vals = ", ".join("?" for _ in fresh)
    raw = sqlite3.connect(db, isolation_level=None)
    if recursive:
        raw.execute("PRAGMA recursive_triggers = ON")
    params = list(fresh.values()) if "{vals}" in sql else []
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        raw.execute(sql.format(cols=cols, vals=vals), params)
    raw.close()
    assert _snapshot(db) == before


RETRACTION_ATTACKS = [
    "INSERT OR REPLACE INTO retractions (report_id, reason, retracted_at, retracted_by) VALUES (?, 'r', '2099-01-01T00:00:00.000000Z', 'x')",
    "REPLACE INTO retractions (report_id, reason, retracted_at, retracted_by) VALUES (?, 'r', '2099-01-01T00:00:00.000000Z', 'x')",
    "INSERT INTO retractions (report_id, reason, retracted_at, retracted_by) VALUES (?, 'r', '2099-01-01T00:00:00.000000Z', 'x') "
    "ON CONFLICT DO UPDATE SET reason = excluded.reason",
    "INSERT OR REPLACE INTO retractions (rowid, report_id, reason, retracted_at, retracted_by) "
    "VALUES (1, ?, 'r', '2099-01-01T00:00:00.000000Z', 'x')",
]


@pytest.mark.parametrize("sql", RETRACTION_ATTACKS)
def test_no_sql_path_rewrites_a_retraction(stored: tuple[Path, str], sql: str) -> None:
    db, rid = stored
    before = _snapshot(db)
    retracted = before[1][0][1]
    raw = sqlite3.connect(db, isolation_level=None)
    # rowid clash: a retraction for the live report that would replace the stored one
    target = rid if "rowid" in sql else retracted
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        raw.execute(sql, (target,))
    for stmt in ("UPDATE retractions SET reason = 'x'", "DELETE FROM retractions"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            raw.execute(stmt)
    raw.close()
    assert _snapshot(db) == before


def test_a_retraction_needs_its_report_and_cannot_predate_it(stored: tuple[Path, str]) -> None:
    db, rid = stored
    raw = sqlite3.connect(db, isolation_level=None)
    with pytest.raises(sqlite3.DatabaseError, match="stored report"):
        raw.execute("INSERT INTO retractions (report_id, reason, retracted_at, retracted_by) VALUES ('r-000000000000', 'r', '2099-01-01T00:00:00.000000Z', 'x')")
    with pytest.raises(sqlite3.DatabaseError, match="predate"):
        raw.execute("INSERT INTO retractions (report_id, reason, retracted_at, retracted_by) VALUES (?, 'r', '2000-01-01T00:00:00.000000Z', 'x')", (rid,))
    raw.close()


def test_the_store_still_adds_and_deduplicates(stored: tuple[Path, str]) -> None:
    db, rid = stored
    with EventStore(db) as store:
        from forecaster.store.records import DuplicateReportError

        with pytest.raises(DuplicateReportError):
            store.add(Report("arms_purchase_east", dt.date(2025, 3, 18), True, "B", 2, "Reuters"), analyst="bo")
        n = store.import_reports([Report("arms_purchase_east", dt.date(2025, 3, 18), True, "B", 2, "Reuters")], analyst="bo")
        assert (n.added, n.skipped) == (0, 1)
        store.retract(rid, reason="wrong", who="ana")
        assert store.counts() == {"total": 2, "active": 0, "retracted": 2}
