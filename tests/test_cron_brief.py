"""Issue 12, "Cron and the brief": the brief of a new workspace, the clock it uses, cron without a
workspace, and Markdown fit for a mail body."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecaster.cli.main import app
from forecaster.core.workspace import Workspace
from forecaster.model.evidence import Report
from forecaster.store.events import EventStore
from forecaster.store.records import StoredReport
from tests.helpers import MINI


def _monday_before(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def bulk_imported(root: Path) -> Workspace:
    """A new workspace: the mini priors and a year of history, all of it recorded just now."""
    shutil.copytree(MINI, root / "priors")
    ws = Workspace(root)
    today = dt.date.today()
    start = _monday_before(today) - dt.timedelta(weeks=30)
    rows = [
        ("arms_east", 0, True, "B", 2),
        ("armed_incident", 6, True, "C", 3),
        ("cfsp_alignment", 12, False, "B", 2),
        ("armed_incident", 20, True, "B", 2),
        ("russian_pact", 27, True, "C", 3),
    ]
    entries = [
        StoredReport(Report(ind, start + dt.timedelta(weeks=w), occ, rel, cred, "Wire", "", "History.", "ana"))
        for ind, w, occ, rel, cred in rows
    ]
    with EventStore(ws.db_path) as store:
        store.import_reports(entries, analyst="ana")
    return ws


def _run(runner: CliRunner, ws: Workspace, *args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, ["-w", str(ws.root), *args])
    return r.exit_code, r.stdout, r.stderr


def _last_week_brief(runner: CliRunner, ws: Workspace, out: Path, *extra: str) -> dict:
    code, _, err = _run(runner, ws, "brief", "--exact", "--period", "last-week", "--output", str(out), *extra)
    assert code == 0, err
    [path] = sorted(out.glob("*.json"))
    return json.loads(path.read_text(encoding="utf-8"))


def test_first_brief_after_a_bulk_import_uses_the_history_by_event_date(runner: CliRunner, tmp_path: Path) -> None:
    ws = bulk_imported(tmp_path / "ws")
    code, _, err = _run(runner, ws, "history", "--backfill", "weekly")
    assert code == 0, err
    data = _last_week_brief(runner, ws, tmp_path / "b")
    # Knowledge time would replay an empty store as of last Sunday: event time is chosen, and said.
    assert data["clock"] == "event" and "event time" in data["clock_note"].lower()
    assert data["provenance"]["reports"] == 5 and data["provenance"]["clock"] == "event"
    # No historical report "left the window", none is "new" this week, and nothing swung.
    assert data["reports"]["left_window"] == [] and data["reports"]["new"] == []
    # no report came in: only ageing (a week older, MODEL.md §3) moves the numbers, by well under 1 pp
    assert all(abs(c["change"]) < 0.01 for c in data["changes"]), data["changes"]
    assert data["baseline"]["kind"] in ("run", "replay")
    md = next((tmp_path / "b").glob("*.md")).read_text(encoding="utf-8")
    html = next((tmp_path / "b").glob("*.html")).read_text(encoding="utf-8")
    assert "Clock: event time" in md and "Clock: event time" in html


def test_a_brief_without_a_backfill_also_compares_like_with_like(runner: CliRunner, tmp_path: Path) -> None:
    ws = bulk_imported(tmp_path / "ws")
    data = _last_week_brief(runner, ws, tmp_path / "b")
    assert data["clock"] == "event" and data["provenance"]["reports"] == 5
    assert data["reports"]["left_window"] == [] and data["reports"]["new"] == []
    assert all(abs(c["change"]) < 0.01 for c in data["changes"]), data["changes"]  # ageing only


def test_brief_event_time_flag_and_knowledge_clock(runner: CliRunner, tmp_path: Path) -> None:
    ws = bulk_imported(tmp_path / "ws")
    # This week's brief: the reports were recorded in the period, so knowledge time sees them all
    # at the end, but an earlier record exists only if the store knew something before the period.
    data = _last_week_brief(runner, ws, tmp_path / "b", "--event-time")
    assert data["clock"] == "event" and "--event-time" in data["clock_note"]
    code, _, err = _run(runner, ws, "brief", "--exact", "--output", str(tmp_path / "c"))
    assert code == 0, err
    week = json.loads(next((tmp_path / "c").glob("*.json")).read_text(encoding="utf-8"))
    assert week["clock"] in ("knowledge", "event") and week["provenance"]["reports"] == 5
    assert "(event time)" in err or "(knowledge time)" in err


def test_knowledge_clock_when_the_store_knew_reports_before_the_period(runner: CliRunner, tmp_path: Path) -> None:
    from tests.test_brief import UNTIL, golden_workspace

    ws = golden_workspace(tmp_path / "g")
    code, _, err = _run(runner, ws, "brief", "--exact", "--until", UNTIL, "--output", str(tmp_path / "b"))
    assert code == 0, err
    data = json.loads(next((tmp_path / "b").glob("*.json")).read_text(encoding="utf-8"))
    assert data["clock"] == "knowledge" and "knowledge time" in data["clock_note"]
    ev = _run(runner, ws, "brief", "--exact", "--until", UNTIL, "--event-time", "--output", str(tmp_path / "e"))
    assert ev[0] == 0, ev[2]
    data = json.loads(next((tmp_path / "e").glob("*.json")).read_text(encoding="utf-8"))
    # By event date the retracted report never counted: it neither drops out nor drives anything.
    assert data["clock"] == "event" and data["reports"]["left_window"] == []
    assert "russian_pact" not in {d["indicator"] for d in data["drivers"]}


# ---------------------------------------------------------------------------------------------
# Cron without a workspace
# ---------------------------------------------------------------------------------------------


def test_no_terminal_and_no_workspace_is_refused_not_created(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FORECAST_WORKSPACE")
    empty = tmp_path / "cwd"
    empty.mkdir()
    monkeypatch.chdir(empty)
    for args in (["brief", "--exact"], ["update", "--exact"], ["info"], ["event", "list"], ["history"]):
        r = runner.invoke(app, args)
        assert r.exit_code == 2, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "no workspace found" in r.stderr
        assert "Traceback" not in r.stderr
    assert not (tmp_path / "xdg").exists() and list(empty.iterdir()) == []


def test_cron_subprocess_without_a_workspace(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("FORECAST_WORKSPACE", "FORECAST_DB")}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    r = subprocess.run(
        [sys.executable, "-m", "forecaster", "brief", "--exact", "--period", "last-week"],
        capture_output=True, text=True, env=env, cwd=cwd, stdin=subprocess.DEVNULL, timeout=120,
    )
    assert r.returncode == 2 and r.stdout == ""
    assert len(r.stderr.splitlines()) == 1 and "-w" in r.stderr
    assert not (tmp_path / "xdg").exists() and list(cwd.iterdir()) == []


def test_at_a_terminal_the_default_workspace_is_still_made(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FORECAST_WORKSPACE")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("forecaster.cli.common.interactive", lambda: True)
    r = runner.invoke(app, ["info", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["workspace"].startswith(str(tmp_path / "xdg"))


# ---------------------------------------------------------------------------------------------
# The Markdown brief in a mail body; question, horizon, bottom line, panel statement
# ---------------------------------------------------------------------------------------------


def test_markdown_brief_reads_as_plain_text_and_says_what_it_is_about(runner: CliRunner, tmp_path: Path) -> None:
    from tests.helpers import edit_yaml
    from tests.test_brief import UNTIL, golden_workspace

    ws = golden_workspace(tmp_path / "g")

    def about(net: dict) -> None:
        net["horizon_months"] = 6
        net["illustrative"] = "A worked example & nobody's view: Q > 50 % <b>means</b> nothing."
        for h in net["hypotheses"]:
            h["question"] = f"Where will {h['id']} be (A & B > C)?"

    edit_yaml(ws.priors_dir / "network.yaml", about)
    with EventStore(ws.db_path) as store:
        store.add(Report("arms_east", dt.date(2026, 11, 21), True, "B", 2, "Wire & Co", "", "x > y & <i>z</i>", "ana"))
    out = tmp_path / "b"  # by event time: the report was recorded today, after the period
    code, _, err = _run(runner, ws, "brief", "--exact", "--until", UNTIL, "--event-time", "--output", str(out))
    assert code == 0, err
    md = (out / "2026-W47.md").read_text(encoding="utf-8")
    html = (out / "2026-W47.html").read_text(encoding="utf-8")
    data = json.loads((out / "2026-W47.json").read_text(encoding="utf-8"))
    for entity in ("&gt;", "&lt;", "&amp;", "&#39;", "&quot;"):
        assert entity not in md, entity
    assert "Wire & Co" in md and "x > y & \\<i>z\\</i>" in md
    assert "<i>" not in html and "&lt;i&gt;" in html and "Wire &amp; Co" in html  # HTML keeps autoescape
    assert "Where will escalation be (A & B > C)?" in md and "Where will escalation be (A &amp; B &gt; C)?" in html
    assert [h["question"] for h in data["headline"]][0] == "Where will encirclement be (A & B > C)?"
    assert "over the 6 months after 2026-11-22" in md and "over the 6 months after 2026-11-22" in html
    assert data["horizon_months"] == 6 and data["horizon"] == "over the 6 months after 2026-11-22"
    assert "**Illustrative panel**: A worked example & nobody's view: Q > 50 % \\<b>means\\</b> nothing." in md
    assert "Illustrative panel" in html and data["illustrative"].startswith("A worked example")
    para = md.split("## Bottom line\n\n", 1)[1].split("\n\n", 1)[0]
    assert "\n" not in para and para.startswith("Over the 6 months after 2026-11-22, it is ")
    assert "new report" in para and para == data["bottom_line"]
    assert "Bottom line" in html


def test_the_panel_statement_falls_back_to_the_experts(tmp_path: Path) -> None:
    from forecaster.model.loading import load_priors
    from forecaster.workflow.brief import panel_statement
    from tests.helpers import copy_mini, edit_yaml

    root = copy_mini(tmp_path / "p")
    edit_yaml(root / "network.yaml", lambda n: n.pop("illustrative", None))
    for f in (root / "experts").glob("*.yaml"):
        edit_yaml(f, lambda e: e.update(illustrative="Illustrative expert, not a real person."))
    assert panel_statement(load_priors(root)) == "Illustrative expert, not a real person."


def test_a_knowledge_time_brief_says_what_was_recorded_too_late_for_it(runner: CliRunner, tmp_path: Path) -> None:
    from tests.test_brief import UNTIL, golden_workspace

    ws = golden_workspace(tmp_path / "g")
    with EventStore(ws.db_path) as store:  # recorded now, after the period: not known on 22 November
        store.add(Report("arms_east", dt.date(2026, 11, 20), True, "B", 2, "Wire", "", "late", "ana"))
    code, _, err = _run(runner, ws, "brief", "--exact", "--until", UNTIL, "--output", str(tmp_path / "b"))
    assert code == 0, err
    data = json.loads(next((tmp_path / "b").glob("*.json")).read_text(encoding="utf-8"))
    assert data["clock"] == "knowledge" and data["provenance"]["reports"] == 4
    assert "1 report dated in the evidence window was recorded after 2026-11-22" in data["clock_note"]
    assert "--event-time" in data["clock_note"]
