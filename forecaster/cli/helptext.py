"""How `--help` reads (issue 21): every command's summary whole (Click cuts it at the first period
or the terminal's width, with `...`), the commands grouped by task, and metavars that say what an
option takes (`N`, `FILE`, `DIR`, `HYPOTHESIS`) instead of `<int>`, `<str>` or `{indicator}`.

`HelpGroup` is the Typer group class of the root app and every sub-app. A command names its group
with Typer's `rich_help_panel`; the root's commands that do not are placed by `PANELS`."""

from __future__ import annotations

import functools
import inspect
import re
from typing import Any

import typer.core
from typer.core import TyperArgument, TyperOption

#: The root's groups, in the order `forecast --help` lists them.
PANEL_ORDER = ("Set up", "Evidence", "Forecasting", "Runs and briefs", "Review", "Team store")
PANELS = {
    "init": "Set up", "new": "Set up", "info": "Set up",
    "event": "Evidence", "indicators": "Evidence",
    "update": "Forecasting", "whatif": "Forecasting", "collect": "Forecasting", "scenario": "Forecasting",
    "history": "Runs and briefs", "brief": "Runs and briefs", "runs": "Runs and briefs",
    "priors": "Review", "export": "Review", "resolve": "Review", "resolutions": "Review", "score": "Review",
    "db": "Team store",
}

#: The root's one-line summaries, where a command's own first paragraph says more than a line.
SUMMARIES = {
    "indicators": "The indicator catalogue; `indicators show ID` for one in full.",
    "event": "The evidence log: add, list, retract and import graded reports.",
    "update": "Update the forecast on the reports in the evidence window.",
    "whatif": "The forecast if these reports came in (nothing recorded).",
    "collect": "What to collect next: indicators ranked by information.",
    "scenario": "Named sets of hypothetical reports, run beside the forecast.",
    "history": "How the forecast moved: one row per recorded run.",
    "brief": "Write the period's brief: Markdown, HTML, JSON and a chart.",
    "runs": "The run log: list, show, export and prune recorded runs.",
    "export": "Export the network for pyAgrum, pgmpy or GeNIe (BIF or XMLBIF).",
    "resolve": "Record which state of a hypothesis held over a period.",
    "score": "Score recorded forecasts against the resolutions.",
    "priors": "The priors: show, validate, audit and diff them.",
    "resolutions": "What happened: list, import and retract resolutions.",
    "db": "The event store itself: upgrade, check, copy, grant analysts.",
}

# Option names whose value a word names better than the option's own name.
_WORDS = {"events": "FILE", "output": "FILE", "seed": "N", "target-accept": "P", "max-age-days": "DAYS",
          "analyst": "NAME", "reliability": "A-F", "credibility": "1-6"}


def summary(cmd: Any, name: str = "") -> str:
    """A command's summary, whole: its short_help, else `SUMMARIES`', else its help's first paragraph."""
    text = cmd.short_help or SUMMARIES.get(name)
    if not text:
        paragraph = " ".join(inspect.cleandoc(cmd.help or "").split("\n\n")[0].replace("\b", "").split())
        text = re.split(r"(?<=[a-z0-9)\]`'])\.\s+(?=[A-Z`(])", paragraph, maxsplit=1)[0]
        text = text if text.endswith((".", "?", "!")) or not text else text + "."
    return " ".join(text.split())


def _option_metavar(param: TyperOption) -> str | None:
    """What an option without a metavar of its own takes, in a word (None: leave Click's)."""
    kind = param.type
    if param.is_flag or param.count or hasattr(kind, "choices"):
        return None
    long_name = max(param.opts, key=len).lstrip("-")
    if long_name in _WORDS:
        return _WORDS[long_name]
    if hasattr(kind, "file_okay"):  # a path
        files, dirs = getattr(kind, "file_okay", True), getattr(kind, "dir_okay", True)
        return "DIR" if not files else "FILE" if not dirs else "PATH"
    if kind.name.startswith(("int", "integer")):
        return "N"
    if kind.name.startswith("float"):
        return "X"
    return long_name.replace("-", "_").upper()


def _argument_metavar(param: TyperArgument, ctx: Any = None, *, usage: bool = False) -> str:
    """An argument as its metavar, `[NAME]` when optional; `NAME...` for several; never `{name}`."""
    var = (param.metavar or param.name or "").upper()
    if param.nargs != 1:
        var += "..."
    return f"[{var}]" if usage and not param.required else var


def name_metavars(cmd: Any) -> Any:
    """Give `cmd`'s parameters the metavars this module's doc describes (once; idempotent)."""
    if getattr(cmd, "_metavars_named", False):
        return cmd
    for param in cmd.params:
        if isinstance(param, TyperOption) and param.metavar is None:
            param.metavar = _option_metavar(param)
        elif isinstance(param, TyperArgument):
            param.make_metavar = functools.partial(_argument_metavar, param)  # type: ignore[method-assign]
    cmd._metavars_named = True  # type: ignore[attr-defined]
    return cmd


class HelpGroup(typer.core.TyperGroup):
    """A Typer group whose help lists whole summaries, grouped, and names its metavars."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        name_metavars(self)
        self.subcommand_metavar = "COMMAND [ARGS]"  # Click's `COMMAND [ARGS]...`: no `...` anywhere in help

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        cmd = super().get_command(ctx, cmd_name)
        return name_metavars(cmd) if cmd is not None else None

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        groups: dict[str, list[tuple[str, str]]] = {}
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is None or cmd.hidden:
                continue
            panel = getattr(cmd, "rich_help_panel", None) or (PANELS.get(name) if ctx.parent is None else None)
            root = ctx.parent is None
            groups.setdefault(panel or "Commands", []).append((name, summary(cmd, name if root else "")))
        order = [p for p in PANEL_ORDER if p in groups] + [p for p in groups if p not in PANEL_ORDER]
        width = max((len(name) for rows in groups.values() for name, _ in rows), default=0)
        for panel in order:  # one name column across the groups
            with formatter.section(panel):
                formatter.write_dl([(name.ljust(width), text) for name, text in groups[panel]])
