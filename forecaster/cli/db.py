"""`forecast db upgrade|check|copy` (issue 13): looking after the event store, on a file or a
PostgreSQL server. Thin commands over forecaster.store.admin."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from forecaster.cli.common import handle_errors, out, print_json, workspace
from forecaster.cli.helptext import HelpGroup

app = typer.Typer(
    cls=HelpGroup,
    name="db",
    help="The event store itself: migrate a server store, check one, copy one into another.\n\n"
    "Example:  forecast --db postgresql://ana@db.team:5432/forecast db upgrade",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

if TYPE_CHECKING:
    from forecaster.core.workspace import Workspace
    from forecaster.store.backend import Target

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _say(message: str) -> None:
    sys.stderr.write(message + "\n")


def _store(ctx: typer.Context) -> tuple[Path | str | Target, str]:
    """The store these commands look after, and its name for messages: --db or $FORECAST_DB
    alone is enough (no workspace needed to look after a server store); else the workspace's."""
    from forecaster.store.backend import parse_target

    given = (ctx.find_root().obj or {}).get("db") or os.environ.get("FORECAST_DB")
    if given:
        target = parse_target(given)
        return target, target.shown
    ws = workspace(ctx)
    return ws.db, ws.db_shown


def _workspace_or_none(ctx: typer.Context) -> Workspace | None:
    """The workspace, when one is named or found (its priors let `db check` recompute runs)."""
    from forecaster.core.errors import ForecastError

    try:
        return workspace(ctx)
    except ForecastError:
        return None


@app.command()
@handle_errors
def upgrade(ctx: typer.Context) -> None:
    """Migrate the store to this version's schema (a file store migrates itself on open; a
    PostgreSQL store only here, as its owner). Running it again does nothing.

    Example:  forecast --db postgresql://owner@db.team/forecast db upgrade
    """
    from forecaster.store.events import EventStore

    db, shown = _store(ctx)
    with EventStore(db, upgrade=True) as store:
        before, after = store.schema_before, store.schema_version
    if before == after:
        sys.stdout.write(f"{shown}: schema {after}, up to date; nothing to do\n")
    else:
        sys.stdout.write(f"{shown}: migrated from schema {before} to {after}\n")


@app.command()
@handle_errors
def check(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Check the store: the database's integrity, the schema and its append-only triggers, every
    report's content id, every stored date, nothing dangling, every run's draws; with a
    workspace, every run of its priors recomputed from its inputs (a run whose numbers they do
    not give is named); and count what it holds. Exit 1 when a problem is found.

    Example:  forecast db check --json
    """
    from forecaster.workflow.updating import check_store_and_runs

    db, _shown = _store(ctx)
    result = check_store_and_runs(db, _workspace_or_none(ctx))
    if as_json:
        print_json({"store": result.store, "backend": result.dialect, "schema": result.schema, "ok": result.ok,
                    "counts": result.counts, "runs_recomputed": result.runs_checked, "problems": result.problems})
    else:
        out.print(f"{result.store} ({result.dialect}, schema {result.schema})")
        width = max((len(t) for t in result.counts), default=0)
        for table, n in result.counts.items():
            out.print(f"  {table:<{width}} {n:>9,}")
        if result.runs_checked is not None:
            out.print(f"  runs recomputed from their inputs: {result.runs_checked:,}")
        for p in result.problems:
            out.print(f"  problem: {p}")
        out.print("ok" if result.ok else f"{len(result.problems)} problem{'s' if len(result.problems) != 1 else ''}")
    if not result.ok:
        raise typer.Exit(1)


@app.command()
@handle_errors
def copy(
    source: Annotated[str, typer.Argument(metavar="SRC", help="The store to copy: a file, sqlite:///PATH or postgresql://…")],
    destination: Annotated[str, typer.Argument(metavar="DST", help="The store to copy into (created or migrated if need be).")],
    as_json: JsonOpt = False,
) -> None:
    """Copy every report, resolution, retraction and run of SRC into DST, all or nothing; counts and content
    hashes are checked before it commits, and re-running adds nothing.

    Example:  forecast db copy ws/forecast.db postgresql://ana@db.team/forecast
    """
    from forecaster.store.admin import copy_store
    from forecaster.store.events import EventStore

    with EventStore(source) as src, EventStore(destination, upgrade=True) as dst:
        result = copy_store(src, dst)
    if as_json:
        print_json({"source": result.source, "destination": result.destination, "added": result.added,
                    "already": result.already, "tables": [t.__dict__ for t in result.tables]})
        return
    width = max((len(t.table) for t in result.tables), default=0)
    for t in result.tables:
        out.print(f"{t.table:<{width}} {t.source:>9,} in the source  {t.added:>9,} added  {t.already:>9,} there already  sha256 {t.sha256[:16]}")
    there = f"; {result.already} already there (the same content, or a run of the same id)" if result.already else ""
    _say(f"copied {result.added} rows from {result.source} into {result.destination}{there}; counts and hashes agree")


@app.command("grant-analysts")
@handle_errors
def grant_analysts(
    ctx: typer.Context,
    role: Annotated[str, typer.Option("--role", help="The group role analysts' logins join.")] = "forecast_analyst",
) -> None:
    """PostgreSQL: create (if need be) the analysts' group role, which may only read and insert,
    and grant it this store's tables, now and after later migrations. Run as the store's owner;
    then give each analyst a login in it (CREATE ROLE ana LOGIN PASSWORD '…' IN ROLE forecast_analyst).

    Example:  forecast --db postgresql://owner@db.team/forecast db grant-analysts
    """
    import re

    from forecaster.core.errors import UsageError
    from forecaster.store.admin import grant_analysts as grant
    from forecaster.store.events import EventStore

    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", role):
        raise UsageError(f"--role {role!r}: a role name is lower-case letters, digits and _")
    db, shown = _store(ctx)
    with EventStore(db) as store:
        for sql in grant(store, role):
            out.print(sql + ";")
    _say(f"role {role} may now read and insert into {shown}, nothing more")


@app.command("quarantine")
@handle_errors
def quarantine_row(
    ctx: typer.Context,
    table: Annotated[str, typer.Argument(metavar="TABLE", help="reports, resolutions or runs.")],
    key: Annotated[str, typer.Argument(metavar="ID", help="The row's full id (report, resolution or run id), as `db check` names it.")],
    reason: Annotated[str, typer.Option("--reason", help="Why it is taken out of force (kept with it).")],
    analyst: Annotated[str, typer.Option("--analyst", help="Who takes it out (default: $USER).")] = "",
) -> None:
    """Take one stored row out of force, append-only: a row no reader can read (a date like
    2025-02-30 from before the database refused them), or a run that should never have been
    written. It stays in the store, named in the quarantine table with the reason; every reader
    leaves it out from then on and `db check` counts it. The store's owner only (an analyst's
    login may read the quarantine, not add to it).

    Example:  forecast db quarantine reports r-5fbf74dfe9fd --reason "event date 2025-02-30"
    """
    from forecaster.store.admin import quarantine
    from forecaster.store.events import EventStore

    db, shown = _store(ctx)
    with EventStore(db) as store:
        done = quarantine(store, table, key.strip(), reason=reason, who=analyst or os.environ.get("USER", "") or "owner")
    _say(f"{table} row {done} quarantined in {shown}: readers leave it out from now on")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="db")
