"""`forecast panel`: Delphi rounds with reasons, and the experts' track records (MODEL.md §7,
issue 23). Thin commands over forecaster.workflow.panel, rendered by forecaster.outputs.panel_render."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from forecaster.cli import console
from forecaster.cli.common import analyst_name, err, handle_errors, out, print_json, workspace

app = typer.Typer(
    help=(
        "The expert panel: Delphi rounds, anonymised feedback, convergence and track records.\n\n"
        "Example:  forecast panel close --label 'round 2' && forecast panel feedback -o feedback/"
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _say(message: str) -> None:
    err.print(message, markup=False, highlight=False, soft_wrap=True)


@app.command()
@handle_errors
def status(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The open round: which experts changed which judgments since the last closed round.

    Example:  forecast panel status
    """
    from forecaster.outputs import panel_render as render
    from forecaster.workflow.panel import status as job

    s = job(workspace(ctx))
    if as_json:
        print_json(render.status_json(s))
    else:
        render.print_status(out, s)


@app.command()
@handle_errors
def close(
    ctx: typer.Context,
    label: Annotated[str, typer.Option("--label", metavar="LABEL", help="A label for the round.")] = "",
    who: Annotated[str | None, typer.Option("--by", metavar="NAME", help="Who closes it (default: your OS user name).", show_default=False)] = None,
    new: Annotated[list[str] | None, typer.Option("--new", metavar="ID", help="An expert who is new, not a renamed file (repeatable).", show_default=False)] = None,
) -> None:
    """Close the open round: record every expert's judgments (the content of experts/) in the
    store, append-only. A folder that does not validate is refused; so is a file renamed since
    the last round unless it says `previously: OLD_ID` (or --new ID says it is a new expert).

    Example:  forecast panel close --label "after the March workshop"
    """
    from forecaster.workflow.panel import close_round

    r = close_round(workspace(ctx), label=label, who=analyst_name(who), new=new or ())
    _say(f"closed panel round {r.number} ({len(r.experts)} expert files, content {r.experts_hash})")


@app.command()
@handle_errors
def rounds(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the closed rounds.

    Example:  forecast panel rounds --json
    """
    from forecaster.outputs import panel_render as render
    from forecaster.workflow.panel import list_rounds

    found = list_rounds(workspace(ctx))
    if as_json:
        print_json(render.rounds_json(found))
    elif not found:
        _say("no panel round is closed yet (forecast panel close)")
    else:
        render.print_rounds(out, found)


@app.command()
@handle_errors
def feedback(
    ctx: typer.Context,
    round_number: Annotated[int | None, typer.Option("--round", min=1, metavar="N", help="The round (default: the last closed).", show_default=False)] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", file_okay=False, metavar="DIR", help="Write panel-round-N.md, .html and .json here (default: print the Markdown).", show_default=False)] = None,
) -> None:
    """The anonymised feedback on a round, for the panel: per table the pooled value with its
    90 % interval and the spread, every judgment under a letter (drawn afresh each round) with
    its confidence and rationale, outliers marked, the widest disagreement first. No name, file
    name or signature appears.

    Example:  forecast panel feedback --round 1 -o feedback/
    """
    from forecaster.outputs import panel_render as render
    from forecaster.workflow.panel import feedback as job

    f = job(workspace(ctx), round_number)
    if output is None:
        console.write_out(render.feedback_markdown(f))
        return
    for path in render.write_feedback(f, output):
        _say(f"wrote {path}")


@app.command()
@handle_errors
def history(
    ctx: typer.Context,
    table: Annotated[str | None, typer.Option("--table", metavar="ID", help="One node's tables only.", show_default=False)] = None,
    as_json: JsonOpt = False,
) -> None:
    """Convergence, for the facilitator: per table and round the pooled mean, N and spread,
    which tables settled (moved < 0.05, spread not wider), and who moved, with their changed
    rationale as a diff.

    Example:  forecast panel history --table escalation
    """
    from forecaster.outputs import panel_render as render
    from forecaster.workflow.panel import history as job

    hs = job(workspace(ctx), table)
    if as_json:
        print_json(render.history_json(hs))
    else:
        console.write_out(render.history_text(hs))


@app.command()
@handle_errors
def scores(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Each expert's track record on the resolved hypotheses (Brier, log score; MODEL.md §7),
    beside the equal-weight pool's and the prior-mean pool's, with how many resolutions each
    rests on, and the pooling weights in force today.

    Example:  forecast panel scores --json
    """
    from forecaster.outputs import panel_render as render
    from forecaster.workflow.panel import scores as job

    s = job(workspace(ctx))
    if as_json:
        print_json(render.scores_json(s))
        return
    render.print_scores(out, s)
    if not s.cases:
        _say("no resolution recorded yet: nothing to score (forecast resolutions add)")
