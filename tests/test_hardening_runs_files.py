"""`runs prune` and the JSON-log import touch only this store's own records and files (issue 12).

Since issue 13 a run's draws live in the store; runs/ holds exports a person asked for
(`runs export`) and, in a store from before, the JSON log and NetCDF files that move in once."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from pathlib import Path

from typer.testing import CliRunner

from forecaster.cli.main import app
from forecaster.core.workspace import Workspace
from forecaster.inference.update import run_update
from forecaster.model.loading import load_priors
from forecaster.store import legacy_runs, runs
from forecaster.store.events import EventStore


def _record(db: Path, rid: str, *, hours: int = 0, draws: bytes = b"x" * 100) -> None:
    priors = load_priors(Path(__file__).parent.parent / "priors")
    base = run_update(priors, [], as_of=dt.date(2026, 1, 1), exact_only=True)
    item = runs.NewRun(
        dataclasses.replace(base, run_id=rid), draws=draws,
        recorded_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=hours),
    )
    with EventStore(db) as store:
        runs.record_runs(store, [item])


def _draws(db: Path) -> set[str]:
    with EventStore(db) as store:
        return set(runs.draws_sizes(store))


def test_prune_drops_only_this_stores_draws_and_never_an_export(runner: CliRunner, ws: Workspace, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    _record(ws.db_path, "a" * 12)
    _record(other, "b" * 12)
    _record(ws.db_path, "c" * 12, hours=1)  # the same run (same id) in both stores
    _record(other, "c" * 12, hours=1)
    r = runner.invoke(app, ["runs", "export", "c" * 12])
    assert r.exit_code == 0, r.output
    export = ws.runs_dir / f"{'c' * 12}.nc"
    assert export.read_bytes() == b"x" * 100
    r = runner.invoke(app, ["runs", "prune", "--keep", "0"])
    assert r.exit_code == 0, r.output
    assert _draws(ws.db_path) == set() and _draws(other) == {"b" * 12, "c" * 12}
    assert export.read_bytes() == b"x" * 100  # an export is the analyst's file
    r = runner.invoke(app, ["--db", str(other), "runs", "prune", "--keep", "1"])
    assert r.exit_code == 0, r.output
    assert _draws(other) == {"c" * 12}


def test_prune_leaves_every_file_it_did_not_write(runner: CliRunner, ws: Workspace) -> None:
    _record(ws.db_path, "a" * 12)
    ws.runs_dir.mkdir(parents=True, exist_ok=True)
    planted = {
        "notes.nc": b"mine", "0123456789ab.nc": b"no record", "README.json": b"{}", f"{'a' * 12}.nc": b"an export",
        ".0123456789ab.nc.short.tmp": b"t", ".x.nc.abcdefgh.tmp": b"t", ".notes.tmp": b"t",
    }
    for name, data in planted.items():
        (ws.runs_dir / name).write_bytes(data)
        os.utime(ws.runs_dir / name, (0, 0))  # old, as stale as can be
    folder = ws.runs_dir / (".0123456789ab.nc.abcdefgh.tmp")  # a folder by a temp file's name
    folder.mkdir()
    ours = ws.runs_dir / ".0123456789ab.nc.k3j_x9q2.tmp"  # a killed export's own temp file
    ours.write_bytes(b"half")
    os.utime(ours, (0, 0))
    r = runner.invoke(app, ["runs", "prune", "--keep", "0", "--records"])
    assert r.exit_code == 0 and "Traceback" not in r.output, r.output
    for name, data in planted.items():
        assert (ws.runs_dir / name).read_bytes() == data
    assert folder.is_dir() and not ours.exists()


def test_a_record_naming_a_path_outside_runs_is_never_followed(runner: CliRunner, ws: Workspace) -> None:
    _record(ws.db_path, "a" * 12, draws=b"")
    victim = ws.root / "victim.nc"
    victim.write_bytes(b"keep me")
    with EventStore(ws.db_path) as store:  # an old record's file name, written by hand
        store._write("x", lambda db: db.execute("DELETE FROM run_draws"))
        store._write("x", lambda db: db.execute("UPDATE runs SET netcdf = '../victim.nc'"))
        assert legacy_runs.import_json_runs(ws, store) == 0
    assert victim.read_bytes() == b"keep me" and _draws(ws.db_path) == set()


def test_files_the_tool_did_not_write_are_not_imported_as_runs(ws: Workspace, tmp_path: Path) -> None:
    from forecaster.workflow.updating import recorded_runs, update_forecast

    priors = load_priors(ws.priors_dir)
    result, _ = update_forecast(ws, priors, as_of=dt.date(2025, 1, 1), exact=True, record=False)
    ws.runs_dir.mkdir(exist_ok=True)
    genuine = {**result.to_json(), "recorded_at": "2025-01-01T10:00:00+00:00"}
    forged = {**genuine, "run_id": "0" * 12}  # a plausible run whose id is not its inputs' hash
    renamed = ws.runs_dir / "copy-of-run.json"
    (ws.runs_dir / f"{'0' * 12}.json").write_text(json.dumps(forged), encoding="utf-8")
    renamed.write_text(json.dumps(genuine), encoding="utf-8")
    deep = ws.runs_dir / f"{'1' * 12}.json"
    deep.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")  # no RecursionError either
    update_forecast(ws, priors, as_of=dt.date(2025, 1, 1), exact=True)
    assert [r["run_id"] for r in recorded_runs(ws)] == [result.run_id]  # computed, not imported
    assert (ws.runs_dir / f"{'0' * 12}.json").exists() and renamed.exists() and deep.exists()  # and not deleted


def test_the_json_log_moves_only_into_the_workspaces_own_store(ws: Workspace, tmp_path: Path) -> None:
    from forecaster.workflow.updating import update_forecast

    priors = load_priors(ws.priors_dir)
    result, _ = update_forecast(ws, priors, as_of=dt.date(2025, 1, 1), exact=True, record=False)
    ws.runs_dir.mkdir(exist_ok=True)
    log = ws.runs_dir / f"{result.run_id}.json"
    log.write_text(json.dumps({**result.to_json(), "recorded_at": "2025-01-01T10:00:00+00:00"}), encoding="utf-8")
    elsewhere = dataclasses.replace(ws, db_override=tmp_path / "team.db")
    with EventStore(elsewhere.db) as store:
        assert legacy_runs.import_json_runs(elsewhere, store) == 0
        assert runs.list_runs(store) == []
    assert log.exists()
    with EventStore(ws.db) as store:
        assert legacy_runs.import_json_runs(ws, store) == 1
        assert [r.run_id for r in runs.list_runs(store)] == [result.run_id]
    assert not log.exists()
