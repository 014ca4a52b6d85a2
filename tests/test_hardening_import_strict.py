"""Import strictness (issue 12): unknown or duplicate keys, wrong types, `citation`, `.yml` expert
files, long CSV cells, and files with no `reports:` are all handled explicitly, never silently."""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecaster.cli.main import app
from forecaster.core.errors import PriorsError
from forecaster.core.workspace import Workspace
from forecaster.model.evidence import Report, load_reports_file
from forecaster.model.loading import load_priors
from forecaster.store.events import EventStore

DATA = Path(__file__).parent / "data"
ROW = "indicator: north_kosovo_unrest\n    date: 2025-03-18\n    grade: B2\n    source: Reuters\n"


def _import(runner: CliRunner, path: Path) -> tuple[int, str]:
    r = runner.invoke(app, ["event", "import", str(path)])
    return r.exit_code, r.output


def _refused(runner: CliRunner, ws: Workspace, path: Path, *needles: str) -> None:
    code, output = _import(runner, path)
    assert code == 2, output
    assert "Traceback" not in output
    for needle in needles:
        assert needle in output, output
    if ws.db_path.exists():
        with EventStore(ws.db_path) as store:
            assert store.counts()["total"] == 0


@pytest.mark.parametrize(
    "body, needle",
    [
        (f"reports:\n  - {ROW}    source: AP\n", ":6: malformed YAML: duplicate key 'source'"),
        (f"reports:\n  - {ROW}reports: []\n", ":6: malformed YAML: duplicate key 'reports'"),
        (f"reports:\n  - {ROW}    note: 0\n", "field 'note': expected text, got int 0"),
        (f"reports:\n  - {ROW}    url: [a, b]\n", "field 'url': expected text"),
        (f"reports:\n  - {ROW}    analyst: 12\n", "field 'analyst': expected text"),
        (f"reports:\n  - {ROW}    id: 1234567\n", "field 'id': expected text"),
        (f"reports:\n  - {ROW}    citation: 'paper, fn 4'\n", "field 'citation': reports do not carry a citation"),
        (f"reports:\n  - {ROW}    colour: red\n", "unknown field 'colour'"),
        ("", "empty file"),
        ("# nothing but a comment\n", "empty file"),
        ("name: x\nitems: []\n", "no 'reports:' key"),
        ("reports:\n", "'reports:' is empty"),
    ],
)
def test_yaml_import_refuses(runner: CliRunner, ws: Workspace, tmp_path: Path, body: str, needle: str) -> None:
    path = tmp_path / "in.yaml"
    path.write_text(body, encoding="utf-8")
    _refused(runner, ws, path, needle)


@pytest.mark.parametrize(
    "body, needle",
    [
        ('{"reports": [{"indicator": "north_kosovo_unrest", "date": "2025-03-18", "grade": "B2", "source": "R", "source": "AP"}]}',
         "duplicate key 'source'"),
        ('{"reports": [{"indicator": "north_kosovo_unrest", "date": "2025-03-18", "grade": "B2", "source": "R", "note": 0}]}',
         "field 'note': expected text"),
        ('{"reports": [{"indicator": "north_kosovo_unrest", "date": "2025-03-18", "grade": "B2", "source": "R", "citation": "x"}]}',
         "citation"),
        ("{}", "no 'reports:' key"),
        ("", "empty file"),
        ('{"reports": [' * 50000 + "]}" * 50000, "malformed JSON"),
        ('{"reports": [], "n": ' + "9" * 5000 + "}", "more than 4,300 digits"),
    ],
)
def test_json_import_refuses(runner: CliRunner, ws: Workspace, tmp_path: Path, body: str, needle: str) -> None:
    path = tmp_path / "in.json"
    path.write_text(body, encoding="utf-8")
    _refused(runner, ws, path, needle)


def test_csv_citation_column_is_refused(runner: CliRunner, ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("indicator,date,grade,source,citation\nnorth_kosovo_unrest,2025-03-18,B2,R,fn 4\n", encoding="utf-8")
    _refused(runner, ws, path, "citation")


def test_a_csv_cell_over_131072_characters_round_trips(runner: CliRunner, ws: Workspace, tmp_path: Path) -> None:
    note = "x" * 300_000
    with EventStore(ws.db_path) as store:
        store.add(Report("north_kosovo_unrest", dt.date(2025, 3, 18), True, "B", 2, "Reuters", note=note), analyst="ana")
        buf = io.StringIO(newline="")
        store.export(buf, fmt="csv")
    path = tmp_path / "big.csv"
    path.write_text(buf.getvalue(), encoding="utf-8", newline="")
    r = runner.invoke(app, ["--db", str(tmp_path / "other.db"), "event", "import", str(path)])
    assert r.exit_code == 0, r.output
    with EventStore(tmp_path / "other.db") as other:
        (got,) = list(other.all())
        assert got.report.note == note


def test_events_and_scenario_files_refuse_the_same(tmp_path: Path) -> None:
    from forecaster.core.errors import EvidenceError

    for body, needle in [("", "empty file"), ("x: 1\n", "no 'reports:'"), (f"reports:\n  - {ROW}    note: 0\n", "expected text")]:
        path = tmp_path / "events.yaml"
        path.write_text(body, encoding="utf-8")
        with pytest.raises(EvidenceError, match=needle):
            load_reports_file(path, known={"north_kosovo_unrest"})


# -- priors files --------------------------------------------------------------------------


def test_duplicate_keys_in_priors_name_file_and_line(runner: CliRunner, tmp_path: Path) -> None:
    folder = shutil.copytree(DATA / "mini", tmp_path / "mini")
    f = folder / "experts" / "analyst_a.yaml"
    f.write_text(f.read_text(encoding="utf-8").replace("role: Test analyst A\n", "role: Test analyst A\nrole: someone else\n"))
    r = runner.invoke(app, ["priors", "validate", "--priors", str(folder)])
    assert r.exit_code == 2 and "analyst_a.yaml:3" in r.stderr and "duplicate key 'role'" in r.stderr, r.output
    assert len(r.stderr.strip().splitlines()) == 1


def test_yml_expert_files_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORECAST_NO_CACHE", "1")
    folder = shutil.copytree(DATA / "mini", tmp_path / "mini")
    before = load_priors(folder)
    (folder / "experts" / "analyst_b.yaml").rename(folder / "experts" / "analyst_b.yml")
    after = load_priors(folder)
    assert [e.id for e in after.experts] == [e.id for e in before.experts]
    (folder / "settings.yaml").rename(folder / "settings.yml")
    assert [e.id for e in load_priors(folder).experts] == [e.id for e in before.experts]
    shutil.copy(folder / "experts" / "analyst_b.yml", folder / "experts" / "analyst_b.yaml")
    with pytest.raises(PriorsError, match="analyst_b.*both"):
        load_priors(folder)


def test_yml_expert_changes_the_fingerprint(tmp_path: Path) -> None:
    from forecaster.workflow.updating import priors_fingerprint

    folder = shutil.copytree(DATA / "mini", tmp_path / "mini")
    (folder / "experts" / "analyst_b.yaml").rename(folder / "experts" / "analyst_b.yml")
    assert priors_fingerprint(folder) == load_priors(folder).hash


def test_json_validate_output_parses(runner: CliRunner, tmp_path: Path) -> None:
    folder = shutil.copytree(DATA / "mini", tmp_path / "mini")
    f = folder / "settings.yaml"
    f.write_text(f.read_text(encoding="utf-8") + "pooling: {method: linear}\n", encoding="utf-8")
    r = runner.invoke(app, ["priors", "validate", "--priors", str(folder), "--json"])
    assert r.exit_code == 2 and "duplicate key 'pooling'" in json.loads(r.stdout)["error"]
