"""The `forecast` command: global options and the command tree."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from forecaster import __version__
from forecaster.cli.common import err, handle_errors, out

app = typer.Typer(
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
    directory: Annotated[Path, typer.Argument(file_okay=False, help="Folder to create the workspace in.")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite bundled files already there.")] = False,
) -> None:
    """Create a workspace from the bundled priors and scenarios.

    Example:  forecast init ./balkans
    """
    from forecaster.core.workspace import init_workspace

    ws = init_workspace(directory, force=force)
    out.print(f"workspace created at {ws.root}")
    err.print(f"next: forecast -w {directory} update")


def run() -> None:
    app(prog_name="forecast")  # the same name (and completion variable, _FORECAST_COMPLETE) however started


def _register() -> None:
    """Sub-apps and commands that live in their own modules."""
    from forecaster.cli import core, event

    core.register(app)
    event.register(app)
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


_register()
