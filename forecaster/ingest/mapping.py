"""Rows to report drafts: each matching rule yields a `ReportDraft` (indicator, outcome, grade,
the row's origin, provenance in source and note); imprecise dates follow the bundled events' convention."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forecaster.ingest.conditions import Predicate, RulesError, _BadCell
from forecaster.ingest.formats import CodedFileError, CodedRow, FileKind
from forecaster.ingest.rules import Rule, Rules
from forecaster.model.evidence import Report

# ----------------------------------------------------------------------------- rows -> report drafts


@dataclass(frozen=True, slots=True)
class ReportDraft:
    """A report a rule makes of one coded row, before the store gives it an id. `date` is the
    report's (imprecise source dates moved to the end of their week or month); `event_date` and
    `precision` are the source's. `origin` is shared by every draft of one row."""

    indicator: str
    date: dt.date
    occurred: bool
    reliability: str
    credibility: int
    source: str
    note: str
    url: str
    origin: str
    source_timestamp: dt.datetime
    rule: str
    row_id: str
    line: int
    event_date: dt.date
    precision: int

    @property
    def grade(self) -> str:
        return f"{self.reliability}{self.credibility}"

    @property
    def identity(self) -> tuple[str, str, bool, dt.datetime]:
        """What makes a re-import of the same row a repeat: origin, indicator, outcome and the
        source's timestamp (the note names the file and line, which change between exports)."""
        return (self.origin, self.indicator, self.occurred, self.source_timestamp)

    def report_fields(self) -> dict[str, Any]:
        """The fields `evidence.report_from_mapping` takes (origin and timestamp are the store's to add)."""
        return {
            "indicator": self.indicator, "date": self.date.isoformat(), "occurred": self.occurred,
            "reliability": self.reliability, "credibility": self.credibility, "source": self.source,
            "url": self.url, "note": self.note,
        }  # fmt: skip

    def to_report(self, *, analyst: str = "") -> Report:
        return Report(
            indicator=self.indicator, date=self.date, occurred=self.occurred, reliability=self.reliability,
            credibility=self.credibility, source=self.source, url=self.url, note=self.note, analyst=analyst,
        )  # fmt: skip


MappedRow = tuple[int, str, list[ReportDraft]]
NOTE_EXCERPT = 300  # characters of ACLED's notes quoted in a report's note
CELL_EXCERPT = 200  # characters of any other cell quoted in a report's source or note (docs/LIMITS.md)
# Control characters the store refuses (all of Cc but tab, LF, CR); a coded row may carry them.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_DATE_FIELD: Mapping[str, str] = {"acled": "event_date", "gdelt": "SQLDATE"}


def check_format(rules: Rules, kind: FileKind, path: Path | str) -> None:
    """Refuse rules written for the other export (a GDELT file with ACLED rules, say)."""
    if kind == rules.format:
        return
    names = {"acled": "an ACLED export", "gdelt": "a GDELT 2.0 events file", "acled-deletions": "an ACLED deletions file"}
    if kind == "acled-deletions":
        raise RulesError(f"{path}: {names[kind]} needs no rules: its rows retract the imported events they name")
    raise RulesError(f"{path} is {names[kind]}, but the rules {rules.path} are for {names[rules.format]} (format: {rules.format})")


def report_date(event_date: dt.date, precision: int, *, today: dt.date) -> dt.date:
    """The bundled events' convention for imprecise dates (scenarios/historical_events.yaml: "where
    the paper gives only a month, the last day of that month, never earlier than the event could
    have happened"): week precision -> the last day (Sunday) of the ISO week holding the source's
    date, month precision -> the last day of its month; never after `today`."""
    if precision == 2:
        end = event_date + dt.timedelta(days=6 - event_date.weekday())
    elif precision == 3:
        end = event_date.replace(day=calendar.monthrange(event_date.year, event_date.month)[1])
    else:
        return event_date
    return min(end, today)


Plan = list[tuple[Rule, tuple[tuple[int, Predicate], ...]]]


def _plan(rules: Sequence[Rule]) -> tuple[int | None, dict[str, Plan], Plan]:
    """Which rules can match a row, by one cell: the column most rules test for exact values
    (ACLED's event_type, typically). A row whose cell names none of the values goes straight to
    the rules that do not test that column. Rules keep the file's order; the tested condition is
    dropped from the rules it picked, since the lookup has already checked it."""
    everything: Plan = [(r, r.conditions) for r in rules]
    counts: dict[int, int] = {}
    for r in rules:
        for ix in {ix for _, ix, _ in r.exact}:
            counts[ix] = counts.get(ix, 0) + 1
    if not counts:
        return None, {}, everything
    column = min(counts, key=lambda ix: (-counts[ix], ix))

    def exact_on(r: Rule) -> frozenset[str] | None:
        return next((values for _, ix, values in r.exact if ix == column), None)

    def without(r: Rule) -> tuple[tuple[int, Predicate], ...]:
        k = next(k for k, ix, _ in r.exact if ix == column)
        return r.conditions[:k] + r.conditions[k + 1 :]

    values = sorted({v for r in rules if (ex := exact_on(r)) is not None for v in ex})
    table: dict[str, Plan] = {}
    for v in values:
        plan: Plan = []
        for r in rules:
            ex = exact_on(r)
            if ex is None:
                plan.append((r, r.conditions))
            elif v in ex:
                plan.append((r, without(r)))
        table[v] = plan
    rest: Plan = [(r, r.conditions) for r in rules if exact_on(r) is None]
    return column, table, rest


def map_rows(
    rows: Iterable[CodedRow], rules: Rules, file_name: str, *, today: dt.date | None = None
) -> Iterator[MappedRow]:
    """(row line, row id, drafts) for every row, in file order; drafts is empty for a row no rule
    matches, and holds one draft per matching rule, in the rules' order, all sharing the row's
    origin. A cell a rule cannot read (a number field that is not a number) or an event dated after
    `today` raises CodedFileError naming file_name, the row's line and the field."""
    today = today or dt.date.today()
    column, table, rest = _plan(rules.rules)
    fmt = rules.format
    make_texter = _acled_texter if fmt == "acled" else _gdelt_texter
    texter: Texter | None = None
    layout: Mapping[str, int] | None = None
    for row in rows:
        if row.fmt != fmt:
            raise RulesError(
                f"{file_name}:{row.line}: a {row.fmt} row, but the rules {rules.path} are for {fmt} (format: {fmt})"
            )
        cells = row.cells
        plan = rest if column is None else table.get(cells[column], rest)
        try:
            hits: list[Rule] = []
            for rule, conditions in plan:
                for i, pred in conditions:
                    if not pred(cells[i]):
                        break
                else:
                    hits.append(rule)
            if not hits:
                yield row.line, row.id, []
                continue
            if row.columns is not layout:
                layout, texter = row.columns, make_texter(row.columns)
            assert texter is not None
            drafts = _drafts(row, hits, rules, file_name, today, texter)
        except _BadCell as e:
            raise CodedFileError(file_name, row.line, e.column, e.problem) from None
        yield row.line, row.id, drafts


def _clean(text: str) -> str:
    return text if text.isprintable() else _CONTROL.sub(" ", text)


def _short(cell: str) -> str:
    """A cell as a report's note quotes it: as written, or its first CELL_EXCERPT characters."""
    return cell if len(cell) <= CELL_EXCERPT else _excerpt(cell, CELL_EXCERPT)


def _excerpt(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def _drafts(
    row: CodedRow,
    hits: Sequence[Rule],
    rules: Rules,
    file_name: str,
    today: dt.date,
    text_of: Texter,
) -> list[ReportDraft]:
    if row.date > today:
        when = row.date.isoformat()
        raise _BadCell(_DATE_FIELD[row.fmt], when, f"{when} lies in the future (today is {today.isoformat()})")
    date = report_date(row.date, row.precision, today=dt.date.max)
    capped = date > today
    date = min(date, today)
    source, head, body, url = text_of(row, file_name)  # once per row, whatever the number of rules
    if row.precision in (2, 3):
        span = "week" if row.precision == 2 else "month"
        end = "today, that " + span + " not being over" if capped else "the last day of that " + span
        body += (
            f" Dating: ACLED time_precision {row.precision} (only the {span} is known): ACLED dates it "
            f"{row.date.isoformat()}; recorded as {date.isoformat()}, {end}, as the bundled events date imprecise events."
        )
    stamp = row.source_time
    return [
        ReportDraft(
            indicator=rule.indicator, date=date, occurred=rule.occurred, reliability=grade[0], credibility=grade[1],
            source=source, note=f"{head}, rule {rule.id}: {body}", url=url, origin=row.origin, source_timestamp=stamp,
            rule=rule.id, row_id=row.id, line=row.line, event_date=row.date, precision=row.precision,
        )  # fmt: skip
        for rule in hits
        for grade in (rules.grade_of(rule, row),)
    ]


Texter = Callable[[CodedRow, str], tuple[str, str, str, str]]


def _acled_texter(columns: Mapping[str, int]) -> Texter:
    """(source, the note's head, the note's body, url) for ACLED rows laid out as `columns`;
    built once per file (its column order), since it runs for every matched row."""
    i_src, i_loc, i_adm2, i_adm1, i_cty, i_type, i_sub, i_a1, i_a2, i_dead, i_notes = (
        columns[c]
        for c in ("source", "location", "admin2", "admin1", "country", "event_type", "sub_event_type", "actor1",
                  "actor2", "fatalities", "notes")
    )  # fmt: skip

    def text(row: CodedRow, file_name: str) -> tuple[str, str, str, str]:
        c = row.cells
        outlets = _excerpt(c[i_src], 200)
        source = f"ACLED {row.id}, {file_name}; coded from {outlets}" if outlets else f"ACLED {row.id}, {file_name}"
        place: list[str] = []
        for v in (c[i_loc], c[i_adm2], c[i_adm1], c[i_cty]):
            v = _short(v).strip()
            if v and v not in place:
                place.append(v)
        kind, sub, a1, a2 = (_short(c[i]) for i in (i_type, i_sub, i_a1, i_a2))
        parts = [
            f"{kind} / {sub}" if sub else kind,
            ", ".join(place),
            f"{a1} v {a2}" if a2 else a1,
            f"{_short(c[i_dead]).strip() or '0'} fatalities",
        ]
        body = "; ".join([p for p in parts if p]) + "."
        notes = _excerpt(c[i_notes], NOTE_EXCERPT)
        if notes:
            body += " ACLED notes: " + notes
        return _clean(source), _clean(f"{file_name} line {row.line}, ACLED {row.id}"), _clean(body), ""

    return text


def _gdelt_texter(columns: Mapping[str, int]) -> Texter:
    return _gdelt_text


def _gdelt_text(row: CodedRow, file_name: str) -> tuple[str, str, str, str]:
    """(source, the note's head, the note's body, url) for a GDELT row."""
    cells, ix = row.cells, row.columns

    def g(column: str) -> str:
        return cells[ix[column]]

    source = f"GDELT 2.0 event {row.id}, {file_name}"
    actors = " -> ".join(a for a in (g("Actor1Name") or g("Actor1Code"), g("Actor2Name") or g("Actor2Code")) if a)
    place, country = g("ActionGeo_FullName"), g("ActionGeo_CountryCode")
    if len(cells) and max(map(len, cells[:-1])) > CELL_EXCERPT:  # a stored note stays short whatever a cell holds
        cells = [_excerpt(c, CELL_EXCERPT) for c in cells[:-1]] + [cells[-1]]
        actors, place, country = _excerpt(actors, 2 * CELL_EXCERPT), _excerpt(place, CELL_EXCERPT), _excerpt(country, 20)
    parts = [
        f"CAMEO {g('EventCode')}",
        f"QuadClass {g('QuadClass')}",
        f"Goldstein {g('GoldsteinScale')}",
        f"{g('NumSources')} sources, {g('NumMentions')} mentions",
        actors,
        f"at {place} ({country})" if place else (f"in {country}" if country else ""),
    ]
    body = "; ".join(p for p in parts if p) + "."
    return _clean(source), _clean(f"{file_name} line {row.line}, GDELT event {row.id}"), _clean(body), _clean(g("SOURCEURL"))
