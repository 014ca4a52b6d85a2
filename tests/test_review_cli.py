"""Issue 12, "Reviewers and analysts": validation that lists every problem, a priors diff that reads
the same evidence however the workspace is named, reports the model ignores, like-with-like changes,
ids never cut, ambiguous prefixes, completion, one JSON shape for a hypothesis' states."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecaster.cli.main import app
from forecaster.core.workspace import Workspace
from forecaster.model.evidence import Report
from forecaster.store.events import EventStore


def _run(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


def _add(ws: Workspace, indicator: str, day: dt.date, *, occurred: bool = True) -> str:
    with EventStore(ws.db_path) as store:
        return store.add(Report(indicator, day, occurred, "B", 2, "Wire", "", "", "ana")).id or ""


# ---------------------------------------------------------------------------------------------
# priors diff: the same evidence from $FORECAST_WORKSPACE as from -w; vectors with state names
# ---------------------------------------------------------------------------------------------


def _edited_copy(ws: Workspace, dest: Path) -> Path:
    shutil.copytree(ws.priors_dir, dest)
    f = dest / "experts" / "defence_economist.yaml"
    f.write_text(
        f.read_text(encoding="utf-8").replace("{heightened: 0.4, contained: 0.6}", "{heightened: 0.5, contained: 0.5}"),
        encoding="utf-8",
    )
    return dest


def test_priors_diff_reads_the_same_reports_from_env_and_from_w(
    runner: CliRunner, ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    today = dt.date.today()
    _add(ws, "arms_procurement_east", today - dt.timedelta(days=3))
    _add(ws, "conscription_reintroduced", today - dt.timedelta(days=2), occurred=False)
    old = _edited_copy(ws, tmp_path / "old")
    got = {}
    # $FORECAST_WORKSPACE (the ws fixture sets it), both folders explicit
    code, out, err = _run(runner, "priors", "diff", str(old), str(ws.priors_dir), "--json")
    assert code == 0, err
    got["env"] = json.loads(out)
    monkeypatch.setenv("FORECAST_WORKSPACE", str(tmp_path / "nowhere"))
    code, out, err = _run(runner, "-w", str(ws.root), "priors", "diff", str(old), str(ws.priors_dir), "--json")
    assert code == 0, err
    got["w"] = json.loads(out)
    monkeypatch.setenv("FORECAST_WORKSPACE", str(ws.root))
    code, out, err = _run(runner, "priors", "diff", str(old), "--json")
    assert code == 0, err
    got["implicit"] = json.loads(out)
    assert got["env"]["reports"] == got["w"]["reports"] == got["implicit"]["reports"] == 2
    assert got["env"]["effect"] == got["w"]["effect"]
    [change] = got["w"]["judgments"]
    assert change["old_by_state"] == {"heightened": 0.5, "contained": 0.5}
    assert change["new_by_state"] == {"heightened": 0.4, "contained": 0.6}


def test_priors_diff_markdown_names_the_states(runner: CliRunner, ws: Workspace, tmp_path: Path) -> None:
    old = _edited_copy(ws, tmp_path / "old")
    code, out, err = _run(runner, "priors", "diff", str(old), "--markdown")
    assert code == 0, err
    assert "heightened 0.50, contained 0.50" in out and "heightened 0.40, contained 0.60" in out
