"""Resolutions (issue 14, MODEL.md §6): the store (round trip, content ids, append-only against
sqlite3 itself), every class of bad input refused with nothing written, the overlap rules, and
`forecast resolve` / `forecast resolutions list/retract/import`."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecaster.cli.main import app
from forecaster.core.workspace import Workspace
from forecaster.model.loading import load_priors
from forecaster.store.backend import SqliteDb, parse_target
from forecaster.store.events import EventStore
from forecaster.store.migrations import MIGRATIONS
from forecaster.store.resolution_files import read_resolutions_file
from forecaster.store.resolutions import (
    AlreadyRecorded,
    ImportProblems,
    Resolution,
    ResolutionError,
    add_resolution,
    content_key,
    get_resolution,
    import_resolutions,
    list_resolutions,
    resolution_to_row,
    retract_resolution,
    states_of,
)

D = dt.date


def res(hyp: str = "escalation", state: str = "grey_zone", start: str = "2023-01-01", end: str = "2024-12-31",
        rationale: str = "Banjska and the RS laws; no annexation.", source: str = "000, fn 40") -> Resolution:
    return Resolution(hyp, state, D.fromisoformat(start), D.fromisoformat(end), rationale, source)


def invoke(runner: CliRunner, ws: Workspace, *args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, ["-w", str(ws.root), *args])
    return r.exit_code, r.stdout, r.stderr


def stored_rows(ws: Workspace) -> list[tuple[object, ...]]:
    if not ws.db_path.exists():
        return []
    db = sqlite3.connect(ws.db_path)
    try:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'resolutions'").fetchone():
            return []
        return db.execute("SELECT * FROM resolutions ORDER BY id").fetchall() + db.execute(
            "SELECT * FROM resolution_retractions ORDER BY resolution_id"
        ).fetchall()
    finally:
        db.close()


@pytest.fixture
def hyps(ws: Workspace) -> dict[str, tuple[str, ...]]:
    return states_of(load_priors(ws.priors_dir))


# ---------------------------------------------------------------------------------------------
# The store
# ---------------------------------------------------------------------------------------------


def test_round_trip_and_content_ids(ws: Workspace, tmp_path: Path, hyps: dict[str, tuple[str, ...]]) -> None:
    with EventStore(ws.db_path) as store:
        r = add_resolution(store, res(rationale="  padded  "), analyst="ana", hypotheses=hyps)
        assert r.id is not None and r.id.startswith("res-") and len(r.id) == 4 + 12
        assert r.id == "res-" + content_key(r)[:12] and r.rationale == "padded"
        got = get_resolution(store, r.id)
        assert got.resolution == r and not got.retracted
        assert get_resolution(store, r.id[4:10]).id == r.id  # a prefix, without res-
        row = resolution_to_row(got)
        assert row["from"] == "2023-01-01" and row["to"] == "2024-12-31" and row["analyst"] == "ana"
        assert row["retracted"] is False and row["recorded_at"].endswith("Z")
        t = retract_resolution(store, r.id, reason="misdated", who="ben")
        assert list_resolutions(store) == []
        (entry,) = list_resolutions(store, include_retracted=True)
        assert entry.retraction == t and entry.retracted
    # The same content gets the same id in another store, whoever records it.
    with EventStore(tmp_path / "other.db") as other:
        assert add_resolution(other, res(rationale="padded"), analyst="someone else", hypotheses=hyps).id == r.id


def test_the_migration_is_the_third_and_named(ws: Workspace) -> None:
    assert "m004_resolutions" in [m.__name__ for m in MIGRATIONS]
    with EventStore(ws.db_path):
        pass
    db = sqlite3.connect(ws.db_path)
    names = [r[0] for r in db.execute("SELECT name FROM schema_migrations ORDER BY version")]
    db.close()
    assert "m004_resolutions" in names and len(names) == len(MIGRATIONS)


def test_an_older_store_is_migrated_and_keeps_its_reports(ws: Workspace, hyps: dict[str, tuple[str, ...]]) -> None:
    db = SqliteDb(parse_target(ws.db_path))  # the store's own sqlite3 driver, as an older forecast left it
    db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
    for version, migration in enumerate(MIGRATIONS[:2], start=1):
        migration(db)
        db.execute("INSERT INTO schema_migrations VALUES (?, ?, 't')", (version, migration.__name__))
    db.close()
    with EventStore(ws.db_path) as store:
        assert store.counts()["total"] == 0
        assert add_resolution(store, res(), analyst="ana", hypotheses=hyps).id
    db = sqlite3.connect(ws.db_path)
    assert "m004_resolutions" in [r[0] for r in db.execute("SELECT name FROM schema_migrations ORDER BY version")]
    db.close()


def test_append_only_against_sqlite_itself(ws: Workspace, hyps: dict[str, tuple[str, ...]]) -> None:
    with EventStore(ws.db_path) as store:
        r = add_resolution(store, res(), analyst="ana", hypotheses=hyps)
        retract_resolution(store, r.id or "", reason="wrong", who="ana")
    before = stored_rows(ws)
    db = sqlite3.connect(ws.db_path)
    cols = "id, hypothesis, state, period_from, period_to, rationale, source, analyst, recorded_at, content_key"
    row = db.execute(f"SELECT {cols} FROM resolutions").fetchone()
    attempts = [
        "UPDATE resolutions SET state = 'annexation'",
        "DELETE FROM resolutions",
        "UPDATE resolution_retractions SET reason = 'x'",
        "DELETE FROM resolution_retractions",
    ]
    for sql in attempts:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute(sql)
    changed = list(row)
    changed[2] = "annexation"
    for verb in ("INSERT OR REPLACE", "REPLACE", "INSERT OR IGNORE", "INSERT"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):  # same id
            db.execute(f"{verb} INTO resolutions ({cols}) VALUES ({', '.join('?' * 10)})", changed)
        other = [*changed]
        other[0] = "res-000000000000"
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):  # same content key, another id
            db.execute(f"{verb} INTO resolutions ({cols}) VALUES ({', '.join('?' * 10)})", other)
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute(
                f"{verb} INTO resolution_retractions (resolution_id, reason, retracted_at, retracted_by) VALUES (?, ?, ?, ?)",
                (row[0], "another reason", "2026-01-01T00:00:00.000000Z", "eve"),
            )
    db.commit()
    db.close()
    assert stored_rows(ws) == before


def test_overlap_rules(ws: Workspace, hyps: dict[str, tuple[str, ...]]) -> None:
    with EventStore(ws.db_path) as store:
        a = add_resolution(store, res(start="2023-01-01", end="2023-12-31"), analyst="ana", hypotheses=hyps)
        # Agreeing overlap: allowed. Touching on one day counts as overlap (dates are inclusive).
        add_resolution(store, res(start="2023-06-01", end="2024-06-30", rationale="another reading"),
                       analyst="ana", hypotheses=hyps)
        with pytest.raises(ResolutionError, match=f"overlaps {a.id}, which resolves it grey_zone"):
            add_resolution(store, res(state="annexation", start="2022-01-01", end="2023-01-01"), analyst="ana",
                           hypotheses=hyps)
        # Adjacent, not overlapping: allowed; another hypothesis: unaffected.
        add_resolution(store, res(state="de_escalation", start="2024-07-01", end="2024-12-31"), analyst="ana",
                       hypotheses=hyps)
        add_resolution(store, res(hyp="alignment", state="hedging", start="2023-01-01", end="2023-12-31"),
                       analyst="ana", hypotheses=hyps)
        # A retracted resolution takes part in no overlap: a correction is a retraction plus a new one.
        retract_resolution(store, a.id or "", reason="misread", who="ana")
        b_id = list_resolutions(store, hypothesis="escalation")[0].id
        retract_resolution(store, b_id, reason="misread too", who="ana")
        add_resolution(store, res(state="annexation", start="2022-01-01", end="2023-01-01"), analyst="ana",
                       hypotheses=hyps)


def test_identical_content_is_recorded_once(ws: Workspace, hyps: dict[str, tuple[str, ...]]) -> None:
    with EventStore(ws.db_path) as store:
        a = add_resolution(store, res(), analyst="ana", hypotheses=hyps)
        with pytest.raises(AlreadyRecorded) as e:
            add_resolution(store, res(), analyst="ben", hypotheses=hyps)
        assert e.value.existing.id == a.id


def test_import_is_idempotent_and_all_or_nothing(ws: Workspace, tmp_path: Path, hyps: dict[str, tuple[str, ...]]) -> None:
    bundled = ws.root / "scenarios" / "resolutions.yaml"
    batch = read_resolutions_file(bundled)
    assert len(batch.resolutions) == 3 and all(lbl.startswith(str(bundled) + ":") for lbl in batch.labels)
    with EventStore(ws.db_path) as store:
        first = import_resolutions(store, batch.resolutions, analyst="x", hypotheses=hyps, labels=batch.labels)
        assert (first.added, first.skipped) == (3, 0)
        again = import_resolutions(store, batch.resolutions, analyst="y", hypotheses=hyps, labels=batch.labels)
        assert (again.added, again.skipped) == (0, 3)
        ids = [e.id for e in list_resolutions(store)]
        assert all(e.resolution.analyst == "forecast maintainers (illustrative)" for e in list_resolutions(store))
        # One good row and one bad: nothing of the batch is written.
        good = res(hyp="encirclement", state="contained", start="2021-01-01", end="2021-12-31")
        with pytest.raises(ImportProblems, match="nothing was imported"):
            import_resolutions(store, [good, res(state="grey")], analyst="x", hypotheses=hyps)
        # Two rows of one file that disagree over an overlap.
        clash = res(hyp="encirclement", state="heightened", start="2021-06-01", end="2022-06-01")
        with pytest.raises(ImportProblems, match="overlaps res-"):
            import_resolutions(store, [good, clash], analyst="x", hypotheses=hyps)
        assert [e.id for e in list_resolutions(store)] == ids


# ---------------------------------------------------------------------------------------------
# The commands
# ---------------------------------------------------------------------------------------------

GOOD = ["escalation", "grey_zone", "--from", "2023-01-01", "--to", "2024-12-31", "--rationale", "Banjska.",
        "--source", "000, fn 40", "--analyst", "ana"]


def _with(args: list[str], option: str, value: str) -> list[str]:
    out = list(args)
    out[out.index(option) + 1] = value
    return out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["escalaton", *GOOD[1:]], "unknown hypothesis 'escalaton' (did you mean 'escalation'?)"),
        (["escalation", "grey", *GOOD[2:]], "unknown state 'grey' of escalation (did you mean 'grey_zone'?)"),
        (_with(GOOD, "--to", "2022-12-31"), "--to 2022-12-31 is before --from 2023-01-01"),
        (_with(GOOD, "--from", "2023-02-30"), "--from '2023-02-30' is not a date that exists"),
        (_with(GOOD, "--to", "2024-13-01"), "--to '2024-13-01' is not a date that exists"),
        (_with(GOOD, "--from", "1 Jan 2023"), "--from '1 Jan 2023' is not an ISO date"),
        (_with(GOOD, "--to", "2999-01-01"), "lies in the future"),
        (_with(GOOD, "--rationale", "   "), "--rationale is required and must not be empty"),
        (_with(GOOD, "--source", ""), "--source is required and must not be empty"),
        (_with(GOOD, "--analyst", " "), "--analyst is empty"),
        (GOOD[:2] + GOOD[4:], "--from and --to are required"),
        (_with(GOOD, "--rationale", "bad \x07 bell"), "control character"),
    ],
)
def test_bad_input_is_refused_in_one_line_and_nothing_is_written(
    runner: CliRunner, ws: Workspace, args: list[str], message: str
) -> None:
    code, out, err = invoke(runner, ws, "resolve", *args)
    assert code == 2, (out, err)
    assert message in " ".join(err.split()), err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert stored_rows(ws) == []


def test_a_disagreeing_overlap_names_the_other_id(runner: CliRunner, ws: Workspace) -> None:
    code, first, err = invoke(runner, ws, "resolve", *GOOD)
    assert code == 0, err
    before = stored_rows(ws)
    code, _, err = invoke(runner, ws, "resolve", "escalation", "annexation", *GOOD[2:])
    assert code == 2 and f"overlaps {first.strip()}" in err and len(err.strip().splitlines()) == 1
    assert stored_rows(ws) == before
    # An agreeing overlap is fine.
    code, second, err = invoke(runner, ws, "resolve", *_with(GOOD, "--from", "2024-01-01"))
    assert code == 0 and second.strip() != first.strip()


def test_resolve_list_retract_json(runner: CliRunner, ws: Workspace) -> None:
    code, out, err = invoke(runner, ws, "resolve", *GOOD, "--json")
    assert code == 0, err
    row = json.loads(out)
    assert set(row) == {"id", "hypothesis", "state", "from", "to", "rationale", "source", "analyst", "recorded_at",
                        "retracted", "retracted_at", "retracted_by", "retraction_reason"}
    assert (row["hypothesis"], row["state"], row["from"], row["to"]) == ("escalation", "grey_zone", "2023-01-01", "2024-12-31")
    # The same again: the same id, a note, nothing added.
    code, out2, err = invoke(runner, ws, "resolve", *GOOD)
    assert code == 0 and out2.strip() == row["id"] and "already recorded" in err
    code, out, _ = invoke(runner, ws, "resolutions", "list", "--json")
    assert [r["id"] for r in json.loads(out)] == [row["id"]]
    code, out, _ = invoke(runner, ws, "resolutions", "list")
    assert code == 0 and row["id"] in out and "grey_zone" in out
    code, _, err = invoke(runner, ws, "resolutions", "retract", row["id"], "--reason", " ")
    assert code == 2 and "--reason is required" in err
    code, out, err = invoke(runner, ws, "resolutions", "retract", row["id"][:9], "--reason", "misdated", "--analyst", "ben")
    assert code == 0 and out.strip() == f"retracted {row['id']}", err
    code, _, err = invoke(runner, ws, "resolutions", "retract", row["id"], "--reason", "again")
    assert code == 2 and "already retracted" in err
    code, _, err = invoke(runner, ws, "resolutions", "retract", "res-ffffffffffff", "--reason", "x")
    assert code == 2 and "no resolution" in err
    code, out, _ = invoke(runner, ws, "resolutions", "list", "--json")
    assert json.loads(out) == []
    code, out, _ = invoke(runner, ws, "resolutions", "list", "--all", "--json")
    (gone,) = json.loads(out)
    assert gone["retracted"] and gone["retracted_by"] == "ben" and gone["retraction_reason"] == "misdated"
    # Re-recording retracted content is refused: a correction must say something new.
    code, _, err = invoke(runner, ws, "resolve", *GOOD)
    assert code == 2 and "retracted" in err


def test_import_command_yaml_csv_idempotent(runner: CliRunner, ws: Workspace, tmp_path: Path) -> None:
    bundled = ws.root / "scenarios" / "resolutions.yaml"
    code, out, err = invoke(runner, ws, "resolutions", "import", str(bundled))
    assert (code, out) == (0, "added 3 resolutions; 0 already in the store\n"), err
    code, out, _ = invoke(runner, ws, "resolutions", "import", str(bundled))
    assert out == "added 0 resolutions; 3 already in the store\n"
    csv_file = tmp_path / "r.csv"
    csv_file.write_text(
        "\ufeffhypothesis,state,from,to,rationale,source\r\n"
        'encirclement,contained,2021-01-01,2021-12-31,"Quiet, by the papers.",001 fn 61\r\n',
        encoding="utf-8",
    )
    code, out, err = invoke(runner, ws, "resolutions", "import", str(csv_file), "--analyst", "ana")
    assert (code, out) == (0, "added 1 resolution; 0 already in the store\n"), err
    code, out, _ = invoke(runner, ws, "resolutions", "import", str(csv_file))
    assert out == "added 0 resolutions; 1 already in the store\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("resolutions:\n  - {hypothesis: escalation, state: grey, from: 2023-01-01, to: 2023-12-31, rationale: r, source: s}\n",
         ":2: unknown state 'grey' of escalation (did you mean 'grey_zone'?)"),
        ("resolutions:\n  - {hypothesis: escalation, state: grey_zone, from: 2023-02-30, to: 2023-12-31, rationale: r, source: s}\n",
         ":2: field from '2023-02-30' is not a date that exists"),
        ("resolutions:\n  - {hypothesis: escalation, state: grey_zone, from: 2023-01-01, to: 2023-12-31, rationale: '', source: s}\n",
         ":2: field 'rationale': missing or empty"),
        ("resolutions:\n  - {hypothesis: escalation, state: grey_zone, from: 2023-01-01, to: 2023-12-31, rationale: r, sauce: s}\n",
         ":2: unknown field 'sauce' (did you mean 'source'"),
        ("resolutions:\n  - {hypothesis: escalation, state: grey_zone, from: 2023-01-01, to: 2023-12-31, rationale: r, source: s}\n"
         "  - {hypothesis: escalation, state: annexation, from: 2023-06-01, to: 2024-12-31, rationale: r, source: s}\n",
         ":3: escalation annexation from 2023-06-01 to 2024-12-31 overlaps res-"),
        ("resolutions: [\n", "malformed YAML"),
    ],
)
def test_import_refuses_bad_files_whole(runner: CliRunner, ws: Workspace, tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(text, encoding="utf-8")
    code, _, err = invoke(runner, ws, "resolutions", "import", str(f))
    assert code == 2 and message in err, err
    assert "Traceback" not in err
    assert stored_rows(ws) == []


def test_import_lists_every_bad_row(runner: CliRunner, ws: Workspace, tmp_path: Path) -> None:
    f = tmp_path / "bad.csv"
    f.write_text(
        "hypothesis,state,from,to,rationale,source\n"
        "escalation,grey_zone,2023-01-01,2023-12-31,fine,s\n"
        "alignmnt,hedging,2023-01-01,2023-12-31,r,s\n"
        "alignment,hedging,2023-12-31,2023-01-01,r,s\n",
        encoding="utf-8",
    )
    code, _, err = invoke(runner, ws, "resolutions", "import", str(f))
    assert code == 2
    assert "2 bad rows; nothing was imported" in err and ":3: unknown hypothesis 'alignmnt'" in err
    assert ":4: to 2023-01-01 is before from 2023-12-31" in err
    assert stored_rows(ws) == []


def test_help_texts_have_examples(runner: CliRunner) -> None:
    for args in (["resolve"], ["resolutions", "list"], ["resolutions", "retract"], ["resolutions", "import"], ["score"]):
        r = runner.invoke(app, [*args, "--help"])
        assert r.exit_code == 0 and "Example:" in r.stdout, args
