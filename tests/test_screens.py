"""Screens that read (issue 21): `indicators` and `priors show` list one line per item, show one in
full, filter by hypothesis; "what moved it" reports one convention in every run (the state the
reports raised, signed), λ one way, ageing in words, and the reports new since the last update."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from typer.testing import CliRunner

from forecaster.cli.main import app
from forecaster.core.workspace import Workspace


def run(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture
def history(runner: CliRunner, ws: Workspace) -> Workspace:
    code, _, err = run(runner, "event", "import", str(ws.root / "scenarios" / "historical_events.yaml"))
    assert code == 0, err
    return ws


# ----------------------------------------------------------------------------- indicators


def test_indicators_lists_one_line_each_and_shows_one_in_full(runner: CliRunner, history: Workspace) -> None:
    code, out, err = run(runner, "indicators")
    assert code == 0, err
    lines = [line for line in out.splitlines() if line.strip()]
    data = json.loads(run(runner, "indicators", "--json")[1])
    assert len(lines) == len(data) + 1  # a header, then one line per indicator (160 columns)
    assert "indicators show ID" in err
    first = data[0]
    assert first["definition"] not in out  # the definition is the detail's
    code, detail, _ = run(runner, "indicators", "show", "kfor_reinforcement")
    assert code == 0 and detail.splitlines()[0].startswith("kfor_reinforcement")
    by_id = {row["id"]: row for row in data}
    row = by_id["kfor_reinforcement"]
    assert " ".join(row["definition"].split()) in " ".join(detail.split())
    assert "mechanism: north_kosovo_armed_crisis" in detail and f"reports used as of {dt.date.today()}: {row['reports']}" in detail
    one = json.loads(run(runner, "indicators", "show", "kfor_reinforcement", "--json")[1])
    assert one["id"] == "kfor_reinforcement" and one["reports"] == row["reports"]


def test_indicators_filter_by_hypothesis(runner: CliRunner, history: Workspace) -> None:
    every = json.loads(run(runner, "indicators", "--json")[1])
    some = json.loads(run(runner, "indicators", "--hypothesis", "alignment", "--json")[1])
    assert 0 < len(some) < len(every)
    assert all("alignment" in row["parents"] for row in some)
    code, out, _ = run(runner, "indicators", "-H", "alignment")
    assert code == 0 and {row["id"] for row in some} <= set(re.findall(r"^(\S+)", out, re.M))
    code, _, err = run(runner, "indicators", "--hypothesis", "alignmnt")
    assert code == 2 and "did you mean 'alignment'" in err and "Traceback" not in err
    code, _, err = run(runner, "indicators", "show", "no_such_indicator")
    assert code == 2 and "unknown indicator" in err


# ----------------------------------------------------------------------------- priors show


def test_priors_show_lists_one_line_per_table(runner: CliRunner, ws: Workspace) -> None:
    code, out, err = run(runner, "priors", "show")
    assert code == 0, err
    tables = json.loads(run(runner, "priors", "show", "--json")[1])["tables"]  # --json: every table in full
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == len(tables) + 1
    assert [line.split()[0] for line in lines[1:]] == [t["node"] for t in tables]
    assert "priors show NODE" in err
    full = run(runner, "priors", "show", "--markdown")[1]  # --markdown: every table in full
    assert full.count("\n## ") == len(tables) and len(full.splitlines()) > 10 * len(lines)


def test_priors_show_node_in_full_and_by_hypothesis(runner: CliRunner, ws: Workspace) -> None:
    code, out, _ = run(runner, "priors", "show", "alignment")
    assert code == 0 and "alignment (hypothesis; given encirclement)" in out and "defence_economist" in out
    code, out, _ = run(runner, "priors", "show", "--hypothesis", "alignment")
    listed = [line.split()[0] for line in out.splitlines()[1:] if line.strip()]
    assert listed[0] == "alignment" and "encirclement" not in listed and "arms_procurement_east" in listed
    data = json.loads(run(runner, "priors", "show", "-H", "alignment", "--json")[1])
    assert [t["node"] for t in data["tables"]] == listed
    md = run(runner, "priors", "show", "-H", "alignment", "--markdown")[1]
    assert md.count("\n## ") == len(listed)
    code, _, err = run(runner, "priors", "show", "alignment", "--hypothesis", "alignment")
    assert code == 2 and "choose one" in err
    code, _, err = run(runner, "priors", "show", "-H", "kfor_reinforcement")
    assert code == 2 and "not a hypothesis" in err


# ----------------------------------------------------------------------------- what moved it


def _update(runner: CliRunner) -> dict:  # type: ignore[type-arg]
    code, out, err = run(runner, "update", "--exact", "--json")
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def _add(runner: CliRunner, indicator: str, *flags: str) -> str:
    day = (dt.date.today() - dt.timedelta(days=3)).isoformat()
    code, out, err = run(runner, "event", "add", indicator, "--date", day, "--grade", "A1", "--source", "t", *flags)
    assert code == 0, err
    return out.split()[-1]


def test_what_moved_it_reports_the_state_raised_in_every_run(runner: CliRunner, history: Workspace) -> None:
    first = _update(runner)
    # Different evidence: strong reports that push the episodes the other way.
    fresh = [_add(runner, "armed_incident_north_kosovo", "--not-occurred"),
             _add(runner, "counter_alignment_pact", "--not-occurred"), _add(runner, "serbia_nato_exercise")]
    second = _update(runner)
    assert any(e["shift"] != f["shift"] for e in second["evidence"] for f in first["evidence"]
               if e["indicator"] == f["indicator"])
    flipped = 0
    for data in (first, second):
        for e in data["evidence"]:
            shifts = [(h, s, v) for h, d in e["shift"].items() for s, v in d.items()]
            top = max(v for _, _, v in shifts)
            raised = e["raised"]
            assert raised["change"] > 0 and raised["change"] == pytest.approx(top, abs=1e-6), e
            assert e["shift"][raised["hypothesis"]][raised["state"]] == pytest.approx(top, abs=1e-6)
            l1, l0 = e["likelihood"]
            assert e["lambda_ratio"] == pytest.approx(l1 / l0, rel=1e-5)
            counted = [w for w in e["weights"] if w.get("counted", True)]
            assert e["aged_to"] == pytest.approx([(w["weight"] - 0.5) / (w["accuracy"] - 0.5) for w in counted], abs=1e-4)
            old = max(shifts, key=lambda x: abs(x[2]))  # the old rule: the largest change, either sign
            flipped += old[2] < 0
    assert flipped, "the evidence never lowered a state most: the test would not catch the old rule"
    # The reports new since the previous update are marked; the first update has none to compare with.
    assert all(e["new_report_ids"] is None for e in first["evidence"])
    marked = {r for e in second["evidence"] if e["kind"] == "indicator" for r in e["new_report_ids"]}
    assert marked == set(fresh)
    assert next(e for e in second["evidence"] if e["indicator"] == "conscription_reintroduced")["new_report_ids"] == []


def test_what_moved_it_table_is_signed_one_way(runner: CliRunner, history: Workspace) -> None:
    run(runner, "update", "--exact")
    _add(runner, "armed_incident_north_kosovo", "--not-occurred")
    code, out, _ = run(runner, "update", "--exact")
    assert code == 0
    table = out.split("what moved it")[1]
    head = next(line for line in table.splitlines() if "indicator / mechanism" in line)
    assert "λ" in head and "aged to" in head and "raised" in head and "new" in head
    rows = [line.rstrip() for line in table.splitlines() if re.search(r"\s([+-]\d+\.\d|0\.0)$", line.rstrip())]
    assert len(rows) > 10 and all(not line.split()[-1].startswith("-") for line in rows), rows
    assert re.search(r"armed_incident_north_kosovo\s.*\b1 new\b", table)
    assert "λ = P(reports | occurred) / P(reports | not occurred)" in " ".join(out.split())
    assert re.search(r"\b\d{1,3} %", table)  # ageing as "aged to N %"
