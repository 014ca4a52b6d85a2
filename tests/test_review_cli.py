"""Issue 12, "Reviewers and analysts": validation that lists every problem, a priors diff that reads
the same evidence however the workspace is named, reports the model ignores, like-with-like changes,
ids never cut, ambiguous prefixes, completion, one JSON shape for a hypothesis' states."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecaster.cli.main import app
from forecaster.core.workspace import Workspace
from forecaster.model.evidence import Report
from forecaster.store.events import EventStore


def _run(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


def _add(ws: Workspace, indicator: str, day: dt.date, *, occurred: bool = True) -> str:
    with EventStore(ws.db_path) as store:
        return store.add(Report(indicator, day, occurred, "B", 2, "Wire", "", "", "ana")).id or ""


# ---------------------------------------------------------------------------------------------
# priors diff: the same evidence from $FORECAST_WORKSPACE as from -w; vectors with state names
# ---------------------------------------------------------------------------------------------


def _edited_copy(ws: Workspace, dest: Path) -> Path:
    shutil.copytree(ws.priors_dir, dest)
    f = dest / "experts" / "defence_economist.yaml"
    f.write_text(
        f.read_text(encoding="utf-8").replace("{heightened: 0.4, contained: 0.6}", "{heightened: 0.5, contained: 0.5}"),
        encoding="utf-8",
    )
    return dest


def test_priors_diff_reads_the_same_reports_from_env_and_from_w(
    runner: CliRunner, ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    today = dt.date.today()
    _add(ws, "arms_procurement_east", today - dt.timedelta(days=3))
    _add(ws, "conscription_reintroduced", today - dt.timedelta(days=2), occurred=False)
    old = _edited_copy(ws, tmp_path / "old")
    got = {}
    # $FORECAST_WORKSPACE (the ws fixture sets it), both folders explicit
    code, out, err = _run(runner, "priors", "diff", str(old), str(ws.priors_dir), "--json")
    assert code == 0, err
    got["env"] = json.loads(out)
    monkeypatch.setenv("FORECAST_WORKSPACE", str(tmp_path / "nowhere"))
    code, out, err = _run(runner, "-w", str(ws.root), "priors", "diff", str(old), str(ws.priors_dir), "--json")
    assert code == 0, err
    got["w"] = json.loads(out)
    monkeypatch.setenv("FORECAST_WORKSPACE", str(ws.root))
    code, out, err = _run(runner, "priors", "diff", str(old), "--json")
    assert code == 0, err
    got["implicit"] = json.loads(out)
    assert got["env"]["reports"] == got["w"]["reports"] == got["implicit"]["reports"] == 2
    assert got["env"]["effect"] == got["w"]["effect"]
    [change] = got["w"]["judgments"]
    assert change["old_by_state"] == {"heightened": 0.5, "contained": 0.5}
    assert change["new_by_state"] == {"heightened": 0.4, "contained": 0.6}


def test_priors_diff_markdown_names_the_states(runner: CliRunner, ws: Workspace, tmp_path: Path) -> None:
    old = _edited_copy(ws, tmp_path / "old")
    code, out, err = _run(runner, "priors", "diff", str(old), "--markdown")
    assert code == 0, err
    assert "heightened 0.50, contained 0.50" in out and "heightened 0.40, contained 0.60" in out


# ---------------------------------------------------------------------------------------------
# priors validate lists every problem; validate and audit agree on what is an error
# ---------------------------------------------------------------------------------------------


def _broken_mini(dest: Path) -> Path:
    from tests.helpers import MINI

    shutil.copytree(MINI, dest)
    a = dest / "experts" / "analyst_a.yaml"
    text = a.read_text(encoding="utf-8").replace("reviewed_by: tests", "reviewd_by: tests")
    text = text.replace("{hedging: 0.6, west: 0.1, east: 0.3}, confidence: medium, rationale: r",
                        "{hedging: 0.6, west: 0.1, east: 0.3}, confidence: medium, rationle: r")
    a.write_text(text, encoding="utf-8")
    b = dest / "experts" / "analyst_b.yaml"
    b.write_text(b.read_text(encoding="utf-8").replace("0.6", "0.7", 1), encoding="utf-8")
    net = dest / "network.yaml"
    net.write_text(net.read_text(encoding="utf-8").replace("horizon_months: 12", "horizon_month: 12"), encoding="utf-8")
    return dest


def test_validate_lists_every_problem_with_did_you_mean(runner: CliRunner, tmp_path: Path) -> None:
    folder = _broken_mini(tmp_path / "mini")
    code, out, err = _run(runner, "priors", "validate", "--priors", str(folder))
    assert code == 2 and out == "" and "Traceback" not in err
    lines = [x for x in err.splitlines() if x.startswith("error: ")]
    assert len(lines) == 4, err
    text = "\n".join(lines)
    assert "unknown key 'reviewd_by' (did you mean 'reviewed_by'" in text
    assert "unknown key 'rationle' (did you mean 'rationale'" in text  # a key inside a table row
    assert "unknown key 'horizon_month' (did you mean 'horizon_months'?)" in text
    assert "analyst_b.yaml" in text and "sum to" in text
    code, out, _ = _run(runner, "priors", "validate", "--priors", str(folder), "--json")
    data = json.loads(out)
    assert code == 2 and data["ok"] is False and len(data["errors"]) == 4
    for e in data["errors"]:
        assert set(e) == {"file", "line", "field", "problem"} and e["file"].endswith(".yaml") and e["problem"]
    fields = {e["field"] for e in data["errors"]}
    assert "reviewd_by" in fields and "horizon_month" in fields
    assert all(isinstance(e["line"], int) and e["line"] > 0 for e in data["errors"])


def test_structural_problems_are_all_listed_too(runner: CliRunner, tmp_path: Path) -> None:
    from tests.helpers import MINI

    folder = shutil.copytree(MINI, tmp_path / "mini")
    for name in ("analyst_a.yaml", "analyst_b.yaml"):
        f = folder / "experts" / name
        f.write_text(f.read_text(encoding="utf-8").replace("{encirclement: contained}", "{encirclement: containd}"),
                     encoding="utf-8")
    code, _, err = _run(runner, "priors", "validate", "--priors", str(folder), "--json")
    data = json.loads(_run(runner, "priors", "validate", "--priors", str(folder), "--json")[1])
    assert code == 2
    files = {e["file"].rsplit("/", 1)[-1] for e in data["errors"]}
    assert files == {"analyst_a.yaml", "analyst_b.yaml"}
    assert all("did you mean 'contained'" in e["problem"] for e in data["errors"])
    assert not any("missing parent configuration" in e["problem"] for e in data["errors"])  # no cascade


def test_validate_and_audit_agree_on_a_judgment_without_citation(runner: CliRunner, tmp_path: Path) -> None:
    from tests.helpers import MINI

    folder = shutil.copytree(MINI, tmp_path / "mini")
    a = folder / "experts" / "analyst_a.yaml"
    a.write_text(a.read_text(encoding="utf-8").replace(', citation: "000_44e76504c81b55c5.txt, fn 4"', "", 1),
                 encoding="utf-8")
    code, _, err = _run(runner, "priors", "validate", "--priors", str(folder))
    assert code == 2 and "no citation" in err and len(err.strip().splitlines()) == 1
    code, out, _ = _run(runner, "priors", "audit", "--priors", str(folder), "--json")
    kinds = {(f["severity"], f["kind"]) for f in json.loads(out)["findings"]}
    assert code == 1 and ("error", "missing_citation") in kinds
    # The other way round: no finding the audit calls an error among validate's kinds passes validate.
    from forecaster.analysis.findings import VALIDATE_KINDS

    audit_errors = {f["kind"] for f in json.loads(out)["findings"] if f["severity"] == "error"} & VALIDATE_KINDS
    assert audit_errors == {"missing_citation"}
    # A clean folder passes both.
    code, out, _ = _run(runner, "priors", "validate", "--priors", str(MINI), "--json")
    assert code == 0 and json.loads(out)["errors"] == []


# ---------------------------------------------------------------------------------------------
# Reports the model ignores: said on add, marked in list; indicators and collect count alike
# ---------------------------------------------------------------------------------------------


def _cli_add(runner: CliRunner, indicator: str, day: dt.date) -> tuple[int, str, str]:
    return _run(runner, "event", "add", indicator, "--date", day.isoformat(), "--grade", "B2", "--source", "Wire")


def test_reports_the_model_ignores_are_said_and_marked(runner: CliRunner, ws: Workspace) -> None:
    today = dt.date.today()
    old_day = today - dt.timedelta(days=3000)
    code, out, err = _cli_add(runner, "arms_procurement_east", old_day)
    assert code == 0 and out.startswith("r-")
    assert len(err.strip().splitlines()) == 1 and "before the evidence window" in err and "ignores" in err
    code, _, err = _cli_add(runner, "arms_procurement_east", today - dt.timedelta(days=10))
    assert code == 0 and err == ""  # in the window: nothing to say
    listing = _run(runner, "event", "list")
    lines = listing[1].splitlines()
    assert "IGNORED" in lines[0].split()
    old_line = next(x for x in lines if old_day.isoformat() in x)
    new_line = next(x for x in lines[1:] if old_day.isoformat() not in x)
    assert "before window" in old_line and "before window" not in new_line
    assert "1 listed report is ignored by the model" in listing[2]
    old_id = old_line.split()[0]
    shown = _run(runner, "event", "show", old_id)[1]
    assert "ignored: dated before the evidence window" in shown
    assert "ignored" not in _run(runner, "event", "show", new_line.split()[0])[1]


def test_import_says_how_many_reports_the_model_ignores(runner: CliRunner, ws: Workspace, tmp_path: Path) -> None:
    today = dt.date.today()
    f = tmp_path / "r.yaml"
    f.write_text(
        "reports:\n"
        f"  - {{indicator: arms_procurement_east, date: {(today - dt.timedelta(days=3000)).isoformat()}, occurred: true, "
        "reliability: B, credibility: 2, source: Wire}\n"
        f"  - {{indicator: arms_procurement_west, date: {(today - dt.timedelta(days=5)).isoformat()}, occurred: true, "
        "reliability: B, credibility: 2, source: Wire}\n",
        encoding="utf-8",
    )
    code, out, err = _run(runner, "event", "import", str(f))
    assert code == 0, err
    assert "ignores 1 of the 2 reports" in err and len(err.strip().splitlines()) == 1


def test_indicators_and_collect_count_the_same_reports(runner: CliRunner, ws: Workspace) -> None:
    today = dt.date.today()
    _cli_add(runner, "arms_procurement_east", today - dt.timedelta(days=3000))  # before the window
    _cli_add(runner, "arms_procurement_west", today - dt.timedelta(days=30))
    _cli_add(runner, "conscription_reintroduced", today - dt.timedelta(days=2))
    for as_of in (None, (today - dt.timedelta(days=10)).isoformat()):
        extra = [] if as_of is None else ["--as-of", as_of]
        code, out, err = _run(runner, "indicators", "--json", *extra)
        assert code == 0, err
        rows = {r["id"]: r for r in json.loads(out)}
        code, out, err = _run(runner, "collect", "--json", *extra)
        assert code == 0, err
        plan = json.loads(out)
        assert plan["reports"] == sum(r["reports"] for r in rows.values())
        assert {r["id"] for r in rows.values() if r["reports"]} == set(plan["reported_indicators"])
        assert rows["arms_procurement_east"]["reports"] == 0 and rows["arms_procurement_east"]["ignored"] == 1
    assert rows["conscription_reintroduced"]["reports"] == 0  # dated after that as-of date
    # ... and, by knowledge time, nothing recorded today was known ten days ago: both say 0.
    assert rows["conscription_reintroduced"]["ignored"] == 1 and plan["reports"] == 0


# ---------------------------------------------------------------------------------------------
# "Δ prev": like with like
# ---------------------------------------------------------------------------------------------


def test_change_since_previous_compares_like_with_like(ws: Workspace) -> None:
    from dataclasses import replace

    from forecaster.model.loading import load_priors
    from forecaster.store import runs
    from forecaster.workflow.updating import previous_like, update_forecast

    priors = load_priors(ws.priors_dir)
    day = dt.date.today() - dt.timedelta(days=20)
    _add(ws, "arms_procurement_east", day - dt.timedelta(days=5))
    exact_run, _ = update_forecast(ws, priors, as_of=day, exact=True)
    # A sampled run recorded later for a later date (faked: its numbers far from the exact engine's).
    sampled = replace(
        exact_run,
        run_id="5a3b1ed00000",
        as_of=day + dt.timedelta(days=1),
        diagnostics=replace(exact_run.diagnostics, sampler="pymc-nuts", chains=2, draws=100, tune=100),
    )
    with EventStore(ws.db_path) as store:
        runs.record_run(store, runs.NewRun(sampled, settings={"sampler": "pymc-nuts"}))
        # A replay of an events file is another kind of evidence: never a baseline for the store's runs.
        replay = replace(exact_run, run_id="f11e00000000", as_of=day + dt.timedelta(days=2))
        runs.record_run(store, runs.NewRun(replay, evidence="file", settings={"sampler": "exact"}))
        later = day + dt.timedelta(days=3)
        exact_prev = previous_like(store, as_of=later, evidence="store", exclude="", sampled=False)
        sampled_prev = previous_like(store, as_of=later, evidence="store", exclude="", sampled=True)
    assert exact_prev is not None and exact_prev.run_id == exact_run.run_id
    assert sampled_prev is not None and sampled_prev.run_id == sampled.run_id
    _add(ws, "conscription_reintroduced", day)
    result, cached = update_forecast(ws, priors, as_of=day + dt.timedelta(days=3), exact=True)
    assert not cached and result.previous_run_id == exact_run.run_id  # not the later sampled one


# ---------------------------------------------------------------------------------------------
# event show with an ambiguous prefix lists the matches
# ---------------------------------------------------------------------------------------------


def test_event_show_ambiguous_prefix_lists_the_matches(runner: CliRunner, ws: Workspace) -> None:
    day = dt.date.today() - dt.timedelta(days=3)
    ids = [_add(ws, "arms_procurement_east", day - dt.timedelta(days=i)) for i in range(40)]
    # Some one-character prefix is shared by several of 40 random hex ids.
    first = {}
    for rid in ids:
        first.setdefault(rid[2], []).append(rid)
    digit, shared = max(first.items(), key=lambda kv: len(kv[1]))
    assert len(shared) >= 2
    for prefix in (digit, f"r-{digit}"):
        for cmd in (["event", "show", prefix], ["event", "retract", prefix, "--reason", "x"]):
            code, out, err = _run(runner, *cmd)
            assert code == 2 and out == "" and "Traceback" not in err
            assert len(err.strip().splitlines()) == 1 and "ambiguous" in err
            assert all(rid in err for rid in sorted(shared)[:10])
    lone = next((d, s) for d, s in first.items() if len(s) == 1) if any(len(s) == 1 for s in first.values()) else None
    if lone is not None:
        code, _, err = _run(runner, "event", "show", lone[0])
        assert code == 2 and lone[1][0] in err and "at least 4 digits" in err
    code, _, err = _run(runner, "event", "show", "r-zzzz")
    assert code == 2 and "no report" in err
    with EventStore(ws.db_path) as store:  # nothing was retracted
        assert all(not e.retracted for e in store.all())


# ---------------------------------------------------------------------------------------------
# Ids are never cut in a table, even at 80 columns
# ---------------------------------------------------------------------------------------------


def _at_80(ws: Workspace, *args: str) -> str:
    import os
    import subprocess
    import sys

    env = {**os.environ, "COLUMNS": "80", "FORECAST_WORKSPACE": str(ws.root)}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    r = subprocess.run([sys.executable, "-m", "forecaster", *args], capture_output=True, text=True, env=env,
                       timeout=300, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert "…" not in r.stdout, r.stdout
    return r.stdout


def test_ids_are_never_cut_at_80_columns(ws: Workspace) -> None:
    from forecaster.model.loading import load_priors

    priors = load_priors(ws.priors_dir)
    today = dt.date.today()
    long_ids = sorted(priors.indicator_ids, key=len)[-6:]
    for k, ind in enumerate(long_ids):
        _add(ws, ind, today - dt.timedelta(days=5 + k))
    text = _at_80(ws, "update", "--exact")
    for ind in long_ids:
        assert ind in text, ind
    for h in priors.hypotheses:
        for s in h.states:
            assert s in text
    text = _at_80(ws, "collect")
    for ind in sorted(priors.indicator_ids - set(long_ids)):
        assert ind in text, ind
    text = _at_80(ws, "indicators")
    for ind in priors.indicator_ids:
        assert ind in text, ind
    text = _at_80(ws, "runs", "list")
    with EventStore(ws.db_path) as store:
        from forecaster.store import runs

        run_ids = [r.run_id for r in runs.list_runs(store, with_states=False)]
    assert run_ids and all(rid in text for rid in run_ids)
    text = _at_80(ws, "history")
    assert all(rid in text for rid in run_ids)


def test_never_cut_keeps_ids_whole_and_wraps_the_rest() -> None:
    from rich.console import Console
    from rich.table import Table

    from forecaster.outputs.columns import never_cut

    t = Table()
    t.add_column("indicator", no_wrap=True)
    t.add_column("definition")
    t.add_column("bits", justify="right", no_wrap=True)
    t.add_row("rs_laws_against_state_institutions", "A long definition " * 8, "0.1234")
    t.add_row("parallel_institutions_north_kosovo", "short", "0.5")
    console = Console(width=80, record=True, file=__import__("io").StringIO())
    console.print(never_cut(t, 0))
    text = console.export_text()
    assert "rs_laws_against_state_institutions" in text and "parallel_institutions_north_kosovo" in text
    assert "…" not in text and "0.1234" in text


# ---------------------------------------------------------------------------------------------
# Shell completion, date metavars, one JSON shape for a hypothesis' states
# ---------------------------------------------------------------------------------------------


def test_shell_completion_works_for_the_app_and_every_sub_app(runner: CliRunner) -> None:
    helped = runner.invoke(app, ["--help"], prog_name="forecast")
    assert "--install-completion" in helped.stdout and "--show-completion" in helped.stdout
    shown = runner.invoke(app, ["--show-completion", "bash"], prog_name="forecast")
    assert shown.exit_code == 0 and "_FORECAST_COMPLETE=complete_bash" in shown.stdout, (shown.output, shown.exception)
    for words, expected in (
        ("forecast ev", "event"),
        ("forecast event ", "retract"),
        ("forecast priors va", "validate"),
        ("forecast runs pr", "prune"),
        ("forecast scenario ", "run"),
        ("forecast brief --per", "--period"),
    ):
        env = {"_FORECAST_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split(" ")) - 1)}
        r = runner.invoke(app, [], prog_name="forecast", env=env)
        assert r.exit_code == 0 and expected in r.stdout.split(), (words, r.stdout)


def _options(command: object, path: tuple[str, ...] = ("forecast",)):  # type: ignore[no-untyped-def]
    for name, sub in getattr(command, "commands", {}).items():
        yield from _options(sub, (*path, name))
    for p in getattr(command, "params", []):
        if type(p).__name__.endswith("Option"):
            yield path, p


def test_every_date_option_has_the_same_metavar() -> None:
    import typer.main

    dates = 0
    for path, p in _options(typer.main.get_command(app)):
        if set(p.opts) & {"--as-of", "--since", "--until", "--date"} or "YYYY-MM-DD" in (p.help or ""):
            dates += 1
            assert p.metavar == "YYYY-MM-DD", (path, p.opts, p.metavar)
    assert dates >= 12


def _state_objects(block: object) -> list[dict]:
    """Every state object in a JSON value (lists of {id, states} or mappings id -> {state id -> object})."""
    found = []
    if isinstance(block, list):
        for h in block:
            found += h["states"]
    else:
        for states in block.values():  # type: ignore[union-attr]
            found += states.values()
    return found


def test_one_json_shape_for_the_states_in_update_whatif_scenario_history_collect(
    runner: CliRunner, ws: Workspace
) -> None:
    from forecaster.inference.states import STATE_KEYS

    _add(ws, "arms_procurement_east", dt.date.today() - dt.timedelta(days=4))
    code, out, err = _run(runner, "update", "--exact", "--json")
    assert code == 0, err
    update = json.loads(out)
    code, out, err = _run(runner, "whatif", "conscription_reintroduced@B2", "--json")
    assert code == 0, err
    whatif = json.loads(out)
    code, out, err = _run(runner, "scenario", "run", "kfor_drawdown", "--exact", "--json")
    assert code == 0, err
    scenario = json.loads(out)
    code, out, err = _run(runner, "history", "--json")
    assert code == 0, err
    history = json.loads(out)
    code, out, err = _run(runner, "collect", "--json")
    assert code == 0, err
    collect = json.loads(out)
    blocks = {
        "update": update["hypotheses"],
        "whatif baseline": whatif["baseline"]["hypotheses"],
        "whatif scenario": whatif["scenarios"][0]["hypotheses"],
        "scenario": scenario["scenarios"][0]["hypotheses"],
        "history": history[-1]["hypotheses"],
        "collect": collect["hypotheses"],
    }
    by_block = {}
    for name, block in blocks.items():
        states = _state_objects(block)
        assert states, name
        for s in states:
            assert set(STATE_KEYS) <= set(s), (name, sorted(set(STATE_KEYS) - set(s)))
            assert isinstance(s["id"], str) and isinstance(s["claimed"], bool) and isinstance(s["term"], str)
            assert isinstance(s["interval"], list) and len(s["interval"]) == 2
        by_block[name] = {s["id"]: s for s in states}
    # The same run seen through update, history and the baseline of whatif gives the same numbers.
    for sid, s in by_block["update"].items():
        for other in ("history", "whatif baseline", "collect"):
            o = by_block[other][sid]
            assert o["posterior"] == pytest.approx(s["posterior"], abs=1e-6), (other, sid)
            assert o["claimed"] == s["claimed"] and o["term"] == s["term"]
        assert by_block["history"][sid]["prior"] == pytest.approx(s["prior"], abs=1e-6)
    assert all(s["interval"] == [None, None] for s in by_block["collect"].values())


def test_readme_documents_the_json_shape() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## JSON", 1)[1].split("\n## ", 1)[0]
    from forecaster.inference.states import STATE_KEYS

    for key in STATE_KEYS:
        assert f"`{key}`" in section, key
    for command in ("update", "whatif", "scenario run", "history", "collect"):
        assert command in section


def test_markdown_tables_in_the_terminal_keep_ids_whole() -> None:
    import io

    from rich.console import Console

    from forecaster.outputs.columns import markdown

    md = (
        "| indicator | expert | p | rationale |\n|---|---|---|---|\n"
        "| rs_laws_against_state_institutions | regional_security_analyst | 0.35 | " + "words " * 20 + "|\n"
    )
    console = Console(width=80, record=True, file=io.StringIO())
    console.print(markdown(md))
    text = console.export_text()
    assert "rs_laws_against_state_institutions" in text and "regional_security_analyst" in text and "…" not in text


def test_validate_lists_a_missing_file_beside_the_other_problems(runner: CliRunner, tmp_path: Path) -> None:
    from tests.helpers import MINI

    folder = shutil.copytree(MINI, tmp_path / "mini")
    (folder / "settings.yaml").unlink()
    net = folder / "network.yaml"
    net.write_text(net.read_text(encoding="utf-8").replace("horizon_months: 12", "horizon_month: 12"), encoding="utf-8")
    code, out, _ = _run(runner, "priors", "validate", "--priors", str(folder), "--json")
    problems = [e["problem"] for e in json.loads(out)["errors"]]
    assert code == 2 and len(problems) == 2
    assert any("settings.yaml" in p for p in problems) and any("horizon_month" in p for p in problems)


@pytest.mark.parametrize(
    "folder",
    sorted(p.name for p in (Path(__file__).parent / "data").glob("audit_*") if (p / "network.yaml").is_file()),
)
def test_validate_reports_exactly_the_audits_errors_of_its_kinds(runner: CliRunner, folder: str) -> None:
    from forecaster.analysis.findings import VALIDATE_KINDS

    path = str(Path(__file__).parent / "data" / folder)
    code, out, _ = _run(runner, "priors", "audit", "--priors", path, "--json")
    audit_errors = [f for f in json.loads(out)["findings"] if f["severity"] == "error" and f["kind"] in VALIDATE_KINDS]
    code, out, _ = _run(runner, "priors", "validate", "--priors", path, "--json")
    data = json.loads(out)
    assert len(data["errors"]) == len(audit_errors), (folder, data["errors"], audit_errors)
    assert (code == 2) == bool(audit_errors)
