"""Scenarios and what-ifs (issue 6): the shipped scenarios, file errors, typed reports, and that
none of it is ever recorded."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner, Result

import forecaster
from forecaster.cli.main import app
from forecaster.core.errors import UsageError
from forecaster.core.workspace import Workspace, defaults_dir
from forecaster.inference.exact import infer_exact
from forecaster.inference.scenarios import (
    compare,
    find_scenarios,
    list_scenarios,
    load_scenario,
    parse_hypothetical,
    scenario_files,
    whatif_scenario,
)
from forecaster.model.evidence import load_reports_file
from forecaster.model.loading import load_priors
from forecaster.model.network import Network, build_network

ROOT = Path(forecaster.__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"
SHIPPED = ["kfor_drawdown", "rs_secession", "second_banjska", "serbia_aligns_west", "serbia_turns_east"]


def run(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(app, list(args), catch_exceptions=False)


def snapshot(ws: Workspace) -> dict[str, str]:
    """Every file in the workspace (the store, runs/, everything) by content hash."""
    return {
        str(p.relative_to(ws.root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(ws.root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def recorded(runner: CliRunner, ws: Workspace) -> Workspace:
    """A workspace whose store holds the papers' events and one recorded exact update."""
    assert run(runner, "event", "import", str(ws.scenarios_dir / "historical_events.yaml")).exit_code == 0
    update = run(runner, "update", "--exact", "--json")
    assert update.exit_code == 0, update.output
    assert ws.db_path.exists()
    return ws


# ----------------------------------------------------------------------------- the shipped files


def test_the_shipped_scenarios_load_and_history_is_not_one() -> None:
    priors = load_priors(defaults_dir() / "priors")
    scenarios = list_scenarios(defaults_dir() / "scenarios", known=priors.indicator_ids)
    assert [s.name for s in scenarios] == SHIPPED
    for s in scenarios:
        assert s.title and s.description and s.citation and s.reports
        assert all(r.indicator in priors.indicator_ids for r in s.reports)
    assert "historical_events" not in scenario_files(defaults_dir() / "scenarios")


def test_scenario_list(runner: CliRunner, ws: Workspace) -> None:
    result = run(runner, "scenario", "list", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [s["name"] for s in data] == SHIPPED
    assert all(s["citation"] and s["reports"] for s in data)
    table = run(runner, "scenario", "list")
    assert table.exit_code == 0 and all(name in table.stdout for name in SHIPPED)


def test_scenarios_without_a_store_use_no_evidence_and_create_nothing(runner: CliRunner, ws: Workspace) -> None:
    before = snapshot(ws)
    result = run(runner, "scenario", "run", *SHIPPED, "--exact", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["baseline"]["reports"] == 0
    assert run(runner, "whatif", "csto_move", "--json").exit_code == 0
    assert snapshot(ws) == before and not ws.db_path.exists()


# ----------------------------------------------------------------------------- nothing is recorded


def test_every_shipped_scenario_leaves_the_store_and_runs_unchanged(runner: CliRunner, recorded: Workspace) -> None:
    ws = recorded
    first = json.loads(run(runner, "update", "--exact", "--json").stdout)
    before = snapshot(ws)
    assert "forecast.db" in before

    every = run(runner, "scenario", "run", *SHIPPED, "--exact", "--json")
    assert every.exit_code == 0, every.output
    for name in SHIPPED:
        assert run(runner, "scenario", "run", name, "--exact").exit_code == 0
    assert run(runner, "whatif", "csto_move", "eu_path_abandoned:no@A1", "--json").exit_code == 0
    assert run(runner, "collect", "--json").exit_code == 0
    assert snapshot(ws) == before, "a scenario, what-if or collect wrote to the workspace"

    data = json.loads(every.stdout)
    assert [s["name"] for s in data["scenarios"]] == SHIPPED and data["recorded"] is False
    assert data["baseline"]["reports"] == len(first["report_ids"])

    # A scenario run never becomes the "previous update": the next update compares with the last update.
    added = run(runner, "event", "add", "us_drawdown_signal", "--date", "2026-01-10", "--grade", "C3", "--source", "t")
    assert added.exit_code == 0, added.output
    after = json.loads(run(runner, "update", "--exact", "--json").stdout)
    assert after["previous_run_id"] == first["run_id"]


def test_the_baseline_is_the_recorded_update_and_changes_are_differences(
    runner: CliRunner, recorded: Workspace
) -> None:
    update = json.loads(run(runner, "update", "--exact", "--json").stdout)
    data = json.loads(run(runner, "scenario", "run", "serbia_turns_east", "rs_secession", "--exact", "--json").stdout)
    for h in update["hypotheses"]:
        for s in h["states"]:
            assert data["baseline"]["hypotheses"][h["id"]][s["id"]]["posterior"] == pytest.approx(
                s["posterior"], abs=1e-6
            )
    for sc in data["scenarios"]:
        for hid, states in sc["hypotheses"].items():
            assert sum(v["change"] for v in states.values()) == pytest.approx(0.0, abs=1e-5)
            for sid, v in states.items():
                base = data["baseline"]["hypotheses"][hid][sid]["posterior"]
                assert v["change"] == pytest.approx(v["posterior"] - base, abs=2e-6)
    east = data["scenarios"][0]["hypotheses"]["alignment"]["east"]["change"]
    assert east > 0.2, "Serbia joining the CSTO and leaving the EU path moves alignment east"


def test_a_scenario_equals_the_exact_engine_on_recorded_plus_hypothetical_reports() -> None:
    priors = load_priors(defaults_dir() / "priors")
    history = load_reports_file(defaults_dir() / "scenarios" / "historical_events.yaml", known=priors.indicator_ids)
    (scenario,) = find_scenarios(defaults_dir() / "scenarios", ["rs_secession"], known=priors.indicator_ids)
    as_of = dt.date(2026, 11, 22)
    window = (as_of - dt.timedelta(days=priors.evidence_window_days), as_of)
    recorded = [r for r in history if window[0] <= r.date <= window[1]]
    comparison = compare(priors, recorded, [scenario], as_of=as_of, exact=True)
    net = build_network(priors)
    hypothetical = [replace(r, date=as_of) for r in scenario.reports]  # a hypothetical report is never aged
    expected = infer_exact(net, net.log_lambda(priors.fold([*recorded, *hypothetical], as_of=as_of))).posterior
    outcome = comparison.outcomes[0]
    for h, hyp in enumerate(outcome.result.hypotheses):
        assert np.allclose([s.posterior for s in hyp.states], expected[h], atol=1e-12)
    assert comparison.recorded_reports == len(recorded)
    assert [o.method for o in comparison.outcomes] == ["exact"]


# ----------------------------------------------------------------------------- bad scenario files


def test_an_unknown_indicator_in_a_scenario_names_file_line_and_suggestion(runner: CliRunner, ws: Workspace) -> None:
    bad = ws.scenarios_dir / "misspelt.yaml"
    shutil.copy(DATA / "scenario_unknown_indicator.yaml", bad)
    for args in (
        ["scenario", "run", "misspelt", "--exact"],
        ["scenario", "list"],
        ["scenario", "run", str(bad), "--exact"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        message = result.stderr
        assert f"{bad}:8" in message, message  # the report starting on line 8 names the unknown indicator
        assert "eu_path_abandonned" in message and "did you mean 'eu_path_abandoned'" in message
    # The other scenarios still run on their own.
    assert runner.invoke(app, ["scenario", "run", "kfor_drawdown", "--exact"]).exit_code == 0


def test_a_misspelt_scenario_field_names_file_line_and_suggestion(ws: Workspace) -> None:
    priors = load_priors(ws.priors_dir)
    with pytest.raises(
        UsageError, match=r"scenario_bad_header.yaml:4: unknown field 'descripton' \(did you mean 'description'\?\)"
    ):
        load_scenario(DATA / "scenario_bad_header.yaml", known=priors.indicator_ids)


def test_an_unknown_scenario_name_suggests_the_closest(runner: CliRunner, ws: Workspace) -> None:
    result = runner.invoke(app, ["scenario", "run", "kfor_drawdwn", "--exact"])
    assert result.exit_code == 2
    assert "did you mean 'kfor_drawdown'" in result.stderr


def test_two_files_with_one_scenario_name_are_refused(ws: Workspace) -> None:
    shutil.copy(ws.scenarios_dir / "kfor_drawdown.yaml", ws.scenarios_dir / "copy.yaml")
    with pytest.raises(UsageError, match="already used by"):
        scenario_files(ws.scenarios_dir)


def test_hypothetical_reports_may_be_dated_in_the_future(ws: Workspace) -> None:
    path = ws.scenarios_dir / "future.yaml"
    path.write_text(
        "name: future\ntitle: t\ndescription: d\ncitation: c\nreports:\n"
        f"  - {{indicator: csto_move, date: {dt.date.today().year + 2}-01-01, occurred: true, grade: B2, source: s}}\n",
        encoding="utf-8",
    )
    priors = load_priors(ws.priors_dir)
    assert load_scenario(path, known=priors.indicator_ids).reports[0].indicator == "csto_move"


# ----------------------------------------------------------------------------- what-if


KNOWN = {"csto_move", "armed_incident_north_kosovo"}


@pytest.mark.parametrize(
    ("token", "occurred", "grade"),
    [
        ("csto_move", True, "B2"),
        ("csto_move:no", False, "B2"),
        ("csto_move:not_occurred", False, "B2"),
        ("csto_move:yes", True, "B2"),
        ("csto_move@c3", True, "C3"),
        ("csto_move:no@A1", False, "A1"),
    ],
)
def test_typed_reports(token: str, occurred: bool, grade: str) -> None:
    r = parse_hypothetical(token, known=KNOWN)
    assert (r.indicator, r.occurred, r.grade) == ("csto_move", occurred, grade)


def test_defaults_apply_only_where_a_typed_report_is_silent() -> None:
    assert parse_hypothetical("csto_move", known=KNOWN, occurred=False, grade="E5").occurred is False
    assert parse_hypothetical("csto_move", known=KNOWN, occurred=False, grade="E5").grade == "E5"
    assert parse_hypothetical("csto_move:yes@A2", known=KNOWN, occurred=False, grade="E5").grade == "A2"
    assert parse_hypothetical("csto_move:yes", known=KNOWN, occurred=False).occurred is True


@pytest.mark.parametrize("token", ["csto_move:maybe", "csto_move@G9", ":no", "csto_mov"])
def test_bad_typed_reports_are_refused(token: str) -> None:
    with pytest.raises(UsageError):
        parse_hypothetical(token, known=KNOWN)


def test_whatif_unknown_indicator_suggests_and_exits_2(runner: CliRunner, ws: Workspace) -> None:
    result = runner.invoke(app, ["whatif", "armed_incident_north_kosovo", "csto_mve"])
    assert result.exit_code == 2
    assert "unknown indicator 'csto_mve'" in result.stderr and "did you mean 'csto_move'" in result.stderr
    assert not ws.db_path.exists()


def test_whatif_matches_the_same_scenario_typed_out(runner: CliRunner, recorded: Workspace) -> None:
    typed = json.loads(
        run(runner, "whatif", "csto_move", "eu_path_abandoned", "russian_security_agreement", "--json").stdout
    )
    scenario = json.loads(run(runner, "scenario", "run", "serbia_turns_east", "--exact", "--json").stdout)
    assert typed["scenarios"][0]["hypotheses"] == scenario["scenarios"][0]["hypotheses"]
    assert typed["scenarios"][0]["name"] == "whatif"

    negated = json.loads(run(runner, "whatif", "csto_move", "--not-occurred", "--json").stdout)
    assert negated["scenarios"][0]["reports"][0]["occurred"] is False
    assert negated["scenarios"][0]["hypotheses"]["alignment"]["east"]["change"] < 0


def test_whatif_may_contradict_a_recorded_report_of_the_same_grade(runner: CliRunner, recorded: Workspace) -> None:
    # the history holds one B2 report that armed_incident_north_kosovo occurred; a B2 denial cancels it
    result = run(runner, "whatif", "armed_incident_north_kosovo:no@B2", "--json")
    assert result.exit_code == 0, result.output


def test_whatif_table_shows_baseline_scenario_and_change(runner: CliRunner, recorded: Workspace) -> None:
    result = run(runner, "whatif", "csto_move@A1")
    assert result.exit_code == 0, result.output
    assert "baseline" in result.stdout and "whatif: csto_move@A1" in result.stdout
    assert "not recorded" in result.stdout


def test_whatif_report_helper() -> None:
    s = whatif_scenario([parse_hypothetical("csto_move:no@C3", known=KNOWN)])
    assert s.name == "whatif" and s.path is None and "did not occur (C3)" in s.title


# ----------------------------------------------------------------------------- start-up


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


@pytest.mark.parametrize(
    "command",
    [
        ["whatif", "csto_move", "armed_incident_north_kosovo:no@C3"],
        ["collect"],
        ["scenario", "run", "kfor_drawdown", "--exact"],
        ["scenario", "list"],
    ],
)
def test_fast_commands_never_import_pymc(recorded: Workspace, command: list[str]) -> None:
    code = (
        "import sys\n"
        "from forecaster.cli.main import app\n"
        "try:\n"
        f"    app({command!r})\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "heavy = sorted(m for m in ('pymc', 'arviz', 'pytensor') if m in sys.modules)\n"
        "sys.stderr.write('HEAVY=' + ','.join(heavy) + '\\n')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "HEAVY=\n" in done.stderr, done.stderr


# ----------------------------------------------------------------------------- real sampling


@pytest.mark.slow
def test_sampled_scenarios_are_drawn_afresh_with_one_model_and_write_nothing(
    runner: CliRunner, recorded: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default sampler draws the baseline and every scenario afresh (exact draws, no
    reweighting), checking each against one PyMC model compiled once for the network."""
    from forecaster.inference import pymc_model

    builds: list[Network] = []
    real_build = pymc_model.build_model

    def counting_build(net: Network, **kw: Any) -> Any:
        builds.append(net)
        return real_build(net, **kw)

    monkeypatch.setattr(pymc_model, "build_model", counting_build)
    monkeypatch.setenv("FORECAST_COMPILE_CACHE", "0")  # compiled here, not loaded from an earlier test's cache
    before = snapshot(recorded)
    result = run(runner, "scenario", "run", "serbia_turns_east", "rs_secession", "--draws", "500", "--json")
    assert result.exit_code == 0, result.output
    assert snapshot(recorded) == before, "a sampled scenario run wrote to the workspace"
    assert len(builds) <= 1, "the baseline and both scenarios share one model"

    data = json.loads(result.stdout)
    assert data["sampler"] == "pymc-iid"
    assert [s["method"] for s in data["scenarios"]] == ["iid", "iid"]
    for block in [data["baseline"], *data["scenarios"]]:
        diag = block["diagnostics"]
        assert diag["draws"] >= 500 and diag["density_check"]["log_ratio_spread"] < 1e-6
        assert diag["interval_mcse_max"] <= 0.01  # the target is 0.002; a work budget may stop short of it
        for states in block["hypotheses"].values():
            for v in states.values():
                lo, hi = v["interval"]
                assert lo <= v["posterior"] <= hi
                # the posterior is exact; the draws' mean agrees with it within Monte Carlo error
                assert v["posterior"] == v["exact"]
                assert v["sampler_mean"] == pytest.approx(v["exact"], abs=0.01)
    assert data["scenarios"][0]["hypotheses"]["alignment"]["east"]["change"] > 0.2


@pytest.mark.slow
def test_nuts_scenarios_reuse_the_model_and_agree_with_the_exact_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    from forecaster.inference import sampler
    from forecaster.inference.settings import SamplerSettings

    builds: list[Network] = []
    real_build = sampler.build_model

    def counting_build(net: Network) -> Any:
        builds.append(net)
        return real_build(net)

    monkeypatch.setattr(sampler, "build_model", counting_build)
    priors = load_priors(defaults_dir() / "priors")
    scenarios = find_scenarios(
        defaults_dir() / "scenarios", ["kfor_drawdown", "serbia_aligns_west"], known=priors.indicator_ids
    )
    comparison = compare(
        priors,
        [],
        scenarios,
        as_of=dt.date(2026, 11, 22),
        sampler_settings=SamplerSettings(draws=300, tune=300, chains=2, sampler="nuts"),
    )
    assert len(builds) == 1
    assert [o.method for o in comparison.outcomes] == ["nuts", "nuts"]
    for o in comparison.outcomes:
        assert o.result.diagnostics.sampler == "pymc-nuts"
        for hyp in o.result.hypotheses:
            for s in hyp.states:
                assert s.posterior == pytest.approx(s.exact, abs=0.05)
