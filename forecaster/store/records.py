"""What the store holds: stored reports and retractions as frozen records, content ids, the
store's clock, and the checks every report passes before it is written."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, TypeVar

from forecaster.core.errors import EvidenceError
from forecaster.core.text import canonical_text, quoted
from forecaster.model.evidence import CREDIBILITY, RELIABILITY, Report

T = TypeVar("T")
Format = Literal["csv", "yaml", "json"]
FORMATS: tuple[Format, ...] = ("csv", "yaml", "json")

SQLITE_MAGIC = b"SQLite format 3\x00"
BUSY_TIMEOUT_S = 30.0  # SQLite's own wait for a lock, per statement
LOCK_PATIENCE_S = 120.0  # our retries on top of it, for the cases SQLite does not wait (see _retry)
ID_HEX = 12  # r- + 12 hex digits: 48 bits, collision-free in practice for millions of reports
CLOCK_SKEW = dt.timedelta(minutes=10)  # how far a recorded_at in a file may lie ahead of our clock

_ID = re.compile(r"^r-[0-9a-f]{6,64}$")

# ---------------------------------------------------------------------------------------------
# What the store holds
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Retraction:
    """A report withdrawn: why, when (UTC) and by whom. The report itself stays."""

    report_id: str
    reason: str
    retracted_at: dt.datetime
    retracted_by: str


@dataclass(frozen=True)
class StoredReport:
    """A report as the store holds it: the report (with id, recorded_at, analyst) and its retraction, if any."""

    report: Report
    retraction: Retraction | None = None

    @property
    def retracted(self) -> bool:
        return self.retraction is not None


@dataclass(frozen=True)
class IndicatorCount:
    reports: int  # not retracted
    retracted: int
    last_date: dt.date | None  # latest event date among the reports not retracted


class ImportResult(NamedTuple):
    added: int
    skipped: int  # already in the store (same content key), or repeated in the batch
    retracted: int  # retractions the batch carried for reports the store had not retracted


class DuplicateReportError(EvidenceError):
    """The store already holds a report with the same content."""

    def __init__(self, existing: StoredReport) -> None:
        r = existing.report
        state = " (retracted; a new report must differ from it, e.g. in its note)" if existing.retracted else ""
        super().__init__(f"an identical report is already recorded as {r.id}{state}")
        self.existing = existing


class ImportFileError(EvidenceError):
    """A file to import has bad rows; `problems` names each (file:line: field: what is wrong)."""

    def __init__(self, name: str, problems: Sequence[str]) -> None:
        n = len(problems)
        head = f"{name}: {n} bad {'row' if n == 1 else 'rows'}; nothing was imported"
        super().__init__("\n".join([head, *("  " + p for p in problems)]))
        self.problems = list(problems)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def format_time(t: dt.datetime) -> str:
    """UTC, microseconds, 'Z': fixed width, so text order is time order in SQL."""
    return t.astimezone(dt.UTC).isoformat(timespec="microseconds")[:26] + "Z"


def parse_time(value: Any) -> dt.datetime:
    """An ISO timestamp (a naive one is read as UTC) -> aware UTC datetime; ValueError otherwise."""
    t = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value).strip())
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.astimezone(dt.UTC)


def canonical_report(report: Report) -> Report:
    """The report in the form the store keeps and hashes: every text field in canonical_text's
    form (NFC, plain spaces, no zero-width characters, LF line ends, no trailing spaces; names,
    sources and the url on one line), so look-alike texts are one report with one id."""
    for name in ("indicator", "source", "url", "note", "analyst"):
        value = getattr(report, name)
        if not isinstance(value, str):
            raise EvidenceError(f"field {quoted(name)}: expected text, got {type(value).__name__} {quoted(value)}")
    origin = getattr(report, "origin", None)
    canon = dataclasses.replace(
        report,
        origin=(canonical_text(origin, single_line=True) or None) if origin else None,
        indicator=canonical_text(report.indicator, single_line=True),
        source=canonical_text(report.source, single_line=True),
        url=canonical_text(report.url, single_line=True),
        note=canonical_text(report.note),
        analyst=canonical_text(report.analyst, single_line=True),
    )
    return report if canon == report else canon


def content_key(report: Report) -> str:
    """The hash of what a report says (not who recorded it or when): the de-duplication key."""
    fields: list[Any] = [
        report.indicator, report.date.isoformat(), report.occurred, report.reliability, report.credibility,
        report.source, report.url, report.note,
    ]
    if report.origin:  # appended only when given: a report without origin keeps the key (and id) it always had
        fields.append(report.origin)
    payload = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


# Unicode's control characters (category Cc) but tab, LF and CR, and lone surrogates (Cs).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def check_text(name: str, value: str, *, required: bool = False) -> str:
    """Text fields hold printable text: tabs and line breaks yes, other control characters no
    (they do not survive CSV and YAML, and nobody means them)."""
    bad = _CONTROL.search(value)
    if bad:
        raise EvidenceError(f"field {quoted(name)}: contains the control character {quoted(bad.group())}")
    if required and not value.strip():
        raise EvidenceError(f"field {quoted(name)}: empty")
    return value


def check_report(report: Report) -> None:
    """What the store insists on, however a report arrives (the CLI and files check more, and
    earlier, with better messages): a grade in range and printable text."""
    if report.reliability not in RELIABILITY or len(report.reliability) != 1:
        raise EvidenceError(f"field 'reliability': {quoted(report.reliability)} is out of range: expected one letter A–F")
    if report.credibility not in CREDIBILITY or isinstance(report.credibility, bool):
        raise EvidenceError(f"field 'credibility': {quoted(report.credibility)} is out of range: expected a number 1–6")
    if type(report.date) is not dt.date:
        raise EvidenceError(f"field 'date': {quoted(report.date)} is not a date")
    check_text("source", report.source, required=True)
    check_text("url", report.url)
    check_text("note", report.note)
    if report.analyst:
        check_text("analyst", report.analyst)
    if report.origin is not None:
        check_text("origin", report.origin, required=True)


#: A likely same-episode report: same indicator and outcome within this many days (issue 10).
EPISODE_DAYS = 3


def normal_text(text: str) -> str:
    """Unicode NFC, whitespace runs folded to one space, trimmed: how duplicates are compared."""
    return " ".join(unicodedata.normalize("NFC", text).split())


@dataclass(frozen=True)
class Similar:
    """What the store already holds that a new report may repeat."""

    duplicate: StoredReport | None  # same indicator, date, outcome and (normalised) source
    episode: tuple[StoredReport, ...]  # the nearest of the same indicator and outcome within EPISODE_DAYS (the new one has no origin)

    def warning(self, r: Report) -> str | None:
        if not self.episode:
            return None
        other = self.episode[0].report
        return (f"likely the same episode as {other.id} ({other.indicator}, {other.date.isoformat()}, {other.source}): "
                f"if both repeat one original source, give both one origin: forecast event amend ID --origin ORIGIN "
                f"(for this report, and for {other.id} if it has none)")


def date_range(column: str, since: dt.date | None, until: dt.date | None, where: list[str], params: list[Any]) -> None:
    """Add `column` between `since` and `until` (either end open when None) to a query's `where` and `params`."""
    if since is not None:
        where.append(f"{column} >= ?")
        params.append(since.isoformat())
    if until is not None:
        where.append(f"{column} <= ?")
        params.append(until.isoformat())


def rows_by_prefix(db: Any, select: str, id_column: str, rid: str, *, min_length: int) -> list[Any]:
    """Look-up by id or unique id prefix, for reports and resolutions alike: [the row whose id is
    `rid`], else up to 6 rows whose id starts with it (only when it is at least `min_length` long:
    short enough to type, long enough to mean one). One row: found; more: ambiguous; none: none."""
    row = db.execute(f"{select} WHERE {id_column} = ?", (rid,)).fetchone()
    if row:
        return [row]
    if len(rid) < min_length:
        return []
    return list(
        db.execute(
            f"{select} WHERE {id_column} >= ? AND {id_column} < ? ORDER BY {id_column} LIMIT 6", (rid, rid + "\U0010ffff")
        ).fetchall()
    )


def ambiguous(what: str, given: str, ids: Sequence[str]) -> str:
    """"report id 'r-ab' is ambiguous: it starts r-ab01…, r-ab02…" (five at most, then …)."""
    return f"{what} id {quoted(given)} is ambiguous: it starts {', '.join(ids[:5])}{', …' if len(ids) > 5 else ''}"


# ---------------------------------------------------------------------------------------------
# Rows nobody can read (issue 20): named, left out, never fatal
# ---------------------------------------------------------------------------------------------

_UNREADABLE: dict[tuple[str, str], str] = {}
R = TypeVar("R")


def readable(table: str, rows: Iterable[Sequence[Any]], parse: Callable[[Sequence[Any]], R]) -> Iterator[R]:
    """`parse` of each row; a row it cannot read (a date like 2025-02-30 stored before m008 made
    the database refuse one) is left out and named (`take_unreadable`), so one bad row never
    fails every command. Its key is its first column."""
    for row in rows:
        try:
            yield parse(row)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
            why = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
            _UNREADABLE[(table, str(row[0]))] = why


def take_unreadable() -> list[str]:
    """One line per row left out since the last call (the CLI prints them after each command)."""
    lines = [
        f"{table} row {key} cannot be read ({why}): left out; the store's owner can take it out of force "
        f"with `forecast db quarantine {table} {key} --reason …`"
        for (table, key), why in sorted(_UNREADABLE.items())
    ]
    _UNREADABLE.clear()
    return lines


def not_quarantined(table: str, alias: str) -> str:
    """`table` less the rows its owner quarantined (m008), for a FROM clause as `alias`."""
    key = {"reports": "id", "resolutions": "id", "runs": "run_id"}[table]
    return f"(SELECT * FROM {table} WHERE {key} NOT IN (SELECT row_key FROM quarantine WHERE table_name = '{table}')) {alias}"
