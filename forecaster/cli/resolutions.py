"""`forecast resolve` and `forecast resolutions list/retract/import` (issue 14): which state of a
hypothesis held over a period, recorded append-only in the event store.

Thin commands over forecaster.store.resolutions. A bad input is refused with one line on stderr
and exit 2, and nothing is written."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer

from forecaster.cli import console
from forecaster.cli.common import analyst_name, err, handle_errors, out, print_json, workspace
from forecaster.cli.helptext import HelpGroup
from forecaster.core.errors import UsageError
from forecaster.outputs.columns import never_cut

app = typer.Typer(
    cls=HelpGroup,
    name="resolutions",
    help=(
        "Resolutions: which state of each hypothesis held over a stated period (MODEL.md §6), "
        "the ground truth `forecast score` scores forecasts against.\n\n"
        "Example:  forecast resolutions import scenarios/resolutions.yaml && forecast resolutions list"
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

AnalystOpt = Annotated[
    str | None, typer.Option("--analyst", help="Who resolves it (default: your OS user name).", show_default=False)
]


def _say(message: str) -> None:
    err.print(message, markup=False, highlight=False, soft_wrap=True)


def _hypotheses(ctx: typer.Context) -> tuple[Any, dict[str, tuple[str, ...]]]:
    from forecaster.model.loading import load_priors
    from forecaster.store.resolutions import states_of

    ws = workspace(ctx)
    return ws, states_of(load_priors(ws.priors_dir))


@handle_errors
def resolve(
    ctx: typer.Context,
    hypothesis: Annotated[str, typer.Argument(help="Hypothesis id (see `forecast priors show`).", show_default=False)],
    state: Annotated[str, typer.Argument(help="The state that held over the whole period.", show_default=False)],
    start: Annotated[
        str | None, typer.Option("--from", metavar="YYYY-MM-DD", help="First day of the period, YYYY-MM-DD.", show_default=False)
    ] = None,
    end: Annotated[
        str | None,
        typer.Option("--to", metavar="YYYY-MM-DD", help="Last day of the period, YYYY-MM-DD (inclusive; not in the future).",
                     show_default=False),
    ] = None,
    rationale: Annotated[
        str | None,
        typer.Option("--rationale", help="Why this state held, against the hypothesis's resolution criteria (required).",
                     show_default=False),
    ] = None,
    source: Annotated[
        str | None, typer.Option("--source", help="The citation or source it rests on (required).", show_default=False)
    ] = None,
    analyst: AnalystOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the recorded resolution as JSON.")] = False,
) -> None:
    """Record which state of a hypothesis held from --from to --to, and print its id.

    A forecast as of d (horizon H months, priors/network.yaml) is scored once one resolution
    covers [d, d + H]. Refused, with nothing written: an unknown hypothesis or state, --to before
    --from or in the future, a date that does not exist, an empty rationale or source, and a
    period overlapping a resolution in force of the same hypothesis that names another state
    (retract that one first). An identical resolution is recorded once.

    Example:  forecast resolve escalation grey_zone --from 2023-01-01 --to 2026-03-12 --rationale "Banjska, RS laws; no annexation" --source "000_44e76504c81b55c5.txt, fn 40"
    """
    from forecaster.store.events import EventStore
    from forecaster.store.resolutions import (
        AlreadyRecorded,
        Resolution,
        StoredResolution,
        add_resolution,
        resolution_to_row,
    )

    d0, d1, rationale, source = _resolve_options(start, end, rationale, source)
    ws, hyps = _hypotheses(ctx)
    who = analyst_name(analyst)
    res = Resolution(hypothesis, state, d0, d1, rationale, source)
    with EventStore(ws.db) as store:
        try:
            stored = add_resolution(store, res, analyst=who, hypotheses=hyps)
            entry = StoredResolution(stored)
        except AlreadyRecorded as e:
            if e.existing.retracted:
                raise
            entry = e.existing
            _say(f"already recorded as {entry.id} by {entry.resolution.analyst}; nothing added")
    if as_json:
        print_json(resolution_to_row(entry))
    else:
        console.write_out(f"{entry.id}\n")


def _resolve_options(
    start: str | None, end: str | None, rationale: str | None, source: str | None
) -> tuple[dt.date, dt.date, str, str]:
    """`resolve`'s period, rationale and source checked: both dates given and in order, no empty text."""
    if start is None or end is None:
        raise UsageError("--from and --to are required: the period over which the state held, YYYY-MM-DD")
    d0, d1 = _option_date(start, "--from"), _option_date(end, "--to")
    if d1 < d0:
        raise UsageError(f"--to {d1.isoformat()} is before --from {d0.isoformat()}")
    if rationale is None or not rationale.strip():
        raise UsageError("--rationale is required and must not be empty: say why this state held")
    if source is None or not source.strip():
        raise UsageError("--source is required and must not be empty: cite where that is documented")
    return d0, d1, rationale, source


def _option_date(value: str, option: str) -> dt.date:
    from forecaster.store.resolutions import ResolutionError, parse_date

    try:
        return parse_date(value, option)
    except ResolutionError as e:
        raise UsageError(str(e)) from None


@app.command("list")
@handle_errors
def list_(
    ctx: typer.Context,
    hypothesis: Annotated[
        str | None, typer.Option("--hypothesis", "-H", metavar="HYPOTHESIS", help="Only this hypothesis.", show_default=False)
    ] = None,
    include_all: Annotated[bool, typer.Option("--all", help="Retracted resolutions too, marked.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """List the resolutions in force (with --all, retracted ones too), by hypothesis and period.

    Example:  forecast resolutions list --all --json
    """
    from rich.table import Table
    from rich.text import Text

    from forecaster.store.events import EventStore
    from forecaster.store.resolutions import list_resolutions, resolution_to_row

    ws = workspace(ctx)
    with EventStore(ws.db) as store:
        entries = list_resolutions(store, hypothesis=hypothesis, include_retracted=include_all)
    if as_json:
        print_json([resolution_to_row(e) for e in entries])
        return
    if not entries:
        _say("no resolutions" + ("" if include_all else " in force (--all shows retracted ones)"))
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name, kw in (("id", {"no_wrap": True}), ("hypothesis", {"no_wrap": True}), ("state", {"no_wrap": True}),
                     ("from", {"no_wrap": True}), ("to", {"no_wrap": True}), ("source", {"ratio": 1}),
                     ("analyst", {})):
        table.add_column(name, **kw)
    if include_all:
        table.add_column("status", no_wrap=True)
    for e in entries:
        r = e.resolution
        cells = [e.id, r.hypothesis, r.state, r.start.isoformat(), r.end.isoformat(), " ".join(r.source.split()),
                 r.analyst]
        if include_all:
            cells.append("retracted" if e.retracted else "in force")
        table.add_row(*(Text(c) for c in cells))
    out.print(never_cut(table, 0))


@app.command()
@handle_errors
def retract(
    ctx: typer.Context,
    resolution_id: Annotated[
        str, typer.Argument(metavar="RESOLUTION_ID", help="Resolution id, or a unique prefix of it.", show_default=False)
    ],
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why it is withdrawn (required).", show_default=False)
    ] = None,
    analyst: AnalystOpt = None,
) -> None:
    """Withdraw a resolution. It stays in the store, marked, and its forecasts are no longer scored.

    A correction is a retraction plus a new resolution (`forecast resolve`).

    Example:  forecast resolutions retract res-3fa2c91b07e4 --reason "misdated: the pact was signed in 2025"
    """
    from forecaster.store.events import EventStore
    from forecaster.store.resolutions import retract_resolution

    if reason is None or not reason.strip():
        raise UsageError("--reason is required and must not be empty: say why the resolution is withdrawn")
    who = analyst_name(analyst)
    with EventStore(workspace(ctx).db) as store:
        t = retract_resolution(store, resolution_id, reason=reason, who=who)
    console.write_out(f"retracted {t.resolution_id}\n")


@app.command("import")
@handle_errors
def import_(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(metavar="FILE", help="YAML (a 'resolutions:' list) or CSV with a header row.", dir_okay=False,
                       show_default=False),
    ],
    analyst: AnalystOpt = None,
) -> None:
    """Import resolutions from a file: all of them or, if any row is bad, none.

    Fields: hypothesis, state, from, to, rationale, source, and optionally analyst (default
    --analyst, else your OS user name). Every row is checked as `forecast resolve` checks one, and
    against the others in the file; errors name the file and line. Resolutions already in the store
    (same content) are skipped, so importing a file twice adds nothing.

    Example:  forecast resolutions import scenarios/resolutions.yaml
    """
    from forecaster.store.events import EventStore
    from forecaster.store.resolution_files import read_resolutions_file
    from forecaster.store.resolutions import import_resolutions

    ws, hyps = _hypotheses(ctx)
    batch = read_resolutions_file(file)
    who = analyst_name(analyst)
    with EventStore(ws.db) as store:
        result = import_resolutions(
            store, batch.resolutions, analyst=who, hypotheses=hyps, labels=batch.labels, name=str(file)
        )
    n = result.added
    console.write_out(f"added {n} resolution{'s' if n != 1 else ''}; {result.skipped} already in the store\n")


def register(root: typer.Typer) -> None:
    """Attach `forecast resolve` and `forecast resolutions …` to the root app."""
    root.command("resolve")(resolve)
    root.add_typer(app, name="resolutions")
