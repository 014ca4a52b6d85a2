"""Origins and duplicates in the store and the CLI, ageing's weight now, the --half-life override,
and extremes in the update output (issue 10)."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from forecaster.cli.main import app
from forecaster.core.workspace import Workspace
from forecaster.model.evidence import Report
from forecaster.store.backend import SqliteDb, parse_target
from forecaster.store.events import EventStore
from forecaster.store.migrations import m001_reports, m002_runs
from forecaster.store.records import content_key

IND = "kfor_reinforcement"


def run(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args), catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


def add(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    return run(runner, "event", "add", IND, "--analyst", "ana", *args)


def test_content_key_is_stable_without_origin_and_changes_with_one() -> None:
    r = Report(IND, dt.date(2025, 3, 1), True, "B", 2, "Reuters")
    # the key reports had before origins existed (pinned: ids of stored reports must not change)
    assert content_key(r)[:12] == content_key(Report(IND, dt.date(2025, 3, 1), True, "B", 2, "Reuters", origin=None))[:12]
    assert content_key(r) != content_key(Report(IND, dt.date(2025, 3, 1), True, "B", 2, "Reuters", origin="wire-1"))


def test_m003_adds_a_nullable_origin_to_an_old_store(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    path.touch()
    db = SqliteDb(parse_target(path))  # the store's own sqlite3 driver, as an older forecast left it
    m001_reports(db)
    m002_runs(db)
    db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
    db.execute("INSERT INTO schema_migrations VALUES (1, 'm001_reports', 'x'), (2, 'm002_runs', 'x')")
    db.execute(
        "INSERT INTO reports (id, indicator, event_date, recorded_at, occurred, reliability, credibility, source, url, "
        "note, analyst, content_key) VALUES ('r-aaaaaaaaaaaa', ?, '2025-01-01', '2025-01-02T00:00:00.000000Z', 1, 'B', 2, "
        "'S', '', '', 'ana', 'k')", (IND,)
    )
    db.close()
    with EventStore(path) as store:
        [old] = list(store.all())
        assert old.report.origin is None
        new = store.add(Report(IND, dt.date(2025, 2, 1), True, "A", 1, "AP", origin="wire-7"), analyst="ana")
        assert store.get(new.id or "").report.origin == "wire-7"
    raw = sqlite3.connect(path)
    assert [r[1] for r in raw.execute("SELECT * FROM schema_migrations ORDER BY version")][:3] == [
        "m001_reports", "m002_runs", "m003_origin"]


def test_add_refuses_a_duplicate_and_warns_about_a_likely_same_episode(runner: CliRunner, ws: Workspace) -> None:
    code, first, _ = add(runner, "--date", "2025-03-01", "--grade", "B2", "--source", "Café Reuters")
    assert code == 0
    rid = first.strip()
    # same indicator, date, outcome and source after NFC and whitespace folding: refused, naming the id
    decomposed = "Cafe\u0301   Reuters "
    code, _, err = add(runner, "--date", "2025-03-01", "--grade", "C3", "--source", decomposed, "--note", "again")
    assert code != 0 and rid in err and "already recorded" in err
    # same indicator and outcome within 3 days, no origin: stored, one warning naming the other id
    code, out, err = add(runner, "--date", "2025-03-03", "--grade", "C3", "--source", "AP")
    assert code == 0 and out.strip() != rid
    [line] = [x for x in err.splitlines() if x.startswith("warning:")]
    assert rid in line and "--origin" in line
    # with an origin: no warning
    code, _, err = add(runner, "--date", "2025-03-02", "--grade", "C3", "--source", "AFP", "--origin", "wire-1")
    assert code == 0 and "warning" not in err
    # the other outcome, or 4 days away: no warning
    code, _, err = add(runner, "--date", "2025-03-07", "--grade", "C3", "--source", "BBC")
    assert code == 0 and "warning" not in err
    code, _, err = add(runner, "--not-occurred", "--date", "2025-03-01", "--grade", "C3", "--source", "TASS")
    assert code == 0 and "warning" not in err


def test_origin_round_trips_through_export_and_import_and_import_notes_both_kinds(
    runner: CliRunner, ws: Workspace, tmp_path: Path
) -> None:
    assert add(runner, "--date", "2025-03-01", "--grade", "B2", "--source", "Reuters", "--origin", "wire-1")[0] == 0
    for fmt in ("csv", "json", "yaml"):
        code, out, _ = run(runner, "event", "export", "--format", fmt)
        assert code == 0 and "wire-1" in out
    code, out, _ = run(runner, "event", "list", "--json")
    [row] = json.loads(out)["reports"]
    assert row["origin"] == "wire-1" and 0.5 < row["weight"] <= row["accuracy"] and row["age_days"] > 0
    f = tmp_path / "in.yaml"
    f.write_text(
        "reports:\n"
        f"  - {{indicator: {IND}, date: 2025-03-01, occurred: true, grade: C3, source: ' Reuters', note: other}}\n"
        f"  - {{indicator: {IND}, date: 2025-03-02, occurred: true, grade: C3, source: AP}}\n"
        f"  - {{indicator: {IND}, date: 2025-05-02, occurred: true, grade: C3, source: AP, origin: wire-2}}\n",
        encoding="utf-8",
    )
    code, out, _ = run(runner, "event", "import", str(f), "--analyst", "ana")
    assert code == 0
    assert "added 2 reports" in out and "1 duplicate skipped" in out and "1 likely same-episode" in out
    assert "in.yaml:2" in out and "duplicate of r-" in out and "in.yaml:3" in out and "likely the same episode as r-" in out


def test_an_import_prints_twenty_notes_and_counts_the_rest(runner: CliRunner, ws: Workspace, tmp_path: Path) -> None:
    """A bulk import of many likely same-episode rows stays readable; --json lists every note."""
    f = tmp_path / "many.csv"
    f.write_text("indicator,date,grade,source\n" + "".join(f"{IND},2025-03-01,B2,wire {i}\n" for i in range(30)), encoding="utf-8")
    code, out, _ = run(runner, "event", "import", str(f), "--dry-run")
    assert code == 0 and "29 likely same-episode" in out
    assert out.count("likely the same episode as") == 20 and "… and 9 more (every one with --json)" in out
    code, out, _ = run(runner, "event", "import", str(f), "--json")
    assert code == 0 and len(json.loads(out)["notes"]) == 29


def _update(runner: CliRunner, *extra: str) -> dict:
    code, out, err = run(runner, "update", "--exact", "--json", "--as-of", "2026-01-01", "--event-time", *extra)
    assert code == 0, err
    return json.loads(out)


def test_update_shows_origins_weights_mechanisms_and_the_half_life_override(runner: CliRunner, ws: Workspace) -> None:
    for src, origin in (("Reuters", "wire-1"), ("AP", "wire-1"), ("BBC", None)):
        args = ["--date", "2025-06-01", "--grade", "B2", "--source", src] + (["--origin", origin] if origin else [])
        assert add(runner, *args)[0] == 0
    data = _update(runner)
    by_id = {e["indicator"]: e for e in data["evidence"]}
    ind = by_id[IND]
    assert (ind["reports"], ind["origins"]) == (3, 2)
    assert [w["counted"] for w in ind["weights"]].count(False) == 1
    assert all(0.5 < w["weight"] < w["accuracy"] for w in ind["weights"])  # seven months old: aged
    assert ind["mechanism"] == "north_kosovo_armed_crisis" and by_id["north_kosovo_armed_crisis"]["kind"] == "mechanism"
    code, out, _ = run(runner, "update", "--exact", "--as-of", "2026-01-01", "--event-time")
    assert "3 reports, 2 origins" in out and "mechanism north_kosovo_armed_crisis" in out
    off = _update(runner, "--half-life", "none")
    assert off["run_id"] != data["run_id"]
    assert all(w["weight"] == w["accuracy"] for w in {e["indicator"]: e for e in off["evidence"]}[IND]["weights"])
    assert _update(runner, "--half-life", "30")["run_id"] not in (data["run_id"], off["run_id"])
    code, _, err = run(runner, "update", "--exact", "--half-life", "-3")
    assert code == 2 and "--half-life" in err


def test_extremes_print_outside_the_scale_and_name_what_carries_them(runner: CliRunner, ws: Workspace) -> None:
    for i, ind in enumerate(("armed_incident_north_kosovo", "serbian_forces_enter_kosovo", "rs_secession_referendum_step")):
        for k in range(3):
            assert run(runner, "event", "add", ind, "--analyst", "ana", "--date", f"2025-12-{10 + k:02d}", "--grade", "A1",
                       "--source", f"s{i}{k}", "--origin", f"o{i}{k}")[0] == 0
    data = _update(runner)
    states = [s for h in data["hypotheses"] for s in h["states"]]
    extreme = [s for s in states if s["posterior"] < 0.01 or s["posterior"] > 0.99]
    assert extreme, "A1 reports of an invasion and a secession vote push some state off the scale"
    for s in extreme:
        assert s["term"] is None and s["extreme"]["side"] in ("low", "high")
        assert 1 <= len(s["extreme"]["carried_by"]) <= 3
    for s in states:
        if s not in extreme:
            assert s["term"] and s["extreme"] is None
    code, out, _ = run(runner, "update", "--exact", "--as-of", "2026-01-01", "--event-time")
    assert "outside the ICD 203 scale" in out and ("< 1 %" in out or "> 99 %" in out)
