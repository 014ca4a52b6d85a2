"""A reviewer's numbers reconcile with `update` (issue 21, first item): `priors audit`'s influence
baseline and `priors diff`'s effect on the current posterior use the evidence exactly as `update`
folds it (window, ageing to the as-of date, origins, mechanisms), so on the bundled history, whose
reports span four years and age, both equal `update --exact` on the same date."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecaster.cli.main import app
from forecaster.core.workspace import Workspace, init_workspace


@pytest.fixture()
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    ws = init_workspace(tmp_path / "ws")
    monkeypatch.setenv("FORECAST_WORKSPACE", str(ws.root))
    monkeypatch.delenv("FORECAST_DB", raising=False)
    r = CliRunner().invoke(app, ["event", "import", str(ws.scenarios_dir / "historical_events.yaml")])
    assert r.exit_code == 0, r.output
    return ws


def _update(runner: CliRunner, *extra: str) -> dict[str, dict[str, float]]:
    r = runner.invoke(app, ["update", "--exact", "--json", "--force", *extra])
    assert r.exit_code == 0, r.output
    return {h["id"]: {s["id"]: s["posterior"] for s in h["states"]} for h in json.loads(r.stdout)["hypotheses"]}


def test_the_audit_baseline_is_the_update(ws: Workspace) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["priors", "audit", "--json"])
    assert r.exit_code in (0, 1), r.output  # 1: findings above the threshold; the numbers are what count here
    baseline = json.loads(r.stdout)["influence"]["baseline"]
    posterior = _update(runner)
    assert baseline.keys() == posterior.keys()
    for h, states in posterior.items():
        assert baseline[h] == pytest.approx(states, abs=1e-6), h


def test_the_diff_effect_is_the_update(ws: Workspace, tmp_path: Path) -> None:
    runner = CliRunner()
    same = tmp_path / "same"
    shutil.copytree(ws.priors_dir, same)
    r = runner.invoke(app, ["priors", "diff", str(same), "--json"])
    assert r.exit_code == 0, r.output
    posterior = _update(runner)
    for row in json.loads(r.stdout)["effect"]:
        assert row["old"] == pytest.approx(posterior[row["hypothesis"]][row["state"]], abs=1e-6)
        assert row["new"] == pytest.approx(row["old"], abs=1e-12)


@pytest.mark.parametrize("as_of", ["2024-06-30", "2026-12-08"])
def test_whatif_scenarios_and_the_brief_start_from_the_update(ws: Workspace, tmp_path: Path, as_of: str) -> None:
    """Every analysis that shows "the forecast on the recorded evidence" shows `update --exact`'s numbers."""
    runner = CliRunner()
    posterior = _update(runner, "--as-of", as_of)

    def same(hypotheses: dict[str, dict[str, dict[str, float]]], what: str) -> None:
        for h, states in posterior.items():
            for s, p in states.items():
                assert hypotheses[h][s]["posterior"] == pytest.approx(p, abs=1e-5), (what, h, s)

    r = runner.invoke(app, ["whatif", "--json", "--as-of", as_of, "csto_move"])
    assert r.exit_code == 0, r.output
    same(json.loads(r.stdout)["baseline"]["hypotheses"], "whatif")
    r = runner.invoke(app, ["scenario", "run", "--exact", "--json", "--as-of", as_of, "kfor_drawdown"])
    assert r.exit_code == 0, r.output
    same(json.loads(r.stdout)["baseline"]["hypotheses"], "scenario run")
    out = tmp_path / "briefs"
    r = runner.invoke(app, ["brief", "--exact", "--event-time", "--until", as_of, "-o", str(out)])
    assert r.exit_code == 0, r.output
    brief = json.loads(next(out.glob("*.json")).read_text(encoding="utf-8"))
    event_time = _update(runner, "--as-of", as_of, "--event-time")
    for h, states in event_time.items():
        for s, p in states.items():
            assert brief["posteriors"][h][s]["posterior"] == pytest.approx(p, abs=1e-5), ("brief", h, s)


@pytest.mark.parametrize(
    ("value", "threshold", "shown"),
    [(0.104, 0.10, "10.4 %"), (0.1004, 0.10, "10.04 %"), (0.27, 0.20, "27 %"), (0.0996, 0.10, "9.96 %"), (0.1, 0.1, "10.000 %")],
)
def test_an_alert_reads_with_the_precision_that_shows_why_it_fired(value: float, threshold: float, shown: str) -> None:
    """The brief read "10 % (> 10 %)" (issue 21): the value gets the decimals that tell it from its threshold."""
    from forecaster.workflow.brief import alert_pct, threshold_pct

    assert alert_pct(value, threshold) == shown
    assert threshold_pct(threshold) == f"{100 * threshold:g} %"
