"""`priors validate` lists every structure problem in one run, mechanism problems included: no
check stops the others (issue 12). Derived problems (a table on a mechanism already reported
broken) are not listed twice."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from forecaster.cli.main import app

DATA = Path(__file__).parent / "data"


def _broken(tmp_path: Path) -> Path:
    """mini_mech with two mechanism errors, an indicator naming an unknown mechanism, a judgment of
    exactly 1 and an unknown hypothesis in an expert file."""
    folder = shutil.copytree(DATA / "mini_mech", tmp_path / "mech")
    cat = yaml.safe_load((folder / "indicators.yaml").read_text(encoding="utf-8"))
    cat["mechanisms"][0]["parents"] = ["escalation", "no_such_hypothesis"]  # 1: unknown parent
    cat["mechanisms"].append({**cat["mechanisms"][0], "id": "lonely", "parents": ["escalation"]})  # 2: no indicator
    cat["indicators"][0]["mechanism"] = "no_such_mechanism"  # 3: unknown mechanism
    cat["indicators"][0]["likelihoods"][0]["p"] = 1.0  # (inside a broken indicator: not checked further)
    (folder / "indicators.yaml").write_text(yaml.safe_dump(cat, sort_keys=False), encoding="utf-8")
    expert = folder / "experts" / "analyst_a.yaml"
    data = yaml.safe_load(expert.read_text(encoding="utf-8"))
    data["hypotheses"]["no_such_table"] = data["hypotheses"]["encirclement"]  # 4: unknown hypothesis
    (expert).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return folder


EXPECTED = [
    ("indicators.yaml", "mechanisms[0].parents[1]", "unknown parent 'no_such_hypothesis'"),
    ("indicators.yaml", "mechanisms[1]", "mechanism 'lonely' has no indicator"),
    ("indicators.yaml", "indicators[0].mechanism", "unknown mechanism 'no_such_mechanism'"),
    ("analyst_a.yaml", "hypotheses.no_such_table", "unknown hypothesis 'no_such_table'"),
]


def test_two_mechanism_errors_and_others_are_all_listed(runner: CliRunner, tmp_path: Path) -> None:
    folder = _broken(tmp_path)
    r = runner.invoke(app, ["priors", "validate", "--priors", str(folder)])
    assert r.exit_code == 2 and r.stdout == "" and "Traceback" not in r.output
    lines = r.stderr.strip().splitlines()
    assert lines[-1] == f"priors validate: {len(lines) - 1} problems"
    for file, field, problem in EXPECTED:
        assert any(file in line and f": {field}: " in line and problem in line for line in lines), (file, field, lines)
    # nothing derived: the tables on the broken mechanism (the indicators naming it, analyst_b's
    # table on it) and in the broken indicator are not second problems
    assert len(lines) - 1 == len(EXPECTED), lines

    data = json.loads(runner.invoke(app, ["priors", "validate", "--priors", str(folder), "--json"]).stdout)
    assert data["ok"] is False and len(data["errors"]) == len(lines) - 1
    for file, field, problem in EXPECTED:
        assert any(file in e["file"] and e["field"] == field and problem in e["problem"] for e in data["errors"]), field
    assert all(e["line"] for e in data["errors"])  # each names its line


def test_a_judgment_of_0_or_1_is_listed_with_the_rest(runner: CliRunner, tmp_path: Path) -> None:
    folder = shutil.copytree(DATA / "mini_mech", tmp_path / "mech")
    cat = yaml.safe_load((folder / "indicators.yaml").read_text(encoding="utf-8"))
    cat["mechanisms"][0]["likelihoods"][1]["p"] = 0.0  # the mechanism's own table
    cat["indicators"][1]["likelihoods"][0]["p"] = 1.0  # an indicator's table
    cat["indicators"][0]["parents"] = ["north_crisis"]  # a mechanism among the hypothesis parents
    (folder / "indicators.yaml").write_text(yaml.safe_dump(cat, sort_keys=False), encoding="utf-8")
    r = runner.invoke(app, ["priors", "validate", "--priors", str(folder), "--json"])
    problems = [e["problem"] for e in json.loads(r.stdout)["errors"]]
    assert sum("strictly between 0 and 1" in p for p in problems) == 2, problems
    assert any("is a mechanism: name it with `mechanism: north_crisis`" in p for p in problems), problems


@pytest.mark.parametrize(
    "edit, problem",
    [
        (lambda c: c["mechanisms"].append(dict(c["mechanisms"][0])), "duplicate mechanism id 'north_crisis'"),
        (lambda c: c["mechanisms"].append({**c["mechanisms"][0], "id": "escalation"}), "'escalation' is already a hypothesis id"),
        (lambda c: c["mechanisms"].append({**c["mechanisms"][0], "id": "arms_east"}), "'arms_east' is already an indicator id"),
        (lambda c: c["mechanisms"][0].update(parents=["escalation", "escalation"]), "a parent is named twice"),
        (lambda c: c["indicators"][1].update(mechanism=["north_crisis", "x"]), "an indicator has at most one mechanism parent"),
    ],
)
def test_each_mechanism_check_notes_and_goes_on(runner: CliRunner, tmp_path: Path, edit: object, problem: str) -> None:
    folder = shutil.copytree(DATA / "mini_mech", tmp_path / "mech")
    cat = yaml.safe_load((folder / "indicators.yaml").read_text(encoding="utf-8"))
    edit(cat)  # type: ignore[operator]
    cat["indicators"][0]["parents"] = ["no_such_parent"]  # and a later, unrelated problem
    (folder / "indicators.yaml").write_text(yaml.safe_dump(cat, sort_keys=False), encoding="utf-8")
    r = runner.invoke(app, ["priors", "validate", "--priors", str(folder)])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert problem in r.stderr and "unknown parent 'no_such_parent'" in r.stderr, r.stderr
