"""`forecast scenario list/run`, `forecast whatif` and `forecast collect` (issue 6).

Scenario and what-if numbers are never recorded: nothing here writes to the event store, the
run log or runs/. `whatif` and `collect` run on the exact engine and never import pymc."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from forecaster.cli.common import (
    ChainsOpt,
    DrawsOpt,
    JsonOpt,
    SamplerOpt,
    TargetAcceptOpt,
    TuneOpt,
    as_of_date,
    err,
    handle_errors,
    is_terminal,
    out,
    print_json,
    sampler_options,
    warn,
    workspace,
)
from forecaster.cli.helptext import HelpGroup
from forecaster.core.errors import EvidenceError, UsageError
from forecaster.core.text import plural
from forecaster.outputs.columns import never_cut

if TYPE_CHECKING:
    import datetime as dt

    from rich.text import Text

    from forecaster.core.workspace import Workspace
    from forecaster.model.priors import Priors

app = typer.Typer(
    cls=HelpGroup,
    name="scenario",
    help=(
        "Scenarios: named sets of hypothetical reports (scenarios/*.yaml) added on top of the recorded "
        "evidence and compared with the forecast without them. Nothing is recorded.\n\n"
        "Example:  forecast scenario run kfor_drawdown second_banjska --exact"
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

AsOfOpt = Annotated[
    str | None,
    typer.Option(
        "--as-of", metavar="YYYY-MM-DD", help="Recorded evidence as known on this date (YYYY-MM-DD; default today).", show_default=False
    ),
]
SeedOpt = Annotated[
    int | None, typer.Option("--seed", help="Random seed (default fixed, as for update).", show_default=False)
]


@contextmanager
def _status(message: str, *, quiet: bool) -> Iterator[Any]:
    """A spinner on stderr when it is a terminal; `update(text)` changes its message."""
    if quiet or not is_terminal():
        yield None
        return
    with err.status(message, spinner="dots") as status:
        yield status


# ----------------------------------------------------------------------------- scenario list


@app.command("list")
@handle_errors
def list_scenarios(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the scenarios in the workspace's scenarios/ folder, each validated.

    A YAML file there without `name:` (historical_events.yaml: recorded history) is not a scenario.

    Example:  forecast scenario list --json
    """
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from forecaster.inference.scenarios import list_scenarios as load_all
    from forecaster.model.loading import load_priors

    ws = workspace(ctx)
    priors = load_priors(ws.priors_dir)
    scenarios = load_all(ws.scenarios_dir, known=priors.indicator_ids)
    if as_json:
        print_json([s.to_json() for s in scenarios])
        return
    if not scenarios:
        out.print(f"no scenarios in {ws.scenarios_dir}")
        return
    table = Table(box=box.SIMPLE_HEAVY, pad_edge=False, header_style="bold")
    table.add_column("name", no_wrap=True)
    table.add_column("title", ratio=1)
    table.add_column("hypothetical reports", ratio=1)
    table.add_column("citation", ratio=1)
    for s in scenarios:
        said = ", ".join(_said(r.indicator, r.occurred, r.grade) for r in s.reports)
        table.add_row(Text(s.name), Text(s.title), Text(said), Text(s.citation))
    out.print(never_cut(table, 0))
    out.print("run one with: forecast scenario run NAME [NAME …] [--exact]", style="dim")


def _said(indicator: str, occurred: bool, grade: str) -> str:
    return f"{indicator}{'' if occurred else ':no'}@{grade}"


# ----------------------------------------------------------------------------- scenario run


@app.command("run")
@handle_errors
def run(
    ctx: typer.Context,
    names: Annotated[
        list[str],
        typer.Argument(
            metavar="NAME",
            help="Scenario names (see `forecast scenario list`) or paths to scenario files.",
            show_default=False,
        ),
    ],
    exact: Annotated[
        bool, typer.Option("--exact", help="Exact engine: instant, prior-mean network, no intervals.")
    ] = False,
    seed: SeedOpt = None,
    draws: DrawsOpt = None,
    tune: TuneOpt = None,
    chains: ChainsOpt = None,
    sampler: SamplerOpt = None,
    target_accept: TargetAcceptOpt = None,
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Forecast with each scenario's hypothetical reports added to the recorded evidence.

    Shows, for every hypothesis, the baseline (the recorded evidence alone) and each scenario side
    by side: posterior, 90 % interval and the change from the baseline in percentage points.
    The baseline and every scenario are drawn afresh (exact posterior draws checked against the
    PyMC model, built once; --sampler nuts for NUTS). Scenario reports count whatever their date. Nothing is written to the event store or runs/, so a
    scenario never becomes the "previous update".

    Example:  forecast scenario run kfor_drawdown serbia_turns_east --json
    """
    from forecaster.inference.scenarios import find_scenarios
    from forecaster.model.loading import load_priors

    ws = workspace(ctx)
    priors = load_priors(ws.priors_dir)
    chosen = find_scenarios(ws.scenarios_dir, names, known=priors.indicator_ids)
    kwargs = sampler_options(draws=draws, tune=tune, chains=chains, sampler=sampler, target_accept=target_accept, exact=exact)
    _compare(ws, priors, chosen, as_of_date(as_of), seed=seed, exact=exact, sampler_kwargs=kwargs,
             as_json=as_json, status="scenarios…")


def _compare(ws: Any, priors: Any, scenarios: list[Any], when: Any, *, seed: int | None, exact: bool,
             as_json: bool, status: str, sampler_kwargs: dict[str, Any] | None = None) -> None:
    """Run scenarios on the recorded evidence and print the comparison (scenario run and whatif)."""
    from forecaster.inference.settings import seed_or_default
    from forecaster.workflow.updating import run_scenarios

    with _status(status, quiet=as_json or exact) as shown:
        comparison = run_scenarios(
            ws,
            priors,
            scenarios,
            as_of=when,
            seed=seed_or_default(seed),
            exact=exact,
            sampler_kwargs=sampler_kwargs,
            progress=None if shown is None else shown.update,
        )
    _emit(comparison, as_json=as_json)


def _emit(comparison: Any, *, as_json: bool) -> None:
    if as_json:
        print_json(comparison.to_json())
        for w in _warnings(comparison):
            warn(w)
        return
    _render_comparison(comparison)


def _warnings(comparison: Any) -> list[str]:
    runs = [("baseline", comparison.baseline), *((o.scenario.name, o.result) for o in comparison.outcomes)]
    return [f"{name}: {w}" for name, result in runs for w in result.diagnostics.warnings]


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _pp(x: float) -> str:
    v = 100 * x
    return "0.0" if abs(v) < 0.05 else f"{v:+.1f}"


def _cell(state: Any, change: float | None) -> Text:
    from rich.text import Text

    lo, hi = state.interval
    text = Text(_pct(state.posterior))
    if lo == lo:  # not NaN: a sampled interval
        digits = 1 if hi < 0.1 else 0  # small probabilities keep a decimal: "0.0–0.4", not "0–0"
        text.append(f" {100 * lo:.{digits}f}–{100 * hi:.{digits}f}", style="dim")
    if change is not None:
        style = "green" if change > 0.0005 else "red" if change < -0.0005 else ""
        text.append(f" {_pp(change):>5}", style=style)
    return text


def _render_comparison(comparison: Any) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    sampled = comparison.sampler != "exact"
    what = "posterior, 90% interval, change from baseline (pp)" if sampled else "posterior, change from baseline (pp)"
    out.print(f"scenarios as of {comparison.as_of} — {what}; * = the state network.yaml marks claimed")
    baseline = comparison.baseline
    for h in baseline.hypotheses:
        t = Table(title=h.id, title_justify="left", box=box.SIMPLE_HEAVY, pad_edge=False)
        t.add_column("")
        for s in h.states:
            t.add_column(f"{s.id} *" if s.claimed else s.id, justify="right", no_wrap=True)
        t.add_row("baseline", *(_cell(s, None) for s in h.states), style="bold")
        for o in comparison.outcomes:
            states = next(x for x in o.result.hypotheses if x.id == h.id).states
            t.add_row(Text(o.scenario.name), *(_cell(s, o.change[h.id][s.id]) for s in states))
        out.print(never_cut(t, 0))
    files = [o for o in comparison.outcomes if o.scenario.path is not None]
    typed = [o for o in comparison.outcomes if o.scenario.path is None]
    for o in typed:
        said = [_said(r.indicator, r.occurred, r.grade) for r in o.scenario.reports]
        said += [f"without {rid}" for rid in o.scenario.without]
        out.print(Text(f"{o.scenario.name}: " + ", ".join(said)))
    if files:
        _legend(files)
    for w in _warnings(comparison):
        warn(w)
    runs = [baseline, *(o.result for o in comparison.outcomes)]
    if sampled:
        d = baseline.diagnostics
        rhat = max(r.diagnostics.r_hat_max or 0.0 for r in runs)
        ess = min(r.diagnostics.ess_min if r.diagnostics.ess_min is not None else float("inf") for r in runs)
        divergences = sum(r.diagnostics.divergences for r in runs)
        worst = [r.diagnostics.interval_mcse_max for r in runs if r.diagnostics.interval_mcse_max is not None]
        engine = (
            f"posterior exact; {d.sampler} {d.chains}×{d.draws} draws, "
            + (f"R-hat max {rhat:.3f}, ESS min {ess:.0f}, divergences {divergences}" if d.sampler == "pymc-nuts"
               else f"exact i.i.d., ESS min {ess:.0f}")
            + (f", interval MCSE max {max(worst):.3f}" if worst else "")
            + " · every scenario drawn afresh"
        )
    else:
        engine = "exact engine (prior-mean network)"
    out.print(
        f"baseline: {comparison.recorded_reports} recorded reports ({baseline.window[0]} to {baseline.window[1]}) · "
        f"priors {baseline.priors_hash} · seed {comparison.seed} · {engine} · {comparison.seconds:.1f}s · "
        "not recorded: nothing written to the store or runs/",
        style="dim",
    )


def _legend(outcomes: list[Any]) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    legend = Table(title="scenarios", title_justify="left", box=box.SIMPLE_HEAVY, pad_edge=False, header_style="bold")
    legend.add_column("name", no_wrap=True)
    legend.add_column("title", ratio=1)
    legend.add_column("hypothetical reports", ratio=1)
    for o in outcomes:
        said = ", ".join(_said(r.indicator, r.occurred, r.grade) for r in o.scenario.reports)
        legend.add_row(Text(o.scenario.name), Text(o.scenario.title), Text(said))
    out.print(never_cut(legend, 0))


# ----------------------------------------------------------------------------- whatif


@handle_errors
def whatif(
    ctx: typer.Context,
    reports: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="REPORT",
            help="Hypothetical reports, one per argument: INDICATOR[:yes|:no][@GRADE] (see above).",
            show_default=False,
        ),
    ] = None,
    not_occurred: Annotated[
        bool,
        typer.Option("--not-occurred", help="Reports that do not say :yes or :no say the indicator did NOT occur."),
    ] = False,
    grade: Annotated[str, typer.Option("--grade", help="Admiralty grade for reports without @GRADE.")] = "B2",
    sample: Annotated[
        bool, typer.Option("--sample", help="Sample with PyMC for 90 % intervals (seconds, not instant).")
    ] = False,
    seed: SeedOpt = None,
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
    without: Annotated[
        list[str] | None,
        typer.Option(
            "--without", metavar="REPORT_ID",
            help="Leave this recorded report out (repeat, or separate ids by commas); its origin's other reports still count.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """What if these reports came in, or those recorded were removed? The forecast with them added
    to the recorded evidence (--without: with those recorded reports left out), beside the forecast
    on the recorded evidence as it is, on the exact engine (--sample: PyMC). Nothing is recorded.

    \b
    One argument per report, INDICATOR[:yes|:no][@GRADE]:
      armed_incident_north_kosovo    it occurred (graded --grade, default B2)
      csto_move:no                   it did not occur
      csto_move@C3                   it occurred, graded C3
      csto_move:no@A1                it did not occur, graded A1
    --not-occurred makes "did not occur" the default for arguments without :yes or :no.

    \b
    Example:  forecast whatif armed_incident_north_kosovo infrastructure_sabotage@A2 csto_move:no
    Example:  forecast whatif --without r-8bd6d1739d92 --without r-9b4341a859b3
    """
    from forecaster.inference.scenarios import parse_hypothetical, whatif_scenario

    ws, priors, when = _grade_workspace(ctx, grade, as_of)
    typed = [
        parse_hypothetical(token, known=priors.indicator_ids, occurred=not not_occurred, grade=grade, today=when)
        for token in reports or ()
    ]
    left_out = [rid.strip() for item in without or () for rid in item.split(",") if rid.strip()]
    if not typed and not left_out:
        raise UsageError("whatif: give a hypothetical report (INDICATOR[:yes|:no][@GRADE]) or --without REPORT_ID")
    _compare(ws, priors, [whatif_scenario(typed, left_out)], when, seed=seed, exact=not sample, as_json=as_json,
             status="sampling…")


# ----------------------------------------------------------------------------- collect


@handle_errors
def collect(
    ctx: typer.Context,
    grade: Annotated[str, typer.Option("--grade", help="Admiralty grade of the report you could get.")] = "B2",
    hypothesis: Annotated[
        str | None,
        typer.Option(
            "--hypothesis",
            help="Rank by the information about this hypothesis (default: all hypotheses jointly).",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, max=10**9, help="Show only the first N (JSON: all).", show_default=False)
    ] = None,
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What to collect next: every indicator without a report, ranked by the information a report
    on it would give.

    For each: the expected information in bits (mutual information between a report at --grade
    and the hypotheses, given the evidence so far), the probability that the indicator occurred
    and that the report says so, and the largest shift in the forecast if it says occurred or not
    occurred (MODEL.md §5). Exact engine.

    Example:  forecast collect --grade B2 --hypothesis alignment
    """
    from forecaster.inference.voi import plan_collection
    from forecaster.workflow.updating import gather_reports

    ws, priors, when = _grade_workspace(ctx, grade, as_of)
    reports = gather_reports(ws, priors, as_of=when)
    plan = plan_collection(priors, reports, grade=grade, hypothesis=hypothesis, as_of=when)
    if as_json:
        print_json(plan.to_json())
        return
    _render_plan(plan, limit=limit)


def _render_plan(plan: Any, *, limit: int | None) -> None:
    from rich.table import Table
    from rich.text import Text

    focus = plan.hypothesis
    about = f"about {focus}" if focus else "about all hypotheses jointly"
    out.print(
        f"what to collect next: a report graded {plan.grade} (accuracy {plan.accuracy:.2f}) on each indicator with no "
        f"report, given {plural(plan.reports, 'report')} in force in the evidence window; ranked by expected information {about}"
    )
    if not plan.ranked:
        out.print("every indicator already has a report")
        return
    hyps = list(plan.posterior)
    others = [h for h in hyps if h != focus] if focus is None else []
    t = Table(box=None, pad_edge=False, header_style="bold", collapse_padding=True)
    t.add_column("#", justify="right", no_wrap=True)
    t.add_column("indicator", no_wrap=True)
    t.add_column("bits" if focus is None else f"bits {focus}", justify="right", no_wrap=True)
    for h in others:
        t.add_column(h, justify="right", no_wrap=True)
    t.add_column("P(occurs)", justify="right", no_wrap=True)
    t.add_column("P(yes)", justify="right", no_wrap=True)
    t.add_column("shift if yes / if no (pp)", no_wrap=True)
    rows = plan.ranked if limit is None else plan.ranked[:limit]
    names = [s for states in plan.posterior.values() for s in states]
    for i, v in enumerate(rows, 1):
        h, s, yes, no = v.largest_shift(focus)
        label = s if names.count(s) == 1 else f"{h}.{s}"  # a state name alone where it is unambiguous
        t.add_row(
            str(i),
            Text(v.indicator),
            f"{v.score(focus):.4f}",
            *(f"{v.bits[o]:.3f}" for o in others),
            _pct(v.p_occurs),
            _pct(v.p_report_yes),
            Text(f"{label} {_pp(yes)} / {_pp(no)}"),
        )
    out.print(never_cut(t, 1))
    more = len(plan.ranked) - len(rows)
    notes = [f"{more} more (--limit)"] if more > 0 else []
    if plan.reported:
        notes.append(f"{plural(len(plan.reported), 'indicator')} already reported (not ranked)")
    notes.append(f"P(yes): that a report graded {plan.grade} says it occurred")
    notes.append("bits: expected information (mutual information); 1 bit settles a 50/50 question")
    out.print(" · ".join(notes), style="dim")


def _grade_workspace(ctx: typer.Context, grade: str, as_of: str | None) -> tuple[Workspace, Priors, dt.date]:
    """--grade checked first, then the workspace, its priors and the --as-of date (whatif, collect)."""
    from forecaster.model.evidence import parse_grade
    from forecaster.model.loading import load_priors

    try:
        parse_grade(grade)
    except EvidenceError as e:
        raise UsageError(f"--grade: {e}") from None
    ws = workspace(ctx)
    return ws, load_priors(ws.priors_dir), as_of_date(as_of)
