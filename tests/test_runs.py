"""The run log in the store, the cached update path, history, backfill and prune (issue 4)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecaster.cli.main import app
from forecaster.cli.runs import sparkline
from forecaster.core.workspace import Workspace
from forecaster.inference.update import run_update
from forecaster.model.loading import load_priors
from forecaster.store import legacy_runs, runs
from forecaster.store.events import EventStore
from forecaster.workflow import backfill
from forecaster.workflow.updating import (
    cached_update,
    gather_reports,
    planned_run_id,
    priors_fingerprint,
    recorded_runs,
    update_forecast,
)
from tests.helpers import MINI

# Reports imported in a test are recorded now, so only an as-of date of today sees them (knowledge time).
TODAY = dt.date.today()
AS_OF = TODAY.isoformat()


def invoke(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture
def ws(backend_ws: Workspace) -> Workspace:
    """The bundled workspace on each backend (conftest.backend_ws)."""
    return backend_ws


@pytest.fixture
def stocked(ws: Workspace, runner: CliRunner) -> Workspace:
    """The bundled workspace with the seed papers' events in its store."""
    code, _, err = invoke(runner, "event", "import", str(ws.scenarios_dir / "historical_events.yaml"))
    assert code == 0, err
    return ws


def _runs_rows(ws: Workspace, sql: str) -> list[tuple[object, ...]]:
    with EventStore(ws.db) as store:
        return [tuple(r) for r in store._read("test", sql)]


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------


def test_priors_fingerprint_is_the_priors_hash(ws: Workspace) -> None:
    for root in (ws.priors_dir, MINI):
        assert priors_fingerprint(root) == load_priors(root).hash
    assert priors_fingerprint(ws.root / "nowhere") is None


def test_update_is_recorded_in_the_store_with_every_field(runner: CliRunner, stocked: Workspace) -> None:
    code, out, err = invoke(runner, "update", "--exact", "--as-of", AS_OF, "--json")
    assert code == 0, err
    data = json.loads(out)
    with EventStore(stocked.db) as store:
        (record,) = runs.list_runs(store)
    assert record.run_id == data["run_id"] and record.kind == "update" and record.evidence == "store"
    assert record.as_of == TODAY and record.priors_hash == data["priors_hash"]
    assert (
        record.events_hash == data["events_hash"] and record.seed == data["seed"] and record.version == data["version"]
    )
    assert record.settings == {"sampler": "exact"} and record.sampler == "exact"
    assert record.reports == len(data["report_ids"]) > 0 and record.wall_seconds > 0
    assert (dt.datetime.now(dt.UTC) - record.recorded_at) < dt.timedelta(minutes=5)
    used = {r[0] for r in _runs_rows(stocked, f"SELECT report_id FROM run_reports WHERE run_id = '{record.run_id}'")}
    assert used == set(data["report_ids"])
    states = {(s.hypothesis, s.state): s for s in record.states}
    assert len(states) == sum(len(h["states"]) for h in data["hypotheses"])
    for h in data["hypotheses"]:
        for s in h["states"]:
            got = states[(h["id"], s["id"])]
            assert got.posterior == pytest.approx(s["posterior"], abs=1e-6) and got.prior == pytest.approx(
                s["prior"], abs=1e-6
            )
            assert got.low is None and got.high is None  # the exact engine has no interval
    assert not list(stocked.runs_dir.glob("*.json")), "the JSON-file run log is gone"


def test_unchanged_inputs_are_not_recomputed_and_force_recomputes(runner: CliRunner, stocked: Workspace) -> None:
    _, first, _ = invoke(runner, "update", "--exact", "--as-of", AS_OF, "--json")
    code, second, _ = invoke(runner, "update", "--exact", "--as-of", AS_OF)
    assert code == 0 and "cached: inputs unchanged" in second
    _, forced, _ = invoke(runner, "update", "--exact", "--as-of", AS_OF, "--json", "--force")
    a, b = json.loads(first), json.loads(forced)
    assert (
        a["cached"] is False
        and b["cached"] is False
        and a["run_id"] == b["run_id"]
        and a["hypotheses"] == b["hypotheses"]
    )
    assert _runs_rows(stocked, "SELECT COUNT(*) FROM runs") == [(1,)]  # replaced, not duplicated
    assert _runs_rows(stocked, "SELECT COUNT(*) FROM run_states") == [(8,)]
    # A new report changes the inputs: a new run, whose "previous" is the first.
    invoke(runner, "event", "add", "csto_move", "--date", "2026-10-30", "--grade", "B2", "--source", "TASS")
    _, third, _ = invoke(runner, "update", "--exact", "--as-of", AS_OF, "--json")
    c = json.loads(third)
    assert c["cached"] is False and c["run_id"] != a["run_id"] and c["previous_run_id"] == a["run_id"]
    assert all(s["change"] is not None for h in c["hypotheses"] for s in h["states"])


def test_the_fast_path_finds_the_run_without_the_priors(stocked: Workspace) -> None:
    priors = load_priors(stocked.priors_dir)
    as_of = TODAY
    assert cached_update(stocked, as_of=as_of, exact=True) is None
    result, cached = update_forecast(stocked, priors, as_of=as_of, exact=True)
    assert not cached
    found = cached_update(stocked, as_of=as_of, exact=True)
    assert found is not None and found.run_id == result.run_id
    for h, states in result.posteriors().items():
        assert found.posteriors()[h] == pytest.approx(states, abs=1e-6)
    assert cached_update(stocked, as_of=as_of, exact=True, seed=1) is None  # another seed, another run
    assert cached_update(stocked, as_of=as_of) is None  # the sampler's settings differ from the exact engine's
    (stocked.priors_dir / "settings.yaml").write_text(
        (stocked.priors_dir / "settings.yaml").read_text() + "\n# edited\n"
    )
    assert cached_update(stocked, as_of=as_of, exact=True) is None  # priors changed


def test_the_json_file_log_moves_into_the_store(stocked: Workspace) -> None:
    priors = load_priors(stocked.priors_dir)
    result, _ = update_forecast(stocked, priors, as_of=dt.date(2025, 1, 1), exact=True, record=False)
    stocked.runs_dir.mkdir(exist_ok=True)
    old = {**result.to_json(), "recorded_at": "2025-01-01T10:00:00+00:00"}
    (stocked.runs_dir / f"{result.run_id}.json").write_text(json.dumps(old), encoding="utf-8")
    (stocked.runs_dir / "broken.json").write_text("{", encoding="utf-8")
    again, cached = update_forecast(stocked, priors, as_of=dt.date(2025, 1, 1), exact=True)
    if stocked.db_on_server:  # the JSON log predates server stores: it is the workspace file's, never moved to a server
        assert not cached and (stocked.runs_dir / f"{result.run_id}.json").exists()
        return
    assert cached and again.run_id == result.run_id
    assert not (stocked.runs_dir / f"{result.run_id}.json").exists() and (stocked.runs_dir / "broken.json").exists()
    (logged,) = recorded_runs(stocked)
    assert (
        logged["run_id"] == result.run_id
        and logged["recorded_at"].startswith("2025-01-01T10:00:00")
        and logged["evidence"] == "unknown"
    )


def test_migration_takes_an_old_store_to_the_run_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from forecaster.store import events as store_module

    db = tmp_path / "old.db"
    monkeypatch.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[:1])
    EventStore(db).close()
    monkeypatch.undo()
    with EventStore(db) as store:
        assert runs.has_runs_table(store) and runs.list_runs(store) == []
    names = [r[0] for r in sqlite3.connect(db).execute("SELECT name FROM schema_migrations ORDER BY version")]
    assert names[:2] == ["m001_reports", "m002_runs"]


# ---------------------------------------------------------------------------------------------
# The cached path never imports pymc (a subprocess, as cron runs it)
# ---------------------------------------------------------------------------------------------


def _record_as_sampled(ws: Workspace, as_of: dt.date) -> str:
    """Record the exact result under the id a default sampled update of these inputs gets.

    What is under test is the cache lookup, not sampling: the numbers need not come from NUTS."""
    priors = load_priors(ws.priors_dir)
    reports = gather_reports(ws, priors, as_of=as_of)
    result = run_update(priors, reports, as_of=as_of, exact_only=True)
    run_id = planned_run_id(priors, reports, as_of=as_of)
    from forecaster.inference.settings import SamplerSettings
    from forecaster.inference.update import settings_hash

    settings = {"sampler": "pymc-nuts", **SamplerSettings().as_dict()}
    diag = dataclasses.replace(
        result.diagnostics, sampler="pymc-nuts", chains=2, draws=1000, tune=500, r_hat_max=1.001, ess_min=900.0
    )
    fake = dataclasses.replace(result, run_id=run_id, settings_hash=settings_hash(settings), diagnostics=diag)
    with EventStore(ws.db) as store:
        runs.record_run(store, runs.NewRun(fake, settings=settings))
    return run_id


def _run_cli(ws: Workspace, args: list[str]) -> tuple[int, str, str, set[str]]:
    code = (
        "import sys\n"
        "from forecaster.cli.main import app\n"
        "rc = 0\n"
        "try:\n"
        f"    app({args!r})\n"
        "except SystemExit as e:\n"
        "    rc = e.code or 0\n"
        "print('MODULES=' + ','.join(m for m in ('pymc', 'arviz', 'pytensor') if m in sys.modules), file=sys.stderr)\n"
        "sys.exit(rc)\n"
    )
    env = {**os.environ, "FORECAST_WORKSPACE": str(ws.root)}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    lines = r.stderr.strip().splitlines()
    modules = set(filter(None, lines[-1].removeprefix("MODULES=").split(","))) if lines else set()
    return r.returncode, r.stdout, "\n".join(lines[:-1]), modules


def test_cached_sampled_update_does_not_import_pymc(stocked: Workspace) -> None:
    run_id = _record_as_sampled(stocked, TODAY)
    code, out, err, modules = _run_cli(stocked, ["update", "--as-of", AS_OF])
    assert code == 0, err
    assert run_id in out and "cached: inputs unchanged" in out
    assert modules == set()


# ---------------------------------------------------------------------------------------------
# History and backfill
# ---------------------------------------------------------------------------------------------


def test_sparkline() -> None:
    assert sparkline([]) == ""
    assert sparkline([0.0, 0.5, 1.0]) == "▁▅█"
    levels = ["▁▂▃▄▅▆▇█".index(c) for c in sparkline([0.30, 0.301, 0.302])]
    assert max(levels) - min(levels) <= 1  # a wiggle of 0.2 pp stays (nearly) flat
    assert sparkline([0.1, 0.9])[0] == "▁" and sparkline([0.1, 0.9])[-1] == "█"


def test_history_json_csv_and_terminal(runner: CliRunner, stocked: Workspace) -> None:
    for day in ("2024-01-01", "2025-01-01", AS_OF):  # the first two see no report yet
        assert invoke(runner, "update", "--exact", "--as-of", day)[0] == 0
    code, out, _ = invoke(runner, "history", "--json")
    rows = json.loads(out)
    assert [r["as_of"] for r in rows] == ["2024-01-01", "2025-01-01", AS_OF]
    assert set(rows[0]["states"]) == {"encirclement", "alignment", "escalation"}
    code, out, _ = invoke(runner, "history", "--json", "--hypothesis", "escalation")
    assert set(json.loads(out)[0]["states"]) == {"escalation"}
    code, out, _ = invoke(runner, "history", "--csv")
    lines = out.strip().splitlines()
    assert (
        len(lines) == 4
        and lines[0].startswith("run_id,kind,evidence,as_of")
        and "escalation.annexation.low" in lines[0]
    )
    code, out, _ = invoke(runner, "history", "--hypothesis", "escalation")
    assert code == 0 and "annexation" in out and "trend over the last 3 runs" in out
    assert any(ch in out for ch in "▁▂▃▄▅▆▇█") and "heightened" not in out
    code, _, err = invoke(runner, "history", "--hypothesis", "escalaton")
    assert code == 2 and "did you mean 'escalation'" in err
    assert invoke(runner, "history", "--json", "--csv")[0] == 2


def test_history_on_an_empty_workspace(runner: CliRunner, ws: Workspace) -> None:
    code, out, err = invoke(runner, "history")
    assert code == 0 and "no runs recorded yet" in err
    code, out, _ = invoke(runner, "history", "--json")
    assert json.loads(out) == []


def test_week_points() -> None:
    # 2026-11-04 is a Wednesday of ISO week 45; 2026-11-18 a Wednesday of week 47.
    assert backfill.week_points(dt.date(2026, 11, 4), dt.date(2026, 11, 18)) == [
        dt.date(2026, 11, 8),
        dt.date(2026, 11, 15),
        dt.date(2026, 11, 18),
    ]
    assert backfill.week_points(dt.date(2026, 11, 9), dt.date(2026, 11, 9)) == [dt.date(2026, 11, 9)]
    assert backfill.week_points(dt.date(2026, 11, 10), dt.date(2026, 11, 9)) == []


def test_backfill_weekly_by_event_time(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    root = tmp_path / "mini"
    shutil.copytree(MINI, root / "priors")
    monkeypatch.setenv("FORECAST_WORKSPACE", str(root))
    for args in (
        ["arms_east", "--date", "2026-09-02"],
        ["armed_incident", "--date", "2026-10-14"],
        ["cfsp_alignment", "--date", "2026-11-17", "--not-occurred"],
    ):
        assert invoke(runner, "event", "add", *args, "--grade", "B2", "--source", "wire")[0] == 0
    code, out, err = invoke(runner, "history", "--backfill", "weekly", "--as-of", "2026-11-18", "--json")
    assert code == 0, err
    assert "12 weekly points from 2026-09-02 to 2026-11-18, 12 new" in err
    rows = json.loads(out)
    assert [r["kind"] for r in rows] == ["backfill"] * 12 and {r["evidence"] for r in rows} == {"store-event-time"}
    assert (
        rows[0]["as_of"] == "2026-09-06"
        and rows[-1]["as_of"] == "2026-11-18"
        and [r["reports"] for r in rows][::4] == [1, 1, 2]
    )
    # The last point is what an event-time update as of that day says.
    _, upd, _ = invoke(runner, "update", "--exact", "--event-time", "--as-of", "2026-11-18", "--json")
    last = rows[-1]["states"]
    for h in json.loads(upd)["hypotheses"]:
        for s in h["states"]:
            assert last[h["id"]][s["id"]]["posterior"] == pytest.approx(s["posterior"], abs=1e-6)
    assert json.loads(upd)["run_id"] != rows[-1]["run_id"]  # a backfill point is its own run
    code, _, err = invoke(runner, "history", "--backfill", "weekly", "--as-of", "2026-11-18")
    assert code == 0 and "0 new (12 already recorded)" in err
    assert invoke(runner, "history", "--backfill", "daily")[0] == 2
    assert invoke(runner, "history", "--as-of", "2026-11-18")[0] == 2


# ---------------------------------------------------------------------------------------------
# runs list / show / prune
# ---------------------------------------------------------------------------------------------


def _fake_runs(ws: Workspace, n: int) -> list[str]:
    """n recorded runs an hour apart, each with 1,000 bytes of draws in the store."""
    priors = load_priors(ws.priors_dir)
    base = run_update(priors, [], as_of=dt.date(2026, 1, 1), exact_only=True)
    ids = []
    items = []
    for i in range(n):
        rid = f"{i:012x}"
        items.append(
            runs.NewRun(
                dataclasses.replace(base, run_id=rid, as_of=dt.date(2026, 1, 1) + dt.timedelta(days=i)),
                recorded_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=i),
                draws=bytes([i]) * 1000,
            )
        )
        ids.append(rid)
    with EventStore(ws.db) as store:
        runs.record_runs(store, items)
    return ids


def test_prune_keeps_the_newest_draws_and_touches_only_this_store(runner: CliRunner, ws: Workspace) -> None:
    ids = _fake_runs(ws, 4)
    ws.runs_dir.mkdir(exist_ok=True)
    for rid in (ids[0], ids[3]):  # exported earlier
        assert invoke(runner, "runs", "export", rid)[0] == 0
    assert (ws.runs_dir / f"{ids[0]}.nc").read_bytes() == bytes([0]) * 1000
    (ws.runs_dir / "0123456789ab.nc").write_bytes(b"y")  # another store's export, on a shared folder
    stale = ws.runs_dir / f".{ids[1]}.nc.a1b2c3d4.tmp"  # a killed export's temp file
    stale.write_bytes(b"z")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    fresh = ws.runs_dir / f".{ids[2]}.nc.e5f6g7h8.tmp"  # a writer at work right now: left alone
    fresh.write_bytes(b"z")
    code, out, _ = invoke(runner, "runs", "prune", "--keep", "2", "--dry-run")
    assert code == 0 and "would drop the draws of 2 runs (0.0 MB); 2 kept" in out and stale.exists()
    code, out, _ = invoke(runner, "runs", "prune", "--keep", "2")
    assert code == 0 and "dropped the draws of 2 runs" in out and "2 kept" in out
    # Exports are the analyst's files: they stay, as does another store's.
    assert sorted(f.name for f in ws.runs_dir.glob("*.nc")) == sorted([f"{ids[0]}.nc", f"{ids[3]}.nc", "0123456789ab.nc"])
    assert not stale.exists() and fresh.exists()
    with EventStore(ws.db) as store:
        records = {r.run_id: r for r in runs.list_runs(store, with_states=False)}
        assert runs.load_draws(store, ids[0]) is None and runs.load_draws(store, ids[2]) == bytes([2]) * 1000
    assert len(records) == 4 and records[ids[0]].netcdf is None and records[ids[3]].netcdf == f"{ids[3]}.nc"
    code, _, err = invoke(runner, "runs", "export", ids[0])
    assert code == 2 and "no draws in the store" in err
    code, out, _ = invoke(runner, "runs", "prune", "--keep", "1", "--records")
    assert code == 0 and "deleted 3 run records" in out
    assert _runs_rows(ws, "SELECT run_id FROM runs") == [(ids[3],)]
    assert _runs_rows(ws, f"SELECT COUNT(*) FROM run_states WHERE run_id <> '{ids[3]}'") == [(0,)]
    assert _runs_rows(ws, "SELECT COUNT(*) FROM run_draws") == [(1,)]


def test_runs_list_and_show(runner: CliRunner, stocked: Workspace) -> None:
    _, out, _ = invoke(runner, "update", "--exact", "--as-of", AS_OF, "--json")
    run_id = json.loads(out)["run_id"]
    code, out, _ = invoke(runner, "runs", "list")
    assert code == 0 and run_id in out and "exact" in out
    code, out, _ = invoke(runner, "runs", "list", "--json")
    assert json.loads(out)[0]["run_id"] == run_id
    code, out, _ = invoke(runner, "runs", "show", run_id[:6])
    assert code == 0 and f"run {run_id}" in out and "recorded_at" in out
    code, out, _ = invoke(runner, "runs", "show", run_id, "--json")
    assert json.loads(out)["result"]["run_id"] == run_id
    code, _, err = invoke(runner, "runs", "show", "zzzz")
    assert code == 2 and "no run 'zzzz'" in err


def test_commands_have_help_with_examples(runner: CliRunner) -> None:
    for cmd in (["history"], ["brief"], ["runs", "list"], ["runs", "show"], ["runs", "prune"]):
        code, out, _ = invoke(runner, *cmd, "--help")
        assert code == 0 and "Example:" in out


def test_draws_of_an_old_store_move_in_from_runs_folder(ws: Workspace) -> None:
    """A store from before issue 13 named runs/RUN_ID.nc files; the next update moves them in."""
    if ws.db_on_server:
        pytest.skip("only a file store predates the draws in the store")
    ids = _fake_runs(ws, 3)
    with EventStore(ws.db) as store:
        store._write("test", lambda db: db.executemany("DELETE FROM run_draws WHERE run_id = ?", [(i,) for i in ids]))
    ws.runs_dir.mkdir(exist_ok=True)
    (ws.runs_dir / runs.netcdf_name(ids[1])).write_bytes(b"old draws")
    with EventStore(ws.db) as store:
        assert legacy_runs.import_json_runs(ws, store) == 0
        records = {r.run_id: r for r in runs.list_runs(store, with_states=False)}
        assert runs.load_draws(store, ids[1]) == b"old draws"
    assert records[ids[1]].netcdf == runs.netcdf_name(ids[1]) and records[ids[0]].netcdf is None
