"""`forecast event …`: the evidence log (issue 3; `forecast indicators` is cli.indicators).

Thin commands over forecaster.store.events. Nothing here imports pymc, arviz or the priors models on the
paths an analyst types all day (add, list, show): each answers in a fraction of a second."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from forecaster.cli import console
from forecaster.cli.common import JsonOpt, analyst_name, date_option, err, handle_errors, print_json, workspace
from forecaster.cli.helptext import HelpGroup
from forecaster.cli.window import warn_ignored
from forecaster.core.errors import EvidenceError, UsageError, did_you_mean
from forecaster.core.text import neutral, quoted
from forecaster.core.workspace import Workspace
from forecaster.model.evidence import (
    Report,
    check_credibility,
    check_date,
    check_indicator,
    check_reliability,
    parse_grade,
)
from forecaster.store.events import EventStore
from forecaster.store.formats import format_from_name, read_reports_file, report_to_row, write_reports
from forecaster.store.records import FORMATS, DuplicateReportError, Format, ImportResult, StoredReport, format_time

app = typer.Typer(
    cls=HelpGroup,
    name="event",
    help=(
        "The evidence log: graded reports that indicators occurred (or did not), kept in the event store.\n\n"
        "Example:  forecast event add arms_procurement_east --date 2025-03-18 --grade B2 --source Reuters"
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

LIST_LIMIT = 50  # rows the table shows unless --limit says otherwise; --json and --csv show all

AnalystOpt = Annotated[
    str | None, typer.Option("--analyst", help="Who records this (default: your OS user name).", show_default=False)
]


def _indicator_ids(ws: Workspace) -> set[str]:
    """The catalogue's indicator ids, read from priors/indicators.yaml alone.

    `event add` must answer in well under half a second, and the full priors loader (pydantic
    models, every expert file) costs about that by itself; `forecast priors validate` and `update`
    validate everything. When the file cannot be read this way, the full loader explains why."""
    import yaml

    from forecaster.core.errors import PriorsError
    from forecaster.model.priors import main_file

    try:
        path = main_file(ws.priors_dir, "indicators")
    except PriorsError:
        path = ws.priors_dir / "indicators.yaml"  # the full loader below explains
    try:
        # libyaml's safe loader: no tags beyond plain data, ten times faster than the pure-Python
        # one in yamlio (which keeps line numbers this does not need). Only the top-level list is
        # walked, so aliases are never expanded.
        loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        data = yaml.load(path.read_text(encoding="utf-8-sig"), Loader=loader) if path.is_file() else None  # no FIFO
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        data = None
    items = data.get("indicators") if isinstance(data, dict) else None
    if isinstance(items, list):
        ids = {str(i["id"]) for i in items if isinstance(i, dict) and i.get("id")}
        if ids:
            return ids
    from forecaster.model.loading import load_priors

    return load_priors(ws.priors_dir).indicator_ids


def _weigher(ws: Workspace) -> Any:
    """Each report's weight now (MODEL.md §3: its accuracy aged to today), from settings.yaml's
    grade table and half-life, read as `_indicator_ids` reads the catalogue (fast)."""
    import yaml

    from forecaster.model.evidence import DEFAULT_GRADES, DEFAULT_HALF_LIFE_DAYS, GradeTable, aged_accuracy

    grades: GradeTable = DEFAULT_GRADES
    half_life: float | None = DEFAULT_HALF_LIFE_DAYS
    try:
        loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        settings = ws.priors_dir / "settings.yaml"
        data = (yaml.load(settings.read_text(encoding="utf-8-sig"), Loader=loader) if settings.is_file() else None) or {}
        g = data.get("grades") or {}
        grades = GradeTable({str(k): float(v) for k, v in g["reliability"].items()},
                            {int(k): float(v) for k, v in g["credibility"].items()})
        hl = data.get("half_life_days", DEFAULT_HALF_LIFE_DAYS)
        half_life = None if hl in (None, "none") else float(hl)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError):
        pass
    if half_life is not None and not half_life > 0:
        half_life = None  # `priors audit` reports it; the weight is shown unaged
    today = dt.date.today()

    def weigh(entry: StoredReport) -> dict[str, Any]:
        r = entry.report
        a = grades.accuracy(r.reliability, r.credibility)
        age = max(0, (today - r.date).days)
        return {"accuracy": round(a, 6), "weight": round(aged_accuracy(a, age, half_life), 6), "age_days": age}

    return weigh


def _format(value: str) -> Format:
    fmt = value.strip().lower()
    if fmt == "yml":
        fmt = "yaml"
    for known in FORMATS:
        if fmt == known:
            return known
    raise UsageError(f"--format {quoted(value)}: expected one of {', '.join(FORMATS)}{did_you_mean(fmt, FORMATS)}")


def _store(ctx: typer.Context) -> EventStore:
    return EventStore(workspace(ctx).db)


def _say(message: str) -> None:
    """A note on stderr; the message may hold user text, so no Rich markup."""
    err.print(message, markup=False, highlight=False, soft_wrap=True)


def _one_line(text: str) -> str:
    """One line of user text for a table cell: control characters shown (core.text.neutral)."""
    return neutral(" ".join(text.split()), newlines=False)


@app.command()
@handle_errors
def add(
    ctx: typer.Context,
    indicator: Annotated[str, typer.Argument(help="Indicator id from the catalogue (see `forecast indicators`).", show_default=False)],
    date: Annotated[str | None, typer.Option("--date", metavar="YYYY-MM-DD", help="Event date, YYYY-MM-DD (not in the future).", show_default=False)] = None,
    not_occurred: Annotated[bool, typer.Option("--not-occurred", help="The report says the indicator did NOT occur.")] = False,
    grade: Annotated[str | None, typer.Option("--grade", help="Admiralty grade: reliability A–F then credibility 1–6, e.g. B2.", show_default=False)] = None,
    reliability: Annotated[str | None, typer.Option("--reliability", help="Source reliability A–F (instead of --grade).", show_default=False)] = None,
    credibility: Annotated[str | None, typer.Option("--credibility", help="Information credibility 1–6 (instead of --grade).", show_default=False)] = None,
    source: Annotated[str | None, typer.Option("--source", help="Where the report comes from (required).", show_default=False)] = None,
    url: Annotated[str, typer.Option("--url", help="Link to the source.")] = "",
    note: Annotated[str, typer.Option("--note", help="Free text: what exactly was reported.")] = "",
    origin: Annotated[str | None, typer.Option("--origin", help="The original source this report repeats (one wire story, one ACLED event id): same-origin reports on one indicator count once.", show_default=False)] = None,
    analyst: AnalystOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record one graded report and print its id.

    Nothing is written unless every field is valid. An identical report (same indicator, date,
    grade, source, URL and note) is recorded once: adding it again prints the existing id. A
    duplicate (same indicator, date, outcome and source, ignoring Unicode form and spacing) is
    refused, naming the stored one; a likely report of the same episode (same indicator and
    outcome within 3 days, no --origin) is recorded with a warning naming the other.

    Example:  forecast event add arms_procurement_east --date 2025-03-18 --grade B2 --source "Reuters" --url https://…
    """
    ws = workspace(ctx)
    check_indicator(indicator, _indicator_ids(ws))
    report = _report_from_options(
        indicator, date, not_occurred=not_occurred, grade=grade, reliability=reliability, credibility=credibility,
        source=source, url=url, note=note, origin=origin,
    )
    stored, warning = _record_report(ws, report, analyst)
    if warning:
        _say(f"warning: {warning}")
    warn_ignored(ws, [report.date])
    if as_json:
        print_json({**report_to_row(StoredReport(stored)), **_weigher(ws)(StoredReport(stored))})
    else:
        console.write_out(f"{stored.id}\n")


def _report_from_options(
    indicator: str, date: str | None, *, not_occurred: bool, grade: str | None, reliability: str | None,
    credibility: str | None, source: str | None, url: str, note: str, origin: str | None,
) -> Report:
    """`event add`'s options as one checked report (a usage error names the first bad one)."""
    if date is None:
        raise UsageError("--date is required: the event date, YYYY-MM-DD")
    event_date = check_date(date)
    if grade is not None and (reliability is not None or credibility is not None):
        raise UsageError("give either --grade B2 or --reliability B --credibility 2, not both")
    if grade is not None:
        rel, cred = parse_grade(grade)
    elif reliability is not None and credibility is not None:
        rel, cred = check_reliability(reliability), check_credibility(credibility)
    else:
        raise UsageError("a grade is required: --grade B2, or --reliability B --credibility 2")
    if source is None or not source.strip():
        raise UsageError("--source is required and must not be empty: say where the report came from")
    report = Report(
        indicator=indicator, date=event_date, occurred=not not_occurred, reliability=rel, credibility=cred,
        source=source, url=url, note=note, origin=(origin or "").strip() or None,
    )
    if origin is not None and report.origin is None:
        raise UsageError("--origin is empty; name the original source, or leave the option out")
    return report


def _record_report(ws: Workspace, report: Report, analyst: str | None) -> tuple[Report, str | None]:
    """Store one report: a duplicate refused, an identical one named (nothing added), a likely same
    episode recorded with its warning. Returns the stored report and the warning to print."""
    with EventStore(ws.db) as store:
        near = store.similar(report)
        if near.duplicate is not None:
            from forecaster.store.records import content_key, normal_text

            dup = near.duplicate.report
            same = content_key(dataclasses.replace(dup, id=None, recorded_at=None, analyst="")) == content_key(
                dataclasses.replace(report, source=report.source.strip())
            )
            if not same:
                raise EvidenceError(
                    f"a report of {dup.indicator} on {dup.date.isoformat()} ({'occurred' if dup.occurred else 'not occurred'}) "
                    f"from {normal_text(dup.source)!r} is already recorded as {dup.id}; nothing added "
                    "(retract it first to correct it)"
                )
        warning = near.warning(report)
        try:
            stored = store.add(report, analyst=analyst_name(analyst))
        except DuplicateReportError as e:
            if e.existing.retracted:
                raise
            stored = e.existing.report
            assert stored.recorded_at is not None
            _say(f"already recorded as {stored.id} on {format_time(stored.recorded_at)} by {stored.analyst}; nothing added")
            warning = None
    return stored, warning


@app.command("list")
@handle_errors
def list_(
    ctx: typer.Context,
    indicator: Annotated[str | None, typer.Option("--indicator", "-i", help="Only this indicator.", show_default=False)] = None,
    since: Annotated[str | None, typer.Option("--since", metavar="YYYY-MM-DD", help="Event date on or after, YYYY-MM-DD.", show_default=False)] = None,
    until: Annotated[str | None, typer.Option("--until", metavar="YYYY-MM-DD", help="Event date on or before, YYYY-MM-DD.", show_default=False)] = None,
    include_retracted: Annotated[bool, typer.Option("--include-retracted", help="Show retracted reports too, marked.")] = False,
    limit: Annotated[
        int | None,
        typer.Option("--limit", "-n", min=0, max=10**9, help=f"At most this many rows, newest first; 0 for all (default: {LIST_LIMIT} for the table, all for --json and --csv).", show_default=False),
    ] = None,
    as_json: JsonOpt = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV (the export format; importable).")] = False,
) -> None:
    """List reports, newest event first.

    --json and --csv print the export format (so the output can be imported again) and all
    matching rows unless --limit is given; the table shows the newest 50 by default.

    Example:  forecast event list --indicator north_kosovo_unrest --since 2025-01-01
    """
    since_d, until_d = _list_dates(since, until, as_json=as_json, as_csv=as_csv)
    machine = as_json or as_csv
    cap = limit if limit is not None else (0 if machine else LIST_LIMIT)
    with _store(ctx) as store:
        if indicator is not None and not machine:
            _warn_unknown_indicator(ctx, indicator, store)
        rows = store.list(
            indicator=indicator, since=since_d, until=until_d, include_retracted=include_retracted,
            limit=cap + 1 if cap else None,  # one more than shown, to tell whether there are more
        )
        shown = itertools.islice(rows, cap) if cap else rows
        if machine:
            n = write_reports(console.stdout, shown, fmt="json" if as_json else "csv",
                              extra=_weigher(workspace(ctx)) if as_json else None)
        else:
            n = _print_listing(workspace(ctx), shown, include_retracted=include_retracted)
        more = next(rows, None) is not None
        rows.close()
    if n == 0 and not machine:
        _say("no reports match" + ("" if include_retracted else " (retracted ones are hidden; --include-retracted shows them)"))
    if more:
        _say(f"showing the newest {cap}; more match (--limit 0 shows all)")


def _list_dates(since: str | None, until: str | None, *, as_json: bool, as_csv: bool) -> tuple[dt.date | None, dt.date | None]:
    """`event list`'s options checked: one output format, --since not after --until."""
    if as_json and as_csv:
        raise UsageError("choose one of --json and --csv")
    since_d, until_d = date_option(since, "--since"), date_option(until, "--until")
    if since_d and until_d and since_d > until_d:
        raise UsageError(f"--since {since_d} is after --until {until_d}")
    return since_d, until_d


def _print_listing(ws: Workspace, shown: Iterator[StoredReport], *, include_retracted: bool) -> int:
    """The listing as a table, with a line on the reports the evidence window leaves out. (rows)"""
    from forecaster.cli.window import evidence_window

    window = evidence_window(ws)
    n, ignored = _print_table(shown, retracted_column=include_retracted, window=window)
    if ignored and window is not None:
        _say(
            f"{ignored} listed report{'s are' if ignored != 1 else ' is'} ignored by the model (IGNORED): "
            f"the evidence window opens on {window.start.isoformat()} ({window.days} days before today)"
        )
    return n


def _warn_unknown_indicator(ctx: typer.Context, indicator: str, store: EventStore) -> None:
    """A typo in --indicator would list nothing, silently; say so when the id is unknown."""
    try:
        known = _indicator_ids(workspace(ctx)) | set(store.indicator_counts())
    except UsageError:
        return
    if indicator not in known:
        _say(f"note: {quoted(indicator)} is not in the catalogue{did_you_mean(indicator, known)}")


def _print_table(entries: Iterator[StoredReport], *, retracted_column: bool, window: Any = None) -> tuple[int, int]:
    """Plain aligned columns, streamed: a table of 100,000 rows costs no more memory than one row.
    Column widths come from the first 500 rows. An IGNORED column marks reports in force that the
    model leaves out (before the evidence window) when the store holds any. (rows, rows marked)"""
    head = list(itertools.islice(entries, 500))
    if not head:
        return 0, 0
    why = (lambda e: "" if e.retracted else window.why_ignored(e.report.date)) if window is not None else (lambda e: "")
    mark_column = window is not None and any(why(e) for e in head)
    tty = sys.stdout.isatty()
    width = shutil.get_terminal_size().columns if tty else 0
    ind_w = max(9, *(len(e.report.indicator) for e in head))
    id_w = max(2, *(len(e.report.id or "") for e in head))
    titles = ["ID".ljust(id_w), "DATE      ", "INDICATOR".ljust(ind_w), "OCC", "GRADE"]
    if retracted_column:
        titles.append("STATUS   ")
    if mark_column:
        titles.append("IGNORED      ")
    titles.append("SOURCE")
    write = console.write_out
    write("  ".join(titles) + "\n")
    prefix_w = sum(len(t) + 2 for t in titles[:-1])
    n = marked = 0
    for e in itertools.chain(head, entries):
        r = e.report
        cells = [(r.id or "").ljust(id_w), r.date.isoformat(), _one_line(r.indicator).ljust(ind_w), "yes" if r.occurred else "no ", r.grade.ljust(5)]
        if retracted_column:
            cells.append("retracted" if e.retracted else "         ")
        if mark_column:
            reason = why(e)
            marked += bool(reason)
            cells.append(reason.ljust(13))
        source = _one_line(r.source)
        if width and len(source) > width - prefix_w:
            source = source[: max(width - prefix_w - 1, 10)] + "…"
        cells.append(source)
        write("  ".join(cells) + "\n")
        n += 1
    return n, marked


def _get(store: EventStore, report_id: str) -> StoredReport:
    """store.get, with the matches listed when a prefix names several reports (or one, but is too
    short to be taken as naming it): never a bare "no report" for a prefix that matches."""
    try:
        return store.get(report_id)
    except UsageError as e:
        if not str(e).startswith("no report"):
            raise
        rid = report_id.strip().lower()
        if rid and not rid.startswith("r-"):
            rid = "r-" + rid
        if len(rid) <= 2:
            raise
        rows = store._read(
            "reading reports", "SELECT id FROM reports WHERE id >= ? AND id < ? ORDER BY id LIMIT 11", (rid, rid + "\U0010ffff")
        )
        ids = [r[0] for r in rows]
        if not ids:
            raise
        shown = ", ".join(ids[:10]) + (", …" if len(ids) > 10 else "")
        if len(ids) == 1:
            raise UsageError(f"report id {quoted(report_id)} is too short to name a report (give at least 4 digits): it matches {shown}") from None
        raise UsageError(
            f"report id {quoted(report_id)} is ambiguous: {'over 10' if len(ids) > 10 else len(ids)} reports start with it: {shown}; give more digits"
        ) from None


@app.command()
@handle_errors
def show(
    ctx: typer.Context,
    report_id: Annotated[str, typer.Argument(metavar="REPORT_ID", help="Report id, or a unique prefix of it (at least 4 digits).", show_default=False)],
    as_json: JsonOpt = False,
) -> None:
    """Show one report in full, with its retraction if any.

    Example:  forecast event show r-3fa2c91b07e4
    """
    with _store(ctx) as store:
        entry = _get(store, report_id)
    row = report_to_row(entry)
    weight = _weigher(workspace(ctx))(entry)
    if as_json:
        print_json({**row, **weight})
        return
    for key, value in _show_lines(workspace(ctx), entry, row, weight):
        text = value.replace("\n", "\n" + " " * 13)
        console.write_out(f"{key:<12} {text}\n")


def _show_lines(ws: Workspace, entry: StoredReport, row: dict[str, Any], weight: dict[str, Any]) -> list[tuple[str, str]]:
    """`event show`'s (field, value) lines, with the evidence window's note on a report it leaves out."""
    r, t = entry.report, entry.retraction
    lines = [
        ("id", r.id or ""),
        ("indicator", r.indicator),
        ("date", r.date.isoformat()),
        ("occurred", "yes" if r.occurred else "no (the report says it did not occur)"),
        ("grade", f"{r.grade} (reliability {r.reliability}, credibility {r.credibility})"),
        ("source", r.source),
        ("url", r.url),
        ("note", r.note),
        ("origin", r.origin or "(none: its own origin)"),
        ("analyst", r.analyst),
        ("recorded at", row["recorded_at"] or ""),
        ("weight now", f"{weight['weight']:.3f} (accuracy {weight['accuracy']:.3f}, {weight['age_days']} days old)"),
        ("status", f"RETRACTED on {format_time(t.retracted_at)} by {t.retracted_by}: {t.reason}" if t else "in force"),
    ]
    if t is None:
        from forecaster.cli.window import evidence_window

        window = evidence_window(ws)
        if window is not None and window.why_ignored(r.date):
            lines.append(("model", f"ignored: dated before the evidence window (opens {window.start.isoformat()})"))
    return lines


@app.command()
@handle_errors
def retract(
    ctx: typer.Context,
    report_id: Annotated[str, typer.Argument(metavar="REPORT_ID", help="Report id, or a unique prefix of it.", show_default=False)],
    reason: Annotated[str | None, typer.Option("--reason", help="Why the report is withdrawn (required).", show_default=False)] = None,
    analyst: AnalystOpt = None,
) -> None:
    """Withdraw a report. It stays in the log, marked, and inference leaves it out.

    A correction is a retraction plus a new report (`forecast event add`).

    Example:  forecast event retract r-3fa2c91b07e4 --reason "source misread: the deal was for Rafale jets"
    """
    if reason is None or not reason.strip():
        raise UsageError("--reason is required and must not be empty: say why the report is withdrawn")
    who = analyst_name(analyst)
    with _store(ctx) as store:
        t = store.retract(_get(store, report_id).report.id or report_id, reason, who)
    console.write_out(f"retracted {t.report_id}\n")


@app.command("import")
@handle_errors
def import_(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(metavar="FILE", help="CSV, YAML or JSON file with the export's fields; or an ACLED or GDELT export, or an ACLED deletions file.", dir_okay=False, show_default=False)],
    fmt: Annotated[str | None, typer.Option("--format", metavar="csv|yaml|json|acled|gdelt", help="csv | yaml | json | acled | gdelt (default: from the file name; ACLED and GDELT from the first line).", show_default=False)] = None,
    rules: Annotated[Path | None, typer.Option("--rules", metavar="RULES.yaml", help="Mapping rules for an ACLED or GDELT export: a file, or the name of one in the workspace's rules/ folder.", dir_okay=False, show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check every row and count (ACLED/GDELT: per rule, with examples); write nothing.")] = False,
    analyst: AnalystOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import reports from a file: all rows or, if any row is bad, none.

    Fields as `forecast event export` writes them; id, analyst and the retraction fields may be
    left out (a new id and --analyst are used). Knowledge time is this store's clock: every report
    imported is recorded now and every retraction retracted now, whatever recorded_at and
    retracted_at the file says (they are checked, not kept). Errors name the file, line and
    field of every bad row. Reports already in the store (same content) are skipped, so importing
    a file twice adds nothing. CSV may have a UTF-8 BOM, CRLF line ends and quoted commas or line
    breaks; a leading apostrophe before = + - @ (the export's guard against spreadsheet formulas)
    is removed.

    Example:  forecast event import scenarios/historical_events.yaml

    \b
    ACLED and GDELT exports go through mapping rules (`forecast init` copies the bundled ones); see the README:
      forecast event import acled_2025-06.csv --rules acled_balkans.yaml --dry-run
      forecast event import 20250601.export.CSV --rules gdelt_balkans.yaml --json
      forecast event import acled_deletions.csv
    """
    from forecaster.cli.coded import coded_kind, import_coded_file, nothing_written

    kind = coded_kind(file, fmt, rules)
    if kind is not None:
        return import_coded_file(ctx, file, kind=kind, rules=rules, analyst=analyst_name(analyst), dry_run=dry_run, as_json=as_json, indicator_ids=_indicator_ids, warn_ignored=warn_ignored)
    ws = workspace(ctx)
    chosen = _format(fmt) if fmt is not None else format_from_name(file)
    known = _indicator_ids(ws)
    batch = read_reports_file(file, known=known, fmt=chosen)
    who = analyst_name(analyst)
    notes: list[str] = []
    with nothing_written(), EventStore(ws.db) as store:  # SIGTERM/SIGHUP: rolled back, "nothing written"
        result = store.import_reports(batch.entries, analyst=who, dry_run=dry_run, labels=batch.labels, notes=notes)
    if as_json:
        return print_json({"added": result.added, "skipped": result.skipped, "retracted": result.retracted, "dry_run": dry_run, "notes": notes})
    _print_import_summary(result, notes, dry_run=dry_run)
    warn_ignored(ws, [e.report.date for e in batch.entries if not e.retracted])


def _print_import_summary(result: ImportResult, notes: list[str], *, dry_run: bool) -> None:
    """An import's one line of counts, then its first notes (duplicates and likely same episodes)."""
    verb = "would add" if dry_run else "added"
    dupes = sum(1 for n in notes if ": duplicate of " in n)
    episodes = len(notes) - dupes
    line = (f"{verb} {result.added} report{'s' if result.added != 1 else ''}; "
            f"{result.skipped - dupes} already in the store")
    if dupes:
        line += f"; {dupes} duplicate{'s' if dupes != 1 else ''} skipped"
    if episodes:
        line += f"; {episodes} likely same-episode"
    if result.retracted:
        line += f"; {result.retracted} retraction{'s' if result.retracted != 1 else ''}"
    console.write_out(line + (" (dry run: nothing written)" if dry_run else "") + "\n")
    for n in notes[:NOTES_SHOWN]:
        console.write_out(f"  {n}\n")
    if len(notes) > NOTES_SHOWN:
        console.write_out(f"  … and {len(notes) - NOTES_SHOWN} more (every one with --json)\n")


NOTES_SHOWN = 20  # duplicate and same-episode notes an import prints; --json carries them all


@app.command()
@handle_errors
def export(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", metavar="csv|yaml|json", help="csv | yaml | json.")] = "csv",
    output: Annotated[Path | None, typer.Option("--output", "-o", dir_okay=False, help="Write to this file (default: standard output).", show_default=False)] = None,
) -> None:
    """Export every report, retracted ones with their retraction, oldest recorded first.

    Importing the output into an empty store and exporting again gives the same file: ids,
    recorded_at, analysts and retractions included. In CSV, a cell that begins with = + - @ (or a
    tab or carriage return) gets a leading apostrophe so that spreadsheets show it as text; a cell
    that already begins with apostrophes and then one of those gets one more. Import removes
    exactly one, so the escape is reversible.

    Example:  forecast event export --format csv -o reports.csv
    """
    chosen = _format(fmt)
    with _store(ctx) as store:
        n = store.export(console.stdout, fmt=chosen) if output is None else _export_to_file(store, output, chosen)
    if output is not None:
        _say(f"exported {n} report{'s' if n != 1 else ''} to {output}")


def _export_to_file(store: EventStore, path: Path, fmt: Format) -> int:
    """Write next to the target and rename, so a failed export never leaves half a file."""
    if not path.parent.is_dir():
        raise UsageError(f"--output {path}: folder {path.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            n = store.export(f, fmt=fmt)
        from forecaster.core.safe_cache import public_mode

        os.chmod(tmp, public_mode())  # as the umask says, never group- or world-writable
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return n


def register(root: typer.Typer) -> None:
    """Attach `forecast event …` to the root app (`forecast indicators`: cli.indicators)."""
    root.add_typer(app, name="event")
