"""Limits and odd input (issue 12): each is refused up front with one line and exit 2 (bad input)
or 1 (the environment), never a traceback, a hang or a half-written file."""

from __future__ import annotations

import contextlib
import errno
import itertools
import json
import os
import shutil
import threading
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from forecaster.cli.main import app
from forecaster.core.workspace import Workspace

DATA = Path(__file__).parent / "data"


def _one_line(r: Result, code: int = 2) -> str:
    assert r.exit_code == code, (r.exit_code, r.output)
    assert "Traceback" not in r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    return lines[0]


def _mini(tmp_path: Path) -> Path:
    return shutil.copytree(DATA / "mini", tmp_path / "mini")


def _extend_mini(tmp_path: Path, n: int, k: int, *, chain: bool, links: str) -> tuple[Path, list[str]]:
    """mini plus n hypotheses `extra_<i>` of k states (roots, or a chain), with every panelist's
    table, and an indicator on each pair of them: `links` "all" (every pair: the moral graph is
    complete, so eliminating any of them makes a factor over all n) or "chain" (neighbours)."""
    folder = _mini(tmp_path)
    ids = [f"extra_{i}" for i in range(n)]
    states = [f"s{x}" for x in range(k)]
    parents = {h: ([ids[i - 1]] if chain and i else []) for i, h in enumerate(ids)}
    net = yaml.safe_load((folder / "network.yaml").read_text())
    for h in ids:
        net["hypotheses"].append({"id": h, "question": "q", "parents": parents[h],
                                  "states": [{"id": s, "definition": "d", "citation": "c"} for s in states]})
    (folder / "network.yaml").write_text(yaml.safe_dump(net))
    even = {s: round(1 / k, 4) for s in states}
    even[states[-1]] = round(1 - sum(list(even.values())[:-1]), 4)
    for f in (folder / "experts").glob("*.yaml"):
        expert = yaml.safe_load(f.read_text())
        for h in ids:
            givens = [{parents[h][0]: s} for s in states] if parents[h] else [{}]
            expert["hypotheses"][h] = [{"given": g, "probabilities": even, "confidence": "medium", "rationale": f"{f.stem}'s view", "citation": "c"}
                                       for g in givens]
        f.write_text(yaml.safe_dump(expert))
    pairs = [(ids[i], ids[j]) for i, j in itertools.combinations(range(n), 2)] if links == "all" else list(zip(ids[:-1], ids[1:], strict=True))
    cat = yaml.safe_load((folder / "indicators.yaml").read_text())
    for a, b in pairs:
        rows = [{"given": {a: x, b: y}, "p": 0.2 + 0.1 * ((i + j) % 6), "rationale": "r"}
                for i, x in enumerate(states) for j, y in enumerate(states)]
        cat["indicators"].append({"id": f"link_{a}_{b}", "definition": "d", "parents": [a, b], "citation": "c", "likelihoods": rows})
    (folder / "indicators.yaml").write_text(yaml.safe_dump(cat))
    return folder, ids


def test_a_network_above_the_factor_size_limit_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    """Ten 4-state hypotheses, every pair sharing an indicator: exact inference would hold a
    factor of 4^10 = 1,048,576 states (limit 1,000,000, docs/LIMITS.md). Refused up front, the
    hypotheses and the size named, by validate and by every command that loads the priors."""
    folder, ids = _extend_mini(tmp_path, 10, 4, chain=False, links="all")
    line = _one_line(runner.invoke(app, ["priors", "validate", "--priors", str(folder)]))
    assert "network too large for exact inference" in line
    assert "1,048,576 states" in line and "limit 1,000,000" in line
    assert all(f"{h} (4)" in line for h in ids), line
    ws = _ws_with(tmp_path, folder)
    for cmd in (["priors", "validate"], ["update", "--exact"], ["priors", "show"]):
        shown = runner.invoke(app, ["-w", str(ws), *cmd])
        assert shown.exit_code == 2 and "1,048,576 states" in shown.stderr and "Traceback" not in shown.output, (cmd, shown.output)


def test_many_joint_states_with_small_factors_are_accepted(runner: CliRunner, tmp_path: Path) -> None:
    """Twelve 3-state hypotheses in a chain on top of mini: 531,441 × 18 joint states, far past
    the old 20,000-joint-state limit, but no factor above 3^3. It validates, shows and updates."""
    folder, ids = _extend_mini(tmp_path, 12, 3, chain=True, links="chain")
    r = runner.invoke(app, ["priors", "validate", "--priors", str(folder)])
    assert r.exit_code == 0 and "Traceback" not in r.output, r.output
    ws = _ws_with(tmp_path, folder)
    assert runner.invoke(app, ["-w", str(ws), "priors", "validate"]).exit_code == 0
    shown = runner.invoke(app, ["-w", str(ws), "priors", "show"])
    assert shown.exit_code == 0 and ids[-1] in shown.stdout, shown.output
    added = runner.invoke(app, ["-w", str(ws), "event", "add", f"link_{ids[0]}_{ids[1]}", "--date", "2026-01-05",
                                "--grade", "B2", "--source", "test"])
    assert added.exit_code == 0, added.output
    updated = runner.invoke(app, ["-w", str(ws), "update", "--exact"])
    assert updated.exit_code == 0 and "Traceback" not in updated.output, updated.output


def _ws_with(tmp_path: Path, priors: Path) -> Path:
    from forecaster.core.workspace import init_workspace

    ws = init_workspace(tmp_path / "ws-big")
    shutil.rmtree(ws.priors_dir)
    shutil.copytree(priors, ws.priors_dir)
    return ws.root


@pytest.mark.parametrize("value", ["0.0", "1.0", "0", "1"])
def test_a_judgment_of_exactly_0_or_1_is_refused(runner: CliRunner, tmp_path: Path, value: str) -> None:
    folder = _mini(tmp_path)
    f = folder / "experts" / "analyst_a.yaml"
    other = f"{1 - float(value):g}"
    text = f.read_text().replace("{heightened: 0.6, contained: 0.4}", f"{{heightened: {value}, contained: {other}}}", 1)
    f.write_text(text)
    line = _one_line(runner.invoke(app, ["priors", "validate", "--priors", str(folder)]))
    assert "strictly between 0 and 1" in line and "analyst_a.yaml" in line


def test_an_indicator_likelihood_of_1_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    folder = _mini(tmp_path)
    cat = yaml.safe_load((folder / "indicators.yaml").read_text())
    cat["indicators"][0]["likelihoods"][0] = {**cat["indicators"][0]["likelihoods"][0], "p": 1.0}
    cat["indicators"][0]["likelihoods"][0].pop("term", None)
    (folder / "indicators.yaml").write_text(yaml.safe_dump(cat))
    assert "strictly between 0 and 1" in _one_line(runner.invoke(app, ["priors", "validate", "--priors", str(folder)]))


def test_a_huge_evidence_window_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    folder = _mini(tmp_path)
    net = yaml.safe_load((folder / "network.yaml").read_text())
    net["evidence_window_days"] = 10**9
    (folder / "network.yaml").write_text(yaml.safe_dump(net))
    assert "evidence_window_days" in _one_line(runner.invoke(app, ["priors", "validate", "--priors", str(folder)]))


@pytest.mark.parametrize(
    "args",
    [
        ["update", "--exact", "--as-of", "0001-01-01"],
        ["update", "--exact", "--as-of", "1025-06-01"],
        ["history", "--backfill", "weekly", "--as-of", "1025-06-01"],
        ["event", "add", "north_kosovo_unrest", "--date", "1899-12-31", "--grade", "B2", "--source", "R"],
        ["event", "list", "--since", "0001-01-01"],
        ["brief", "--since", "0001-01-01"],
        ["update", "--seed", "-1"],
        ["update", "--seed", str(2**32)],
        ["update", "--seed", "9" * 40],
        ["update", "--draws", "1000000000"],
        ["update", "--tune", "1000000000"],
        ["whatif", "--seed", str(2**32), "--sample", "armed_incident_north_kosovo"],
    ],
)
def test_bad_dates_seeds_and_draws_are_refused_up_front(runner: CliRunner, ws: Workspace, args: list[str]) -> None:
    r = runner.invoke(app, args)
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert "OverflowError" not in r.output
    if ws.db_path.exists():
        import sqlite3

        raw = sqlite3.connect(ws.db_path)
        with contextlib.suppress(sqlite3.OperationalError):
            assert raw.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _run_with_timeout(runner: CliRunner, args: list[str], seconds: float = 20) -> Result:
    box: list[Result] = []
    t = threading.Thread(target=lambda: box.append(runner.invoke(app, args)), daemon=True)
    t.start()
    t.join(seconds)
    if not box:
        # unblock the hung reader so the thread can end, then fail
        for p in args:
            if os.path.exists(p) and not os.path.isfile(p):
                with open(p, "w") as w:
                    w.write("")
        pytest.fail(f"hung: {args}")
    return box[0]


def test_a_fifo_or_device_as_database_is_refused(runner: CliRunner, ws: Workspace, tmp_path: Path) -> None:
    for db in (_fifo(tmp_path / "f.db"), Path("/dev/null"), Path("/dev/zero")):
        r = _run_with_timeout(runner, ["--db", str(db), "event", "list"])
        assert "regular file" in _one_line(r)


def test_a_fifo_as_priors_or_events_file_is_refused(runner: CliRunner, ws: Workspace, tmp_path: Path) -> None:
    expert = ws.priors_dir / "experts" / "planted.yaml"
    _fifo(expert)
    r = _run_with_timeout(runner, ["priors", "validate"])
    assert "FIFO" in _one_line(r)
    expert.unlink()
    for name in ("events.yaml", "events.csv", "events.json"):
        r = _run_with_timeout(runner, ["event", "import", str(_fifo(tmp_path / name))])
        assert "FIFO" in _one_line(r)
    r = _run_with_timeout(runner, ["update", "--exact", "--events", str(_fifo(tmp_path / "ev2.yaml"))])
    assert "FIFO" in _one_line(r)
    r = _run_with_timeout(runner, ["event", "import", "/dev/zero", "--format", "csv"])
    assert "device" in _one_line(r)
    r = _run_with_timeout(runner, ["resolutions", "import", str(_fifo(tmp_path / "res.yaml"))])
    assert "FIFO" in _one_line(r)
    r = _run_with_timeout(runner, ["resolutions", "import", str(_fifo(tmp_path / "res.csv"))])
    assert "FIFO" in _one_line(r)


@pytest.mark.parametrize("name", ["indicators.yaml", "settings.yaml", "network.yaml"])
def test_a_fifo_as_a_main_priors_file_is_refused_by_every_command(runner: CliRunner, ws: Workspace, name: str) -> None:
    main = ws.priors_dir / name
    main.unlink()
    _fifo(main)
    for args in (["priors", "validate"], ["update", "--exact"], ["event", "add", "north_kosovo_unrest", "--date", "2025-03-18", "--grade", "B2", "--source", "R"],
                 ["event", "list"], ["priors", "show"]):
        r = _run_with_timeout(runner, args)  # never hangs
        assert "Traceback" not in r.output, (args, r.output)
        if args[0] != "event":  # the event log reads only what it needs of the priors, and never blocks
            assert "FIFO" in _one_line(r), args


def test_a_fifo_among_the_seed_papers_is_skipped(runner: CliRunner, tmp_path: Path) -> None:
    folder = _mini(tmp_path)
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    _fifo(seeds / "000_paper.txt")
    r = _run_with_timeout(runner, ["priors", "audit", "--priors", str(folder), "--seeds", str(seeds)])
    assert "Traceback" not in r.output, r.output


def test_a_year_typo_in_the_store_stops_a_backfill_before_it_records(runner: CliRunner, ws: Workspace) -> None:
    import datetime as dt
    import sqlite3

    from forecaster.model.evidence import Report
    from forecaster.store.events import EventStore

    with EventStore(ws.db_path) as store:
        store.add(Report("north_kosovo_unrest", dt.date(1925, 3, 18), True, "B", 2, "Reuters"), analyst="ana")  # 2025
        store.add(Report("north_kosovo_unrest", dt.date(2025, 3, 19), True, "B", 2, "AP"), analyst="ana")
    line = _one_line(runner.invoke(app, ["history", "--backfill", "weekly"]))
    assert "1925-03-18" in line and "typo" in line and "1,000" in line
    assert sqlite3.connect(ws.db_path).execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0


@pytest.mark.parametrize(
    "body",
    ["[" * 20000 + "]" * 20000, "a: " + "9" * 5000 + "\n", "a: &a [" + "*a, " * 5 + "]\n"],
)
def test_nested_or_huge_yaml_in_priors_is_a_clear_error(runner: CliRunner, tmp_path: Path, body: str) -> None:
    folder = _mini(tmp_path)
    (folder / "settings.yaml").write_text(body)
    line = _one_line(runner.invoke(app, ["priors", "validate", "--priors", str(folder)]))
    assert "settings.yaml" in line


def test_deep_json_import_is_a_clear_error(runner: CliRunner, ws: Workspace, tmp_path: Path) -> None:
    p = tmp_path / "deep.json"
    p.write_text('{"reports": ' + "[" * 100000 + "]" * 100000 + "}")
    assert "malformed JSON" in _one_line(runner.invoke(app, ["event", "import", str(p)]))


def test_unwritable_home_is_one_line(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.delenv("FORECAST_WORKSPACE")
    monkeypatch.setenv("HOME", str(blocker / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(blocker / "data"))
    monkeypatch.chdir(tmp_path)
    line = _one_line(runner.invoke(app, ["info"]))  # no terminal: the default is never created
    assert "a-file" in line
    line = _one_line(runner.invoke(app, ["init", str(blocker / "ws")]), code=1)
    assert "a-file" in line and "Not a directory" in line


def _limited(max_bytes: int) -> None:
    """In the child: files may grow to `max_bytes`, and a write past it fails (EFBIG) instead of
    killing the process: a full disk, as far as the writer can tell."""
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="resource limits on a child process")
@pytest.mark.parametrize("args", [["export", "-o", "{out}/net.bif"], ["export", "--format", "xmlbif", "-o", "{out}/net.xml"]])
def test_a_full_disk_is_one_line_and_leaves_nothing(ws: Workspace, tmp_path: Path, args: list[str]) -> None:
    import subprocess
    import sys

    out = tmp_path / "out"
    out.mkdir()
    runner_env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent), "FORECAST_WORKSPACE": str(ws.root)}
    cmd = [sys.executable, "-m", "forecaster", *(a.format(out=out) for a in args)]
    p = subprocess.run(cmd, env=runner_env, capture_output=True, text=True, timeout=120, preexec_fn=lambda: _limited(512))
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "nothing was half-written" in lines[0], p.stderr
    assert list(out.iterdir()) == []  # neither the file nor a temp file


def test_os_errors_read_as_one_line_naming_the_path() -> None:
    from forecaster.cli.failures import failure

    for code in (errno.ENOSPC, errno.EFBIG):
        line, rc = failure(OSError(code, os.strerror(code), "/data/ws/runs/x.nc"))
        assert rc == 1 and line.startswith("/data/ws/runs/x.nc: ") and "disk full" in line
    line, _ = failure(PermissionError(errno.EACCES, "Permission denied", "/home/x/.local/share/forecast"))
    assert "Permission denied" in line and "FORECAST_WORKSPACE" in line
    assert failure(RecursionError())[1] == 2 and failure(OverflowError("date value out of range"))[1] == 2
    assert "OverflowError" not in failure(OverflowError("x"))[0]


def test_an_unwritable_runs_folder_is_one_line_and_writes_nothing(runner: CliRunner, ws: Workspace) -> None:
    """Draws live in the store (issue 13): runs/ is written only by `runs export`."""
    import dataclasses
    import datetime as dt
    import warnings

    import numpy as np

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # arviz's notice of its coming refactor
        import arviz as az

    from forecaster.inference.update import run_update
    from forecaster.model.loading import load_priors
    from forecaster.store import runs
    from forecaster.store.events import EventStore

    priors = load_priors(ws.priors_dir)
    result = run_update(priors, [], as_of=dt.date(2026, 1, 1), exact_only=True)
    idata = az.from_dict(posterior={"p_x": np.full((1, 100, 2), 0.5)})  # what a sampled run carries
    with EventStore(ws.db) as store:
        runs.record_run(store, runs.NewRun(dataclasses.replace(result, idata=idata), draws=runs.netcdf_bytes(idata)))
    ws.runs_dir.write_text("not a folder")  # runs/ cannot be created
    r = runner.invoke(app, ["runs", "export", result.run_id])
    line = _one_line(r, code=r.exit_code if r.exit_code in (1, 2) else 1)
    assert "runs" in line
    assert ws.runs_dir.read_text() == "not a folder"
    with EventStore(ws.db) as store:  # the record and its draws are untouched
        assert runs.load_draws(store, result.run_id) == runs.netcdf_bytes(idata)


def test_a_corrupt_earlier_brief_json_does_not_break_later_briefs(tmp_path: Path) -> None:
    import datetime as dt

    from forecaster.workflow.brief import SCHEMA, previous_brief

    folder = tmp_path / "briefs"
    folder.mkdir()
    good = {"schema": SCHEMA, "period": {"until": "2026-01-04"}, "posteriors": {"h": {"s": {"posterior": 0.5}}},
            "provenance": {"run_id": "abc", "report_ids": []}}
    (folder / "2026-W01.json").write_text(json.dumps(good))
    corrupt = {
        "2026-W02.json": "{not json",
        "2026-W03.json": json.dumps({**good, "period": {"until": "2026-01-18"}, "posteriors": [1, 2]}),
        "2026-W04.json": json.dumps({**good, "period": {"until": "2026-01-25"}, "posteriors": {"h": {"s": {"posterior": "x"}}}}),
        "2026-W05.json": json.dumps({**good, "period": {"until": "2026-02-01"}, "provenance": {"report_ids": [1]}}),
        "2026-W06.json": "[" * 100000 + "]" * 100000,
        "2026-W07.json": json.dumps([1]),
    }
    for name, text in corrupt.items():
        (folder / name).write_text(text)
    os.mkfifo(folder / "2026-W08.json")
    found = previous_brief(folder, before=dt.date(2026, 3, 1))
    assert found is not None and found[0] == "2026-W01"


@pytest.mark.parametrize(
    "args",
    [
        ["update", "--draws", "5"], ["event", "list", "--limit", "9" * 30], ["nosuch"], ["update", "--bogus"],
        ["event", "show"], ["update", "--seed", "abc"], ["scenario", "run", "--tune", "10"], ["-w"],
    ],
)
def test_a_bad_option_through_the_real_entry_point_is_one_line(ws: Workspace, args: list[str]) -> None:
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent), "FORECAST_WORKSPACE": str(ws.root)}
    p = subprocess.run([sys.executable, "-m", "forecaster", *args], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), p.stderr


def test_the_real_entry_point_keeps_help_version_and_exit_codes(ws: Workspace) -> None:
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent), "FORECAST_WORKSPACE": str(ws.root)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "forecaster", *args], env=env, capture_output=True, text=True, timeout=120)

    alone = run("event")  # a group alone: its help, as before
    assert alone.returncode == 2 and "Usage: forecast event" in alone.stderr and "Commands" in alone.stderr
    assert run("--version").stdout.strip().startswith("forecast ") and run("update", "-h").returncode == 0
    bad = run("event", "list", "--limit", "-1")
    assert bad.returncode == 2 and "(forecast event list -h for help)" in bad.stderr
    assert run("priors", "validate").returncode == 0  # a command's own exit code passes through
    assert run("update", "--exact", "--as-of", "1025-01-01").returncode == 2


def test_a_closed_pipe_stops_quietly(ws: Workspace, tmp_path: Path) -> None:
    """`forecast event list | head -1`: no "error: Broken pipe", no traceback; Click's exit 1."""
    import subprocess
    import sys

    f = tmp_path / "many.csv"
    f.write_text("indicator,date,grade,source\n" + "".join(f"kfor_reinforcement,2025-03-{1 + i % 28:02d},B2,wire {i}\n" for i in range(3000)),
                 encoding="utf-8")
    env = {**os.environ, "FORECAST_WORKSPACE": str(ws.root)}
    subprocess.run([sys.executable, "-m", "forecaster", "event", "import", str(f)], env=env, check=True, capture_output=True)
    p = subprocess.Popen([sys.executable, "-m", "forecaster", "event", "list", "--limit", "0"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout is not None
    p.stdout.readline()
    p.stdout.close()  # the reader goes away, as head does
    _, err = p.communicate(timeout=120)
    assert p.returncode in (0, 1) and b"Traceback" not in err and b"Broken pipe" not in err, err
