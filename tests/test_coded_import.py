"""`forecast event import FILE --rules` (issue 15, part B): ACLED and GDELT exports and ACLED deletions
into a real store, through the real CLI: idempotent re-imports, updates at source, deletions, the
dry run, bad input, and a kill mid-import. Every fixture row is synthetic (tests/data/ingest/README.md)."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import forecaster
from forecaster.cli.main import app
from forecaster.core.workspace import Workspace
from forecaster.model.evidence import Report
from forecaster.store.backend import SqliteDb, parse_target
from forecaster.store.coded import CodedAdd, StoreChangedError
from forecaster.store.events import EventStore
from forecaster.store.migrations import MIGRATIONS
from forecaster.store.records import format_time
from tests.backends import Backend

ROOT = Path(forecaster.__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data" / "ingest"
WEEK1, WEEK2, GDELT = DATA / "acled_week1.csv", DATA / "acled_week2.csv", DATA / "gdelt_events.CSV"


def run(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(app, list(args), catch_exceptions=False)


def ok(runner: CliRunner, *args: str) -> Result:
    result = run(runner, "event", "import", *args)
    assert result.exit_code == 0, result.output
    return result


def imported(runner: CliRunner, *args: str) -> dict:  # type: ignore[type-arg]
    return json.loads(ok(runner, *args, "--json").stdout)


def entries(ws: Workspace) -> dict[str, list[tuple[str, str, bool]]]:
    """origin -> [(indicator, report id, retracted)], every report."""
    out: dict[str, list[tuple[str, str, bool]]] = {}
    with EventStore(ws.db_path) as store:
        for e in store.all():
            out.setdefault(e.report.origin or "", []).append((e.report.indicator, e.report.id or "", e.retracted))
    return out


def counts(ws: Workspace) -> dict[str, int]:
    with EventStore(ws.db_path) as store:
        return store.counts()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_deletions(path: Path, *rows: tuple[str, int]) -> Path:
    path.write_text("event_id_cnty,deleted_timestamp\n" + "".join(f"{i},{t}\n" for i, t in rows), encoding="utf-8")
    return path


def with_timestamps(src: Path, dest: Path, bump: int) -> Path:
    """The export `src` again, every row's timestamp moved by `bump` seconds."""
    with src.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    i = rows[0].index("timestamp")
    for row in rows[1:]:
        row[i] = str(int(row[i]) + bump)
    with dest.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    return dest


# ============================================================================ importing, again and again


def test_an_export_imports_once_and_again_adds_nothing(runner: CliRunner, ws: Workspace) -> None:
    first = imported(runner, str(WEEK1), "--rules", "acled_balkans.yaml")
    assert first["written"] == {"added": 7, "skipped": 0, "retracted": 0}
    assert first["events_by_status"]["new"] == 6 and first["events_by_status"]["unmatched"] == 2
    assert set(entries(ws)) == {f"acled:{i}" for i in ("XKX90001", "XKX90002", "XKX90003", "SRB90005", "BIH90006", "XKX90008")}
    before = digest(ws.db_path)
    again = ok(runner, str(WEEK1), "--rules", "acled_balkans.yaml")
    assert "added 0 reports, retracted 0" in again.stdout and "6 imported before" in again.stdout
    assert counts(ws) == {"total": 7, "active": 7, "retracted": 0}
    # The same rows under another file name (a re-download) are the same events, not new reports.
    copy = ws.root / "acled_copy.csv"
    copy.write_bytes(WEEK1.read_bytes())
    assert imported(runner, str(copy), "--rules", "acled_balkans.yaml")["written"]["added"] == 0
    assert digest(ws.db_path) == before  # nothing to write: the store is not even opened for writing


def test_a_row_matched_by_two_rules_gives_two_reports_sharing_its_origin(runner: CliRunner, ws: Workspace) -> None:
    ok(runner, str(WEEK1), "--rules", "acled_balkans.yaml")
    two = entries(ws)["acled:XKX90008"]
    assert sorted(ind for ind, _, _ in two) == ["armed_incident_north_kosovo", "infrastructure_sabotage"]
    with EventStore(ws.db_path) as store:
        notes = sorted(store.get(rid).report.note for _, rid, _ in two)
    assert "rule ied_on_infrastructure:" in notes[0] + notes[1]
    assert "rule north_kosovo_explosive_attack_on_security_forces:" in notes[0] + notes[1]


def test_reports_carry_provenance_source_time_and_the_stores_clock(runner: CliRunner, ws: Workspace) -> None:
    t0 = dt.datetime.now(dt.UTC)
    ok(runner, str(WEEK1), "--rules", "acled_balkans.yaml", "--analyst", "ana")
    t1 = dt.datetime.now(dt.UTC)
    ((_, rid, _),) = entries(ws)["acled:XKX90002"]
    with EventStore(ws.db_path) as store:
        r = store.get(rid).report
    assert r.source == "ACLED XKX90002, acled_week1.csv; coded from Reuters" and r.analyst == "ana"
    assert r.note.startswith("acled_week1.csv line 3, ACLED XKX90002, rule north_kosovo_armed_clash: ")
    assert "Source version: ACLED timestamp 1695600000 (2023-09-25 00:00:00 UTC)." in r.note
    assert r.recorded_at is not None and t0 <= r.recorded_at <= t1  # knowledge time: the store's clock
    raw = sqlite3.connect(ws.db_path)
    (source_time,) = raw.execute("SELECT source_time FROM reports WHERE id = ?", (rid,)).fetchone()
    assert source_time == format_time(dt.datetime.fromtimestamp(1695600000, dt.UTC))
    # Week and month precision: dated by the bundled events' convention, and said so in the note.
    ((_, week, _),) = entries(ws)["acled:XKX90003"]
    ((_, month, _),) = entries(ws)["acled:SRB90005"]
    with EventStore(ws.db_path) as store:
        w, m = store.get(week).report, store.get(month).report
    assert w.date == dt.date(2023, 6, 4) and "time_precision 2 (only the week is known)" in w.note
    assert m.date == dt.date(2023, 9, 30) and "time_precision 3 (only the month is known)" in m.note


def test_gdelt_events_import_with_their_urls_and_again_add_nothing(runner: CliRunner, ws: Workspace) -> None:
    first = imported(runner, str(GDELT), "--rules", "gdelt_balkans.yaml", "--format", "gdelt")
    assert first["format"] == "gdelt" and first["written"]["added"] == 5
    found = entries(ws)
    assert sorted(i for i, _, _ in found["gdelt:1100000005"]) == ["armed_incident_north_kosovo", "infrastructure_sabotage"]
    ((_, rid, _),) = found["gdelt:1100000004"]
    with EventStore(ws.db_path) as store:
        r = store.get(rid).report
    assert r.url == "https://example.org/synthetic/troops-near-kosovo-border" and "GDELT DATEADDED" in r.note
    assert imported(runner, str(GDELT), "--rules", "gdelt_balkans.yaml")["written"]["added"] == 0


# ============================================================================ updates and deletions at source


def test_a_newer_row_supersedes_the_imported_one(runner: CliRunner, ws: Workspace) -> None:
    ok(runner, str(WEEK1), "--rules", "acled_balkans.yaml")
    ((_, old_id, _),) = entries(ws)["acled:XKX90001"]
    res = imported(runner, str(WEEK2), "--rules", "acled_balkans.yaml")
    assert res["events_by_status"]["updated"] == 1 and res["events_by_status"]["new"] == 1
    assert res["written"] == {"added": 2, "skipped": 0, "retracted": 1}
    now = entries(ws)["acled:XKX90001"]
    assert len(now) == 2 and (("infrastructure_sabotage", old_id, True) in now)
    new_id = next(rid for _, rid, dead in now if not dead)
    with EventStore(ws.db_path) as store:
        old, new = store.get(old_id), store.get(new_id)
    assert old.retraction is not None and old.retraction.reason.startswith("updated at source: acled_week2.csv line 2")
    assert old.retraction.retracted_at >= (new.report.recorded_at or old.retraction.retracted_at) - dt.timedelta(seconds=1)
    assert new.retraction is None and "UPDATED" in new.report.note and new.report.origin == "acled:XKX90001"
    listing = run(runner, "event", "list").stdout
    assert new_id in listing and old_id not in listing and "acled_week2.csv" in listing
    assert old_id in run(runner, "event", "list", "--include-retracted").stdout
    # The same update again, or the older export again: nothing changes.
    before = counts(ws)
    assert imported(runner, str(WEEK2), "--rules", "acled_balkans.yaml")["written"] == {"added": 0, "skipped": 0, "retracted": 0}
    older = imported(runner, str(WEEK1), "--rules", "acled_balkans.yaml")
    assert older["written"]["added"] == 0 and older["events_by_status"]["older"] == 1
    assert counts(ws) == before == {"total": 9, "active": 8, "retracted": 1}


def test_an_older_or_equal_timestamp_is_ignored(runner: CliRunner, ws: Workspace, tmp_path: Path) -> None:
    ok(runner, str(WEEK1), "--rules", "acled_balkans.yaml")
    earlier = with_timestamps(WEEK1, tmp_path / "earlier.csv", -3600)
    res = imported(runner, str(earlier), "--rules", "acled_balkans.yaml")
    assert res["events_by_status"]["older"] == 6 and res["written"]["added"] == 0
    later = with_timestamps(WEEK1, tmp_path / "later.csv", +60)
    assert imported(runner, str(later), "--rules", "acled_balkans.yaml")["written"] == {"added": 7, "skipped": 0, "retracted": 7}
    assert counts(ws) == {"total": 14, "active": 7, "retracted": 7}


def test_within_one_file_an_events_newest_row_counts(runner: CliRunner, ws: Workspace, tmp_path: Path) -> None:
    both = tmp_path / "both.csv"
    lines = WEEK1.read_text(encoding="utf-8").splitlines(keepends=True)
    both.write_text(lines[0] + WEEK2.read_text(encoding="utf-8").splitlines(keepends=True)[1] + "".join(lines[1:]), encoding="utf-8")
    res = imported(runner, str(both), "--rules", "acled_balkans.yaml")
    assert res["events_by_status"]["repeated_rows"] == 1 and res["written"]["added"] == 7
    ((_, rid, _),) = entries(ws)["acled:XKX90001"]
    with EventStore(ws.db_path) as store:
        assert "UPDATED" in store.get(rid).report.note  # the newer version, though listed first


def test_a_deletions_file_retracts_and_again_adds_nothing(runner: CliRunner, ws: Workspace, tmp_path: Path) -> None:
    ok(runner, str(WEEK1), "--rules", "acled_balkans.yaml")
    deletions = write_deletions(tmp_path / "deleted.csv", ("XKX90008", 1717400000), ("XKX90002", 1695000000), ("XKX00000", 1))
    res = imported(runner, str(deletions))  # detected from the header; no rules needed
    assert res["format"] == "acled-deletions"
    assert res["deletions"] == {"deleted_events": 1, "kept_events": 1, "already_deleted": 0, "unknown": 1, "repeated_rows": 0}
    assert res["written"] == {"added": 0, "skipped": 0, "retracted": 2}
    assert all(dead for _, _, dead in entries(ws)["acled:XKX90008"])
    assert not any(dead for _, _, dead in entries(ws)["acled:XKX90002"])  # its deletion predates the version imported
    with EventStore(ws.db_path) as store:
        t = store.get(entries(ws)["acled:XKX90008"][0][1]).retraction
    assert t is not None and t.reason.startswith("deleted at source: the ACLED deletions file deleted.csv line 2")
    before = digest(ws.db_path)
    text = ok(runner, str(deletions)).stdout
    assert "retracted 0" in text and "1 deletion applied before" in text
    # Re-importing the export the event was deleted from does not bring it back.
    assert imported(runner, str(WEEK1), "--rules", "acled_balkans.yaml")["written"]["added"] == 0
    assert digest(ws.db_path) == before and counts(ws) == {"total": 7, "active": 5, "retracted": 2}
    # The bundled fixture deletes an event no rule matched: nothing to retract.
    fixture = imported(runner, str(DATA / "acled_deletions.csv"), "--rules", "acled_balkans.yaml")
    assert fixture["deletions"]["unknown"] == 1 and fixture["written"]["retracted"] == 0


# ============================================================================ dry run


def test_dry_run_writes_nothing_and_tells_per_rule(runner: CliRunner, ws: Workspace) -> None:
    dry = ok(runner, str(WEEK1), "--rules", "acled_balkans.yaml", "--dry-run")
    assert not ws.db_path.exists()  # not even an empty store
    out = dry.stdout
    assert "would add 7 reports, would retract 0 (dry run: nothing written)" in out
    assert "ied_on_infrastructure" in out and "XKX90001, XKX90008" in out and "kfor_reinforced" in out
    assert "Rows matched by no rule: 2 (e.g. XKX90004, XKX90007)" in out
    assert "The first 5 reports to add" in out and "acled:XKX90001" in out
    ok(runner, str(WEEK1), "--rules", "acled_balkans.yaml")
    before, before_counts = digest(ws.db_path), counts(ws)
    text = ok(runner, str(WEEK2), "--rules", "acled_balkans.yaml", "--dry-run").stdout
    assert "would add 2 reports, would retract 1" in text and "updated at source: acled_week2.csv line 2" in text
    assert digest(ws.db_path) == before and counts(ws) == before_counts


def test_dry_run_json(runner: CliRunner, ws: Workspace) -> None:
    ok(runner, str(WEEK1), "--rules", "acled_balkans.yaml")
    res = imported(runner, str(WEEK2), "--rules", "acled_balkans.yaml", "--dry-run")
    assert res["dry_run"] is True and res["format"] == "acled" and res["rules_file"].endswith("acled_balkans.yaml")
    assert (res["rows"], res["events"], res["matched_rows"], res["unmatched_rows"]) == (2, 2, 2, 0)
    assert res["plan"] == {"add": 2, "retract": 1,
                           "add_per_indicator": {"armed_incident_north_kosovo": 1, "infrastructure_sabotage": 1}}  # fmt: skip
    assert res["written"] == {"added": 0, "skipped": 0, "retracted": 0}
    rule = next(r for r in res["per_rule"] if r["rule"] == "ied_on_infrastructure")
    assert rule == {"rule": "ied_on_infrastructure", "indicator": "infrastructure_sabotage", "rows": 1, "examples": ["XKX90001"]}
    assert [s["origin"] for s in res["sample"]] == ["acled:XKX90001", "acled:XKX90009"]
    assert set(res["sample"][0]) == {"indicator", "date", "occurred", "grade", "source", "url", "note", "origin"}
    (ret,) = res["retractions"]
    assert ret["report_id"].startswith("r-") and ret["reason"].startswith("updated at source")
    assert counts(ws)["total"] == 7


# ============================================================================ bad input: one line, exit 2, nothing written


@pytest.mark.parametrize(
    ("name", "rules", "words"),
    [
        ("wrong_format.csv", "acled_balkans.yaml", "wrong_format.csv:1: not an ACLED export nor a GDELT 2.0 events file"),
        ("acled_missing_column.csv", "acled_balkans.yaml", "acled_missing_column.csv:1: field 'tags': missing column"),
        ("acled_renamed_column.csv", "acled_balkans.yaml", "acled_renamed_column.csv:1: field 'sub_event_type': missing column"),
        ("acled_bad_date.csv", "acled_balkans.yaml", "acled_bad_date.csv:3: field 'event_date': '2024-13-45' is not a date"),
        ("gdelt_wrong_fields.CSV", "gdelt_balkans.yaml", "gdelt_wrong_fields.CSV:2: expected 61 tab-separated fields"),
        ("gdelt_bad_date.CSV", "gdelt_balkans.yaml", "gdelt_bad_date.CSV:"),
        ("gdelt_events.CSV", "acled_balkans.yaml", "gdelt_events.CSV is a GDELT 2.0 events file, but the rules"),
        ("acled_week1.csv", str(DATA / "rules_unknown_field.yaml"), "rules_unknown_field.yaml:6: rules[0].match.event_typ: unknown acled field"),
        ("acled_week1.csv", str(DATA / "rules_unknown_indicator.yaml"), "rules_unknown_indicator.yaml:7: rules[0].indicator: unknown indicator"),
        ("acled_week1.csv", str(DATA / "rules_bad_regex.yaml"), "rules_bad_regex.yaml:7: rules[0].match.admin2: bad regular expression"),
        ("acled_week1.csv", None, "acled_week1.csv is an ACLED export: give the mapping rules, e.g. --rules acled_balkans.yaml"),
        ("acled_week1.csv", "no_such_rules.yaml", "no_such_rules.yaml: no such file"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_exit_2_and_nothing_written(
    runner: CliRunner, ws: Workspace, name: str, rules: str | None, words: str
) -> None:
    ok(runner, str(WEEK2), "--rules", "acled_balkans.yaml")
    before = digest(ws.db_path)
    result = run(runner, "event", "import", str(DATA / name), *(("--rules", rules) if rules else ()))
    assert result.exit_code == 2, result.output
    assert words in result.stderr, result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stdout == "" and digest(ws.db_path) == before


def test_a_file_of_reports_given_rules_and_the_wrong_format_are_refused(runner: CliRunner, ws: Workspace, tmp_path: Path) -> None:
    reports = tmp_path / "reports.csv"
    reports.write_text("indicator,date,grade,source\nnorth_kosovo_unrest,2025-01-02,B2,Reuters\n", encoding="utf-8")
    result = run(runner, "event", "import", str(reports), "--rules", "acled_balkans.yaml")
    assert result.exit_code == 2 and "a file of reports" in result.stderr and "without --rules" in result.stderr
    result = run(runner, "event", "import", str(WEEK1), "--format", "gdelt", "--rules", "gdelt_balkans.yaml")
    assert result.exit_code == 2 and "--format gdelt, but the file is an ACLED export" in result.stderr
    assert not ws.db_path.exists()
    # A file of reports without --rules still takes the usual path, and prints JSON when asked.
    plain = json.loads(ok(runner, str(reports), "--json").stdout)
    assert (plain["added"], plain["skipped"], plain["dry_run"]) == (1, 0, False)


def test_help_names_the_rules_and_has_examples(runner: CliRunner) -> None:
    text = run(runner, "event", "import", "--help").stdout
    assert "--rules" in text and "acled | gdelt" in text and "Example:" in text
    assert "forecast event import acled_2025-06.csv --rules acled_balkans.yaml --dry-run" in text
    assert "forecast event import acled_deletions.csv" in text


# ============================================================================ the store side


def test_apply_coded_refuses_a_store_changed_since_the_lookup(tmp_path: Path) -> None:
    with EventStore(tmp_path / "s.db") as store:
        lookup = store.coded_reports(["acled:X1"])
        assert lookup.reports == ()
        store.add(Report("north_kosovo_unrest", dt.date(2025, 1, 2), True, "B", 2, "someone else"), analyst="bob")
        add = CodedAdd(Report("north_kosovo_unrest", dt.date(2025, 1, 3), True, "B", 2, "ACLED X1", analyst="ana",
                              origin="acled:X1"), dt.datetime(2025, 1, 4, tzinfo=dt.UTC), "f.csv:2")  # fmt: skip
        with pytest.raises(StoreChangedError):
            store.apply_coded([add], [], expect=lookup.token)
        assert store.counts()["total"] == 1
        assert store.apply_coded([add], [], expect=store.coded_reports([]).token) == (1, 0, 0)
        (found,) = store.coded_reports(["acled:X1", "acled:X2"]).reports
        assert (found.origin, found.source_time, found.retracted) == ("acled:X1", dt.datetime(2025, 1, 4, tzinfo=dt.UTC), False)
    raw = sqlite3.connect(tmp_path / "s.db")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        raw.execute("UPDATE reports SET source_time = '2030-01-01T00:00:00.000000Z'")
    raw.close()


def test_m007_adds_source_time_to_an_old_store(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    raw = SqliteDb(parse_target(db))  # the store's own sqlite3 driver, as an older forecast left it
    raw.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
    for version, migration in enumerate(MIGRATIONS[:6], start=1):  # the store before m007
        migration(raw)
        raw.execute("INSERT INTO schema_migrations VALUES (?, ?, 't')", (version, migration.__name__))
    raw.close()
    with EventStore(db) as store:
        r = store.add(Report("north_kosovo_unrest", dt.date(2025, 1, 2), True, "B", 2, "Reuters"), analyst="ana")
        assert store.coded_reports(["acled:X"]).reports == ()
    raw = sqlite3.connect(db)
    assert raw.execute("SELECT source_time FROM reports WHERE id = ?", (r.id,)).fetchone() == (None,)
    assert raw.execute("SELECT name FROM schema_migrations WHERE version = 7").fetchone() == ("m007_source_time",)


IMPORTER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from forecaster.ingest import load_rules
    from forecaster.model.loading import load_priors
    from forecaster.store.events import EventStore
    from forecaster.workflow.coded_import import import_coded

    root, db, path, slow = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), sys.argv[4] == "slow"
    rules = load_rules(root / "rules" / "acled_balkans.yaml", load_priors(root / "priors").indicator_ids)
    with EventStore(db) as store:
        if slow:  # spill the transaction into the WAL early, and slow it down enough to be killed mid-way
            store._db.raw.execute("PRAGMA cache_size = 8")
            store._db.raw.set_progress_handler(lambda: time.sleep(0.001), 1000)
        print("importing", flush=True)
        res = import_coded(store, path, kind="acled", rules=rules, analyst="bulk")
        print(res.added, res.retracted, flush=True)
    """
)


def test_a_kill_mid_import_leaves_nothing(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import bench_ingest
    finally:
        sys.path.pop(0)
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    bench_ingest.write_rows(first, 8000, seed=3)
    with_timestamps(first, second, +100)  # every event updated at source: retractions and new reports
    db = tmp_path / "store.db"
    env = {**__import__("os").environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", IMPORTER, str(ROOT), str(db), str(first), "fast"], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    added = int(done.stdout.split()[-2])
    assert added > 1000
    with EventStore(db) as store:
        before = store.counts()
    wal = db.with_name(db.name + "-wal")
    child = subprocess.Popen([sys.executable, "-c", IMPORTER, str(ROOT), str(db), str(second), "slow"], env=env,
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert child.stdout is not None and child.stdout.readline().strip() == "importing"
    deadline = time.monotonic() + 120
    while not (wal.exists() and wal.stat().st_size > 64 * 1024):  # pages of the open transaction on disk
        assert child.poll() is None, "the import finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    with EventStore(db) as store:
        assert store.counts() == before
        assert store._read("", "PRAGMA integrity_check")[0][0] == "ok"
    again = subprocess.run([sys.executable, "-c", IMPORTER, str(ROOT), str(db), str(second), "fast"], env=env,
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert again.stdout.split()[-2:] == [str(added), str(added)]
    with EventStore(db) as store:
        assert store.counts() == {"total": 2 * added, "active": added, "retracted": added}


def test_reports_held_or_mapped_again_and_looked_up_in_any_chunks_are_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Up to KEEP_DRAFTS reports are held from the first reading; beyond, they are mapped again
    from the file while written. Events are looked up LOOKUP_ROWS rows at a time. However it
    goes, the same reports are stored (an event repeated across chunks included)."""
    from forecaster.ingest import load_rules
    from forecaster.model.loading import load_priors
    from forecaster.workflow import coded_import

    rules = load_rules(ROOT / "rules" / "acled_balkans.yaml", load_priors(ROOT / "priors").indicator_ids)
    both = tmp_path / "both.csv"  # XKX90001 twice: the older version (line 2), the newer (line 10)
    both.write_text(WEEK1.read_text(encoding="utf-8") + WEEK2.read_text(encoding="utf-8").split("\n", 1)[1], encoding="utf-8")
    stores = []
    for chunk, keep in ((10_000, 0), (10_000, 1), (10_000, 50_000), (2, 50_000), (1, 0)):
        monkeypatch.setattr(coded_import, "LOOKUP_ROWS", chunk)
        db = tmp_path / f"c{chunk}k{keep}.db"
        with EventStore(db) as store:
            results = [coded_import.import_coded(store, p, kind="acled", rules=rules, analyst="ana", keep=keep)
                       for p in (WEEK1, both, WEEK2)]  # fmt: skip
        assert [(r.added, r.retracted) for r in results] == [(7, 0), (2, 1), (0, 0)]
        raw = sqlite3.connect(db)
        stores.append(raw.execute("SELECT r.id, r.note, r.source_time, t.reason FROM reports r "
                                  "LEFT JOIN retractions t ON t.report_id = r.id ORDER BY r.id").fetchall())  # fmt: skip
        raw.close()
    assert all(s == stores[0] for s in stores) and len(stores[0]) == 9


CONCURRENT = textwrap.dedent(
    """
    set -e
    "$PY" -m forecaster event import "$A" --rules acled_balkans.yaml --json > "$OUT.a" &
    "$PY" -m forecaster event import "$B" --rules acled_balkans.yaml --json > "$OUT.b" &
    wait
    """
)


def test_two_imports_of_one_export_at_once_store_it_once(ws: Workspace, tmp_path: Path) -> None:
    """Two analysts import the same week (two downloads, so two file names) at the same moment:
    whichever writes second finds the store changed since it looked, looks again and adds nothing."""
    import os

    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import bench_ingest
    finally:
        sys.path.pop(0)
    a, b = tmp_path / "download_a.csv", tmp_path / "download_b.csv"
    bench_ingest.write_rows(a, 6000, seed=11)
    b.write_bytes(a.read_bytes())
    EventStore(ws.db_path).close()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PY": sys.executable, "A": str(a), "B": str(b), "OUT": str(tmp_path / "out")}
    done = subprocess.run(["bash", "-c", CONCURRENT], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    results = [json.loads((tmp_path / f"out.{x}").read_text(encoding="utf-8")) for x in "ab"]
    added = sorted(r["written"]["added"] for r in results)
    assert added[0] == 0 and added[1] > 1000
    assert counts(ws) == {"total": added[1], "active": added[1], "retracted": 0}
    assert {r["attempts"] for r in results} <= {1, 2}  # 2: it planned before the other wrote, and planned again


def test_coded_imports_on_both_backends(backend: Backend, tmp_path: Path) -> None:
    """The same imports, updates and deletions on an SQLite file and a PostgreSQL server store."""
    from forecaster.ingest import load_rules
    from forecaster.model.loading import load_priors
    from forecaster.workflow.coded_import import import_coded

    rules = load_rules(ROOT / "rules" / "acled_balkans.yaml", load_priors(ROOT / "priors").indicator_ids)
    where = backend.new_store()
    deletions = write_deletions(tmp_path / "deleted.csv", ("XKX90008", 1717400000))
    with EventStore(where) as store:
        first = import_coded(store, WEEK1, kind="acled", rules=rules, analyst="ana")
        again = import_coded(store, WEEK1, kind="acled", rules=rules, analyst="ana")
        update = import_coded(store, WEEK2, kind="acled", rules=rules, analyst="ana")
        deleted = import_coded(store, deletions, kind="acled-deletions", rules=None, analyst="ana")
        assert [(r.added, r.retracted) for r in (first, again, update, deleted)] == [(7, 0), (0, 0), (2, 1), (0, 2)]
        assert store.counts() == {"total": 9, "active": 6, "retracted": 3}
        found = {(s.origin, s.indicator, s.retracted) for s in store.coded_reports(["acled:XKX90001", "acled:XKX90008"]).reports}
        assert found == {("acled:XKX90001", "infrastructure_sabotage", True), ("acled:XKX90001", "infrastructure_sabotage", False),
                         ("acled:XKX90008", "infrastructure_sabotage", True), ("acled:XKX90008", "armed_incident_north_kosovo", True)}  # fmt: skip
        reasons = sorted(t.reason.split(":")[0] for e in store.all() if (t := e.retraction) is not None)
    assert reasons == ["deleted at source", "deleted at source", "updated at source"]
    with backend.raw(where) as raw:
        times = sorted(r[0] for r in raw.execute("SELECT source_time FROM reports WHERE origin = 'acled:XKX90001'").fetchall())
    assert times == [format_time(dt.datetime.fromtimestamp(t, dt.UTC)) for t in (1710600000, 1711300000)]
