"""`forecast --help` reads whole (issue 21): every summary in full, the commands grouped by task,
metavars that say what an option takes; `init` names the import before the update."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main
from typer.core import TyperArgument, TyperOption
from typer.testing import CliRunner

from forecaster.cli.helptext import PANEL_ORDER, name_metavars
from forecaster.cli.main import app


def _help(runner: CliRunner, *args: str) -> str:
    r = runner.invoke(app, [*args, "--help"])
    assert r.exit_code == 0, r.output
    return r.stdout


def _commands(text: str) -> dict[str, str]:
    """Each command listed in a help text, with its summary (its continuation lines joined)."""
    found: dict[str, str] = {}
    last = None
    section = False
    for line in text.splitlines():
        if re.match(r"^\S.*:$", line):
            section = line not in ("Options:", "Arguments:") and not line.startswith("Usage")
            continue
        m = re.match(r"^  (\S+)\s{2,}(.*)$", line)
        if section and m:
            last = m.group(1)
            found[last] = m.group(2).strip()
        elif section and last and line.startswith("    "):
            found[last] += " " + line.strip()
    return found


def test_root_help_groups_every_command_by_task_with_whole_summaries(runner: CliRunner) -> None:
    text = _help(runner)
    assert "..." not in text
    heads = [line[:-1] for line in text.splitlines() if line in {f"{p}:" for p in PANEL_ORDER}]
    assert heads == list(PANEL_ORDER), heads  # every group, in order
    listed = _commands(text)
    for name in ("init", "info", "event", "indicators", "update", "whatif", "collect", "scenario", "history",
                 "brief", "runs", "priors", "score", "resolve", "resolutions", "export", "db"):
        assert name in listed, name
        assert listed[name].endswith((".", ")")), (name, listed[name])  # a whole sentence, not cut
    set_up = text.split("Set up:")[1].split("Evidence:")[0]
    assert "init" in set_up and "update" not in set_up
    assert "db" in text.split("Team store:")[1]


def test_sub_app_summaries_are_never_cut(runner: CliRunner) -> None:
    for sub in ("event", "priors", "runs", "db", "scenario", "resolutions", "indicators"):
        text = _help(runner, sub)
        assert "..." not in text.split("Options:")[-1].split("Commands:")[-1], sub


def _all_params() -> list[tuple[str, object, str]]:
    root = typer.main.get_command(app)
    out: list[tuple[str, object, str]] = []

    def walk(cmd: object, path: str, ctx: typer.Context) -> None:
        name_metavars(cmd)
        for p in cmd.params:  # type: ignore[attr-defined]
            if isinstance(p, TyperOption) and not (p.is_flag or p.count):
                out.append((f"{path} {max(p.opts, key=len)}", p, p.make_metavar(ctx)))
            elif isinstance(p, TyperArgument):
                out.append((f"{path} {p.name}", p, p.make_metavar(ctx, usage=True)))
        for n in getattr(cmd, "commands", {}):
            sub = cmd.get_command(ctx, n)  # type: ignore[attr-defined]
            walk(sub, f"{path} {n}", typer.Context(sub, parent=ctx, info_name=n))

    walk(root, "forecast", typer.Context(root, info_name="forecast"))
    return out


def test_every_metavar_says_what_it_takes() -> None:
    params = _all_params()
    assert len(params) > 60
    for where, _, metavar in params:
        assert metavar, where
        assert "<" not in metavar and "{" not in metavar, (where, metavar)
        assert metavar not in ("TEXT", "STR", "STRING", "INTEGER", "INT", "FLOAT", "PATH", "DIRECTORY"), (where, metavar)
    named = {where: metavar for where, _, metavar in params}
    assert named["forecast update --as-of"] == "YYYY-MM-DD"
    assert named["forecast update --seed"] == named["forecast update --draws"] == "N"
    assert named["forecast update --events"] == "FILE" and named["forecast --workspace"] == "DIR"
    assert named["forecast whatif reports"] == "[REPORT...]"  # optional since --without (issue 22)
    assert named["forecast event add indicator"] == "INDICATOR"
    assert named["forecast event show report_id"] == "REPORT_ID"
    assert named["forecast priors show node"] == "[NODE]"
    assert named["forecast history --hypothesis"] == named["forecast collect --hypothesis"] == "HYPOTHESIS"


def test_usage_lines_show_no_braces(runner: CliRunner) -> None:
    for args in (["whatif"], ["priors", "diff"], ["event", "add"], ["indicators", "show"], ["init"]):
        usage = _help(runner, *args).splitlines()[0]
        assert "{" not in usage and "<" not in usage, usage
    assert _help(runner, "priors", "diff").splitlines()[0].endswith("OLD_DIR [NEW_DIR]")


def test_init_names_the_import_before_the_update(runner: CliRunner, tmp_path: Path) -> None:
    r = runner.invoke(app, ["init", str(tmp_path / "ws")])
    assert r.exit_code == 0, r.output
    line = next(x for x in r.stderr.splitlines() if x.startswith("next:"))
    assert line.index("event import") < line.index(" update")
    assert "historical_events.yaml" in line and "event add" in line


def test_indicators_and_priors_show_name_their_forms_in_help(runner: CliRunner) -> None:
    text = " ".join(_help(runner, "priors", "show").split())
    assert "--markdown" in text and "--json" in text and "in full" in text and "--hypothesis" in text
    text = " ".join(_help(runner, "indicators").split())
    assert "indicators show ID" in text and "--hypothesis" in text and "--json" in text
