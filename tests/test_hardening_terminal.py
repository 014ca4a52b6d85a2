"""Control sequences and markup in user text are shown, never obeyed (issue 12): terminal,
Markdown and HTML; paths with Rich markup print literally."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecaster.cli.main import app
from forecaster.core.text import markdown_text, neutral
from forecaster.core.workspace import Workspace
from forecaster.model.evidence import Report
from forecaster.store.events import EventStore

DATA = Path(__file__).parent / "data"
NASTY = [
    "\x1b[2J\x1b[H",  # clear screen
    "\x1b]52;c;cHduZWQ=\x07",  # OSC 52: write the clipboard
    "\x1b]8;;javascript:alert(1)\x1b\\click\x1b]8;;\x1b\\",  # OSC 8 hyperlink
    "\x9b31m",  # C1 CSI
    "\u202egnp.exe",  # bidi override
    "ok\rin force",  # carriage return
    "\x08\x7f\x00",
]


def _raw(s: str) -> bool:
    """True if s holds a character a terminal would act on."""
    return any(c in s for c in "\x1b\r\x07\x08\x7f\x00\x9b\u202e")


@pytest.mark.parametrize("text", NASTY)
def test_neutral_leaves_nothing_a_terminal_acts_on(text: str) -> None:
    shown = neutral(text)
    assert not _raw(shown) and neutral(shown) == shown
    assert "\n" in neutral("a\nb") and "^J" in neutral("a\nb", newlines=False)


def _stored_with(ws: Workspace, text: str) -> str:
    """A report and a retraction carrying `text`, written past the API's checks (an old store, or sqlite3)."""
    with EventStore(ws.db_path) as store:
        r = store.add(Report("north_kosovo_unrest", dt.date(2025, 3, 18), True, "B", 2, "Reuters"), analyst="ana")
    raw = sqlite3.connect(ws.db_path)
    raw.execute("DROP TRIGGER reports_no_update")  # only to plant the text, as an older tool might have
    raw.execute("UPDATE reports SET source = ?, note = ?, analyst = ?", (f"src{text}", f"note{text}", f"ana{text}"))
    raw.execute(
        "INSERT INTO retractions (report_id, reason, retracted_at, retracted_by) VALUES (?, ?, ?, ?)", (r.id, f"misread\r{text}\rstatus      in force", "2099-01-01T00:00:00.000000Z", "bo")
    )
    raw.commit()
    raw.close()
    return r.id or ""


@pytest.mark.parametrize("text", NASTY)
def test_event_show_list_and_json_never_pass_control_characters(runner: CliRunner, ws: Workspace, text: str) -> None:
    rid = _stored_with(ws, text)
    show = runner.invoke(app, ["event", "show", rid])
    assert show.exit_code == 0, show.output
    assert not _raw(show.stdout)
    status = [line for line in show.stdout.splitlines() if line.startswith("status")]
    assert len(status) == 1 and status[0].startswith("status       RETRACTED")
    for args in (["event", "list", "--include-retracted"], ["event", "list", "--include-retracted", "--json"], ["event", "show", rid, "--json"]):
        r = runner.invoke(app, args)
        assert r.exit_code == 0 and not _raw(r.stdout), (args, r.stdout)
    data = json.loads(runner.invoke(app, ["event", "show", rid, "--json"]).stdout)
    assert data["note"] == f"note{text}"  # JSON keeps the text exactly, escaped


def test_a_cr_typed_now_is_a_line_break_not_an_overwrite(runner: CliRunner, ws: Workspace) -> None:
    with EventStore(ws.db_path) as store:
        r = store.add(Report("north_kosovo_unrest", dt.date(2025, 3, 18), True, "B", 2, "Reuters"), analyst="ana")
        store.retract(r.id or "", "wrong\rin force", "bo")
    show = runner.invoke(app, ["event", "show", r.id or ""])
    assert "\r" not in show.stdout and "RETRACTED" in show.stdout


@pytest.mark.parametrize("name", ["ws[/]x", "ws[link=javascript:alert(1)]y[/link]", "ws[bold]z", "ws:smile:"])
def test_paths_with_rich_markup_print_literally(runner: CliRunner, tmp_path: Path, name: str) -> None:
    target = tmp_path / name
    r = runner.invoke(app, ["init", str(target)])
    assert r.exit_code == 0, r.output
    assert str(target.resolve()) in r.stdout and "Traceback" not in r.output
    bad = runner.invoke(app, ["-w", str(tmp_path / f"{name}-missing"), "info"])
    assert bad.exit_code == 2 and f"{name}-missing" in bad.stderr


def test_markdown_text_makes_html_and_links_inert() -> None:
    for evil in ("<img src=x onerror=alert(1)>", "[click](javascript:alert(1))", "<javascript:alert(1)>", "![x](http://t/p.png)"):
        md = markdown_text(evil)
        assert "<" not in md.replace("\\<", "") and "](" not in md.replace("\\](", "")


def test_priors_show_and_audit_markdown_escape_expert_text(runner: CliRunner, tmp_path: Path) -> None:
    folder = shutil.copytree(DATA / "mini", tmp_path / "mini")
    f = folder / "experts" / "analyst_a.yaml"
    evil = r'"<img src=x onerror=alert(1)> [x](javascript:alert(1)) \e]52;c;AAAA\a"'
    f.write_text(f.read_text(encoding="utf-8").replace("rationale: r,", f"rationale: {evil},", 1), encoding="utf-8")
    for cmd in (["priors", "show", "--markdown"], ["priors", "audit", "--markdown"]):
        r = runner.invoke(app, [*cmd, "--priors", str(folder)])
        assert "Traceback" not in r.output, r.output
        inert = r.stdout.replace("\\<", "").replace("\\](", "")  # backslash-escaped: literal in Markdown
        assert "<img" not in inert and "](javascript:" not in inert and not _raw(r.stdout), r.stdout[:2000]
    shown = runner.invoke(app, ["priors", "show", "--markdown", "--priors", str(folder)]).stdout
    assert "onerror" in shown  # shown as text, not dropped


def _plant_recent(ws: Workspace, text: str) -> None:
    """A report in the evidence window whose source and note carry `text` (planted past the API)."""
    day = dt.date.today()  # in this week: the brief lists it
    with EventStore(ws.db_path) as store:
        store.add(Report("north_kosovo_unrest", day, True, "B", 2, "Reuters"), analyst="ana")
    raw = sqlite3.connect(ws.db_path)
    raw.execute("DROP TRIGGER reports_no_update")
    raw.execute("UPDATE reports SET source = ?, note = ?", (f"src[/]{text}", f"note[bold]{text}"))
    raw.commit()
    raw.close()


@pytest.mark.parametrize("text", NASTY)
def test_machine_formats_on_stdout_never_pass_control_characters(runner: CliRunner, ws: Workspace, text: str) -> None:
    _plant_recent(ws, text)
    for args in (["event", "list", "--csv"], ["event", "export"], ["event", "export", "--format", "yaml"],
                 ["event", "export", "--format", "json"], ["history", "--json"], ["history", "--csv"]):
        r = runner.invoke(app, args)
        assert r.exit_code == 0 and not _raw(r.stdout), (args, r.output)
    exported = json.loads(runner.invoke(app, ["event", "export", "--format", "json"]).stdout)
    assert exported["reports"][0]["source"] == f"src[/]{text}"  # JSON: the same text, escaped


@pytest.mark.parametrize("text", NASTY)
def test_brief_files_show_control_characters(runner: CliRunner, ws: Workspace, text: str) -> None:
    _plant_recent(ws, text)
    r = runner.invoke(app, ["brief", "--exact"])
    assert r.exit_code == 0, r.output
    files = {f.suffix: f for f in ws.briefs_dir.iterdir() if f.suffix in (".md", ".html", ".json")}
    assert set(files) == {".md", ".html", ".json"}
    for f in files.values():
        assert not _raw(f.read_text(encoding="utf-8")), f.name
    data = json.loads(files[".json"].read_text(encoding="utf-8"))
    assert data["reports"]["new"][0]["source"] == f"src[/]{text}"  # the same text, escaped


def test_rich_tables_print_user_text_literally(runner: CliRunner, ws: Workspace) -> None:
    f = ws.root / "scenarios" / "kfor_drawdown.yaml"
    evil = "KFOR [/] [link=javascript:alert(1)]x[/link] [bold]y :smile: \\x1b]52;c;AAAA\\x07\\x1b[2J"
    text = f.read_text(encoding="utf-8").replace('"Signals of a US or KFOR drawdown"', f'"{evil}"', 1)
    f.write_text(text, encoding="utf-8")
    r = runner.invoke(app, ["scenario", "list"])
    assert r.exit_code == 0 and "Traceback" not in r.output, r.output
    assert "[/]" in r.stdout and "[link=javascript:alert(1)]" in r.stdout and ":smile:" in r.stdout
    assert not _raw(r.stdout) and "^[" in r.stdout


def test_the_safe_console_neutralises_every_segment() -> None:
    import io

    from rich.table import Table
    from rich.text import Text

    from forecaster.cli.console import SafeConsole

    buf = io.StringIO()
    console = SafeConsole(file=buf, width=200, force_terminal=True, color_system="standard", highlight=False)
    t = Table("a")
    t.add_row("x\x1b[2J[/]\x9b31m\u202e")
    console.print(t)
    console.print(Text("raw \x1b[2J Text"))
    console.print("[red]plain[/] \x1b]52;c;AAAA\x07 :smile:")
    console.print("[red]asked for[/]", markup=True, style="bold")
    out = buf.getvalue()
    assert "[/]" in out and ":smile:" in out and "^[" in out and "\\u202e" in out
    assert "\x1b[2J" not in out and "\x9b" not in out and "\x07" not in out and "\x1b]52" not in out
    assert "x^[[2J[/]\\u009b31m\\u202e" in out  # the cell is measured as shown: nothing cut
    assert "\x1b[" in out  # Rich's own styling still reaches a terminal
