"""`priors validate` reports every problem in one pass (issue 21): a folder with ten mistakes of
different kinds, spread over every file (one of them malformed YAML), gets exactly ten lines, each
`file:line: field: message` in the schema's own words."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import yaml
from typer.testing import CliRunner

from forecaster.cli.main import app

DATA = Path(__file__).parent / "data"


def _write(path: Path, data: object) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _ten_mistakes(tmp_path: Path) -> Path:
    folder = shutil.copytree(DATA / "mini", tmp_path / "mini")
    net = yaml.safe_load((folder / "network.yaml").read_text(encoding="utf-8"))
    net["horizon_months"] = "twelve"  # 1 bad type
    net["hypotheses"][0]["orderd"] = True  # 2 unknown key
    net["hypotheses"][1]["parents"] = ["encirclement", "escalation"]  # 3 a cycle: alignment <-> escalation
    net["hypotheses"][2]["parents"] = ["encirclement", "alignment"]
    _write(folder / "network.yaml", net)
    cat = yaml.safe_load((folder / "indicators.yaml").read_text(encoding="utf-8"))
    cat["indicators"][0]["parents"] = ["encirclment"]  # 4 unknown parent
    cat["indicators"][1]["likelihoods"][1]["p"] = 1.5  # 5 probability out of range
    cat["indicators"].append(dict(cat["indicators"][2]))  # 6 duplicate id
    _write(folder / "indicators.yaml", cat)
    b = yaml.safe_load((folder / "experts" / "analyst_b.yaml").read_text(encoding="utf-8"))
    del b["hypotheses"]["escalation"]  # 7 missing table
    b["hypotheses"]["encirclement"][0]["probabilities"] = {"heightened": 0.6, "contianed": 0.4}  # 8 states mismatch
    _write(folder / "experts" / "analyst_b.yaml", b)
    a = yaml.safe_load((folder / "experts" / "analyst_a.yaml").read_text(encoding="utf-8"))
    a["hypotheses"]["encirclement"][0]["citation"] = " "  # 9 bad citation (blank): the audit's check, same pass
    _write(folder / "experts" / "analyst_a.yaml", a)
    (folder / "experts" / "analyst_c.yaml").write_text("id: analyst_c\nrole: [unclosed\n", encoding="utf-8")  # 10 malformed
    return folder


EXPECTED = [
    ("network.yaml", "horizon_months", "'twelve': expected a whole number"),
    ("network.yaml", "hypotheses[0].orderd", "unknown key 'orderd' (did you mean 'ordered'?)"),
    ("network.yaml", "hypotheses[1].parents", "cycle among hypotheses: alignment -> escalation -> alignment"),
    ("indicators.yaml", "indicators[0].parents[0]", "unknown parent 'encirclment' (did you mean 'encirclement'?)"),
    ("indicators.yaml", "indicators[1].likelihoods[1].p", "1.5: expected a probability, a number in [0, 1]"),
    ("indicators.yaml", "indicators[4].id", "duplicate indicator id 'cfsp_alignment'"),
    ("analyst_b.yaml", "hypotheses", "missing table for hypothesis 'escalation'"),
    ("analyst_b.yaml", "hypotheses.encirclement[0].probabilities.contianed", "unknown state 'contianed'"),
    ("analyst_a.yaml", "hypotheses.encirclement[0]", "no citation"),
    ("analyst_c.yaml", "", "malformed YAML"),
]
_LINE = re.compile(r"^error: (?P<file>\S+?\.yaml):(?P<line>\d+): (?:(?P<field>[^:\s]+): )?(?P<message>.+)$")


def test_ten_mistakes_ten_lines_in_one_run(runner: CliRunner, tmp_path: Path) -> None:
    folder = _ten_mistakes(tmp_path)
    r = runner.invoke(app, ["priors", "validate", "--priors", str(folder)])
    assert r.exit_code == 2 and r.stdout == "" and "Traceback" not in r.output
    lines = r.stderr.strip().splitlines()
    assert lines[-1] == "priors validate: 10 problems", lines
    problems = lines[:-1]
    assert len(problems) == 10, "\n".join(problems)
    for file, fld, message in EXPECTED:
        hits = [p for p in problems if file in p and (f": {fld}: " in p if fld else True) and message in p]
        assert len(hits) == 1, (file, fld, message, problems)
    for p in problems:  # file:line: field: message, in the schema's words
        m = _LINE.match(p)
        assert m is not None and int(m["line"]) > 0, p
        assert "Input should" not in p and "valid number" not in p and not re.search(r"\.\d+\.", p), p


def test_ten_mistakes_as_json(runner: CliRunner, tmp_path: Path) -> None:
    folder = _ten_mistakes(tmp_path)
    data = json.loads(runner.invoke(app, ["priors", "validate", "--priors", str(folder), "--json"]).stdout)
    assert data["ok"] is False and len(data["errors"]) == 10 and data["warnings"] == []
    for file, fld, message in EXPECTED:
        assert any(file in e["file"] and e["field"] == fld and message in e["problem"] for e in data["errors"]), fld
    assert all(e["line"] for e in data["errors"])


def test_a_fixed_folder_validates(runner: CliRunner, tmp_path: Path) -> None:
    folder = shutil.copytree(DATA / "mini", tmp_path / "mini")
    r = runner.invoke(app, ["priors", "validate", "--priors", str(folder)])
    assert r.exit_code == 0 and r.stdout.startswith("ok: 3 hypotheses, 4 indicators, 2 experts"), r.output
