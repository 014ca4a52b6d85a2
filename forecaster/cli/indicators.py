"""`forecast indicators` (one line per indicator) and `forecast indicators show ID` (one in full).

`reports` counts what the model uses, by the rule `forecast update` and `forecast collect` use;
`--hypothesis` keeps the indicators that bear on one hypothesis (a parent of theirs, or of their
mechanism). Moved out of cli.event (issue 21), which keeps the evidence log itself."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

import typer

from forecaster.cli.common import JsonOpt, as_of_date, err, handle_errors, out, print_json, workspace
from forecaster.cli.helptext import HelpGroup
from forecaster.core.errors import UsageError, did_you_mean
from forecaster.outputs.columns import never_cut

if TYPE_CHECKING:
    from forecaster.core.workspace import Workspace
    from forecaster.model.priors import Priors

app = typer.Typer(
    cls=HelpGroup,
    name="indicators",
    help=(
        "The indicator catalogue, one line per indicator: id, number of reports, last report date, "
        "hypothesis parents. `forecast indicators show ID` gives one indicator in full (definition, mechanism, "
        "citation, counts); `--hypothesis` keeps those that bear on one hypothesis.\n\n"
        "`reports` counts what the model uses, by the rule `forecast update` and `forecast collect` use: "
        "reports in force whose event date lies in the evidence window as of --as-of (and known by then). "
        "`ignored` counts the others in force (before the window, or after the as-of date); retracted "
        "reports are counted apart. Reports on an indicator the catalogue no longer has are listed at the "
        "end, marked. --json gives every field of every indicator.\n\n"
        "Example:  forecast indicators --hypothesis alignment"
    ),
    invoke_without_command=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

AsOfOpt = Annotated[
    str | None,
    typer.Option("--as-of", metavar="YYYY-MM-DD", help="Count the reports an update as of this date uses (default today).",
                 show_default=False),
]
HypothesisOpt = Annotated[
    str | None,
    typer.Option("--hypothesis", "-H", metavar="HYPOTHESIS",
                 help="Only the indicators that bear on this hypothesis (a parent of theirs or of their mechanism).",
                 show_default=False),
]


def catalogue_rows(ws: Workspace, priors: Priors, when: dt.date) -> list[dict[str, Any]]:
    """Every catalogue indicator with its counts, then the indicators reported on but not in it."""
    from collections import Counter

    from forecaster.store.events import EventStore

    with EventStore(ws.db) as store:
        counts = store.indicator_counts()
        used = Counter(r.indicator for r in store.reports_for_update(as_of=when, window_days=priors.evidence_window_days))
    rows: list[dict[str, Any]] = []
    for ind in priors.indicators:
        c = counts.get(ind.id)
        rows.append({
            "id": ind.id, "definition": ind.definition, "parents": list(ind.parents), "in_catalogue": True,
            "reports": used[ind.id], "ignored": (c.reports if c else 0) - used[ind.id],
            "in_force": c.reports if c else 0, "retracted": c.retracted if c else 0,
            "last_report": c.last_date.isoformat() if c and c.last_date else None,
            "mechanism": ind.mechanism, "name": ind.name, "citation": ind.citation,
        })
    listed = {ind.id for ind in priors.indicators}
    for ind_id, c in counts.items():
        if ind_id not in listed:
            rows.append({
                "id": ind_id, "definition": "", "parents": [], "in_catalogue": False, "reports": 0,
                "ignored": c.reports, "in_force": c.reports, "retracted": c.retracted,
                "last_report": c.last_date.isoformat() if c.last_date else None,
                "mechanism": None, "name": "", "citation": "",
            })
    return rows


def bears_on(priors: Priors, hypothesis: str) -> set[str]:
    """The indicators with `hypothesis` among their parents or their mechanism's; exit 2 on an unknown one."""
    if hypothesis not in priors.hypothesis_ids:
        raise UsageError(f"--hypothesis {hypothesis!r}: no such hypothesis{did_you_mean(hypothesis, list(priors.hypothesis_ids))}")
    via = {m.id for m in priors.mechanisms if hypothesis in m.parents}
    return {i.id for i in priors.indicators if hypothesis in i.parents or i.mechanism in via}


def _load(ctx: typer.Context, as_of: str | None) -> tuple[Priors, list[dict[str, Any]], dt.date]:
    from forecaster.model.loading import load_priors

    ws = workspace(ctx)
    when = as_of_date(as_of)
    priors = load_priors(ws.priors_dir)
    return priors, catalogue_rows(ws, priors, when), when


@app.callback()
@handle_errors
def indicators(
    ctx: typer.Context, as_json: JsonOpt = False, as_of: AsOfOpt = None, hypothesis: HypothesisOpt = None
) -> None:
    """The indicator catalogue, one line per indicator (see `forecast indicators --help`)."""
    if ctx.invoked_subcommand is not None:
        return
    priors, rows, when = _load(ctx, as_of)
    if hypothesis is not None:
        keep = bears_on(priors, hypothesis)
        rows = [r for r in rows if r["id"] in keep]
    if as_json:
        print_json(rows)
        return
    out.print(never_cut(_list_table(rows), 0))
    if any(r["ignored"] for r in rows):
        _say(f"reports: in force and in the evidence window as of {when.isoformat()} (what update and collect use); "
             "ignored: in force but outside it")
    _say("forecast indicators show ID: an indicator's definition and counts in full")


def _list_table(rows: list[dict[str, Any]]) -> Any:
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, header_style="bold")
    ignored = any(row["ignored"] for row in rows)
    heads = ["id", "reports", *(["ignored"] if ignored else []), "last report", "parents"]
    for name in heads:
        table.add_column(name, justify="right" if name in ("reports", "ignored") else "left")
    for row in rows:
        parents = ", ".join(row["parents"]) if row["in_catalogue"] else "(not in the catalogue)"
        cells = [row["id"], str(row["reports"]), *([str(row["ignored"])] if ignored else []),
                 row["last_report"] or "—", parents]
        table.add_row(*(Text(c) for c in cells))  # Text: catalogue text is never read as Rich markup
    return table


@app.command("show")
@handle_errors
def show(
    ctx: typer.Context,
    indicator: Annotated[str, typer.Argument(metavar="INDICATOR", help="The indicator's id.", show_default=False)],
    as_json: JsonOpt = False,
    as_of: AsOfOpt = None,
) -> None:
    """One indicator in full: definition, parents, mechanism, citation and its reports' counts.

    Its likelihood table, every expert's judgment of it, is `forecast priors show INDICATOR`.

    Example:  forecast indicators show kfor_reinforcement
    """
    _, rows, when = _load(ctx, as_of)
    found = [r for r in rows if r["id"] == indicator]
    if not found:
        raise UsageError(f"unknown indicator {indicator!r}{did_you_mean(indicator, [r['id'] for r in rows])}")
    row = found[0]
    if as_json:
        print_json(row)
        return
    from rich.text import Text

    fields = [("definition", row["definition"] or "(not in the catalogue: reports on an unknown indicator)"),
              ("parents", ", ".join(row["parents"]) or "—"), ("mechanism", row["mechanism"] or "—"),
              ("citation", row["citation"] or "—"),
              (f"reports used as of {when.isoformat()}", str(row["reports"])),
              ("in force, outside the window", str(row["ignored"])), ("retracted", str(row["retracted"])),
              ("last report", row["last_report"] or "—")]
    out.print(Text(f"{row['id']}" + (f" ({row['name']})" if row["name"] and row["name"] != row["id"] else ""), style="bold"))
    for label, value in fields:
        out.print(Text(f"{label}: {value}"))
    _say(f"its likelihood table: forecast priors show {row['id']}")


def _say(message: str) -> None:
    err.print(message, markup=False, highlight=False, soft_wrap=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="indicators")
