"""`forecast event …` and `forecast indicators` through the command line (issue 3)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import forecaster
from forecaster.cli.event import _indicator_ids
from forecaster.cli.main import app
from forecaster.core.workspace import Workspace
from forecaster.store.events import EventStore

ROOT = Path(forecaster.__file__).resolve().parent.parent
COMMANDS = ["add", "list", "show", "retract", "import", "export"]


@pytest.fixture(autouse=True)
def os_user(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LOGNAME", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("USER", "test-analyst")


@pytest.fixture
def ws(backend_ws: Workspace) -> Workspace:
    """The bundled workspace on each backend (conftest.backend_ws)."""
    return backend_ws


def file_only(ws: Workspace) -> None:
    if ws.db_on_server:
        pytest.skip("about the store's file (a server store has none)")


@pytest.fixture
def ids(ws: Workspace) -> list[str]:
    """Two indicator ids from the bundled catalogue."""
    known = sorted(_indicator_ids(ws))
    assert len(known) >= 2
    return known[:2]


def run(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(app, list(args), catch_exceptions=False)


def add(runner: CliRunner, indicator: str, *extra: str, date: str = "2025-03-18", source: str = "Reuters") -> str:
    result = run(runner, "event", "add", indicator, "--date", date, "--source", source, *(extra or ("--grade", "B2")))
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def stored(ws: Workspace) -> list[tuple[str, str]]:
    if not ws.has_store():
        return []
    with EventStore(ws.db) as store:
        return [(e.report.id or "", e.report.note) for e in store.list(include_retracted=True)]


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


# ---------------------------------------------------------------------------------------------
# add
# ---------------------------------------------------------------------------------------------


def test_add_prints_the_new_id_and_stores_the_report(runner: CliRunner, ws: Workspace, ids: list[str]) -> None:
    rid = add(runner, ids[0], "--grade", "b2", "--url", "https://example.org/a", "--note", "seen twice")
    assert rid.startswith("r-")
    with EventStore(ws.db) as store:
        r = store.get(rid).report
    assert (r.indicator, r.date.isoformat(), r.occurred, r.grade, r.source, r.url, r.note, r.analyst) == (
        ids[0], "2025-03-18", True, "B2", "Reuters", "https://example.org/a", "seen twice", "test-analyst"
    )


def test_add_with_reliability_credibility_not_occurred_and_analyst(runner: CliRunner, ws: Workspace, ids: list[str]) -> None:
    rid = add(runner, ids[1], "--reliability", "C", "--credibility", "3", "--not-occurred", "--analyst", "carla")
    with EventStore(ws.db) as store:
        r = store.get(rid).report
    assert (r.occurred, r.reliability, r.credibility, r.analyst) == (False, "C", 3, "carla")


def test_adding_the_same_report_again_prints_the_existing_id(runner: CliRunner, ws: Workspace, ids: list[str]) -> None:
    first = add(runner, ids[0])
    result = run(runner, "event", "add", ids[0], "--date", "2025-03-18", "--grade", "B2", "--source", "Reuters", "--analyst", "bob")
    assert result.exit_code == 0
    assert result.stdout.strip() == first
    assert "already recorded" in result.stderr
    assert len(stored(ws)) == 1


BAD_ADDS = [
    (["{typo}", "--date", "2025-03-18", "--grade", "B2", "--source", "S"], "unknown indicator .*did you mean '{ind}'"),
    (["{ind}", "--date", "18/03/2025", "--grade", "B2", "--source", "S"], "not an ISO date"),
    (["{ind}", "--date", "2025-02-30", "--grade", "B2", "--source", "S"], "not an ISO date"),
    (["{ind}", "--date", "2999-01-01", "--grade", "B2", "--source", "S"], "lies in the future"),
    (["{ind}", "--date", "2025-03-18", "--grade", "G7", "--source", "S"], "'G7' is not an Admiralty grade"),
    (["{ind}", "--date", "2025-03-18", "--grade", "B9", "--source", "S"], "'B9' is not an Admiralty grade"),
    (["{ind}", "--date", "2025-03-18", "--reliability", "G", "--credibility", "2", "--source", "S"], "reliability 'G'"),
    (["{ind}", "--date", "2025-03-18", "--reliability", "B", "--credibility", "7", "--source", "S"], "credibility '7'"),
    (["{ind}", "--date", "2025-03-18", "--grade", "B2", "--source", "  "], "--source is required and must not be empty"),
    (["{ind}", "--date", "2025-03-18", "--grade", "B2"], "--source is required"),
    (["{ind}", "--grade", "B2", "--source", "S"], "--date is required"),
    (["{ind}", "--date", "2025-03-18", "--source", "S"], "a grade is required"),
    (["{ind}", "--date", "2025-03-18", "--grade", "B2", "--reliability", "B", "--source", "S"], "not both"),
    (["{ind}", "--date", "2025-03-18", "--grade", "B2", "--source", "S", "--note", "bell\x07"], "control character"),
    (["{ind}", "--date", "2025-03-18", "--grade", "B2", "--source", "S", "--analyst", " "], "--analyst is empty"),
]


@pytest.mark.parametrize(("args", "message"), BAD_ADDS)
def test_bad_add_is_one_line_exit_2_and_writes_nothing(
    runner: CliRunner, ws: Workspace, ids: list[str], args: list[str], message: str
) -> None:
    existing = add(runner, ids[1], source="already there")
    before = stored(ws)
    typo = ids[0][:-1] + "x"
    argv = [a.format(ind=ids[0], typo=typo) for a in args]
    result = runner.invoke(app, ["event", "add", *argv])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert re.search(message.format(ind=ids[0]), lines[0]), lines[0]
    assert result.stdout == ""
    assert stored(ws) == before and before[0][0] == existing


def test_bad_add_in_a_fresh_workspace_creates_no_store(runner: CliRunner, ws: Workspace, ids: list[str]) -> None:
    file_only(ws)
    result = runner.invoke(app, ["event", "add", ids[0], "--date", "2999-01-01", "--grade", "B2", "--source", "S"])
    assert result.exit_code == 2
    assert not ws.db_path.exists()


# ---------------------------------------------------------------------------------------------
# list, show, retract
# ---------------------------------------------------------------------------------------------


def test_list_table_filters_and_machine_formats(runner: CliRunner, ws: Workspace, ids: list[str]) -> None:
    a = add(runner, ids[0], date="2024-01-10", source="Old source")
    b = add(runner, ids[1], date="2025-02-01", source="Newer, with comma")
    c = add(runner, ids[0], date="2025-06-01", source="=formula?")
    table = run(runner, "event", "list")
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["ID", "DATE", "INDICATOR", "OCC", "GRADE", "SOURCE"]
    assert [ln.split()[0] for ln in lines[1:]] == [c, b, a]  # newest event first
    assert [ln.split()[0] for ln in run(runner, "event", "list", "--indicator", ids[0]).stdout.splitlines()[1:]] == [c, a]
    window = run(runner, "event", "list", "--since", "2024-06-01", "--until", "2025-03-01").stdout.splitlines()
    assert [ln.split()[0] for ln in window[1:]] == [b]

    as_json = json.loads(run(runner, "event", "list", "--json").stdout)
    assert [r["id"] for r in as_json["reports"]] == [c, b, a]
    assert as_json["reports"][0]["source"] == "=formula?"
    rows = list(csv.DictReader(io.StringIO(run(runner, "event", "list", "--csv").stdout)))
    assert [r["id"] for r in rows] == [c, b, a]
    assert rows[0]["source"] == "'=formula?"  # spreadsheet formula escaped
    assert rows[1]["source"] == "Newer, with comma"


def test_list_limit_says_when_more_match(runner: CliRunner, ws: Workspace, ids: list[str]) -> None:
    for i in range(3):
        add(runner, ids[0], "--grade", "B2", "--note", str(i), source=f"Reuters {i}")  # one source and date: a duplicate
    limited = run(runner, "event", "list", "--limit", "2")
    assert len(limited.stdout.splitlines()) == 3
    assert "more match" in limited.stderr
    everything = run(runner, "event", "list", "--limit", "0")
    assert len(everything.stdout.splitlines()) == 4
    assert "more match" not in everything.stderr


def test_list_bad_dates_and_unknown_indicator(runner: CliRunner, ws: Workspace, ids: list[str]) -> None:
    bad = runner.invoke(app, ["event", "list", "--since", "March"])
    assert bad.exit_code == 2 and "--since 'March' is not an ISO date" in bad.stderr
    backwards = runner.invoke(app, ["event", "list", "--since", "2025-02-01", "--until", "2025-01-01"])
    assert backwards.exit_code == 2
    typo = run(runner, "event", "list", "--indicator", ids[0][:-1])
    assert typo.exit_code == 0
    assert f"did you mean '{ids[0]}'" in typo.stderr


def test_show_retract_and_include_retracted(runner: CliRunner, ws: Workspace, ids: list[str]) -> None:
    rid = add(runner, ids[0], "--grade", "B2", "--note", "line one\nline two")
    shown = run(runner, "event", "show", rid[:8])
    assert shown.exit_code == 0
    assert f"id           {rid}" in shown.stdout
    assert "status       in force" in shown.stdout
    assert "line two" in shown.stdout

    missing = runner.invoke(app, ["event", "retract", rid])
    assert missing.exit_code == 2 and "--reason is required" in missing.stderr
    done = run(runner, "event", "retract", rid, "--reason", "misread the source [sic]", "--analyst", "bob")
    assert done.exit_code == 0 and done.stdout.strip() == f"retracted {rid}"

    assert run(runner, "event", "list").stdout == ""
    marked = run(runner, "event", "list", "--include-retracted").stdout.splitlines()
    assert "STATUS" in marked[0] and "retracted" in marked[1]
    data = json.loads(run(runner, "event", "show", rid, "--json").stdout)
    assert (data["retracted_by"], data["retraction_reason"]) == ("bob", "misread the source [sic]")
    assert "RETRACTED" in run(runner, "event", "show", rid).stdout

    again = runner.invoke(app, ["event", "retract", rid, "--reason", "again"])
    assert again.exit_code == 2 and "already retracted" in again.stderr
    unknown = runner.invoke(app, ["event", "show", "r-ffffffffffff"])
    assert unknown.exit_code == 2 and "no report" in unknown.stderr


# ---------------------------------------------------------------------------------------------
# import and export
# ---------------------------------------------------------------------------------------------


def test_import_real_world_csv_all_or_nothing_and_idempotent(runner: CliRunner, ws: Workspace, ids: list[str], tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_bytes(
        b"\xef\xbb\xbf"
        + (
            "indicator,date,occurred,reliability,credibility,source,note\r\n"
            f'{ids[0]},2025-03-18,true,B,2,"Reuters, Tirana","quoted\r\nline break"\r\n'
            f"{ids[1]},2024-03-15,false,C,3,AP,'-2 brigades\r\n"
        ).encode()
    )
    dry = run(runner, "event", "import", str(good), "--dry-run")
    assert dry.exit_code == 0 and "would add 2 reports" in dry.stdout
    assert stored(ws) == []
    first = run(runner, "event", "import", str(good))
    assert first.exit_code == 0 and first.stdout.startswith("added 2 reports; 0 already in the store")
    assert sorted(n for _, n in stored(ws)) == ["-2 brigades", "quoted\nline break"]  # CRLF stored as LF
    again = run(runner, "event", "import", str(good))
    assert again.stdout.startswith("added 0 reports; 2 already in the store")

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "indicator,date,grade,source\n"
        f"{ids[0]},2025-01-01,B2,fine\n"
        f"{ids[0][:-1]},2025-01-01,B2,typo\n"
        f"{ids[0]},2025-13-01,B2,bad date\n"
        f"{ids[0]},2025-01-01,Z2,bad grade\n"
    )
    before = stored(ws)
    result = runner.invoke(app, ["event", "import", str(bad)])
    assert result.exit_code == 2
    assert "3 bad rows; nothing was imported" in result.stderr
    for line, field in ((3, "indicator"), (4, "date"), (5, "grade")):
        assert f"{bad}:{line}: field '{field}'" in result.stderr
    assert stored(ws) == before


def test_import_refuses_python_yaml_tags_and_runs_nothing(runner: CliRunner, ws: Workspace, tmp_path: Path) -> None:
    file_only(ws)
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.yaml"
    evil.write_text(f"reports:\n  - !!python/object/apply:os.system ['touch {marker}']\n")
    result = runner.invoke(app, ["event", "import", str(evil)])
    assert result.exit_code == 2
    assert "evil.yaml" in result.stderr
    assert not marker.exists()
    assert not ws.db_path.exists()


@pytest.mark.parametrize("fmt", ["csv", "yaml", "json"])
def test_export_import_export_round_trips_through_the_cli(
    runner: CliRunner, ws: Workspace, ids: list[str], tmp_path: Path, fmt: str
) -> None:
    add(runner, ids[0], "--grade", "A1", "--note", "=HYPERLINK(\"x\")", source="Reuters, Belgrade")
    gone = add(runner, ids[1], "--grade", "E5", "--not-occurred", "--note", "multi\nline 'quoted'", source="@handle")
    add(runner, ids[1], "--grade", "F6", "--url", "https://example.org/?a=1&b=2", source="-minus", date="2023-01-01")
    run(runner, "event", "retract", gone, "--reason", "duplicate of another report")
    first = run(runner, "event", "export", "--format", fmt)
    assert first.exit_code == 0
    path = tmp_path / f"reports.{fmt}"
    path.write_bytes(first.stdout_bytes)
    other = tmp_path / "other.db"
    imported = run(runner, "--db", str(other), "event", "import", str(path), "--analyst", "someone-else")
    assert imported.stdout.startswith("added 3 reports; 0 already in the store; 1 retraction")
    second = run(runner, "--db", str(other), "event", "export", "--format", fmt)
    # Knowledge time is the importing store's clock: everything but the two times is the same.
    assert _without_times(second.stdout, fmt) == _without_times(first.stdout, fmt)
    assert second.stdout != first.stdout
    if fmt == "csv":
        assert b"'=HYPERLINK" in first.stdout_bytes and b"'@handle" in first.stdout_bytes and b"'-minus" in first.stdout_bytes


def _without_times(text: str, fmt: str) -> str:
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"
    return re.sub(stamp, "T", text)


def test_export_to_a_file(runner: CliRunner, ws: Workspace, ids: list[str], tmp_path: Path) -> None:
    add(runner, ids[0])
    target = tmp_path / "out.yaml"
    result = run(runner, "event", "export", "--format", "yml", "-o", str(target))
    assert result.exit_code == 0 and "exported 1 report" in result.stderr
    assert target.read_text().startswith("reports:\n- id: r-")
    bad = runner.invoke(app, ["event", "export", "--format", "xml"])
    assert bad.exit_code == 2 and "expected one of csv, yaml, json" in bad.stderr


def test_the_historical_events_file_imports(runner: CliRunner, ws: Workspace) -> None:
    events = ws.scenarios_dir / "historical_events.yaml"
    if not events.exists():
        pytest.skip("scenarios/historical_events.yaml not shipped yet")
    first = run(runner, "event", "import", str(events))
    assert first.exit_code == 0, first.output
    n = int(first.stdout.split()[1])
    assert n >= 20
    again = run(runner, "event", "import", str(events))
    assert again.stdout.startswith(f"added 0 reports; {n} already in the store")


# ---------------------------------------------------------------------------------------------
# indicators, --db, a foreign file
# ---------------------------------------------------------------------------------------------


def test_indicators_lists_the_catalogue_with_counts(runner: CliRunner, ws: Workspace, ids: list[str]) -> None:
    add(runner, ids[0], date="2024-05-01")
    last = add(runner, ids[0], date="2025-05-01")
    add(runner, ids[0], date="2025-06-01", source="later, retracted")
    retracted = stored(ws)[0][0]
    run(runner, "event", "retract", retracted, "--reason", "wrong")
    assert last
    data = json.loads(run(runner, "indicators", "--json").stdout)
    by_id = {row["id"]: row for row in data}
    assert set(by_id) == _indicator_ids(ws)
    row = by_id[ids[0]]
    assert row["definition"] and row["parents"]
    assert (row["reports"], row["retracted"], row["last_report"]) == (2, 1, "2025-05-01")
    assert by_id[ids[1]]["reports"] == 0 and by_id[ids[1]]["last_report"] is None
    table = run(runner, "indicators")
    assert table.exit_code == 0 and ids[0] in table.stdout


def test_db_option_and_env_choose_the_store(runner: CliRunner, ws: Workspace, ids: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file_only(ws)
    by_option = tmp_path / "option.db"
    run(runner, "--db", str(by_option), "event", "add", ids[0], "--date", "2025-01-01", "--grade", "B2", "--source", "S")
    by_env = tmp_path / "env.db"
    monkeypatch.setenv("FORECAST_DB", str(by_env))
    add(runner, ids[0], source="env")
    assert by_option.exists() and by_env.exists() and not ws.db_path.exists()


def test_a_foreign_file_as_database_is_refused_untouched(runner: CliRunner, ws: Workspace, ids: list[str], tmp_path: Path) -> None:
    file_only(ws)
    notes = tmp_path / "notes.txt"
    notes.write_text("my precious notes\n")
    digest = hashlib.sha256(notes.read_bytes()).hexdigest()
    result = runner.invoke(app, ["--db", str(notes), "event", "add", ids[0], "--date", "2025-01-01", "--grade", "B2", "--source", "S"])
    assert result.exit_code == 1
    assert "not a forecast event store" in result.stderr and "untouched" in result.stderr
    assert hashlib.sha256(notes.read_bytes()).hexdigest() == digest
    listing = runner.invoke(app, ["--db", str(notes), "event", "list"])
    assert listing.exit_code == 1


def test_every_command_has_help_with_an_example(runner: CliRunner) -> None:
    for cmd in COMMANDS:
        result = run(runner, "event", cmd, "--help")
        assert result.exit_code == 0 and "Example:" in result.stdout, cmd
    assert "Example:" in run(runner, "indicators", "--help").stdout


# ---------------------------------------------------------------------------------------------
# Real processes: start-up cost, concurrency, a kill in the middle of an import
# ---------------------------------------------------------------------------------------------

PROBE = """
import runpy, sys
sys.argv = ['forecast', *sys.argv[1:]]
try:
    runpy.run_module('forecaster', run_name='__main__')
except SystemExit as e:
    code = e.code
else:
    code = 0
heavy = sorted(m for m in ('pymc', 'arviz', 'pytensor', 'sqlalchemy', 'psycopg') if m in sys.modules)
print('HEAVY=' + ','.join(heavy) + ' CODE=' + str(code), file=sys.stderr)
"""


@pytest.mark.parametrize("argv", [["event", "add", "{ind}", "--date", "2025-01-01", "--grade", "B2", "--source", "S"], ["event", "list"]])
def test_event_add_and_list_do_not_load_pymc(ws: Workspace, ids: list[str], argv: list[str]) -> None:
    args = [a.format(ind=ids[0]) for a in argv]
    done = subprocess.run([sys.executable, "-c", PROBE, *args], env=child_env(), capture_output=True, text=True, timeout=60)
    # An SQLite store needs neither SQLAlchemy nor psycopg (start-up, and no postgres extra): issue 13.
    expected = "psycopg,sqlalchemy" if ws.db_on_server else ""
    assert f"HEAVY={expected} CODE=0" in done.stderr, done.stderr


def test_four_cli_processes_adding_at_once_lose_nothing(ws: Workspace, ids: list[str]) -> None:
    script = (
        'for i in 1 2 3; do "$PY" -m forecaster event add "$IND" --date 2025-01-01 --grade B2 '
        '--source "worker $W $i" --note "report $i" || exit 1; done'
    )
    procs = [
        subprocess.Popen(
            ["bash", "-c", script], env=child_env(PY=sys.executable, IND=ids[0], W=str(w)),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for w in range(4)
    ]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        assert "locked" not in err.lower()
        assert len(out.split()) == 3
    assert len(stored(ws)) == 12


def test_cli_import_killed_at_a_random_moment_is_all_or_nothing(ws: Workspace, ids: list[str], tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    with big.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["indicator", "date", "grade", "source", "note"])
        for i in range(5000):
            w.writerow([ids[i % 2], f"20{20 + i % 5}-0{1 + i % 9}-1{i % 10}", "B2", f"bulk {i}", f"row {i}"])
    EventStore(ws.db).close()
    child = subprocess.Popen([sys.executable, "-m", "forecaster", "event", "import", str(big)], env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(random.uniform(0.2, 1.0))
    child.send_signal(signal.SIGKILL)
    child.communicate()
    with EventStore(ws.db) as store:
        n = sum(1 for _ in store.list())
        if not ws.db_on_server:
            assert store._read("", "PRAGMA integrity_check")[0][0] == "ok"
    assert n in (0, 5000)
