"""`forecast score` (issue 14): the track record of recorded forecasts against resolutions.

A thin command over forecaster.workflow.track_record (scoring) and forecaster.outputs.track_record
(tables, JSON, CSV, the reliability PNG). Never imports pymc: the back-test is the exact engine."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from forecaster.cli import console
from forecaster.cli.common import date_option, err, handle_errors, out, workspace
from forecaster.core.errors import ForecastError, UsageError, did_you_mean

if TYPE_CHECKING:
    from forecaster.workflow.track_record import ScoreJob, TrackRecord


def _say(message: str) -> None:
    err.print(message, markup=False, highlight=False, soft_wrap=True)


@handle_errors
def score(
    ctx: typer.Context,
    hypothesis: Annotated[
        str | None, typer.Option("--hypothesis", "-H", metavar="HYPOTHESIS", help="Score this hypothesis only.", show_default=False)
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="YYYY-MM-DD", help="Only forecasts as of this date or later.", show_default=False),
    ] = None,
    backfill: Annotated[
        str | None,
        typer.Option(
            "--backfill", metavar="weekly",
            help="Also score the weekly event-time back-test (recorded first, as `history --backfill weekly` does).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON: scores, calibration and every resolved forecast.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV: one row of scores per hypothesis.")] = False,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", metavar="FILE.png", dir_okay=False, help="Write the reliability diagram to this PNG.",
                     show_default=False),
    ] = None,
    bins: Annotated[int, typer.Option("--bins", min=1, max=100, help="Calibration bins.")] = 10,
) -> None:
    """Score recorded forecasts against the resolutions (MODEL.md §6).

    A forecast as of d resolves when a resolution of its hypothesis covers [d, d + H months]
    (H = horizon_months in priors/network.yaml); the others are pending and never scored, and a
    retracted resolution scores nothing. By default every recorded update is scored; --backfill
    weekly adds the weekly back-test by event time (one point per week on the current priors).
    Per hypothesis: the Brier score (0 best, 2 worst), the log score ln p(observed) (0 best), the
    baseline score 100·log2(K·p(observed)) (0 for a uniform forecast, higher better), the RPS for
    ordered states, each beside the same score for the prior alone, and the skill
    1 − Brier / Brier of the prior (positive: the evidence helped); then a calibration table.

    Example:  forecast resolutions import scenarios/resolutions.yaml && forecast score --backfill weekly --plot cal.png
    """
    from forecaster.model.loading import load_priors
    from forecaster.workflow.track_record import score_workspace

    _check_options(as_json=as_json, as_csv=as_csv, backfill=backfill, plot=plot)
    since_d = date_option(since, "--since")
    ws = workspace(ctx)
    priors = load_priors(ws.priors_dir)
    if hypothesis is not None and hypothesis not in priors.hypothesis_ids:
        raise UsageError(f"unknown hypothesis {hypothesis!r}{did_you_mean(hypothesis, priors.hypothesis_ids)}")
    job = score_workspace(ws, priors, hypothesis=hypothesis, since=since_d, backfill=backfill is not None, bins=bins)
    _print_record(job, as_json=as_json, as_csv=as_csv)
    if plot is not None:
        _write_plot(job.record, plot)


def _check_options(*, as_json: bool, as_csv: bool, backfill: str | None, plot: Path | None) -> None:
    """Refuse contradictory or unsupported options before any work."""
    if as_json and as_csv:
        raise UsageError("choose one of --json and --csv")
    if backfill is not None and backfill != "weekly":
        raise UsageError(f"--backfill {backfill!r}: only weekly is supported")
    if plot is not None:
        if plot.suffix.lower() != ".png":
            raise UsageError(f"--plot {plot}: the diagram is a PNG; name the file FILE.png")
        if not plot.parent.is_dir():
            raise UsageError(f"--plot {plot}: folder {plot.parent} does not exist")


def _print_record(job: ScoreJob, *, as_json: bool, as_csv: bool) -> None:
    """The back-test's line, then the track record as JSON, CSV or tables, then what is pending."""
    from forecaster.outputs import track_record as render

    tr = job.record
    if job.backfill_points == 0:
        _say("backfill: the store holds no reports in force; no back-test to score")
    elif job.backfill_points is not None:
        _say(f"backfill: {job.backfill_points} weekly points, {job.backfill_added} new")
    if as_json:
        console.write_json_text(render.dumps_json(tr))
    elif as_csv:
        render.write_csv(console.stdout, tr)
    elif tr.resolved:
        render.print_tables(out, tr)
    if not tr.resolved:
        _say(render.nothing_resolved(tr))
    elif not as_json and not as_csv and tr.pending:
        _say(f"{tr.pending} forecast{'s' if tr.pending != 1 else ''} pending: no resolution covers their horizon yet")


def _write_plot(tr: TrackRecord, plot: Path) -> None:
    """The reliability diagram to --plot, atomically (nothing written when nothing resolved)."""
    from forecaster.core.atomic import write_bytes_atomic
    from forecaster.outputs import track_record as render

    if not tr.resolved:
        _say(f"--plot: nothing resolved, so no diagram written to {plot}")
        return
    umask = os.umask(0)
    os.umask(umask)
    try:
        write_bytes_atomic(plot, render.track_png(tr), mode=0o666 & ~umask)
    except OSError as e:
        raise ForecastError(f"cannot write {plot}: {e.strerror or e}") from None
    _say(f"wrote the reliability diagram to {plot}")


def register(root: typer.Typer) -> None:
    root.command("score")(score)
