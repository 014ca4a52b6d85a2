"""`forecast event amend` (issue 21): correct a report's origin, grade or note in one append-only
step (a retraction "amended: replaced by NEW_ID" plus the corrected report). Thin: over
forecaster.store.amend; registered on the `event` sub-app by `cli.event.register`."""

from __future__ import annotations

from typing import Annotated

import typer

from forecaster.cli import console
from forecaster.cli.common import JsonOpt, analyst_name, handle_errors, print_json, workspace
from forecaster.cli.event import AnalystOpt, _get, _say, _store, _weigher
from forecaster.core.errors import UsageError
from forecaster.model.evidence import parse_grade
from forecaster.store.formats import report_to_row
from forecaster.store.records import StoredReport


@handle_errors
def amend(
    ctx: typer.Context,
    report_id: Annotated[str, typer.Argument(metavar="ID", help="Report id, or a unique prefix of it.", show_default=False)],
    origin: Annotated[str | None, typer.Option("--origin", metavar="ORIGIN", help="The original source it repeats (\"\" clears it).", show_default=False)] = None,
    grade: Annotated[str | None, typer.Option("--grade", metavar="GRADE", help="A new Admiralty grade, e.g. B2.", show_default=False)] = None,
    note: Annotated[str | None, typer.Option("--note", metavar="NOTE", help="A new note (replaces the old one).", show_default=False)] = None,
    analyst: AnalystOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Correct a report's origin, grade or note, append-only: the report is retracted with the
    reason "amended: replaced by NEW_ID" and the corrected report (same indicator, date, outcome,
    source and url) is added, in one transaction; prints the new id. The usual remedy for the
    same-episode warning: give both reports one origin, and they count once.

    Example:  forecast event amend r-3fa2c91b07e4 --origin "AP wire 2025-03-18"
    """
    from forecaster.store.amend import Change, amend_report

    if origin is None and grade is None and note is None:
        raise UsageError("nothing to amend: give --origin, --grade or --note")
    rel, cred = parse_grade(grade) if grade is not None else (None, None)
    with _store(ctx) as store:
        rid = _get(store, report_id).report.id or report_id
        done = amend_report(store, rid, Change(origin, rel, cred, note), who=analyst_name(analyst))
    if as_json:
        new = StoredReport(done.new)
        print_json({"amended": done.old.report.id, "reason": done.retraction.reason,
                    "report": {**report_to_row(new), **_weigher(workspace(ctx))(new)}})
        return
    _say(f"retracted {done.old.report.id} ({done.retraction.reason})")
    console.write_out(f"{done.new.id}\n")


def register(event_app: typer.Typer) -> None:
    """Attach `amend` to the `event` sub-app."""
    event_app.command("amend")(amend)
