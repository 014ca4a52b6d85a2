"""`forecast new` (issue 21): a new network from a plan (flags or a YAML file) is a workspace whose
priors folder validates as written, every judgment a TODO placeholder that `priors validate`
lists as a warning, and on which `update --exact` runs. A folder that is not empty, or a plan the
priors format refuses, is one line and exit 2, with nothing left behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from forecaster.cli.main import app
from forecaster.model.loading import load_priors
from forecaster.workflow.scaffold import new_network, plan_from_file
from tests.randnet import random_net

FLAGS = [
    "--hypothesis", "escalation=contained,grey_zone,annexation",
    "--hypothesis", "posture=defensive,forward:escalation",
    "--indicator", "drills:escalation",
    "--indicator", "blockade_rehearsal:escalation,posture",
]
PLAN = """\
name: strait
evidence_window_days: 365
hypotheses:
  escalation: [contained, grey_zone, annexation]
  posture: {states: [defensive, forward], parents: [escalation]}
  alignment: {states: ["no", "yes"], parents: [escalation, posture]}
mechanisms:
  crisis: [escalation]
indicators:
  drills: [escalation]
  blockade_rehearsal: {parents: [posture], mechanism: crisis}
  envoy_recalled: [alignment]
"""


def _ok(r: Result) -> None:
    assert r.exit_code == 0, r.output


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if ".new-" in p.name]


def test_new_from_flags_validates_with_todo_warnings(runner: CliRunner, tmp_path: Path) -> None:
    ws = tmp_path / "strait"
    r = runner.invoke(app, ["new", str(ws), *FLAGS])
    _ok(r)
    assert "new network at" in r.stdout and "TODO" in r.stdout
    assert sorted(p.name for p in (ws / "priors").rglob("*.yaml")) == [
        "example_expert.yaml", "indicators.yaml", "network.yaml", "settings.yaml"]
    assert "What to fill in" in (ws / "README.md").read_text(encoding="utf-8")

    r = runner.invoke(app, ["-w", str(ws), "priors", "validate"])
    _ok(r)
    assert r.stdout.startswith("ok: 2 hypotheses, 2 indicators, 1 expert, hash ")
    warnings = r.stderr.strip().splitlines()
    assert warnings and all(w.startswith("warning: ") and ": TODO: " in w for w in warnings), warnings
    # every item that holds a placeholder, named: each hypothesis and indicator, the expert's tables
    for item in ("hypothesis escalation", "hypothesis posture", "indicator drills", "indicator blockade_rehearsal",
                 "hypotheses.escalation", "hypotheses.posture", "reviewed_by"):
        assert any(item in w for w in warnings), (item, warnings)
    assert not any("cannot discriminate" in w for w in warnings)  # the uniform placeholders are the TODOs' business

    data = json.loads(runner.invoke(app, ["-w", str(ws), "priors", "validate", "--json"]).stdout)
    assert data["ok"] is True and data["errors"] == [] and len(data["warnings"]) == len(warnings)
    r = runner.invoke(app, ["-w", str(ws), "priors", "validate", "--strict"])
    assert r.exit_code == 2 and f"priors validate: {len(warnings)} problems" in r.stderr


def test_new_from_a_plan_file_updates(runner: CliRunner, tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN, encoding="utf-8")
    ws = tmp_path / "ws"
    ws.mkdir()  # an empty folder is fine
    _ok(runner.invoke(app, ["new", str(ws), "--from", str(plan)]))
    priors = load_priors(ws / "priors")
    assert priors.name == "strait" and priors.evidence_window_days == 365
    assert [h.id for h in priors.hypotheses] == ["escalation", "posture", "alignment"]
    assert priors.node("alignment").states == ("no", "yes")  # `no` and `yes` stay state names, not booleans
    assert [m.id for m in priors.mechanisms] == ["crisis"] and priors.node("blockade_rehearsal").table_parents == ("posture", "crisis")
    r = runner.invoke(app, ["-w", str(ws), "update", "--exact", "--json"])
    _ok(r)
    out = json.loads(r.stdout)
    assert out["hypotheses"], out


def test_refuses_a_folder_that_is_not_empty(runner: CliRunner, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "notes.txt").write_text("mine", encoding="utf-8")
    r = runner.invoke(app, ["new", str(ws), *FLAGS])
    assert r.exit_code == 2 and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and "not an empty folder" in r.stderr, r.stderr
    assert sorted(p.name for p in ws.iterdir()) == ["notes.txt"] and not _leftovers(tmp_path)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--hypothesis", "escalation=contained,grey_zone", "--indicator", "drills:escalaton"],
         "unknown parent 'escalaton' (did you mean 'escalation'?)"),
        (["--hypothesis", "escalation=contained", "--indicator", "drills:escalation"], "at least 2 needed"),
        (["--hypothesis", "Escalation=a,b", "--indicator", "drills:Escalation"], "expected an id in snake_case"),
        (["--hypothesis", "escalation", "--indicator", "drills:escalation"], "expected ID=STATE,STATE"),
        (["--hypothesis", "escalation=a,b", "--indicator", "drills"], "expected ID:PARENT"),
        (["--hypothesis", "a=x,y:b", "--hypothesis", "b=x,y:a", "--indicator", "drills:a"], "cycle among hypotheses"),
        (["--hypothesis", "escalation=a,b"], "at least one --hypothesis and one --indicator"),
        (["--hypothesis", "escalation=a,b", "--indicator", "drills:escalation@nowhere"], "unknown mechanism 'nowhere'"),
    ],
)
def test_a_bad_plan_is_one_line(runner: CliRunner, tmp_path: Path, args: list[str], message: str) -> None:
    r = runner.invoke(app, ["new", str(tmp_path / "ws"), *args])
    assert r.exit_code == 2 and r.stdout == "" and "Traceback" not in r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert not (tmp_path / "ws").exists() and not _leftovers(tmp_path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("hypotheses: {escalation: [a, b]}\nindicators: {drills: [escalaton]}\n", "unknown parent 'escalaton'"),
        ("hypotheses: {escalation: [a, b]}\nindicators: {drills: 3}\n", "indicators.drills"),
        ("hypotheses: {escalation: [a, b]}\nindicatorz: {drills: [escalation]}\n", "unknown key 'indicatorz'"),
        ("hypotheses: {escalation: [a, b]\n", "malformed YAML"),
        ("- a\n", "expected a mapping"),
    ],
)
def test_a_bad_plan_file_is_one_line(runner: CliRunner, tmp_path: Path, text: str, message: str) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(text, encoding="utf-8")
    r = runner.invoke(app, ["new", str(tmp_path / "ws"), "--from", str(plan)])
    assert r.exit_code == 2 and "Traceback" not in r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "plan.yaml" in lines[0], lines
    assert not (tmp_path / "ws").exists() and not _leftovers(tmp_path)


def _plan_of(seed: int, mechanisms: int) -> str:
    """The shape of a random network (tests/randnet.py) as a plan: hypotheses, states, parents,
    indicators with their parents and mechanism, mechanisms with theirs."""
    net = random_net(seed, indicators=(2, 12), mechanisms=mechanisms, max_joint=200)
    plan = {
        "hypotheses": {h["id"]: {"states": [s["id"] for s in h["states"]], "parents": h["parents"]}
                       for h in net.network["hypotheses"]},
        "indicators": {i["id"]: {"parents": i["parents"], **({"mechanism": i["mechanism"]} if i.get("mechanism") else {})}
                       for i in net.catalogue["indicators"]},
        "mechanisms": {m["id"]: m["parents"] for m in net.catalogue.get("mechanisms", [])},
    }
    return yaml.safe_dump(plan, sort_keys=False)


@pytest.mark.parametrize("seed", range(12))
def test_random_plans_validate(tmp_path: Path, seed: int) -> None:
    text = _plan_of(seed, mechanisms=seed % 3)
    (tmp_path / "plan.yaml").write_text(text, encoding="utf-8")
    plan = plan_from_file(tmp_path / "plan.yaml")
    made = new_network(tmp_path / "ws", plan, source="plan.yaml")
    priors = load_priors(made.root / "priors")
    assert [h.id for h in priors.hypotheses] and {h.id for h in priors.hypotheses} == set(plan.hypotheses)
    assert {i.id for i in priors.indicators} == set(plan.indicators)
    assert {m.id for m in priors.mechanisms} == set(plan.mechanisms)
    for h in priors.hypotheses:  # uniform placeholders: every pooled row is 1/k
        for cfg in priors.configs(h.id):
            mean = priors.pooled(h.id, cfg).mean
            assert max(mean) - min(mean) < 1e-3, (h.id, cfg, mean)
    assert made.todos >= len(plan.hypotheses) + len(plan.indicators)
