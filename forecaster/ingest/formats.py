"""Streaming readers for coded event exports: ACLED's CSV, GDELT 2.0 events, ACLED deletions.

Each reader is a generator over the file (flat memory, whatever its size) yielding one `CodedRow`
per event: the raw cells as the source wrote them (CAMEO codes stay text, "043" keeps its zero),
plus the few fields every import needs already parsed and checked: the event id, the event date,
the date's precision and the source's timestamp. Any other field is read from `cells` by the rule
that needs it. A row that cannot be read raises `CodedFileError` naming file, line and field when
the reader reaches it; nothing here writes anything.

Readings of the formats, stated once:
- ACLED: the standard 31-column export, header first, any column order, names case-insensitive;
  extra columns (ACLED's optional population columns, say) are carried and ignored. `event_date`
  is `2024-03-15` (API) or `15 March 2024` (website export); `time_precision` 1 day, 2 week,
  3 month; `timestamp` is the unix time of ACLED's last change to the row (updates keep the
  event id and raise the timestamp).
- GDELT 2.0 events: 61 tab-separated fields, no header, one event a line (`GDELT_COLUMNS`, the
  official order); SQLDATE is the event date (precision 1), DATEADDED (YYYYMMDDHHMMSS, UTC) its
  timestamp. A `.zip` holding one file (GDELT's `*.export.CSV.zip`) is read in place.
- ACLED deletions: `event_id_cnty, deleted_timestamp` (unix time).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from forecaster.core.errors import EvidenceError, did_you_mean
from forecaster.core.text import excerpt, quoted
from forecaster.ingest.streams import (
    FUTURE_SLACK_S,
    MAX_BLANK_LINES,
    MAX_CELL_CHARS,
    MAX_ID_CHARS,
    MAX_ROW_CHARS,
    MAX_STAMP,
    MAX_URL_CHARS,
    CodedFileError,
    Lines,
    blank_lines,
    check_cells,
    first_line,
    next_line,
    not_utf8,
    open_text,
)
from forecaster.model.evidence import MAX_YEAR, MIN_YEAR

CodedFormat = Literal["acled", "gdelt"]
FileKind = Literal["acled", "gdelt", "acled-deletions"]
FORMATS: tuple[CodedFormat, ...] = ("acled", "gdelt")

ACLED_COLUMNS: tuple[str, ...] = (
    "event_id_cnty", "event_date", "year", "time_precision", "disorder_type", "event_type", "sub_event_type",
    "actor1", "assoc_actor_1", "inter1", "actor2", "assoc_actor_2", "inter2", "interaction", "civilian_targeting",
    "iso", "region", "country", "admin1", "admin2", "admin3", "location", "latitude", "longitude", "geo_precision",
    "source", "source_scale", "notes", "fatalities", "tags", "timestamp",
)  # fmt: skip
ACLED_DELETION_COLUMNS: tuple[str, ...] = ("event_id_cnty", "deleted_timestamp")


def _actor(n: int) -> tuple[str, ...]:
    return tuple(
        f"Actor{n}{s}"
        for s in ("Code", "Name", "CountryCode", "KnownGroupCode", "EthnicCode", "Religion1Code", "Religion2Code",
                  "Type1Code", "Type2Code", "Type3Code")
    )  # fmt: skip


def _geo(prefix: str) -> tuple[str, ...]:
    return tuple(
        f"{prefix}_{s}" for s in ("Type", "FullName", "CountryCode", "ADM1Code", "ADM2Code", "Lat", "Long", "FeatureID")
    )


GDELT_COLUMNS: tuple[str, ...] = (
    ("GLOBALEVENTID", "SQLDATE", "MonthYear", "Year", "FractionDate")
    + _actor(1)
    + _actor(2)
    + ("IsRootEvent", "EventCode", "EventBaseCode", "EventRootCode", "QuadClass", "GoldsteinScale", "NumMentions",
       "NumSources", "NumArticles", "AvgTone")
    + _geo("Actor1Geo")
    + _geo("Actor2Geo")
    + _geo("ActionGeo")
    + ("DATEADDED", "SOURCEURL")
)  # fmt: skip
assert len(GDELT_COLUMNS) == 61, len(GDELT_COLUMNS)

ACLED_INDEX: Mapping[str, int] = {c: i for i, c in enumerate(ACLED_COLUMNS)}
GDELT_INDEX: Mapping[str, int] = {c: i for i, c in enumerate(GDELT_COLUMNS)}
_GDELT_HINTS = {
    57: " (GDELT 1.0 events have 57 fields: this reader takes GDELT 2.0 events)",
    58: " (GDELT 1.0 daily events have 58 fields: this reader takes GDELT 2.0 events)",
    16: " (a GDELT 2.0 mentions file? this reader takes the events file, *.export.CSV)",
    27: " (a GDELT Global Knowledge Graph file? this reader takes the events file, *.export.CSV)",
}


@dataclass(slots=True)
class CodedRow:
    """One event of an export. `line` is where the row starts (a quoted ACLED note may span lines);
    `timestamp` is unix seconds (ACLED `timestamp`, GDELT DATEADDED); `cells` are the raw fields,
    named by `columns` (the export's own column names)."""

    fmt: CodedFormat
    line: int
    id: str
    date: dt.date
    precision: int  # 1 day, 2 week, 3 month (ACLED time_precision; GDELT rows are 1)
    timestamp: int
    cells: list[str]
    columns: Mapping[str, int]

    @property
    def origin(self) -> str:
        """The original source of the information, as MODEL.md §3 means it: `acled:SRB1234`, `gdelt:1234567890`."""
        return f"{self.fmt}:{self.id}"

    @property
    def source_time(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.timestamp, dt.UTC)

    def get(self, column: str) -> str:
        """A raw cell by the export's column name (e.g. "notes", "ActionGeo_CountryCode")."""
        return self.cells[self.columns[column]]


@dataclass(frozen=True, slots=True)
class Deletion:
    """A row of an ACLED deletions file: the event ACLED removed, and when."""

    line: int
    id: str
    deleted_timestamp: int

    @property
    def origin(self) -> str:
        return f"acled:{self.id}"

    @property
    def deleted_at(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.deleted_timestamp, dt.UTC)


# --------------------------------------------------------------------------------- detection


def _header_cells(line: str) -> list[str]:
    try:
        cells = next(csv.reader([line]))
    except (csv.Error, StopIteration):
        return []
    return [c.strip().lower() for c in cells]


def _kind_of(path: Path, first: str) -> FileKind:
    line = first.rstrip("\r\n")
    if not line.strip():
        raise CodedFileError(path, 1, None, "empty first line: expected ACLED's header or a GDELT 2.0 event (61 tab-separated fields)")
    if "\t" in line:
        n = line.count("\t") + 1
        if n == len(GDELT_COLUMNS):
            return "gdelt"
        raise CodedFileError(
            path, 1, None, f"found {n} tab-separated fields; a GDELT 2.0 events file has 61{_GDELT_HINTS.get(n, '')}"
        )
    columns = _header_cells(line)
    if set(columns) == set(ACLED_DELETION_COLUMNS):
        return "acled-deletions"
    if "event_id_cnty" in columns or len(set(columns) & set(ACLED_COLUMNS)) >= 5:
        _acled_index(path, columns)  # raises, naming the missing or renamed column, unless it is a good header
        return "acled"
    if {"indicator", "date"} <= set(columns):
        raise CodedFileError(
            path, 1, None, "this is a file of reports (indicator, date, …), not coded event data: import it without --rules"
        )
    shown = ", ".join(excerpt(c, 40) for c in columns[:4]) + (", …" if len(columns) > 4 else "")
    raise CodedFileError(
        path, 1, None,
        f"not an ACLED export nor a GDELT 2.0 events file: line 1 ({shown or 'no fields'}) is neither ACLED's header "
        "(event_id_cnty, event_date, …, timestamp) nor 61 tab-separated fields",
    )  # fmt: skip


def detect_format(path: Path) -> FileKind:
    """What the first line says the file is: "acled" (the export's header), "gdelt" (61
    tab-separated fields) or "acled-deletions" (event_id_cnty, deleted_timestamp). Anything else,
    or an ACLED header with a missing or renamed column, is a CodedFileError."""
    with open_text(path, newline="") as f:
        first = first_line(path, f)
    if not first:
        raise CodedFileError(path, 0, None, "empty file: expected an ACLED export or a GDELT 2.0 events file")
    return _kind_of(path, first)


def _acled_index(path: Path, columns: list[str]) -> dict[str, int]:
    """Column name -> position for an ACLED header; every standard column must be there once."""
    seen: dict[str, int] = {}
    for i, c in enumerate(columns):
        if c in seen and c:
            raise CodedFileError(path, 1, c, "column appears twice in the header")
        seen[c] = i
    missing = [c for c in ACLED_COLUMNS if c not in seen]
    if missing:
        name = missing[0]
        extra = [c for c in columns if c not in ACLED_INDEX and c]
        close = did_you_mean(name, extra)
        if close:
            hint = f"; the header has {close.removeprefix(' (did you mean ').removesuffix('?)')} instead (renamed?)"
        elif extra:
            hint = f"; the header has columns ACLED's export does not ({', '.join(quoted(c, 40) for c in extra[:3])})"
        else:
            hint = ""
        raise CodedFileError(
            path, 1, name, f"missing column: the standard ACLED export has 31 ({', '.join(ACLED_COLUMNS[:3])}, …, timestamp){hint}"
        )
    return seen


# --------------------------------------------------------------------------------- field parsers

_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_DMY_DATE = re.compile(r"^([0-9]{1,2})[ -]([A-Za-z]{3,9})\.?[ -]([0-9]{4})$")
_MONTHS = {
    name: i
    for i, full in enumerate(
        ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
         "november", "december"), 1)
    for name in (full, full[:3], "sept" if full == "september" else full[:3])
}  # fmt: skip
_PRECISION = {"1": 1, "2": 2, "3": 3}


def _digits(text: str) -> bool:
    """ASCII digits only: str.isdigit() and int() also take Arabic-Indic or fullwidth ones."""
    return text.isascii() and text.isdigit()


def _hint(text: str) -> str:
    """What to say about a value with digits that are not 0–9."""
    if any(c.isdigit() and not c.isascii() for c in text[:200]):
        return " (it has non-ASCII digits: write the digits 0–9)"
    return ""


def _in_range(d: dt.date) -> dt.date:
    if not MIN_YEAR <= d.year <= MAX_YEAR:
        raise ValueError(f"outside {MIN_YEAR}–{MAX_YEAR}: a typo?")
    return d


def parse_acled_date(text: str) -> dt.date:
    """`2024-03-15` or `15 March 2024` (also `15 Mar 2024`, `15-March-2024`), years MIN_YEAR to
    MAX_YEAR; ValueError otherwise."""
    s = text.strip()
    if _ISO_DATE.match(s):
        return _in_range(dt.date.fromisoformat(s))
    m = _DMY_DATE.match(s)
    if m and m.group(2).lower() in _MONTHS:
        return _in_range(dt.date(int(m.group(3)), _MONTHS[m.group(2).lower()], int(m.group(1))))
    raise ValueError(text)


def _unix(text: str) -> int:
    s = text.strip()
    if not _digits(s) or len(s) > 12 or int(s) > MAX_STAMP:  # whole seconds since 1970, never negative
        raise ValueError(text)
    return int(s)


def _gdelt_date(text: str) -> dt.date:
    if len(text) != 8 or not _digits(text):
        raise ValueError(text)
    return _in_range(dt.date(int(text[:4]), int(text[4:6]), int(text[6:])))


def _gdelt_added(text: str) -> int:
    if len(text) != 14 or not _digits(text):
        raise ValueError(text)
    t = dt.datetime(
        int(text[:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]), int(text[12:]), tzinfo=dt.UTC
    )
    if not MIN_YEAR <= t.year <= MAX_YEAR or t.timestamp() < 0:
        raise ValueError(text)
    return int(t.timestamp())


def _not_date(path: Path, line: int, field: str, text: str, form: str) -> CodedFileError:
    try:
        parse_acled_date(text) if field == "event_date" else _gdelt_date(text)
    except ValueError as e:
        why = f" ({e})" if str(e) != text else ""
    else:  # pragma: no cover - the caller found it bad
        why = ""
    return CodedFileError(path, line, field, f"{quoted(text)} is not a date{form}{why}{_hint(text)}")


class _Clock:
    """The import's clock: a source timestamp later than it (with FUTURE_SLACK_S for a source's
    clock running ahead) is refused, so it never hides the later versions and deletions of its event."""

    def __init__(self, now: int | None) -> None:
        self.latest = (int(dt.datetime.now(dt.UTC).timestamp()) if now is None else now) + FUTURE_SLACK_S

    def check(self, path: Path, line: int, field: str, stamp: int) -> int:
        if stamp > self.latest:
            when = dt.datetime.fromtimestamp(stamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            now = dt.datetime.fromtimestamp(self.latest - FUTURE_SLACK_S, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
            raise CodedFileError(
                path, line, field,
                f"{stamp} ({when}) is later than this import's clock ({now}): a version from the future would hide "
                "the event's real later versions and deletions; fix the row or the computer's clock",
            )  # fmt: skip
        return stamp


# --------------------------------------------------------------------------------- readers


def read_coded(path: Path, fmt: CodedFormat | None = None, *, now: int | None = None) -> Iterator[CodedRow]:
    """Every event of an ACLED or GDELT export, streamed. `fmt` None: detected from the first
    line. A file of the other format, a bad header, a row with the wrong number of fields, a
    row or cell past its bound (streams.MAX_*), an unreadable id, date, precision or timestamp,
    or a timestamp later than `now` (unix seconds; default the clock) raises CodedFileError when reached."""
    with open_text(path, newline="") as f:
        first = first_line(path, f)
    if not first:
        raise CodedFileError(path, 0, None, "empty file: expected an ACLED export or a GDELT 2.0 events file")
    kind = _kind_of_for(path, first, fmt)
    if kind == "acled-deletions":
        raise CodedFileError(
            path, 1, None, "this is an ACLED deletions file (event_id_cnty, deleted_timestamp): read it with read_deletions"
        )
    clock = _Clock(now)
    return _read_acled(path, clock) if kind == "acled" else _read_gdelt(path, clock)


def _kind_of_for(path: Path, first: str, fmt: CodedFormat | None) -> FileKind:
    if fmt is None:
        return _kind_of(path, first)
    if fmt not in FORMATS:
        raise EvidenceError(f"unknown coded format {quoted(fmt)}: expected one of {', '.join(FORMATS)}")
    tabbed = "\t" in first
    if fmt == "acled" and tabbed:
        raise CodedFileError(
            path, 1, None, "expected ACLED's header (comma-separated); found tab-separated fields (a GDELT file? use --format gdelt)"
        )
    if fmt == "gdelt" and not tabbed:
        try:
            kind = _kind_of(path, first)
        except CodedFileError:
            kind = "gdelt"  # neither: say what GDELT needs
        hint = " (an ACLED file: use --format acled)" if kind in ("acled", "acled-deletions") else ""
        raise CodedFileError(path, 1, None, f"expected a GDELT 2.0 event (61 tab-separated fields); found no tab{hint}")
    return _kind_of(path, first)


def _acled_id(path: Path, line: int, field: str, cell: str) -> str:
    rid = cell.strip()
    if not rid:
        raise CodedFileError(path, line, field, "empty: every ACLED row has an event id")
    if len(rid) > MAX_ID_CHARS or not rid.isprintable():
        raise CodedFileError(path, line, field, f"{quoted(rid)} is not an event id (printable, at most {MAX_ID_CHARS} characters)")
    return rid


def _acled_stamp(path: Path, line: int, text: str, clock: _Clock) -> int:
    try:
        stamp = _unix(text)
    except ValueError:
        raise CodedFileError(
            path, line, "timestamp", f"{quoted(text)} is not a unix time (whole seconds from 1970 to {MAX_YEAR}){_hint(text)}"
        ) from None
    return clock.check(path, line, "timestamp", stamp)


def _read_acled(path: Path, clock: _Clock) -> Generator[CodedRow, None, None]:
    if csv.field_size_limit() < MAX_ROW_CHARS:  # rows are bounded by Lines; cells by check_cells, naming the field
        csv.field_size_limit(MAX_ROW_CHARS)
    with open_text(path, newline="") as f:  # newline="": a quoted line break in notes stays in its cell
        lines = Lines(path, f)
        reader = csv.reader(lines.lines, strict=True)
        try:
            header = next(reader)
        except UnicodeDecodeError:
            raise not_utf8(path, 1) from None
        except csv.Error as e:
            raise CodedFileError(path, 1, None, f"malformed CSV header: {e}") from None
        lines.row_done()
        index = _acled_index(path, [h.strip().lower() for h in header])
        names = [h.strip().lower() for h in header]
        width = len(header)
        i_id, i_date, i_prec, i_ts = (index[c] for c in ("event_id_cnty", "event_date", "time_precision", "timestamp"))
        dates: dict[str, dt.date] = {}  # an export has few distinct dates: parse each once
        latest = clock.latest
        blank = 0
        end = reader.line_num
        start = end + 1
        try:
            for cells in reader:
                start, end = end + 1, reader.line_num
                long_row = lines.used > MAX_CELL_CHARS
                lines.row_done()
                if len(cells) != width:
                    if not cells:
                        blank += 1
                        if blank > MAX_BLANK_LINES:
                            raise blank_lines(path, start)
                        continue
                    raise CodedFileError(
                        path, start, None, f"expected {width} cells (one per column of the header), found {len(cells)}"
                    )
                if long_row:  # only a row this long can hold a cell past the bound
                    check_cells(path, start, cells, names)
                rid = cells[i_id].strip()
                if not rid or len(rid) > MAX_ID_CHARS or not rid.isprintable():
                    _acled_id(path, start, "event_id_cnty", rid)  # raises, saying why
                text = cells[i_date]
                date = dates.get(text)
                if date is None:
                    try:
                        date = dates[text] = parse_acled_date(text)
                    except ValueError:
                        raise _not_date(path, start, "event_date", text, ": expected 2024-03-15 or 15 March 2024") from None
                precision = _PRECISION.get(cells[i_prec]) or _PRECISION.get(cells[i_prec].strip())
                if precision is None:
                    raise CodedFileError(
                        path, start, "time_precision", f"{quoted(cells[i_prec])}: expected 1 (day), 2 (week) or 3 (month)"
                    )
                text = cells[i_ts]
                if text.isdigit() and text.isascii() and len(text) <= 10 and int(text) <= latest:  # the common case
                    stamp = int(text)
                else:
                    stamp = _acled_stamp(path, start, text, clock)
                yield CodedRow("acled", start, rid, date, precision, stamp, cells, index)
        except csv.Error as e:
            raise CodedFileError(path, start, None, f"malformed CSV: {e}") from None
        except UnicodeDecodeError:
            raise not_utf8(path, end + 1) from None


def _read_gdelt(path: Path, clock: _Clock) -> Generator[CodedRow, None, None]:
    width = len(GDELT_COLUMNS)
    i_added, i_url = GDELT_INDEX["DATEADDED"], GDELT_INDEX["SOURCEURL"]
    dates: dict[str, dt.date] = {}
    stamps: dict[str, int] = {}  # DATEADDED is per 15-minute batch: few distinct values
    lineno = blank = 0
    with open_text(path, newline="\n") as f:  # only LF ends a GDELT line
        try:
            while True:
                line = next_line(path, f, lineno + 1)
                if not line:
                    break
                lineno += 1
                line = line.rstrip("\r\n")
                if not line:
                    blank += 1
                    if blank > MAX_BLANK_LINES:
                        raise blank_lines(path, lineno)
                    continue
                cells = line.split("\t")
                if len(cells) != width:
                    raise CodedFileError(
                        path, lineno, None,
                        f"expected 61 tab-separated fields (GDELT 2.0 events), found {len(cells)}{_GDELT_HINTS.get(len(cells), '')}",
                    )  # fmt: skip
                if len(line) > MAX_URL_CHARS:
                    check_cells(path, lineno, cells, GDELT_COLUMNS)
                    if len(cells[i_url]) > MAX_URL_CHARS:
                        raise CodedFileError(path, lineno, "SOURCEURL", f"{len(cells[i_url]):,} characters, more than the {MAX_URL_CHARS:,} a url may have")
                rid = cells[0]
                if not _digits(rid) or len(rid) > MAX_ID_CHARS:
                    raise CodedFileError(path, lineno, "GLOBALEVENTID", f"{quoted(rid)} is not an event id (digits 0–9){_hint(rid)}")
                text = cells[1]
                date = dates.get(text)
                if date is None:
                    try:
                        date = dates[text] = _gdelt_date(text)
                    except ValueError:
                        raise _not_date(path, lineno, "SQLDATE", text, " in YYYYMMDD form") from None
                added = cells[i_added]
                stamp = stamps.get(added)
                if stamp is None:
                    try:
                        stamp = _gdelt_added(added)
                    except ValueError:
                        raise CodedFileError(
                            path, lineno, "DATEADDED", f"{quoted(added)} is not a time in YYYYMMDDHHMMSS form (years {MIN_YEAR}–{MAX_YEAR}){_hint(added)}"
                        ) from None
                    stamps[added] = clock.check(path, lineno, "DATEADDED", stamp)
                yield CodedRow("gdelt", lineno, rid, date, 1, stamp, cells, GDELT_INDEX)
        except UnicodeDecodeError:
            raise not_utf8(path, lineno + 1) from None


def read_deletions(path: Path, *, now: int | None = None) -> Iterator[Deletion]:
    """Every row of an ACLED deletions file (`event_id_cnty, deleted_timestamp`), streamed; a
    deletion later than `now` (unix seconds; default the clock) is refused like a row's timestamp."""
    with open_text(path, newline="") as f:
        first = first_line(path, f)
    if not first:
        raise CodedFileError(path, 0, None, "empty file: expected an ACLED deletions file (event_id_cnty, deleted_timestamp)")
    columns = _header_cells(first.rstrip("\r\n"))
    if set(columns) != set(ACLED_DELETION_COLUMNS) or len(columns) != 2:
        missing = [c for c in ACLED_DELETION_COLUMNS if c not in columns]
        field = missing[0] if missing else None
        shown = ", ".join(quoted(c, 40) for c in columns[:4]) + (", …" if len(columns) > 4 else "")
        raise CodedFileError(
            path, 1, field, f"expected ACLED's deletions header (event_id_cnty, deleted_timestamp), found {shown or 'nothing'}"
        )
    return _read_deletions(path, columns.index("event_id_cnty"), columns.index("deleted_timestamp"), _Clock(now))


def _read_deletions(path: Path, i_id: int, i_ts: int, clock: _Clock) -> Generator[Deletion, None, None]:
    with open_text(path, newline="") as f:
        lines = Lines(path, f)
        reader = csv.reader(lines.lines, strict=True)
        next(reader)
        lines.row_done()
        blank = 0
        end = reader.line_num
        start = end + 1
        try:
            for cells in reader:
                start, end = end + 1, reader.line_num
                lines.row_done()
                if not cells:
                    blank += 1
                    if blank > MAX_BLANK_LINES:
                        raise blank_lines(path, start)
                    continue
                if len(cells) != 2:
                    raise CodedFileError(path, start, None, f"expected 2 cells (event_id_cnty, deleted_timestamp), found {len(cells)}")
                rid = _acled_id(path, start, "event_id_cnty", cells[i_id])
                try:
                    stamp = _unix(cells[i_ts])
                except ValueError:
                    raise CodedFileError(
                        path, start, "deleted_timestamp",
                        f"{quoted(cells[i_ts])} is not a unix time (whole seconds from 1970 to {MAX_YEAR}){_hint(cells[i_ts])}",
                    ) from None  # fmt: skip
                yield Deletion(start, rid, clock.check(path, start, "deleted_timestamp", stamp))
        except csv.Error as e:
            raise CodedFileError(path, start, None, f"malformed CSV: {e}") from None
        except UnicodeDecodeError:
            raise not_utf8(path, end + 1) from None
