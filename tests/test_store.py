"""The event store (issue 3): what it keeps, what it refuses, and that nothing is lost."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import forecaster
from forecaster.core.errors import EvidenceError, StoreError, UsageError
from forecaster.core.text import canonical_text
from forecaster.model.evidence import Report
from forecaster.store.events import EventStore
from forecaster.store.formats import escape_cell, read_reports_file, unescape_cell
from forecaster.store.migrations import APPLICATION_ID, MIGRATIONS
from forecaster.store.records import (
    DuplicateReportError,
    Format,
    ImportFileError,
    StoredReport,
    canonical_report,
    content_key,
)
from tests.backends import Backend

KNOWN = {"arms_procurement_east", "north_kosovo_unrest", "kfor_reinforcement"}
ROOT = Path(forecaster.__file__).resolve().parent.parent
UTC = dt.UTC


def report(indicator: str = "north_kosovo_unrest", day: dt.date = dt.date(2025, 3, 18), **kw: object) -> Report:
    fields: dict[str, object] = {"occurred": True, "reliability": "B", "credibility": 2, "source": "Reuters"}
    fields.update(kw)
    return Report(indicator=indicator, date=day, **fields)  # type: ignore[arg-type]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


@pytest.fixture
def db(backend: Backend) -> str:
    """A fresh store on each backend (issue 13): an SQLite file, or a PostgreSQL schema."""
    return backend.new_store()


@pytest.fixture
def file_db(tmp_path: Path) -> Path:
    """An SQLite file, for what only a file has (modes, WAL, foreign files)."""
    return tmp_path / "forecast.db"


# ---------------------------------------------------------------------------------------------
# What a report is once stored
# ---------------------------------------------------------------------------------------------


def test_add_keeps_every_field_and_assigns_id_time_and_analyst(db: str) -> None:
    before = dt.datetime.now(UTC)
    with EventStore(db) as store:
        stored = store.add(report(occurred=False, reliability="C", credibility=3, url="https://x.example", note="n"), analyst="ana")
    assert stored.id is not None and stored.id.startswith("r-") and len(stored.id) == 14
    assert stored.recorded_at is not None and before <= stored.recorded_at <= dt.datetime.now(UTC)
    assert stored.recorded_at.tzinfo is not None
    assert stored.analyst == "ana"
    with EventStore(db) as store:
        again = store.get(stored.id)
    assert again.report == stored
    assert again.retraction is None


def test_id_is_stable_across_stores_and_depends_on_content_only(backend: Backend) -> None:
    with EventStore(backend.new_store("a")) as a, EventStore(backend.new_store("b")) as b:
        ra = a.add(report(), analyst="ana")
        rb = b.add(report(), analyst="bob")
        rc = b.add(report(note="different"), analyst="bob")
    assert ra.id == rb.id != rc.id
    assert ra.id == "r-" + content_key(ra)[:12]


def test_store_file_is_private(file_db: Path) -> None:
    EventStore(file_db).close()
    assert stat.S_IMODE(file_db.stat().st_mode) == 0o600


def test_wal_mode_and_busy_timeout(file_db: Path) -> None:
    with EventStore(file_db) as store:
        assert store._read("", "PRAGMA journal_mode")[0][0] == "wal"
        assert store._read("", "PRAGMA busy_timeout")[0][0] >= 30_000


def test_identical_report_is_not_added_twice(db: str) -> None:
    with EventStore(db) as store:
        first = store.add(report(), analyst="ana")
        with pytest.raises(DuplicateReportError) as e:
            store.add(report(source="  Reuters  "), analyst="bob")  # same content once the source is trimmed
        assert e.value.existing.report.id == first.id
        assert len(list(store.list())) == 1


APPEND_ONLY_SQL = {
    "sqlite": [
        "UPDATE reports SET note = 'x'", "DELETE FROM reports", "UPDATE retractions SET reason = 'x'",
        "DELETE FROM retractions",
    ],
    "postgresql": [
        "UPDATE reports SET note = 'x'", "DELETE FROM reports", "TRUNCATE reports CASCADE",
        "UPDATE retractions SET reason = 'x'", "DELETE FROM retractions", "TRUNCATE retractions",
        # an upsert is an UPDATE: refused by the same trigger
        "INSERT INTO reports (id, indicator, event_date, recorded_at, occurred, reliability, credibility, source, url, "
        "note, analyst, content_key) SELECT id, indicator, event_date, recorded_at, occurred, reliability, credibility, "
        "source, url, 'changed', analyst, content_key FROM reports ON CONFLICT (id) DO UPDATE SET note = EXCLUDED.note",
        "INSERT INTO retractions SELECT report_id, 'changed', retracted_at, retracted_by FROM retractions "
        "ON CONFLICT (report_id) DO UPDATE SET reason = EXCLUDED.reason",
    ],
}


def test_reports_and_retractions_are_append_only(db: str, backend: Backend) -> None:
    """Refused by the database itself, on a plain driver connection (the table owner's, even)."""
    with EventStore(db) as store:
        r = store.add(report(), analyst="ana")
        assert r.id
        store.retract(r.id, "misread", "ana")
        before = _export(store, "json")
    with backend.raw(db) as raw:
        for sql in APPEND_ONLY_SQL[backend.name]:
            with pytest.raises(backend.errors, match="append-only"):
                raw.execute(sql)
    with EventStore(db) as store:
        assert _export(store, "json") == before


def test_bad_text_is_refused(db: str) -> None:
    with EventStore(db) as store:
        with pytest.raises(EvidenceError, match="control character"):
            store.add(report(note="bell\x07"), analyst="ana")
        with pytest.raises(EvidenceError, match="analyst"):
            store.add(report(), analyst="  ")
        with pytest.raises(EvidenceError, match="source"):
            store.add(report(source=" "), analyst="ana")
        assert list(store.list()) == []


# ---------------------------------------------------------------------------------------------
# Retractions, ids, listing, counts
# ---------------------------------------------------------------------------------------------


def test_retract_marks_but_keeps_the_report(db: str) -> None:
    with EventStore(db) as store:
        r = store.add(report(), analyst="ana")
        assert r.id
        t = store.retract(r.id[:6], "source misread", "bob")  # a unique prefix is enough
        assert (t.report_id, t.reason, t.retracted_by) == (r.id, "source misread", "bob")
        assert list(store.list()) == []
        [entry] = store.list(include_retracted=True)
        assert entry.report == r and entry.retraction == t
        with pytest.raises(UsageError, match="already retracted"):
            store.retract(r.id, "again", "bob")
        with pytest.raises(UsageError, match="no report"):
            store.retract("r-ffffffffffff", "x", "bob")
        with pytest.raises(EvidenceError, match="reason"):
            store.retract(r.id, " ", "bob")
        with pytest.raises(DuplicateReportError, match="retracted"):
            store.add(report(), analyst="ana")


def test_ambiguous_prefix_is_refused(db: str) -> None:
    with EventStore(db) as store:
        store.import_reports([
            StoredReport(Report(**{**report().__dict__, "id": "r-abcd01", "note": "1"})),
            StoredReport(Report(**{**report().__dict__, "id": "r-abcd02", "note": "2"})),
        ], analyst="ana")
        with pytest.raises(UsageError, match="ambiguous"):
            store.get("abcd")
        assert store.get("abcd02").report.note == "2"
        assert store.get("R-ABCD01").report.note == "1"


def test_list_filters_orders_and_limits(db: str) -> None:
    with EventStore(db) as store:
        for i in range(10):
            store.add(report("north_kosovo_unrest" if i % 2 else "kfor_reinforcement", dt.date(2025, 1, 1 + i)), analyst="ana")
        dates = [e.report.date.day for e in store.list()]
        assert dates == list(range(10, 0, -1))
        assert [e.report.date.day for e in store.list(newest_first=False, limit=3)] == [1, 2, 3]
        picked = list(store.list(indicator="kfor_reinforcement", since=dt.date(2025, 1, 3), until=dt.date(2025, 1, 7)))
        assert [e.report.date.day for e in picked] == [7, 5, 3]


def test_counts(db: str) -> None:
    with EventStore(db) as store:
        a = store.add(report(day=dt.date(2025, 1, 1)), analyst="ana")
        store.add(report(day=dt.date(2024, 1, 1)), analyst="ana")
        b = store.add(report(day=dt.date(2025, 6, 1)), analyst="ana")
        store.add(report("kfor_reinforcement"), analyst="ana")
        assert a.id and b.id
        store.retract(b.id, "wrong", "ana")
        counts = store.indicator_counts()
        assert store.counts() == {"total": 4, "active": 3, "retracted": 1}
    assert counts["north_kosovo_unrest"].reports == 2
    assert counts["north_kosovo_unrest"].retracted == 1
    assert counts["north_kosovo_unrest"].last_date == dt.date(2025, 1, 1)
    assert counts["kfor_reinforcement"].reports == 1
    assert "arms_procurement_east" not in counts


# ---------------------------------------------------------------------------------------------
# What inference reads: the window, knowledge time and event time
# ---------------------------------------------------------------------------------------------


def test_reports_for_update_window_and_knowledge_time(db: str) -> None:
    def at(y: int, m: int, d: int) -> dt.datetime:
        return dt.datetime(y, m, d, 12, tzinfo=UTC)

    with EventStore(db) as store:
        old = store.add(report(day=dt.date(2020, 1, 1)), analyst="a", recorded_at=at(2020, 1, 2))
        edge = store.add(report(day=dt.date(2024, 1, 1)), analyst="a", recorded_at=at(2024, 1, 2))
        known = store.add(report(day=dt.date(2024, 6, 1)), analyst="a", recorded_at=at(2024, 6, 2))
        late = store.add(report(day=dt.date(2024, 6, 10)), analyst="a", recorded_at=at(2025, 2, 1))
        gone = store.add(report(day=dt.date(2024, 7, 1)), analyst="a", recorded_at=at(2024, 7, 2))
        assert gone.id
        store.retract(gone.id, "wrong", "a")  # retracted now, i.e. after 2024-12-31

        def ids(**kw: object) -> set[str | None]:
            return {r.id for r in store.reports_for_update(**kw)}  # type: ignore[arg-type]

        as_of = dt.date(2024, 12, 31)
        window = (as_of - dt.date(2024, 1, 1)).days  # the window's first day is inside it
        # Knowledge time: what was known on 2024-12-31; the later retraction was not yet known.
        assert ids(as_of=as_of, window_days=window) == {edge.id, known.id, gone.id}
        assert ids(as_of=as_of, window_days=window - 1) == {known.id, gone.id}
        # Event time: everything dated in the window, less every retraction, whenever recorded.
        assert ids(as_of=as_of, window_days=window, by_event_time=True) == {edge.id, known.id, late.id}
        # Today: the retraction is known, and the late report too.
        today = dt.date.today()
        assert ids(as_of=today, window_days=(today - dt.date(2019, 1, 1)).days) == {old.id, edge.id, known.id, late.id}
        # A report recorded on as_of itself counts (the whole day, UTC).
        assert ids(as_of=dt.date(2024, 6, 2), window_days=10) == {known.id}
        assert ids(as_of=dt.date(2024, 6, 1), window_days=10) == set()


# ---------------------------------------------------------------------------------------------
# Migrations
# ---------------------------------------------------------------------------------------------


def test_migrations_are_recorded_and_an_old_file_takes_the_new_path(file_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    EventStore(file_db).close()
    known = len(MIGRATIONS)
    raw = sqlite3.connect(file_db)
    recorded = raw.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
    assert recorded == [(i + 1, m.__name__) for i, m in enumerate(MIGRATIONS)]
    assert recorded[0] == (1, "m001_reports")
    assert raw.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    raw.close()

    def m999_next(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE next_thing (id TEXT PRIMARY KEY)")

    monkeypatch.setattr("forecaster.store.events.MIGRATIONS", [*MIGRATIONS, m999_next])
    EventStore(file_db).close()  # the old file
    EventStore(file_db.with_name("fresh.file_db")).close()  # a new file
    for path in (file_db, file_db.with_name("fresh.file_db")):
        raw = sqlite3.connect(path)
        assert [r[0] for r in raw.execute("SELECT version FROM schema_migrations ORDER BY version")] == list(range(1, known + 2))
        assert raw.execute("SELECT name FROM sqlite_master WHERE name = 'next_thing'").fetchone()
        raw.close()


def test_a_file_from_a_newer_forecast_is_refused(file_db: Path) -> None:
    EventStore(file_db).close()
    raw = sqlite3.connect(file_db)
    raw.execute("INSERT INTO schema_migrations VALUES (?, 'm999_future', '2030-01-01T00:00:00.000000Z')", (len(MIGRATIONS) + 1,))
    raw.commit()
    raw.close()
    with pytest.raises(StoreError, match="newer forecast"):
        EventStore(file_db)


def test_a_server_store_is_migrated_only_by_db_upgrade(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL: an empty or outdated schema is refused with what to run; `upgrade` migrates it,
    recorded in the database with the same numbered steps as SQLite; a newer one is refused."""
    if not backend.is_pg:
        pytest.skip("SQLite migrates itself on open (test_migrations_are_recorded_…)")
    url = backend.new_store("fresh", upgrade=False)
    with pytest.raises(StoreError, match=r"holds no forecast store yet: run `forecast db upgrade`"):
        EventStore(url)
    with EventStore(url, upgrade=True) as store:
        assert store.schema_before == 0
    with backend.raw(url) as raw:
        recorded = raw.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
    assert recorded == [(i + 1, m.__name__) for i, m in enumerate(MIGRATIONS)]

    def m999_next(db: object) -> None:
        from forecaster.store.migrations import run

        run(db, ["CREATE TABLE next_thing (id TEXT PRIMARY KEY)"])  # type: ignore[arg-type]

    monkeypatch.setattr("forecaster.store.events.MIGRATIONS", [*MIGRATIONS, m999_next])
    with pytest.raises(StoreError, match=rf"is at schema {len(MIGRATIONS)} of {len(MIGRATIONS) + 1}: run `forecast db upgrade`"):
        EventStore(url)
    EventStore(url, upgrade=True).close()
    monkeypatch.setattr("forecaster.store.events.MIGRATIONS", MIGRATIONS)
    with pytest.raises(StoreError, match="newer forecast"):
        EventStore(url)
    with pytest.raises(StoreError, match="newer forecast"):
        EventStore(url, upgrade=True)


def test_a_server_database_of_another_program_is_refused_untouched(backend: Backend) -> None:
    if not backend.is_pg:
        pytest.skip("files: test_corrupt_or_foreign_file_is_refused_untouched")
    url = backend.new_store("foreign", upgrade=False)
    with backend.raw(url) as raw:
        raw.execute("CREATE TABLE customers (id int)")
    for upgrade in (False, True):
        with pytest.raises(StoreError, match=r"tables of another program \(customers\)"):
            EventStore(url, upgrade=upgrade)
    with backend.raw(url) as raw:
        tables = raw.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()").fetchall()
    assert tables == [("customers",)]


# ---------------------------------------------------------------------------------------------
# Nothing lost: a corrupt or foreign file is refused untouched
# ---------------------------------------------------------------------------------------------


def _random_bytes(path: Path) -> None:
    path.write_bytes(os.urandom(8192))


def _text_file(path: Path) -> None:
    path.write_text("indicator,date\nx,2025-01-01\n")


def _corrupt_sqlite(path: Path) -> None:
    EventStore(path).close()
    data = bytearray(path.read_bytes())
    data[100:] = os.urandom(len(data) - 100)  # header intact, every page garbage
    data[68:72] = b"\0\0\0\0"
    path.write_bytes(bytes(data))


def _truncated_header(path: Path) -> None:
    path.write_bytes(b"SQLite format 3\x00\x10\x00")


def _foreign_sqlite(path: Path) -> None:
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    raw.execute("INSERT INTO customers (name) VALUES ('Ana')")
    raw.commit()
    raw.close()


def _foreign_sqlite_wal(path: Path) -> None:
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA journal_mode = WAL")
    raw.execute("CREATE TABLE schema_migrations (version TEXT)")  # Rails' table name: still not ours
    raw.commit()
    raw.close()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_random_bytes, "not an SQLite database"),
        (_text_file, "not an SQLite database"),
        (_truncated_header, "not an SQLite database"),
        (_corrupt_sqlite, "corrupt"),
        (_foreign_sqlite, "another program .*customers"),
        (_foreign_sqlite_wal, "another program .*schema_migrations"),
    ],
)
def test_corrupt_or_foreign_file_is_refused_untouched(file_db: Path, make: Callable[[Path], None], message: str) -> None:
    make(file_db)
    before, mode = sha(file_db), file_db.stat().st_mode
    with pytest.raises(StoreError, match=message) as e:
        EventStore(file_db)
    assert "untouched" in str(e.value)
    assert sha(file_db) == before
    assert file_db.stat().st_mode == mode
    assert not file_db.with_name(file_db.name + "-journal").exists()


def test_empty_file_is_set_up_as_a_store(file_db: Path) -> None:
    file_db.touch()
    with EventStore(file_db) as store:
        store.add(report(), analyst="ana")


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        EventStore(tmp_path / "nope" / "forecast.db")
    with pytest.raises(StoreError, match="folder"):
        EventStore(tmp_path)


# ---------------------------------------------------------------------------------------------
# Nothing lost: concurrent writers
# ---------------------------------------------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import datetime as dt, os, sys, time
    from forecaster.model.evidence import Report
    from forecaster.store.events import EventStore

    path, worker, n, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    while not os.path.exists(go):
        time.sleep(0.001)
    for i in range(n):
        with EventStore(path) as store:  # a fresh open each time: migration and WAL set-up race too
            store.add(Report("north_kosovo_unrest", dt.date(2025, 1, 1), True, "B", 2, f"worker {worker}", note=f"report {i}"),
                      analyst=f"w{worker}")
    """
)


def test_four_processes_adding_at_once_lose_nothing(tmp_path: Path, db: str) -> None:
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db), str(w), "50", str(go)],
            env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for w in range(4)
    ]
    time.sleep(0.3)  # let all four start and wait at the line
    go.touch()
    outputs = [p.communicate(timeout=240) for p in procs]
    for p, (_out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
        assert "locked" not in err.lower()
    with EventStore(db) as store:
        entries = list(store.list())
    assert len(entries) == 200
    assert {(e.report.source, e.report.note) for e in entries} == {(f"worker {w}", f"report {i}") for w in range(4) for i in range(50)}


# ---------------------------------------------------------------------------------------------
# Nothing lost: an import killed half-way
# ---------------------------------------------------------------------------------------------

IMPORTER = textwrap.dedent(
    """
    import datetime as dt, sys, time
    from forecaster.model.evidence import Report
    from forecaster.store import events
    from forecaster.store.events import EventStore

    path, slow = sys.argv[1], sys.argv[2] == "slow"
    reports = [Report("north_kosovo_unrest", dt.date(2020, 1, 1) + dt.timedelta(days=i % 1500), True, "B", 2, "bulk",
                      note=f"row {i}") for i in range(5000)]
    with EventStore(path) as store:
        if slow:
            raw = store._db.raw
            if store.dialect == "sqlite":
                # A small page cache spills the transaction's pages into the WAL early (so the kill finds
                # uncommitted frames on disk), and a progress handler slows it enough to be killed mid-way.
                raw.execute("PRAGMA cache_size = 8")
                raw.set_progress_handler(lambda: time.sleep(0.001), 1000)
            else:
                # Rows go to the server 50 at a time, a pause between: the kill lands mid-transaction.
                flush = events._Placer.flush
                def slow_flush(self):
                    rows = self.reports
                    for i in range(0, len(rows), 50):
                        self.reports = rows[i:i + 50]
                        flush(self)
                        print("rows", i + 50, flush=True)
                        time.sleep(0.01)
                events._Placer.flush = slow_flush
        print("importing", flush=True)
        print(store.import_reports(reports, analyst="bulk"), flush=True)
    """
)


def _rows_on_server(backend: Backend, store: str) -> int:
    with backend.raw(store) as raw:
        return int(raw.execute("SELECT COUNT(*) FROM reports").fetchone()[0])


def test_import_killed_midway_leaves_all_or_nothing(db: str, backend: Backend) -> None:
    """SIGKILL mid-import: nothing of it stored, on both backends."""
    child = subprocess.Popen([sys.executable, "-c", IMPORTER, db, "slow"], env=child_env(), stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "importing"
    deadline = time.monotonic() + 60
    if backend.is_pg:
        while not child.stdout.readline().startswith("rows 1000"):  # 1,000 rows sent, uncommitted
            assert child.poll() is None and time.monotonic() < deadline, "the import finished before it could be killed"
        assert _rows_on_server(backend, db) == 0  # not committed, so not visible
    else:
        wal = Path(db + "-wal")
        while not (wal.exists() and wal.stat().st_size > 64 * 1024):  # pages of the open transaction on disk
            assert child.poll() is None, "the import finished before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    with EventStore(db) as store:
        assert len(list(store.list(limit=None))) == 0
        if not backend.is_pg:
            assert store._read("", "PRAGMA integrity_check")[0][0] == "ok"
    if backend.is_pg:
        assert _rows_on_server(backend, db) == 0
    # The same import left alone stores all of it.
    done = subprocess.run([sys.executable, "-c", IMPORTER, str(db), "fast"], env=child_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with EventStore(db) as store:
        assert sum(1 for _ in store.list()) == 5000


# ---------------------------------------------------------------------------------------------
# Import: all or nothing, de-duplication, ids
# ---------------------------------------------------------------------------------------------


def test_import_is_all_or_nothing_and_idempotent(db: str) -> None:
    batch = [report(note=f"{i}") for i in range(5)]
    with EventStore(db) as store:
        with pytest.raises(ImportFileError) as e:
            store.import_reports([*batch, report(note="bad\x00")], analyst="ana", labels=[f"f.csv:{i}" for i in range(2, 8)])
        assert "f.csv:7: field 'note'" in str(e.value)
        assert list(store.list()) == []
        assert store.import_reports(batch, analyst="ana", dry_run=True) == (5, 0, 0)
        assert list(store.list()) == []
        assert store.import_reports([*batch, batch[0]], analyst="ana") == (5, 1, 0)
        assert store.import_reports(batch, analyst="bob") == (0, 5, 0)
        assert {e.report.analyst for e in store.list()} == {"ana"}


def test_an_id_clash_takes_a_longer_id(db: str) -> None:
    other = report(note="other")
    squatter = StoredReport(Report(**{**report(note="squatter").__dict__, "id": "r-" + content_key(other)[:12]}))
    with EventStore(db) as store:
        store.import_reports([squatter], analyst="ana")
        placed = store.add(other, analyst="ana")
        assert placed.id == "r-" + content_key(other)[:16]
        assert store.import_reports([other], analyst="bob") == (0, 1, 0)


def test_import_keeps_ids_and_analysts_but_records_now(db: str) -> None:
    when = dt.datetime(2024, 5, 1, 8, 30, 0, 123456, tzinfo=UTC)
    entry = StoredReport(
        Report(**{**report().__dict__, "id": "r-0123456789ab", "recorded_at": when, "analyst": "carla"}),
        None,
    )
    before = dt.datetime.now(UTC)
    with EventStore(db) as store:
        assert store.import_reports([entry], analyst="ana") == (1, 0, 0)
        got = store.get("r-0123456789ab").report
        assert got.analyst == "carla"
        assert got.recorded_at is not None and got.recorded_at >= before  # knowledge time: the store's clock
        # The same content under another id is a conflict, not a silent merge.
        clash = StoredReport(Report(**{**entry.report.__dict__, "id": "r-aaaaaaaaaaaa"}))
        with pytest.raises(ImportFileError, match="holds this report as r-0123456789ab"):
            store.import_reports([clash], analyst="ana")
        # An id that names a different report is refused.
        other = StoredReport(Report(**{**report(note="other").__dict__, "id": "r-0123456789ab"}))
        with pytest.raises(ImportFileError, match="already names a different report"):
            store.import_reports([other], analyst="ana")


# ---------------------------------------------------------------------------------------------
# Files: CSV as the real world writes it, YAML read safely
# ---------------------------------------------------------------------------------------------


def test_real_world_csv_imports(tmp_path: Path, db: str) -> None:
    path = tmp_path / "excel.csv"
    text = (
        "indicator,date,occurred,grade,source,note\r\n"
        'north_kosovo_unrest,2025-03-18,true,B2,"Reuters, Belgrade","two lines:\r\nsecond ""quoted"""\r\n'
        "kfor_reinforcement,2024-05-30,false,C3,AP,'=SUM(A1)\r\n"
    )
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    batch = read_reports_file(path, known=KNOWN)
    assert batch.labels == [f"{path}:2", f"{path}:4"]
    first, second = (e.report for e in batch.entries)
    assert first.source == "Reuters, Belgrade"
    assert first.note == 'two lines:\r\nsecond "quoted"'
    assert (second.occurred, second.grade, second.note) == (False, "C3", "=SUM(A1)")
    with EventStore(db) as store:
        assert store.import_reports(batch.entries, analyst="ana") == (2, 0, 0)


def test_csv_errors_name_file_line_and_field_of_every_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "indicator,date,grade,source\n"
        "north_kosovo_unrest,2025-03-18,B2,ok\n"
        "north_kosovo_unres,2025-03-18,B2,typo\n"
        "north_kosovo_unrest,18/03/2025,B2,date\n"
        'north_kosovo_unrest,2025-03-18,G7,"multi\nline"\n'
        "north_kosovo_unrest,2025-03-18,B2,\n"
        "north_kosovo_unrest,2999-01-01,B2,future\n"
        "north_kosovo_unrest,2025-03-18,B2\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportFileError) as e:
        read_reports_file(path, known=KNOWN)
    problems = e.value.problems
    assert len(problems) == 6
    assert problems[0].startswith(f"{path}:3: field 'indicator'") and "did you mean 'north_kosovo_unrest'" in problems[0]
    assert problems[1].startswith(f"{path}:4: field 'date'")
    assert problems[2].startswith(f"{path}:5: field 'grade'")
    assert problems[3].startswith(f"{path}:7: field 'source'")
    assert problems[4].startswith(f"{path}:8: field 'date'") and "future" in problems[4]
    assert problems[5].startswith(f"{path}:9:") and "cells" in problems[5]
    assert str(e.value).startswith(f"{path}: 6 bad rows; nothing was imported")


def test_csv_header_problems(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("indicator,dat,grade,source\n")
    with pytest.raises(EvidenceError, match="unknown column 'dat'.*did you mean 'date'"):
        read_reports_file(path, known=KNOWN)
    path.write_text("indicator,date,source\n")
    with pytest.raises(EvidenceError, match="missing column 'grade'"):
        read_reports_file(path, known=KNOWN)
    path.write_text("")
    with pytest.raises(EvidenceError, match="empty file"):
        read_reports_file(path, known=KNOWN)
    path.write_bytes(b"indicator,date,grade,source\nx,\xff\xfe,B2,s\n")
    with pytest.raises(UsageError, match=":2: not UTF-8"):
        read_reports_file(path, known=KNOWN)


@pytest.mark.parametrize(
    "cell",
    ["=1+1", "+1", "-5 troops", "@SUM(A1)", "\tx", "\rx", "'=1", "''+x", "'quoted' text", "'", "plain", "", "a=b", "=", "''"],
)
def test_formula_escape_is_reversible(cell: str) -> None:
    escaped = escape_cell(cell)
    assert unescape_cell(escaped) == cell
    assert escaped[:1] not in ("=", "+", "-", "@", "\t", "\r")


def test_yaml_python_tags_are_refused_and_run_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.yaml"
    path.write_text(f"reports:\n  - !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(UsageError, match="evil.yaml"):
        read_reports_file(path, known=KNOWN)
    path.write_text(f"- indicator: !!python/object/apply:os.system ['touch {marker}']\n  date: 2025-01-01\n")
    with pytest.raises(UsageError):
        read_reports_file(path, known=KNOWN)
    assert not marker.exists()


def test_yaml_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        lines.append(f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]")
    lines.append("reports: *i")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    start = time.monotonic()
    with pytest.raises(UsageError, match="alias"):
        read_reports_file(path, known=KNOWN)
    assert time.monotonic() - start < 1.0


def test_yaml_errors_name_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text(
        "reports:\n"
        "  - indicator: north_kosovo_unrest\n    date: 2025-03-18\n    grade: B2\n    source: fine\n"
        "  - indicator: north_kosovo_unrest\n    date: 2025-03-18\n    grade: B9\n    source: bad grade\n"
        "  - indicator: north_kosovo_unrest\n    date: 2025-03-18\n    grade: B2\n    source: x\n    retracted_by: ana\n"
        "  - indicator: north_kosovo_unrest\n    date: 2025-03-18\n    grade: B2\n    source: x\n    colour: red\n"
    )
    with pytest.raises(ImportFileError) as e:
        read_reports_file(path, known=KNOWN)
    assert [p.split(": field")[0] for p in e.value.problems] == [f"{path}:6", f"{path}:10", f"{path}:15: unknown field 'colour'"]
    assert "'retracted_at': missing" in e.value.problems[1]


# ---------------------------------------------------------------------------------------------
# Property: any valid report survives add -> export -> import (empty store) -> export unchanged
# ---------------------------------------------------------------------------------------------

_chars = st.one_of(
    st.characters(blacklist_categories=("Cc", "Cs")),
    st.sampled_from(list("\t\n\r=+-@'\",;: #&*!|>%{}[]\\")),
)
_text = st.text(_chars, max_size=25)
_reports = st.builds(
    Report,
    indicator=st.sampled_from(sorted(KNOWN)),
    date=st.dates(min_value=dt.date(1950, 1, 1), max_value=dt.date.today()),
    occurred=st.booleans(),
    reliability=st.sampled_from("ABCDEF"),
    credibility=st.integers(1, 6),
    source=_text.map(lambda s: canonical_text(s, single_line=True)).filter(bool),
    url=_text,
    note=_text,
    analyst=_text.map(lambda s: canonical_text(s, single_line=True)).filter(bool),
)


def _export(store: EventStore, fmt: Format) -> str:
    buf = io.StringIO(newline="")
    store.export(buf, fmt=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["csv", "yaml", "json"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reports=st.lists(_reports, min_size=1, max_size=4, unique_by=lambda r: content_key(canonical_report(r))),
       retract=st.lists(st.booleans(), min_size=4, max_size=4), reason=_text.map(canonical_text).filter(bool))
def test_round_trip_is_lossless(fmt: Format, reports: list[Report], retract: list[bool], reason: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _round_trip(fmt, reports, retract, reason, str(Path(tmp) / "a.db"), str(Path(tmp) / "b.db"), Path(tmp))


@pytest.mark.parametrize("fmt", ["csv", "json"])
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(reports=st.lists(_reports, min_size=1, max_size=4, unique_by=lambda r: content_key(canonical_report(r))),
       retract=st.lists(st.booleans(), min_size=4, max_size=4), reason=_text.map(canonical_text).filter(bool))
def test_round_trip_is_lossless_on_postgresql(
    fmt: Format, reports: list[Report], retract: list[bool], reason: str, tmp_path: Path
) -> None:
    """The same on a server: what PostgreSQL stores reads back byte for byte, and exports alike."""
    backend = Backend("postgresql", tmp_path)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            _round_trip(fmt, reports, retract, reason, backend.new_store("a"), backend.new_store("b"), Path(tmp))
    finally:
        backend.cleanup()


def _round_trip(fmt: Format, reports: list[Report], retract: list[bool], reason: str, a_db: str, b_db: str, folder: Path) -> None:
    with EventStore(a_db) as a:
        for r, gone in zip(reports, retract, strict=False):
            stored = a.add(r)
            if gone:
                assert stored.id
                a.retract(stored.id, reason, "reviewer")
        first = _export(a, fmt)
        originals = list(a.all())
    path = folder / f"export.{fmt}"
    path.write_text(first, encoding="utf-8", newline="")
    batch = read_reports_file(path, known=KNOWN)
    with EventStore(b_db) as b:
        assert b.import_reports(batch.entries, analyst="importer", labels=batch.labels, keep_times=True).added == len(reports)
        assert _export(b, fmt) == first
        assert list(b.all()) == originals
