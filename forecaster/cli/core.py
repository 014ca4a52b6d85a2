"""Core commands: info, update, export."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from forecaster.cli import console
from forecaster.cli.common import (
    SamplerOpt,
    TargetAcceptOpt,
    as_of_date,
    err,
    handle_errors,
    is_terminal,
    out,
    print_json,
    sampler_options,
    say,
    warn,
    workspace,
)
from forecaster.core.errors import UsageError

if TYPE_CHECKING:
    from forecaster.core.workspace import Workspace
    from forecaster.inference.update import UpdateResult


@handle_errors
def info(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Show the workspace: folders, priors hash, database, counts.

    Example:  forecast info --json
    """
    from forecaster.model.loading import load_priors

    ws = workspace(ctx)
    priors = load_priors(ws.priors_dir)
    counts: dict[str, int] = {}
    if ws.has_store():
        from forecaster.store.events import EventStore

        with EventStore(ws.db) as store:
            counts = store.counts()
    data = {
        "workspace": str(ws.root),
        "priors": str(ws.priors_dir),
        "priors_hash": priors.hash,
        "database": ws.db_shown,
        "database_exists": ws.has_store(),
        "hypotheses": len(priors.hypotheses),
        "indicators": len(priors.indicators),
        "experts": len(priors.experts),
        "scenarios": len([*ws.scenarios_dir.glob("*.yaml"), *ws.scenarios_dir.glob("*.yml")]) if ws.scenarios_dir.is_dir() else 0,
        "evidence_window_days": priors.evidence_window_days,
        "pooling": priors.method,
        **{f"reports_{k}": v for k, v in counts.items()},
    }
    if as_json:
        print_json(data)
        return
    for k, v in data.items():
        out.print(f"{k:22} {v}")


@handle_errors
def update(
    ctx: typer.Context,
    events: Annotated[Optional[Path], typer.Option("--events", dir_okay=False, help="Read reports from this YAML file instead of the event store.")] = None,
    as_of: Annotated[Optional[str], typer.Option("--as-of", metavar="YYYY-MM-DD", help="Replay what was known on this date (YYYY-MM-DD; default today).")] = None,
    event_time: Annotated[bool, typer.Option("--event-time", help="With --as-of: select reports by event date, not by when they were recorded.")] = False,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Random seed (default fixed, so runs reproduce).")] = None,
    sampler: SamplerOpt = None,
    draws: Annotated[Optional[int], typer.Option("--draws", min=100, max=100_000, help="Draws per chain (iid: to start with; more until the interval's Monte Carlo error is ≤ 0.002).")] = None,
    tune: Annotated[Optional[int], typer.Option("--tune", min=100, max=100_000, help="NUTS only: tuning steps per chain.")] = None,
    chains: Annotated[Optional[int], typer.Option("--chains", min=1, max=8, help="Chains.")] = None,
    target_accept: TargetAcceptOpt = None,
    exact: Annotated[bool, typer.Option("--exact", help="Exact engine only: instant, prior-mean network, no intervals.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Recompute even if an identical run is recorded.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (schema in README).")] = False,
    half_life: Annotated[Optional[str], typer.Option("--half-life", metavar="DAYS|none", help="Age reports with this half-life for this run (default: settings.yaml's half_life_days).")] = None,
    explain: Annotated[bool, typer.Option("--explain", help="Also show every critical report, the greedy removals and the interacting indicators.")] = False,
) -> None:
    """Update the forecast on the reports in the evidence window and print it.

    The posterior is exact (variable elimination on the prior-mean network); the 90 % intervals
    come from exact posterior draws, each run checked against the PyMC model's own density
    (--sampler nuts: PyMC's NUTS instead). --exact skips the draws: no intervals, no PyMC.
    Each hypothesis gets a line on how robust its call is (how many reports would have to go
    to change it, and the reports it hangs on); --explain shows the full lists and the
    indicators whose reports overlap or reinforce each other.

    \b
    Example:  forecast update --as-of 2025-06-30 --json
    Example:  forecast update --exact --explain
    """
    from forecaster.inference.settings import seed_or_default
    from forecaster.workflow.updating import cached_update, update_forecast

    ws = workspace(ctx)
    when = as_of_date(as_of)
    sampler_kwargs = sampler_options(draws=draws, tune=tune, chains=chains, sampler=sampler, target_accept=target_accept, exact=exact)
    chosen_seed = seed_or_default(seed)  # checked up front: [0, 2^32)
    hl = parse_half_life(half_life)
    # An unchanged update is answered from its record without parsing the priors (issue 4: <= 0.5 s).
    found = None if events is not None or force or explain else cached_update(
        ws, as_of=when, event_time=event_time, seed=chosen_seed, exact=exact, sampler_kwargs=sampler_kwargs,
        half_life_days=hl,
    )
    if found is not None and found.robustness is not None:
        result, cached = found, True
    else:
        from forecaster.model.loading import load_priors

        priors = load_priors(ws.priors_dir)
        with err.status("updating…", spinner="dots") if is_terminal() and not as_json else _null():
            result, cached = update_forecast(
                ws, priors, as_of=when, events_file=events, event_time=event_time,
                seed=chosen_seed, exact=exact, force=force, sampler_kwargs=sampler_kwargs, half_life_days=hl, notify=say,
                explain=explain)
    _print_update(ws, result, cached=cached, from_store=events is None, as_json=as_json, explain=explain)


def _print_update(ws: Workspace, result: UpdateResult, *, cached: bool, from_store: bool, as_json: bool, explain: bool) -> None:
    """The update as JSON or tables (what is new since the previous run marked when the reports
    came from the store), then the sampler's warnings on stderr when they are not in the tables."""
    from forecaster.outputs.tables import render_update, update_json
    from forecaster.workflow.updating import previous_report_ids

    before = previous_report_ids(ws, result) if from_store else None
    if as_json:
        print_json({**update_json(result, before, explain=explain), "cached": cached})
    else:
        render_update(result, out, cached=cached, previous=before, explain=explain)
    for w in result.diagnostics.warnings:
        if as_json or not sys.stdout.isatty():
            warn(w)


def parse_half_life(text: str | None) -> float | None | str:
    """`--half-life`: a positive number of days, or `none` (no ageing); absent: the settings'."""
    if text is None:
        return "settings"
    if text.strip().lower() == "none":
        return None
    try:
        days = float(text)
    except ValueError:
        days = float("nan")
    if not days > 0 or days == float("inf"):
        raise UsageError(f"--half-life {text!r}: expected a positive number of days, or none")
    return days


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *a: object) -> None:
        return None


@handle_errors
def export(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", "-f", metavar="bif|xmlbif", help="bif or xmlbif.")] = "bif",
    output: Annotated[Optional[Path], typer.Option("--output", "-o", dir_okay=False, help="File to write (default stdout).")] = None,
) -> None:
    """Export the network with its pooled prior-mean tables for pyAgrum, pgmpy or GeNIe.

    Example:  forecast export --format xmlbif -o balkans.xml
    """
    from forecaster.model.loading import load_priors
    from forecaster.model.network import build_network
    from forecaster.outputs.export import to_bif, to_xmlbif

    if fmt not in ("bif", "xmlbif"):
        raise UsageError(f"--format {fmt!r}: expected bif or xmlbif")
    priors = load_priors(workspace(ctx).priors_dir)
    net = build_network(priors)
    text = to_bif(priors, net) if fmt == "bif" else to_xmlbif(priors, net)
    if output is None:
        console.write_out(text)
    else:
        from forecaster.core.atomic import write_text_atomic
        from forecaster.core.safe_cache import public_mode

        write_text_atomic(output, text, mode=public_mode())
        err.print(f"wrote {output}")


@handle_errors
def new(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="New (or empty) folder for the workspace.", show_default=False)],
    spec: Annotated[Optional[Path], typer.Option("--from", metavar="PLAN.yaml", dir_okay=False, help="Read the network's shape from this YAML file (hypotheses: {id: [states]}, indicators: {id: [parents]}).")] = None,
    hypothesis: Annotated[Optional[list[str]], typer.Option("--hypothesis", metavar="ID=STATE,STATE[:PARENT,…]", help="A hypothesis, its states and parents (repeat for each).")] = None,
    indicator: Annotated[Optional[list[str]], typer.Option("--indicator", metavar="ID:PARENT[,PARENT][@MECHANISM]", help="An indicator and its hypothesis parents (repeat for each).")] = None,
    mechanism: Annotated[Optional[list[str]], typer.Option("--mechanism", metavar="ID:PARENT[,…]", help="A mechanism and its hypothesis parents (repeat for each).")] = None,
    name: Annotated[str, typer.Option("--name", metavar="NAME", help="The network's name (default: the folder's).")] = "",
) -> None:
    """Start a new network: a workspace whose priors folder is complete and validates, every
    judgment a uniform placeholder marked TODO, with one example expert, settings and a README
    saying what to fill in. Give the shape with --from PLAN.yaml or with flags; `priors validate`
    then lists the TODOs left. Refuses a folder that is not empty.

    Example:  forecast new ./strait --hypothesis escalation=contained,grey_zone,annexation --hypothesis posture=defensive,forward:escalation --indicator drills:escalation --indicator blockade_rehearsal:escalation,posture
    """
    from forecaster.workflow.scaffold import new_network, plan_from_file, plan_from_flags

    if spec is not None and (hypothesis or indicator or mechanism):
        raise UsageError("--from and --hypothesis/--indicator/--mechanism: give the network one way")
    if spec is None and not (hypothesis and indicator):
        raise UsageError("give the network's shape: --from PLAN.yaml, or at least one --hypothesis and one --indicator")
    plan = plan_from_file(spec) if spec is not None else plan_from_flags(
        hypotheses=hypothesis or [], indicators=indicator or [], mechanisms=mechanism or [], name=name)
    made = new_network(directory, plan, source=str(spec) if spec is not None else "--hypothesis/--indicator")
    out.print(f"new network at {made.root}: {len(made.files)} files, {made.todos} items with TODO placeholders to fill in (see README.md)",
              markup=False, highlight=False)
    err.print(f"next: edit {made.root / 'priors'}, then forecast -w {directory} priors validate", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.command("new")(new)
    app.command("info")(info)
    app.command("update")(update)
    app.command("export")(export)
