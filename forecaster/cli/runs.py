"""`forecast history`, `forecast brief` and `forecast runs list/show/export/prune` (issues 4, 13).

Thin commands over forecaster.store.runs and forecaster.workflow.brief. None of them imports pymc unless it has
to sample: `brief` only when the last run is stale and it updates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from forecaster.cli import console
from forecaster.cli.common import (
    ChainsOpt,
    DrawsOpt,
    SamplerOpt,
    TuneOpt,
    date_option,
    err,
    handle_errors,
    is_terminal,
    out,
    print_json,
    sampler_options,
    workspace,
)
from forecaster.cli.helptext import HelpGroup
from forecaster.cli.history_rows import claimed_states, history_csv, history_row
from forecaster.core.errors import UsageError
from forecaster.outputs.run_tables import history_table, runs_table, trend_lines
from forecaster.outputs.run_tables import sparkline as sparkline  # re-exported: tests/test_runs.py

if TYPE_CHECKING:
    from forecaster.core.workspace import Workspace
    from forecaster.store.events import EventStore
    from forecaster.store.runs import RunRecord

app = typer.Typer(
    cls=HelpGroup,
    name="runs",
    help="The run log: every update recorded in the event store, a sampled run's draws with it "
    "(`runs export` writes runs/RUN_ID.nc).\n\n"
    "Example:  forecast runs prune --keep 10",
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

HISTORY_LIMIT = 50

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
RunIdArg = Annotated[str, typer.Argument(metavar="RUN_ID", help="Run id or a unique prefix.", show_default=False)]


def _say(message: str) -> None:
    err.print(message, markup=False, highlight=False, soft_wrap=True)


# ---------------------------------------------------------------------------------------------
# history
# ---------------------------------------------------------------------------------------------


@handle_errors
def history(
    ctx: typer.Context,
    hypothesis: Annotated[
        str | None,
        typer.Option("--hypothesis", "-H", metavar="HYPOTHESIS", help="Show this hypothesis' states only.", show_default=False),
    ] = None,
    as_json: JsonOpt = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV (one row per run, a column per state).")] = False,
    backfill: Annotated[
        str | None,
        typer.Option(
            "--backfill",
            metavar="weekly",
            help="First compute the series the evidence implies by event time: weekly (exact engine).",
            show_default=False,
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", metavar="YYYY-MM-DD", help="With --backfill: the last week's date (default today).", show_default=False
        ),
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind", metavar="update|backfill", help="update or backfill (default both).", show_default=False
        ),
    ] = None,
    include_files: Annotated[
        bool, typer.Option("--include-files", help="Also runs on --events files (scenario replays).")
    ] = False,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit", min=0, max=10**9, help=f"Newest N runs (table default {HISTORY_LIMIT}; 0 = all).", show_default=False
        ),
    ] = None,
) -> None:
    """How the forecast moved: one row per recorded run with each state's posterior, oldest first,
    and in a terminal a sparkline per state.

    `--backfill weekly` first records one exact-engine point per ISO week from the first report's
    week to today (reports selected by event date), so a new workspace has a trend at once;
    points already recorded are kept.

    Example:  forecast history --backfill weekly --hypothesis escalation
    """
    from forecaster.store import runs

    if as_json and as_csv:
        raise UsageError("choose one of --json and --csv")
    if kind is not None and kind not in runs.KINDS:
        raise UsageError(f"--kind {kind!r}: expected update or backfill")
    ws = workspace(ctx)
    if backfill is not None:
        _backfill(ws, backfill, as_of)
    elif as_of is not None:
        raise UsageError("--as-of goes with --backfill")
    records = _history_records(ws, kind, include_files)
    columns = _state_columns(records, hypothesis)
    cap = limit if limit is not None else (0 if as_json or as_csv else HISTORY_LIMIT)
    shown = records[-cap:] if cap else records
    if as_json:
        print_json(_history_json(ws, records, shown, hypothesis))
    elif as_csv:
        history_csv(shown, columns)
    else:
        _history_table(shown, columns, len(records))


def _backfill(ws: Workspace, backfill: str, as_of: str | None) -> None:
    """`--backfill weekly`: record the weekly exact-engine series, and say what was added."""
    if backfill != "weekly":
        raise UsageError(f"--backfill {backfill!r}: only weekly is supported")
    from forecaster.inference.settings import DEFAULT_SEED
    from forecaster.model.evidence import check_date
    from forecaster.model.loading import load_priors
    from forecaster.workflow.backfill import backfill_weekly

    until = dt.date.today() if as_of is None else _check_as_of(as_of, check_date)
    priors = load_priors(ws.priors_dir)
    done = backfill_weekly(ws, priors, until=until, seed=DEFAULT_SEED)
    if done.first is None:
        _say("backfill: the store holds no reports in force; nothing to compute")
    else:
        _say(
            f"backfill: {done.points} weekly points from {done.first.isoformat()} to {until.isoformat()}, "
            f"{done.added} new ({done.points - done.added} already recorded)"
        )


def _history_records(ws: Workspace, kind: str | None, include_files: bool) -> list[RunRecord]:
    """The recorded runs of this kind (default both), oldest first; --events replays only with include_files."""
    from forecaster.store import runs
    from forecaster.store.events import EventStore

    if not ws.has_store():
        return []
    evidence = None if include_files else ("store", "store-event-time", "unknown")
    with EventStore(ws.db) as store:
        return runs.list_runs(store, kinds=(kind,) if kind else runs.KINDS, evidence=evidence)


def _history_json(
    ws: Workspace, records: list[RunRecord], shown: list[RunRecord], hypothesis: str | None
) -> list[dict[str, Any]]:
    """The rows shown, each with its change against the previous run of the same kind."""
    claimed = claimed_states(ws)
    previous: dict[tuple[str, str, bool], RunRecord] = {}
    shown_ids = {id(r) for r in shown}
    rows = []
    for r in records:  # every record, so that the first one shown has its predecessor
        like = (r.kind, r.evidence, r.sampled)  # change: against the previous run of the same kind
        before = previous.get(like)
        previous[like] = r
        if id(r) in shown_ids:
            rows.append(history_row(r, hypothesis, claimed=claimed, before=before))
    return rows


def _history_table(records: list[RunRecord], columns: list[tuple[str, str]], total: int) -> None:
    if not records:
        _say(
            "no runs recorded yet: `forecast update` records one; "
            "`forecast history --backfill weekly` computes the weekly series"
        )
        return
    out.print(history_table(records, columns))
    if total > len(records):
        _say(f"showing the newest {len(records)} of {total} runs (--limit 0 shows all)")
    for line in trend_lines(records, columns):
        out.print(line)


def _check_as_of(value: str, check: Any) -> dt.date:
    from forecaster.core.errors import EvidenceError

    try:
        return check(value)  # type: ignore[no-any-return]
    except EvidenceError as e:
        raise UsageError(f"--as-of: {e}") from None


def _state_columns(records: list[RunRecord], hypothesis: str | None) -> list[tuple[str, str]]:
    seen: dict[tuple[str, str], None] = {}
    for r in records:
        for s in r.states:
            seen.setdefault((s.hypothesis, s.state), None)
    columns = list(seen)
    if hypothesis is not None:
        known = sorted({h for h, _ in columns})
        columns = [c for c in columns if c[0] == hypothesis]
        if not columns and known:
            from forecaster.core.errors import did_you_mean

            raise UsageError(
                f"--hypothesis {hypothesis!r}: no such hypothesis in the runs{did_you_mean(hypothesis, known)}; "
                f"known: {', '.join(known)}"
            )
    return columns


# ---------------------------------------------------------------------------------------------
# brief
# ---------------------------------------------------------------------------------------------

PeriodOpt = Annotated[
    str,
    typer.Option(
        "--period",
        metavar="week|last-week",
        help="week (the ISO week to date) or last-week (the whole week before).",
    ),
]
SinceOpt = Annotated[
    str | None,
    typer.Option("--since", metavar="YYYY-MM-DD", help="Start of a custom period (YYYY-MM-DD).", show_default=False),
]
UntilOpt = Annotated[
    str | None,
    typer.Option(
        "--until",
        metavar="YYYY-MM-DD",
        help="End of the period and as-of date of the forecast (default today).",
        show_default=False,
    ),
]
BriefOutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        metavar="DIR",
        file_okay=False,
        help="Folder for the brief (default briefs/ in the workspace).",
        show_default=False,
    ),
]
AlertOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--alert",
        metavar="RULE",
        help='Exit 3 if a posterior crosses a threshold, e.g. "escalation.annexation>0.2" (or <; repeatable).',
        show_default=False,
    ),
]
NoUpdateOpt = Annotated[
    bool,
    typer.Option(
        "--no-update",
        help="Never run an update: write the brief from the last recorded run, marked stale if the inputs changed.",
    ),
]
ExactOpt = Annotated[
    bool, typer.Option("--exact", help="Exact engine only: instant, no intervals (tests, quick looks).")
]
SeedOpt = Annotated[
    int | None, typer.Option("--seed", help="Random seed (default fixed, so runs reproduce).", show_default=False)
]
EventTimeOpt = Annotated[
    bool,
    typer.Option(
        "--event-time",
        help="Select reports by event date, as `update --event-time` does (default: what the store knew "
        "at each date; event time is chosen by itself when the store knew nothing before the period).",
    ),
]
QuietOpt = Annotated[
    bool,
    typer.Option("--quiet", "-q", help="Print nothing unless an alert fires or something fails (for cron)."),
]


@handle_errors
def brief(
    ctx: typer.Context,
    period: PeriodOpt = "week",
    since: SinceOpt = None,
    until: UntilOpt = None,
    output: BriefOutputOpt = None,
    alert: AlertOpt = None,
    no_update: NoUpdateOpt = False,
    exact: ExactOpt = False,
    seed: SeedOpt = None,
    sampler: SamplerOpt = None,
    draws: DrawsOpt = None,
    tune: TuneOpt = None,
    chains: ChainsOpt = None,
    event_time: EventTimeOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Write the brief for a period: briefs/2026-W47.md, .html (self-contained, chart embedded),
    .json and the chart .png, each atomically.

    If no run is recorded for the current inputs (priors, reports, as-of date, seed, settings), an
    update runs first (unless --no-update). The brief says its clock: knowledge time (what the store
    knew at each date) unless --event-time, or unless the store knew no report before the period (a
    new workspace or a bulk import), when it selects reports by event date on both sides. Made for cron: without a terminal, no colour and no
    progress, one summary line on stderr (--quiet: only when an alert fires). Exit codes: 0 written, 1 error, 2 bad usage or input,
    3 written and an --alert fired.

    Example:  forecast brief --period last-week --alert "escalation.annexation>0.2"
    """
    from forecaster.inference.settings import seed_or_default
    from forecaster.model.loading import load_priors
    from forecaster.outputs.brief_render import make_brief, summary_line
    from forecaster.workflow.period import parse_alert, period_for

    chosen = period_for(period=period, since=date_option(since, "--since"), until=date_option(until, "--until"))
    ws = workspace(ctx)
    priors = load_priors(ws.priors_dir)
    alerts = [parse_alert(a, priors) for a in alert or []]
    sampler_kwargs = sampler_options(draws=draws, tune=tune, chains=chains, sampler=sampler, exact=exact)
    with _update_spinner() as on_update:
        made = make_brief(
            ws,
            priors,
            period=chosen,
            alerts=alerts,
            folder=output or ws.briefs_dir,
            update=not no_update,
            seed=seed_or_default(seed),
            exact=exact,
            sampler_kwargs=sampler_kwargs,
            on_update=on_update,
            event_time=event_time,
        )
    if made.brief.fired or not quiet:
        _say(summary_line(made, len(alerts)))
    if made.brief.fired:
        raise typer.Exit(code=3)


@contextmanager
def _update_spinner() -> Iterator[Callable[[], None] | None]:
    """A spinner only in a terminal, and only while an update runs; cron sees nothing but the summary.

    Yields what starts it (None without a terminal); it stops on the way out."""
    status = err.status("updating the forecast…", spinner="dots") if is_terminal() else None
    try:
        yield status.start if status is not None else None
    finally:
        if status is not None:
            status.stop()


# ---------------------------------------------------------------------------------------------
# runs list / show / prune
# ---------------------------------------------------------------------------------------------


@app.command("list")
@handle_errors
def list_(
    ctx: typer.Context,
    as_json: JsonOpt = False,
    limit: Annotated[int, typer.Option("--limit", min=0, max=10**9, help="Newest N runs (0 = all).")] = 30,
) -> None:
    """Recorded runs, newest recorded last: id, kind, as-of, sampler, reports, diagnostics, wall time, NetCDF.

    Example:  forecast runs list --limit 10
    """
    from forecaster.store import runs
    from forecaster.store.events import EventStore

    ws = workspace(ctx)
    if not ws.has_store():
        records: list[RunRecord] = []
    else:
        with EventStore(ws.db) as store:
            records = sorted(runs.list_runs(store, with_states=False), key=lambda r: (r.recorded_at, r.run_id))
    shown = records[-limit:] if limit else records
    if as_json:
        print_json([_run_meta(r) for r in shown])
    elif not shown:
        _say("no runs recorded yet")
    else:
        out.print(runs_table(shown))
        if len(records) > len(shown):
            _say(f"showing the newest {len(shown)} of {len(records)} runs (--limit 0 shows all)")


def _run_meta(r: RunRecord) -> dict[str, Any]:
    return {
        "run_id": r.run_id,
        "kind": r.kind,
        "evidence": r.evidence,
        "recorded_at": r.recorded_at.isoformat().replace("+00:00", "Z"),
        "as_of": r.as_of.isoformat(),
        "window_start": r.window_start.isoformat(),
        "priors_hash": r.priors_hash,
        "events_hash": r.events_hash,
        "settings_hash": r.settings_hash,
        "settings": r.settings,
        "seed": r.seed,
        "version": r.version,
        "sampler": r.sampler,
        "reports": r.reports,
        "r_hat_max": r.r_hat_max,
        "ess_min": r.ess_min,
        "divergences": r.divergences,
        "wall_seconds": round(r.wall_seconds, 3),
        "netcdf": r.netcdf,
        "previous_run_id": r.previous_run_id,
    }


@app.command()
@handle_errors
def show(
    ctx: typer.Context,
    run_id: RunIdArg,
    as_json: JsonOpt = False,
) -> None:
    """One recorded run in full, as `forecast update` printed it, with its record.

    Example:  forecast runs show 1b2312a5
    """
    from forecaster.store import runs

    ws = workspace(ctx)
    with _run_in_store(ws, run_id) as (store, record):
        result = runs.load_result(store, record.run_id)
    from forecaster.outputs.tables import render_update, update_json
    from forecaster.workflow.updating import previous_report_ids

    before = None if result is None else previous_report_ids(ws, result)
    if as_json:
        print_json({**_run_meta(record), "result": None if result is None else update_json(result, before)})
        return
    from rich.text import Text

    if result is not None:
        render_update(result, out, previous=before)
    meta = _run_meta(record)
    for key in ("kind", "evidence", "recorded_at", "settings", "version", "wall_seconds", "netcdf"):
        value = meta[key]
        if key == "netcdf":
            value = f"in the store (`forecast runs export {record.run_id}` writes runs/{value})" if value else "none (exact, or pruned)"
        out.print(Text(f"{key:<13} {value if value is not None else '—'}"))


@app.command()
@handle_errors
def prune(
    ctx: typer.Context,
    keep: Annotated[
        int, typer.Option("--keep", min=0, help="How many of the most recent runs keep their draws.")
    ] = 10,
    records: Annotated[
        bool, typer.Option("--records", help="Also delete the records of the older runs (history then starts later).")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would go; delete nothing.")] = False,
) -> None:
    """Drop the draws of all but the N most recently recorded runs from this store. Run records
    stay, so history and briefs are unchanged, unless --records. Only this store's rows are
    touched: exports in runs/ (`runs export`) are yours and stay; only this tool's stale temp
    files there go.

    Example:  forecast runs prune --keep 5
    """
    from forecaster.store import runs
    from forecaster.store.events import EventStore

    ws = workspace(ctx)
    if not ws.has_store():
        _say("no runs recorded; nothing to prune")
        return
    with EventStore(ws.db) as store:
        done = runs.prune(ws, store, keep=keep, records=records, dry_run=dry_run)
    verb = "would drop" if dry_run else "dropped"
    n = len(done.netcdf_deleted)
    line = f"{verb} the draws of {n} run{'s' if n != 1 else ''} ({done.bytes_freed / 1e6:.1f} MB); {done.netcdf_kept} kept"
    if records:
        line += f"; {'would delete' if dry_run else 'deleted'} {done.records_deleted} run record{'s' if done.records_deleted != 1 else ''}"
    console.write_out(line + "\n")


@app.command("export")
@handle_errors
def export_run(
    ctx: typer.Context,
    run_id: RunIdArg,
    output: Annotated[
        Optional[Path], typer.Option("--output", "-o", dir_okay=False, help="File to write (default: runs/RUN_ID.nc).")
    ] = None,
) -> None:
    """Write a sampled run's draws (ArviZ InferenceData, NetCDF) from the store to a file.

    Example:  forecast runs export 1b2312a5
    """
    from forecaster.store import runs

    ws = workspace(ctx)
    with _run_in_store(ws, run_id) as (store, record):
        path = output or ws.runs_dir / runs.netcdf_name(record.run_id)
        n = runs.export_draws(store, record.run_id, path)
    console.write_out(f"{path}\n")
    _say(f"wrote the draws of run {record.run_id} ({n / 1e6:.1f} MB)")


@contextmanager
def _run_in_store(ws: Workspace, run_id: str) -> Iterator[tuple[EventStore, RunRecord]]:
    """The open store and the run a RUN_ID (or unique prefix) names; a clear error without a store."""
    from forecaster.store import runs
    from forecaster.store.events import EventStore

    if not ws.has_store():
        raise UsageError(f"no run {run_id!r} recorded: {ws.db_shown} does not exist")
    with EventStore(ws.db) as store:
        yield store, runs.get_run(store, run_id)


def register(root: typer.Typer) -> None:
    """Attach `forecast history`, `forecast brief` and `forecast runs …` to the root app."""
    root.command("history")(history)
    root.command("brief")(brief)
    root.add_typer(app, name="runs")
