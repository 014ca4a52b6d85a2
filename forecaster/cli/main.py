"""The `forecast` command: global options and the command tree."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from forecaster import __version__
from forecaster.cli.common import err, handle_errors, out
from forecaster.cli.helptext import HelpGroup

app = typer.Typer(
    cls=HelpGroup,
    name="forecast",
    help=(
        "Scenario forecaster for Balkan security analysts: expert priors, graded reports, "
        "a Bayesian network.\n\n"
        "Example:  forecast init ./ws && forecast -w ./ws update"
    ),
    no_args_is_help=True,
    add_completion=True,  # `forecast --install-completion` / `--show-completion SHELL`; sub-apps inherit it
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        out.print(f"forecast {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    workspace_dir: Annotated[
        Optional[Path],
        typer.Option(
            "--workspace", "-w", file_okay=False,
            help="Workspace folder (default: $FORECAST_WORKSPACE, else the current folder if it holds priors/, else the user-data workspace).",
        ),
    ] = None,
    db: Annotated[
        Optional[str],
        typer.Option(
            "--db", metavar="PATH|URL",
            help="Event store: a file, sqlite:///PATH or postgresql://user@host:port/dbname (default: $FORECAST_DB, else forecast.db in the workspace).",
        ),
    ] = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    ctx.obj = {"workspace": workspace_dir, "db": db}


@app.command()
@handle_errors
def init(
    directory: Annotated[Path, typer.Argument(file_okay=False, metavar="DIR", help="Folder to create the workspace in.")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite bundled files already there.")] = False,
) -> None:
    """Create a workspace from the bundled priors and scenarios.

    Example:  forecast init ./balkans
    """
    from forecaster.core.workspace import init_workspace

    ws = init_workspace(directory, force=force)
    from forecaster.workflow.panel import close_bundled_round; close_bundled_round(ws)  # noqa: E702, I001 - round 1 (issue 23)
    out.print(f"workspace created at {ws.root}")
    history = Path(directory) / "scenarios" / "historical_events.yaml"
    first = (f"forecast -w {directory} event import {history} (or `event add` for one report)" if history.is_file()
             else f"forecast -w {directory} event add INDICATOR --date DATE --grade B2 --source SOURCE")
    err.print(f"next: {first}, then forecast -w {directory} update",
              markup=False, highlight=False, soft_wrap=True)


def run() -> None:
    """The `forecast` entry point (the same name, and completion variable _FORECAST_COMPLETE,
    however started). A bad option or argument is one line on stderr and exit 2, like every other
    bad input (no usage block), so cron mail and scripts see one line; `forecast` or `forecast
    event` alone still shows the help."""
    _quiet_third_party_warnings()
    try:
        _dispatch()
        code: int | str | None = 0
    except SystemExit as e:
        code = e.code  # type: ignore[assignment]
    _leave(code)


def _quiet_third_party_warnings() -> None:
    """Libraries' notices (ArviZ's FutureWarning about its refactor, NumPy or PyTensor deprecations)
    are for their developers, not for an analyst mid-run; a run's own warnings are its diagnostics,
    printed once in its summary. FORECAST_DEBUG=1 shows them all."""
    import os
    import warnings

    if os.environ.get("FORECAST_DEBUG") != "1":
        for category in (FutureWarning, DeprecationWarning, PendingDeprecationWarning, UserWarning, RuntimeWarning):
            warnings.filterwarnings("ignore", category=category)


def _leave(code: int | str | None) -> None:
    """Exit with `code`. After a sampled run PyMC, PyTensor and ArviZ are loaded, and tearing the
    interpreter down (freeing thousands of module objects) costs ~0.9 s that nobody needs: then
    the output is flushed, the atexit handlers run as usual, and the process ends at once."""
    import sys

    if "pymc" not in sys.modules:
        sys.exit(code)
    import atexit
    import os

    status = code if isinstance(code, int) else (0 if code is None else 1)
    if isinstance(code, str):
        sys.stderr.write(code + "\n")
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, OSError, ValueError):  # a closed pipe (forecast … | head): stop quietly
            status = status or 1
    atexit._run_exitfuncs()
    os._exit(status)


def _dispatch() -> None:
    import sys

    try:
        from typer._click.exceptions import ClickException  # typer >= 0.2x vendors click
    except ImportError:  # pragma: no cover - older typer: click itself
        from click.exceptions import ClickException  # type: ignore[no-redef]

    try:
        rc = app(prog_name="forecast", standalone_mode=False)
    except ClickException as e:
        if type(e).__name__ == "NoArgsIsHelpError":
            sys.stderr.write(e.format_message() + "\n")
            sys.exit(e.exit_code)
        ctx = getattr(e, "ctx", None)
        where = ctx.command_path if ctx is not None and getattr(ctx, "command_path", None) else "forecast"
        err.print(f"error: {' '.join(e.format_message().split())} ({where} -h for help)",
                  markup=False, highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except (typer.Abort, EOFError, KeyboardInterrupt):  # Ctrl-C or end of input outside a command
        err.print("aborted", markup=False, highlight=False)
        sys.exit(130)
    sys.exit(rc if isinstance(rc, int) else 0)


def _register() -> None:
    """Sub-apps and commands that live in their own modules."""
    from forecaster.cli import core, event

    core.register(app)
    event.register(app)
    from forecaster.cli import indicators; indicators.register(app)  # noqa: E702, I001
    from forecaster.cli import amend; amend.register(event.app)  # noqa: E702, I001  (issue 21: `event amend`)
    from forecaster.cli import priors as priors_cli; app.add_typer(priors_cli.app, name="priors")  # noqa: E702, I001
    from forecaster.cli import runs as runs_cli; runs_cli.register(app)  # noqa: E702, I001
    from forecaster.cli import db as db_cli; db_cli.register(app)  # noqa: E702, I001
    from forecaster.cli import scenario  # noqa: I001
    app.add_typer(scenario.app, name="scenario")
    app.command("whatif")(scenario.whatif)
    app.command("collect")(scenario.collect)
    from forecaster.cli import resolutions, score  # noqa: I001
    resolutions.register(app)
    score.register(app)
    from forecaster.cli import panel as panel_cli; app.add_typer(panel_cli.app, name="panel")  # noqa: E702, I001


_register()
