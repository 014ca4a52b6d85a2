"""`forecast db …` looks after a store named by --db or $FORECAST_DB alone: no workspace needed
(a DBA upgrading the team's server has none), on either backend (issue 13)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from forecaster.cli.main import app
from tests.backends import Backend


def test_db_commands_need_only_the_store(runner: CliRunner, backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    db = backend.new_store(upgrade=False)  # FORECAST_WORKSPACE names no workspace (conftest)
    r = runner.invoke(app, ["--db", db, "db", "upgrade"])
    assert r.exit_code == 0 and "schema" in r.stdout, r.output
    r = runner.invoke(app, ["--db", db, "db", "check", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["ok"] and data["counts"]["reports"] == 0 and "resolution_retractions" in data["counts"]
    monkeypatch.setenv("FORECAST_DB", db)
    r = runner.invoke(app, ["db", "upgrade"])
    assert r.exit_code == 0 and "up to date" in r.stdout, r.output


def test_db_check_without_a_store_or_workspace_is_one_line(runner: CliRunner) -> None:
    r = runner.invoke(app, ["db", "check"])
    assert r.exit_code != 0 and "Traceback" not in r.output
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("error:")
