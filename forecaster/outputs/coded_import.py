"""An import of coded event data (ACLED, GDELT; issue 15) as people read it: the summary lines,
and for a dry run the Rich tables (per rule: rows matched and examples; rows matched by none;
what would be stored and retracted). The JSON is `CodedImportResult.to_dict()`."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from forecaster.core.text import neutral
from forecaster.outputs.columns import never_cut
from forecaster.workflow.coded_import import CodedImportResult

_NAMES = {"acled": "ACLED export", "gdelt": "GDELT 2.0 events file", "acled-deletions": "ACLED deletions file"}


def _n(k: int, one: str, many: str | None = None) -> str:
    return f"{k:,} {one if k == 1 else (many or one + 's')}"


def summary_lines(res: CodedImportResult) -> list[str]:
    """What was (or would be) done, in a few plain lines: the first says it all."""
    would = res.dry_run
    verb_add, verb_ret = ("would add", "would retract") if would else ("added", "retracted")
    added = res.to_add if would else res.added
    retracted = res.to_retract if would else res.retracted
    head = f"{res.file} ({_NAMES[res.kind]}, {_n(res.rows, 'row')}): {verb_add} {_n(added, 'report')}, {verb_ret} {retracted:,}"
    if would:
        head += " (dry run: nothing written)"
    lines = [head]
    if res.kind == "acled-deletions":
        parts = [_n(res.deleted_events, "event") + " deleted at source"]
        if res.already_deleted:
            parts.append(_n(res.already_deleted, "deletion") + " applied before")
        if res.kept_events:
            parts.append(_n(res.kept_events, "event") + " imported in a version newer than its deletion (kept)")
        if res.unknown_deletions:
            parts.append(_n(res.unknown_deletions, "deletion") + " naming no imported event")
    else:
        parts = [_n(res.new_events, "new event")]
        if res.updated_events:
            parts.append(f"{res.updated_events:,} updated at source (older reports retracted, new ones added)")
        if res.repeated_events:
            parts.append(f"{res.repeated_events:,} imported before")
        if res.extended_events:
            parts.append(f"{res.extended_events:,} imported before, now matching more rules")
        if res.older_rows:
            parts.append(f"{res.older_rows:,} older than the version imported (ignored)")
        if res.unmatched_events:
            parts.append(f"{res.unmatched_events:,} matching no rule")
    if res.repeated_rows:
        parts.append(_n(res.repeated_rows, "row") + " repeating an event of the file (its newest row counts)")
    lines.append("  events: " + "; ".join(parts))
    if res.skipped:
        lines.append(f"  {_n(res.skipped, 'report')} already stored with the same content (skipped)")
    if res.rules_file:
        lines.append(f"  rules: {res.rules_file}")
    return lines


def _cell(value: object) -> Text:
    return Text(neutral(value, newlines=False))  # user text: never Rich markup, never a control sequence


def print_dry_run(console: Console, res: CodedImportResult) -> None:
    """The dry run's tables, after the summary lines."""
    tally = res.tally
    if tally is not None:
        table = Table(title="Rules: rows matched", title_justify="left", box=None, pad_edge=False, header_style="bold")
        for name, kw in (("rule", {}), ("indicator", {}), ("rows", {"justify": "right"}), ("examples", {})):
            table.add_column(name, **kw)  # type: ignore[arg-type]
        for t in tally.per_rule:
            table.add_row(_cell(t.rule), _cell(t.indicator), Text(f"{t.rows:,}"), _cell(", ".join(t.examples) or "—"))
        console.print(never_cut(table, 0, 1))
        shown = ", ".join(tally.unmatched_examples)
        console.print(
            Text(f"Rows matched by no rule: {tally.unmatched_rows:,}" + (f" (e.g. {neutral(shown)})" if shown else "")),
        )
    if res.add_per_indicator:
        console.print()
        per = Table(title="Reports to add, per indicator", title_justify="left", box=None, pad_edge=False, header_style="bold")
        per.add_column("indicator")
        per.add_column("reports", justify="right")
        for ind, k in res.add_per_indicator:
            per.add_row(_cell(ind), Text(f"{k:,}"))
        console.print(never_cut(per, 0))
    if res.sample:
        console.print()
        sample = Table(title=f"The first {len(res.sample)} reports to add", title_justify="left", box=None, pad_edge=False,
                       header_style="bold")  # fmt: skip
        for name in ("origin", "indicator", "date", "occ", "grade", "source"):
            sample.add_column(name)
        for r in res.sample:
            sample.add_row(_cell(r.origin), _cell(r.indicator), Text(r.date.isoformat()), Text("yes" if r.occurred else "no"),
                           Text(r.grade), _cell(r.source))  # fmt: skip
        console.print(never_cut(sample, 0, 1))
    if res.retractions:
        console.print()
        more = f" (of {res.to_retract:,})" if res.to_retract > len(res.retractions) else ""
        ret = Table(title=f"Reports to retract{more}", title_justify="left", box=None, pad_edge=False, header_style="bold")
        ret.add_column("report")
        ret.add_column("reason")
        for rid, reason in res.retractions:
            ret.add_row(_cell(rid), _cell(reason))
        console.print(never_cut(ret, 0))
