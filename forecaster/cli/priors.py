"""`forecast priors …`: show, validate, audit and diff the priors folder (issue 5).

Thin commands over forecaster.model.priors and forecaster.analysis.audit. None of them imports pymc or arviz: the
audit's influence analysis runs on the exact engine."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from forecaster.cli import console
from forecaster.cli.common import JsonOpt, as_of_date, err, handle_errors, out, print_json, workspace
from forecaster.cli.helptext import HelpGroup
from forecaster.core.errors import UsageError

if TYPE_CHECKING:
    from forecaster.analysis.panel import WeightBasis
    from forecaster.model.evidence import Report
    from forecaster.model.priors import Priors

app = typer.Typer(
    cls=HelpGroup,
    name="priors",
    help=(
        "Read, check and review the priors: every expert's judgments, validation, the reviewers' audit, "
        "and the changes between two priors folders.\n\n"
        "Example:  forecast priors audit --markdown > audit.md"
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

PriorsOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--priors",
        file_okay=False,
        help="A priors folder to read instead of the workspace's priors/ (e.g. a priors repository in CI).",
    ),
]
MarkdownOpt = Annotated[bool, typer.Option("--markdown", help="Print Markdown, ready to paste into a review.")]
EventsOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--events",
        dir_okay=False,
        help="Read the current evidence from this YAML file instead of the event store. When the priors folder "
        "is given explicitly, the store is read only if --workspace or --db is given; otherwise there is no evidence.",
    ),
]
AsOfOpt = Annotated[
    Optional[str], typer.Option("--as-of", metavar="YYYY-MM-DD", help="Evidence known on this date (YYYY-MM-DD; default today).")
]


def _priors_dir(ctx: typer.Context, given: Path | None) -> Path:
    return given if given is not None else workspace(ctx).priors_dir


def _weights(ctx: typer.Context, priors: Priors, as_of: dt.date) -> WeightBasis | None:
    """The workspace's performance weights as of `as_of` (MODEL.md §7), or None: stated weights."""
    from forecaster.workflow.panel import folder_weights

    return folder_weights(workspace(ctx), priors, as_of)


def _as_priors_dir(path: Path) -> Path:
    """A priors folder, or a workspace or checkout that holds one in priors/."""
    def has_network(folder: Path) -> bool:
        return any((folder / f"network{suffix}").is_file() for suffix in (".yaml", ".yml"))

    if not has_network(path) and has_network(path / "priors"):
        return path / "priors"
    return path


def _reports(
    ctx: typer.Context, priors: Priors, *, as_of: dt.date, events: Path | None, from_workspace: bool
) -> list[Report]:
    """The current evidence: --events, else the workspace's store when the priors came from the
    workspace or a workspace/database was named on the command line, else none."""
    from forecaster.core.workspace import Workspace
    from forecaster.workflow.updating import gather_reports

    if events is not None:
        return gather_reports(Workspace(priors.root.parent), priors, as_of=as_of, events_file=events)
    if from_workspace or _workspace_named(ctx):
        return gather_reports(workspace(ctx), priors, as_of=as_of)
    return []


def _workspace_named(ctx: typer.Context) -> bool:
    """A workspace or store named by -w/--db or, the same, by $FORECAST_WORKSPACE/$FORECAST_DB (issue 12:
    the two ways of naming a workspace give the same evidence). An environment variable that names
    no workspace or store is not a choice of evidence (a global setting left over from elsewhere)."""
    import os

    named = ctx.find_root().obj or {}
    if named.get("workspace") is not None or named.get("db") is not None:
        return True
    env_ws, env_db = os.environ.get("FORECAST_WORKSPACE"), os.environ.get("FORECAST_DB")
    return bool(env_ws and (Path(env_ws) / "priors").is_dir()) or bool(env_db and Path(env_db).is_file())


def _one_format(markdown: bool, as_json: bool) -> None:
    if markdown and as_json:
        raise UsageError("--markdown and --json: choose one")


def _write(text: str) -> None:
    """Markdown as is, for pasting or redirecting (no Rich processing)."""
    console.write_out(text if text.endswith("\n") else text + "\n")


def _render_markdown(text: str) -> None:
    from forecaster.outputs.columns import markdown

    out.print(markdown(text))  # tables that never cut an id


@app.command("show")
@handle_errors
def show(
    ctx: typer.Context,
    node: Annotated[
        Optional[str],
        typer.Argument(metavar="NODE", help="A hypothesis, indicator or mechanism id: its table in full.", show_default=False),
    ] = None,
    hypothesis: Annotated[
        Optional[str],
        typer.Option("--hypothesis", "-H", metavar="HYPOTHESIS",
                     help="Only the tables that bear on this hypothesis: its own, its mechanisms' and its indicators'.",
                     show_default=False),
    ] = None,
    priors_dir: PriorsOpt = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the tables in full as Markdown (every table, "
                                           "or NODE's, or --hypothesis'), ready to paste into a review.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the tables in full as JSON (every table, or NODE's, "
                                          "or --hypothesis').")] = False,
) -> None:
    """The priors' tables: one line per table, or NODE's table in full.

    Without NODE: each table (hypothesis, indicator, mechanism) on one line, with its rows, its
    sources and how far they spread. With NODE: every expert's judgment for each row, the pooled
    mean and interval and the spread; each judgment gives the number and its ICD 203 term, the
    confidence (as an equivalent sample size), the rationale and the citation; an expert far from
    the rest of the panel is marked. --markdown and --json print the tables in full.

    Example:  forecast priors show escalation
    """
    from forecaster.analysis.tables import bearing_on, table_summaries, table_views
    from forecaster.model.loading import load_priors
    from forecaster.outputs.audit_render import show_list, show_markdown, to_jsonable

    _one_format(markdown, as_json)
    if node is not None and hypothesis is not None:
        raise UsageError("NODE and --hypothesis: choose one")
    priors = load_priors(_priors_dir(ctx, priors_dir))
    basis = _weights(ctx, priors, dt.date.today()) if priors_dir is None else None
    if basis is not None:  # performance weights (MODEL.md §7): the tables pooled with them, and said so
        from forecaster.analysis.panel import apply_weights

        priors = apply_weights(priors, basis)
        err.print(f"pooling: {basis.describe()}", markup=False, highlight=False, soft_wrap=True)
    nodes = [node] if node is not None else bearing_on(priors, hypothesis) if hypothesis is not None else None
    if node is None and not (markdown or as_json):
        out.print(show_list(table_summaries(priors, nodes)))
        err.print("forecast priors show NODE: a table in full; --markdown or --json: the tables in full",
                  markup=False, highlight=False, soft_wrap=True)
        return
    views = table_views(priors, nodes)
    if as_json:
        print_json({"priors_hash": priors.hash, "method": priors.method, "tables": to_jsonable(views),
                    **({"weights": basis.to_json()} if basis is not None else {})})
    elif markdown:
        _write(show_markdown(priors, views))
    else:
        _render_markdown(show_markdown(priors, views))


@app.command("validate")
@handle_errors
def validate(
    ctx: typer.Context,
    priors_dir: PriorsOpt = None,
    as_json: JsonOpt = False,
    strict: Annotated[bool, typer.Option("--strict", help="TODO placeholders count as errors (exit 2).")] = False,
) -> None:
    """Check the priors folder's schema and structure, and the audit's errors that need no seed papers:
    rationale and citation present, terms, confidence, sign-off, copies, indicators that cannot
    discriminate (fast; no sampler). Lists every problem in one pass, one per line (file:line: field:
    problem, with did-you-mean on unknown keys), and exits 2 if there is any; the `TODO` placeholders
    left (e.g. by `forecast new`) are listed as warnings (exit 0, or 2 with --strict). `--json` gives
    {errors, warnings}, each a list of {file, line, field, problem}. What validate calls an error,
    `priors audit` does too.

    Example:  forecast priors validate --priors ./priors
    """
    from forecaster.analysis.validation import validate_folder

    result = validate_folder(_priors_dir(ctx, priors_dir))
    errors = [*result.errors, *(result.warnings if strict else ())]
    warnings = () if strict else result.warnings
    if as_json:
        print_json(_validation_json(result, errors, warnings))
    for p in errors:
        err.print(f"error: {p}", markup=False, highlight=False, soft_wrap=True)
    for p in warnings:
        err.print(f"warning: {p}", markup=False, highlight=False, soft_wrap=True)
    if errors:
        if len(errors) > 1:
            err.print(f"priors validate: {len(errors)} problems", markup=False, highlight=False)
        raise typer.Exit(code=2)
    if not as_json and result.priors is not None:
        out.print(_ok_line(result.priors, len(warnings)), markup=False, highlight=False)


def _ok_line(priors: Priors, todos: int) -> str:
    from forecaster.core.text import plural

    parts = [plural(len(priors.hypotheses), "hypothesis", "hypotheses"), plural(len(priors.indicators), "indicator")]
    if priors.mechanisms:
        parts.append(plural(len(priors.mechanisms), "mechanism"))
    parts.append(plural(len(priors.experts), "expert"))
    left = f"; {plural(todos, 'item')} with TODO placeholders (warnings above)" if todos else ""
    return f"ok: {', '.join(parts)}, hash {priors.hash}{left}"


def _validation_json(result: Any, errors: Sequence[Any], warnings: Sequence[Any]) -> dict[str, Any]:
    data: dict[str, Any] = {"ok": not errors, "priors": str(result.folder)}
    if errors:
        data["error"] = str(errors[0]) if len(errors) == 1 else f"{errors[0]} (and {len(errors) - 1} more)"
    elif result.priors is not None:
        p = result.priors
        data |= {"hypotheses": len(p.hypotheses), "indicators": len(p.indicators), "mechanisms": len(p.mechanisms),
                 "experts": len(p.experts), "judgments": len(p.judgments), "hash": p.hash}
    return data | {"errors": [e.to_json() for e in errors], "warnings": [w.to_json() for w in warnings]}


@app.command("audit")
@handle_errors
def audit(
    ctx: typer.Context,
    markdown: MarkdownOpt = False,
    as_json: JsonOpt = False,
    strict: Annotated[bool, typer.Option("--strict", help="Warnings count as errors (exit 1).")] = False,
    max_age_days: Annotated[
        int,
        typer.Option("--max-age-days", min=0, help="Flag a panelist whose sign-off (reviewed_on) is older than this."),
    ] = 365,
    priors_dir: PriorsOpt = None,
    events: EventsOpt = None,
    as_of: AsOfOpt = None,
    seeds: Annotated[
        Optional[Path],
        typer.Option(
            "--seeds",
            file_okay=False,
            help="Folder of the seed papers that citations name (default: $FORECAST_SEEDS, "
            "else seeds/ or shared/seeds/ beside the priors or above them).",
        ),
    ] = None,
) -> None:
    """The reviewers' report: findings, disagreement, influence, diagnosticity and the priors hash.

    Findings carry a severity (error, warning, note), a file and a field. Exit 0 without errors,
    1 with errors (with --strict, warnings too), 2 when the priors do not validate: a priors
    repository's CI can gate on it. Runs on the exact engine; no sampler.

    Example:  forecast priors audit --markdown --strict > audit.md
    """
    from forecaster.analysis.audit import audit_priors
    from forecaster.analysis.seeds import find_seeds
    from forecaster.model.loading import load_priors
    from forecaster.outputs.audit_render import audit_json, audit_markdown, summary_line

    _one_format(markdown, as_json)
    priors = load_priors(_priors_dir(ctx, priors_dir))
    when = as_of_date(as_of)
    reports = _reports(ctx, priors, as_of=when, events=events, from_workspace=priors_dir is None)
    report = audit_priors(
        priors, reports=reports, as_of=when, max_age_days=max_age_days, seeds_dir=find_seeds(priors.root, seeds),
        weights=_weights(ctx, priors, when) if priors_dir is None else None,
    )
    if as_json:
        print_json(audit_json(report, strict=strict))
    elif markdown:
        _write(audit_markdown(report, strict=strict))
    else:
        _render_markdown(audit_markdown(report, strict=strict))
    err.print(f"priors audit: {summary_line(report, strict=strict)}; hash {report.hash}", markup=False, highlight=False)
    if report.failed(strict=strict):
        raise typer.Exit(code=1)


@app.command("diff")
@handle_errors
def diff(
    ctx: typer.Context,
    old_dir: Annotated[
        Path,
        typer.Argument(
            file_okay=False, help="The old priors folder (or a checkout holding priors/).", show_default=False
        ),
    ],
    new_dir: Annotated[
        Optional[Path],
        typer.Argument(
            file_okay=False, help="The new priors folder (default: the workspace's priors/).", show_default=False
        ),
    ] = None,
    markdown: MarkdownOpt = False,
    as_json: JsonOpt = False,
    events: EventsOpt = None,
    as_of: AsOfOpt = None,
    exit_code: Annotated[
        bool, typer.Option("--exit-code", help="Exit 1 when the folders differ (like git diff --exit-code).")
    ] = False,
) -> None:
    """Judgment-by-judgment changes between two priors folders, and their effect on the current posterior.

    Each changed judgment is shown with the shift it alone causes (exact engine, current evidence),
    then the posterior under the old priors against the new.

    Example:  forecast priors diff ../priors-main/priors
    """
    from forecaster.analysis.diff import diff_priors
    from forecaster.model.loading import load_priors
    from forecaster.outputs.audit_render import diff_markdown, to_jsonable

    _one_format(markdown, as_json)
    old = load_priors(_as_priors_dir(old_dir))
    new = load_priors(_as_priors_dir(new_dir) if new_dir is not None else workspace(ctx).priors_dir)
    when = as_of_date(as_of)
    reports = _reports(ctx, new, as_of=when, events=events, from_workspace=new_dir is None)
    result = diff_priors(old, new, reports=reports, as_of=when)
    if as_json:
        data = to_jsonable(result)
        data["empty"] = result.empty
        for item, change in zip(data["judgments"], result.judgments, strict=True):
            # Each vector with its states' names, beside the bare lists.
            for side, states in (("old", change.states), ("new", change.new_states)):
                j = getattr(change, side)
                if j is not None and len(states) == len(j.probs):
                    item[f"{side}_by_state"] = {s: round(p, 6) for s, p in zip(states, j.probs, strict=True)}
        print_json(data)
    elif markdown:
        _write(diff_markdown(result))
    else:
        _render_markdown(diff_markdown(result))
    if exit_code and not result.empty:
        raise typer.Exit(code=1)


__all__ = ["app"]
