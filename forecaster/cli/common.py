"""Shared pieces of the command layer: consoles, workspace lookup, error mapping."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import typer
from rich.markup import escape

from forecaster.cli import failures
from forecaster.cli.console import SafeConsole, write_json_text
from forecaster.core.errors import ForecastError, UsageError
from forecaster.core.files import check_not_special
from forecaster.core.text import hide_secrets, quoted
from forecaster.core.workspace import Workspace, find_workspace


def _width() -> int | None:
    """Piped or captured output keeps the table layout: $COLUMNS, else 120, not Rich's 80."""
    if sys.stdout.isatty():
        return None
    try:
        return max(60, int(os.environ.get("COLUMNS", "120")))
    except ValueError:
        return 120


# Safe consoles (cli.console): user text and paths print literally, control characters shown.
out = SafeConsole(highlight=False, soft_wrap=False, width=_width())
# On a terminal Rich wraps to the window; piped or captured, a line stays one line (a warning or
# an error is never broken at 80 columns: `grep warning:` sees all of it).
err = SafeConsole(stderr=True, highlight=False, soft_wrap=not sys.stderr.isatty())


def say(message: str) -> None:
    """One line of progress on stderr (e.g. a first run's compilation), never wrapped."""
    err.print(message, markup=False, highlight=False, soft_wrap=True, style="dim" if err.is_terminal else None)


def warn(message: str) -> None:
    """One warning line on stderr: never wrapped, never read as Rich markup."""
    err.print(f"warning: {message}", markup=False, highlight=False, soft_wrap=True,
              style="yellow" if err.is_terminal else None)

F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(fn: F) -> F:
    """Turn a ForecastError into one line on stderr and its exit code; never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            result = fn(*args, **kwargs)
            _unreadable_rows()
            return result
        except ForecastError as e:
            _unreadable_rows()  # hide_secrets: no store password in any error line (issue 20)
            err.print(f"[bold red]error:[/] {escape(hide_secrets(str(e)))}", markup=True, highlight=False, soft_wrap=True)
            raise typer.Exit(code=e.exit_code) from None
        except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM/SIGHUP during a run (inference.interrupt)
            err.print(f"interrupted{f' ({e})' if str(e) else ''}; nothing recorded", markup=False)
            raise typer.Exit(code=getattr(e, "exit_code", 130)) from None
        except (typer.Exit, SystemExit):
            raise
        except BrokenPipeError:  # `forecast … | head`: the reader has gone; stop quietly, as cat does
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
            raise typer.Exit(code=1) from None  # as Click itself does on EPIPE
        except Exception as e:  # never a traceback: one line and an exit code (cli.failures)
            if failures.debugging():
                raise
            message, code = failures.failure(e)
            err.print(f"[bold red]error:[/] {escape(hide_secrets(message))}", markup=True, highlight=False, soft_wrap=True)
            raise typer.Exit(code=code) from None

    return wrapper  # type: ignore[return-value]


def _unreadable_rows() -> None:
    """Name every stored row a reader left out because it cannot read it (issue 20), once each."""
    records = sys.modules.get("forecaster.store.records")  # loaded only when a store was read
    for line in records.take_unreadable() if records is not None else ():
        err.print(f"warning: {hide_secrets(line)}", markup=False, highlight=False, soft_wrap=True)


def interactive() -> bool:
    """Someone at a terminal (stdin or stderr is one); cron, pipes and CI are not."""
    for stream in (sys.stdin, sys.stderr):
        try:
            if stream is not None and stream.isatty():
                return True
        except (AttributeError, ValueError):
            continue
    return False


def workspace(ctx: typer.Context) -> Workspace:
    """The workspace named by the global options (see `forecast --help`). Without a terminal the
    user-data default is never created: a cron job with no workspace stops with exit 2."""
    root = ctx.find_root()
    obj = root.obj or {}
    ws = find_workspace(obj.get("workspace"), db=obj.get("db"), create_default=interactive())
    if isinstance(ws.db, Path):  # a server store has no file
        check_not_special(ws.db, what="event store file", hint="choose another --db")  # a FIFO would hang
    return ws


def as_of_date(value: str | None) -> dt.date:
    """--as-of: an ISO date not in the future; today when absent."""
    if value is None:
        return dt.date.today()
    from forecaster.core.errors import EvidenceError, UsageError
    from forecaster.model.evidence import check_date

    try:
        return check_date(value)
    except EvidenceError as e:
        raise UsageError(f"--as-of: {e}") from None


def date_option(value: str | None, option: str) -> dt.date | None:
    """An optional ISO date option (--since, --until)."""
    if value is None:
        return None
    from forecaster.core.errors import EvidenceError, UsageError
    from forecaster.model.evidence import check_year

    try:
        return check_year(dt.date.fromisoformat(value.strip()))
    except ValueError:
        raise UsageError(f"{option} {quoted(value)} is not an ISO date (YYYY-MM-DD)") from None
    except EvidenceError as e:
        raise UsageError(f"{option}: {e}") from None


def print_json(data: Any) -> None:
    write_json_text(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


def analyst_name(given: str | None) -> str:
    """--analyst (or --by): the name given, stripped, else the OS user name; empty refused."""
    import getpass

    if given is not None:
        if not given.strip():
            raise UsageError("--analyst is empty; give a name or leave the option out to use your OS user name")
        return given.strip()
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        raise UsageError("cannot tell who you are from the OS; pass --analyst NAME") from None


def is_terminal() -> bool:
    return sys.stderr.isatty()


WorkspaceOpt = typer.Option(None, "--workspace", "-w", help="Workspace folder (default: $FORECAST_WORKSPACE, the current folder if it holds priors/, else the user-data workspace).", file_okay=False)
DbOpt = typer.Option(None, "--db", metavar="PATH|URL", help="Event store: a file, sqlite:///PATH or postgresql://user@host:port/dbname (default: $FORECAST_DB, else forecast.db in the workspace).")
__all__ = ["out", "err", "say", "warn", "handle_errors", "workspace", "print_json", "is_terminal", "Path"]

SamplerOpt = Annotated[
    Optional[str],
    typer.Option(
        "--sampler", metavar="iid|nuts",
        help="iid (default): exact posterior draws, checked against the PyMC model; nuts: PyMC's NUTS on the same model.",
        show_default=False,
    ),
]
TargetAcceptOpt = Annotated[
    Optional[float],
    typer.Option("--target-accept", min=0.5, max=0.999, help="NUTS only: step-size adaptation target (default 0.8).", show_default=False),
]
DrawsOpt = Annotated[int | None, typer.Option("--draws", min=100, max=100_000, help="Draws per chain.", show_default=False)]
TuneOpt = Annotated[
    int | None, typer.Option("--tune", min=100, max=100_000, help="NUTS only: tuning steps per chain.", show_default=False)
]
ChainsOpt = Annotated[int | None, typer.Option("--chains", min=1, max=8, help="Chains.", show_default=False)]


def sampler_options(
    *, draws: int | None, tune: int | None, chains: int | None, sampler: str | None, target_accept: float | None = None,
    exact: bool = False,
) -> dict[str, Any]:
    """The sampler options given on the command line, checked together: --exact takes none, and
    --tune and --target-accept tune NUTS: without --sampler nuts they are ignored, with a warning
    (the exact draws need no tuning)."""
    given = {"draws": draws, "tune": tune, "chains": chains, "sampler": sampler, "target_accept": target_accept}
    chosen = {k: v for k, v in given.items() if v is not None}
    if exact and chosen:
        raise UsageError("--exact takes no --sampler, --draws, --tune, --chains or --target-accept")
    if sampler is not None:
        from forecaster.inference.settings import SamplerSettings

        SamplerSettings(sampler=sampler)  # its own check of the name, before any work
    nuts_only = [k for k in ("tune", "target_accept") if k in chosen]
    if nuts_only and sampler != "nuts":
        names = " and ".join(f"--{k.replace('_', '-')}" for k in nuts_only)
        warn(f"{names} ignored: {'it tunes' if len(nuts_only) == 1 else 'they tune'} NUTS (--sampler nuts); the default exact draws need no tuning")
        chosen = {k: v for k, v in chosen.items() if k not in nuts_only}
    return chosen
