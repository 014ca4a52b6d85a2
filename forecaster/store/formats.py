"""The exchange formats `forecast event import` and `export` use: CSV, YAML and JSON with the same
fields, validated row by row (errors name file, line and field)."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from forecaster.core.errors import EvidenceError, UsageError, did_you_mean
from forecaster.core.files import check_regular
from forecaster.core.jsonio import load_json_text
from forecaster.core.text import quoted
from forecaster.core.yamlio import line_of, load_yaml, read_text
from forecaster.model.evidence import check_field_types, report_from_mapping, reports_list
from forecaster.store.records import (
    _ID,
    CLOCK_SKEW,
    FORMATS,
    Format,
    ImportFileError,
    Retraction,
    StoredReport,
    check_text,
    format_time,
    parse_time,
    utcnow,
)

# ---------------------------------------------------------------------------------------------
# Exchange formats: CSV, YAML, JSON with the same fields. `forecast event export` writes them,
# `forecast event import` reads them, and a round trip through an empty store changes nothing.
#
# CSV formula injection: a cell that a spreadsheet would run as a formula (it begins with = + - @,
# a tab or a carriage return) is written with a leading apostrophe, which spreadsheets show as text.
# So that this is reversible, a cell that already begins with apostrophes followed by one of those
# characters gets one more apostrophe; import removes exactly one apostrophe from any cell that
# begins with apostrophes followed by one of them. A hand-written cell like "'quoted' text" is
# never touched.
# ---------------------------------------------------------------------------------------------

EXPORT_FIELDS = (
    "id", "indicator", "date", "occurred", "grade", "source", "url", "note", "analyst", "recorded_at",
    "retracted_at", "retracted_by", "retraction_reason", "origin",
)
_RETRACTION_FIELDS = ("retracted_at", "retracted_by", "retraction_reason")
#: Read-only fields `event list/show --json` add (the weight now); an import ignores them.
DERIVED_FIELDS = ("accuracy", "weight", "age_days")
_STORE_FIELDS = {"id", "recorded_at", *_RETRACTION_FIELDS, *DERIVED_FIELDS}
_IMPORT_FIELDS = {"indicator", "date", "occurred", "reliability", "credibility", "grade", "source", "url", "note",
                  "analyst", "origin", *_STORE_FIELDS}
# A CSV cell may be as long as the text a report holds; Python's csv module stops at 131,072
# characters by default, so an export with a long note would not re-import.
CSV_FIELD_LIMIT = 2**31 - 1
_RISKY = frozenset("=+-@\t\r'")  # the first characters that may need the escape
_FORMULA = re.compile(r"^'*[=+\-@\t\r]")
_ESCAPED_FORMULA = re.compile(r"^'+[=+\-@\t\r]")


def escape_cell(text: str) -> str:
    return "'" + text if text[:1] in _RISKY and _FORMULA.match(text) else text


def unescape_cell(text: str) -> str:
    return text[1:] if text[:1] == "'" and _ESCAPED_FORMULA.match(text) else text


def report_to_row(entry: StoredReport) -> dict[str, Any]:
    """The export fields of one stored report, as JSON-ready values."""
    r, t = entry.report, entry.retraction
    return {
        "id": r.id,
        "indicator": r.indicator,
        "date": r.date.isoformat(),
        "occurred": r.occurred,
        "grade": r.grade,
        "source": r.source,
        "url": r.url,
        "note": r.note,
        "analyst": r.analyst,
        "recorded_at": format_time(r.recorded_at) if r.recorded_at else None,
        "retracted_at": format_time(t.retracted_at) if t else None,
        "retracted_by": t.retracted_by if t else None,
        "retraction_reason": t.reason if t else None,
        "origin": r.origin,
    }


def write_reports(
    stream: IO[str], entries: Iterable[StoredReport], *, fmt: Format,
    extra: Callable[[StoredReport], dict[str, Any]] | None = None,
) -> int:
    """Stream reports in an exchange format; returns how many were written. `extra` adds
    read-only fields to each JSON/YAML row (`event list --json`: the weight now); import ignores them."""
    n = 0
    if fmt == "csv":
        writer = csv.writer(stream, lineterminator="\r\n")
        writer.writerow(EXPORT_FIELDS)
        for entry in entries:
            writer.writerow([escape_cell(cell) for cell in _csv_cells(entry)])
            n += 1
    elif fmt == "json":
        stream.write('{"reports": [')
        for entry in entries:
            row = _compact(report_to_row(entry))
            if extra is not None:
                row.update(extra(entry))
            stream.write(("," if n else "") + "\n  " + json.dumps(row, ensure_ascii=False))
            n += 1
        stream.write("\n]}\n" if n else "]}\n")
    elif fmt == "yaml":
        import yaml

        dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        for entry in entries:
            row = _compact(report_to_row(entry))
            row["date"] = entry.report.date  # a YAML date, unquoted
            # One item at a time, so a large export streams: "reports:" then "- ..." items.
            stream.write(("" if n else "reports:\n") + yaml.dump([row], Dumper=dumper, sort_keys=False, allow_unicode=True))
            n += 1
        if not n:
            stream.write("reports: []\n")
    else:
        raise UsageError(f"unknown format {quoted(fmt)}: expected one of {', '.join(FORMATS)}")
    return n


def _csv_cells(entry: StoredReport) -> list[str]:
    """report_to_row as CSV text, in EXPORT_FIELDS order (the export's hot loop: kept direct)."""
    r, t = entry.report, entry.retraction
    cells = [
        r.id or "", r.indicator, r.date.isoformat(), "true" if r.occurred else "false", r.grade, r.source, r.url,
        r.note, r.analyst, format_time(r.recorded_at) if r.recorded_at else "",
    ]
    cells += [format_time(t.retracted_at), t.retracted_by, t.reason] if t else ["", "", ""]
    cells.append(r.origin or "")
    return cells


def _compact(row: dict[str, Any]) -> dict[str, Any]:
    """Without the retraction fields of a report that has none (YAML and JSON; CSV keeps empty cells)."""
    return {k: v for k, v in row.items() if not ((k in _RETRACTION_FIELDS or k == "origin") and v is None)}


def format_from_name(path: Path) -> Format:
    suffix = path.suffix.lower().lstrip(".")
    if suffix == "yml":
        suffix = "yaml"
    if suffix in FORMATS:
        return suffix
    raise UsageError(f"{path}: cannot tell the format from the name; add --format {' | '.join(FORMATS)}")


@dataclass(frozen=True)
class ReportsFile:
    """Reports read and validated from a file, each with where it stood (file:line)."""

    entries: list[StoredReport]
    labels: list[str]


def read_reports_file(
    path: Path, *, known: Iterable[str], fmt: Format | None = None, today: dt.date | None = None
) -> ReportsFile:
    """Read and validate every report in a CSV, YAML or JSON file (the export fields; id,
    recorded_at, analyst and the retraction fields optional). Every row is checked; if any is bad,
    ImportFileError lists them all, each as file:line: field: problem."""
    fmt = fmt or format_from_name(path)
    check_regular(path, what="reports file")  # a FIFO or device: refused before it is opened
    known = set(known)
    today = today or dt.date.today()
    if fmt == "csv":
        rows = _csv_rows(path)
    elif fmt == "yaml":
        rows = _yaml_rows(path)
    elif fmt == "json":
        rows = _json_rows(path)
    else:
        raise UsageError(f"unknown format {quoted(fmt)}: expected one of {', '.join(FORMATS)}")
    entries: list[StoredReport] = []
    labels: list[str] = []
    problems: list[str] = []
    for where, row in rows:
        if isinstance(row, str):  # a row the reader could not even split into fields
            problems.append(f"{where}: {row}")
            continue
        try:
            entries.append(entry_from_mapping(row, known=known, where=where, today=today))
            labels.append(where)
        except EvidenceError as e:
            problems.append(str(e))
    if problems:
        raise ImportFileError(str(path), problems)
    return ReportsFile(entries, labels)


def entry_from_mapping(
    row: Mapping[str, Any], *, known: Iterable[str], where: str, today: dt.date | None = None
) -> StoredReport:
    """One report of an exchange file: the report fields (evidence.report_from_mapping) plus the
    store's own (id, recorded_at, retraction)."""
    bad_keys = [k for k in row if not isinstance(k, str)]
    if bad_keys:
        raise EvidenceError(f"{where}: field names must be text, got {quoted(bad_keys[0])}")
    check_field_types(row, where)
    for name in ("id", "recorded_at", *_RETRACTION_FIELDS):
        value = row.get(name)
        if value is not None and not isinstance(value, str):
            raise EvidenceError(f"{where}: field {quoted(name)}: expected text, got {type(value).__name__} {quoted(value)}")
    unknown = sorted(set(row) - _IMPORT_FIELDS)
    if unknown:
        raise EvidenceError(f"{where}: unknown field {quoted(unknown[0])}{did_you_mean(unknown[0], _IMPORT_FIELDS)}")
    report = report_from_mapping({k: v for k, v in row.items() if k not in _STORE_FIELDS}, known=known, where=where, today=today)

    def text(name: str) -> str:
        v = row.get(name)
        return "" if v is None else str(v)

    rid = text("id").strip().lower() or None
    if rid is not None and not _ID.match(rid):
        raise EvidenceError(f"{where}: field 'id': {quoted(rid)} is not a report id (r- and hex digits); leave it empty to assign one")
    recorded_at = _time_field(row, "recorded_at", where)
    retraction = None
    given = [k for k in _RETRACTION_FIELDS if text(k).strip()]
    if given:
        missing = [k for k in _RETRACTION_FIELDS if k not in given]
        if missing:
            raise EvidenceError(f"{where}: field {quoted(missing[0])}: missing (a retraction needs {', '.join(_RETRACTION_FIELDS)})")
        retracted_at = _time_field(row, "retracted_at", where)
        assert retracted_at is not None
        if recorded_at is not None and retracted_at < recorded_at:
            raise EvidenceError(f"{where}: field 'retracted_at': before the report was recorded ({format_time(recorded_at)})")
        retraction = Retraction(
            rid or "", text("retraction_reason").strip(), retracted_at, text("retracted_by").strip()
        )
    for name, value in (("source", report.source), ("url", report.url), ("note", report.note), ("analyst", report.analyst),
                        ("origin", report.origin or "")):
        try:
            check_text(name, value)
        except EvidenceError as e:
            raise EvidenceError(f"{where}: {e}") from None
    if retraction is not None:
        for name, value in (("retraction_reason", retraction.reason), ("retracted_by", retraction.retracted_by)):
            try:
                check_text(name, value, required=True)
            except EvidenceError as e:
                raise EvidenceError(f"{where}: {e}") from None
    return StoredReport(dataclasses.replace(report, id=rid, recorded_at=recorded_at), retraction)


def _time_field(row: Mapping[str, Any], name: str, where: str) -> dt.datetime | None:
    value = row.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        t = parse_time(value)
    except (ValueError, TypeError):
        raise EvidenceError(f"{where}: field {quoted(name)}: {quoted(value)} is not an ISO timestamp (e.g. 2025-03-18T09:30:00Z)") from None
    if t > utcnow() + CLOCK_SKEW:
        raise EvidenceError(f"{where}: field {quoted(name)}: {format_time(t)} lies in the future")
    return t


Row = tuple[str, "Mapping[str, Any] | str"]


def csv_rows(
    path: Path,
    *,
    fields: Collection[str],
    shown: Sequence[str],
    missing: Callable[[list[str]], list[str]],
    error: Callable[[str], Exception],
    header_check: Callable[[list[str]], None] | None = None,
) -> tuple[list[str], list[tuple[str, list[str] | str]]]:
    """A CSV file of rows with a header, as every import reads it: UTF-8 (a BOM allowed), quoted
    cells that may span lines, CRLF kept inside quotes. Returns the (lower-cased) columns and, for
    every data row, (file:line, its cells) or (file:line, what is wrong with it); the line is where
    the row starts. An unknown column (with did you mean), a repeated one, or one `missing`
    names is an `error(...)` naming the file and line 1 (`shown`: the columns the message lists);
    `header_check` may refuse others first."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:  # newline="": a quoted CRLF stays CRLF
            text = f.read()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except UnicodeDecodeError as e:
        line = path.read_bytes()[: e.start].count(b"\n") + 1
        raise UsageError(f"{path}:{line}: not UTF-8 text; save the file as UTF-8 (CSV UTF-8 in Excel)") from None
    except OSError as e:
        raise UsageError(f"{path}: cannot read: {e.strerror}") from None
    if csv.field_size_limit() < CSV_FIELD_LIMIT:
        csv.field_size_limit(CSV_FIELD_LIMIT)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise error(f"{path}: empty file; expected a header row ({', '.join(shown)})") from None
    except csv.Error as e:
        raise error(f"{path}:1: malformed CSV header: {e}") from None
    columns = [h.strip().lower() for h in header]
    if header_check is not None:
        header_check(columns)
    unknown = [c for c in columns if c not in fields]
    if unknown:
        raise error(f"{path}:1: unknown column {quoted(unknown[0])}{did_you_mean(unknown[0], fields)}; columns are {', '.join(shown)}")
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes:
        raise error(f"{path}:1: column {quoted(dupes[0])} appears twice")
    needed = missing(columns)
    if needed:
        raise error(f"{path}:1: missing column {quoted(needed[0])}; columns are {', '.join(shown)}")
    rows: list[tuple[str, list[str] | str]] = []
    end = reader.line_num
    while True:
        start = end + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            rows.append((f"{path}:{start}", f"malformed CSV: {e}"))
            break  # the reader cannot resynchronise after a broken quote
        end = reader.line_num
        if not cells or cells == [""]:
            continue
        if len(cells) != len(columns):
            rows.append((f"{path}:{start}", f"expected {len(columns)} cells (one per column), found {len(cells)}"))
            continue
        rows.append((f"{path}:{start}", cells))
    return columns, rows


def _report_columns_missing(columns: list[str]) -> list[str]:
    needed = [c for c in ("indicator", "date", "source") if c not in columns]
    if "grade" not in columns and not {"reliability", "credibility"} <= set(columns):
        needed.append("grade")
    return needed


def _csv_rows(path: Path) -> list[Row]:
    """(file:line, row) for every data row of a reports CSV (`csv_rows`)."""

    def citation(columns: list[str]) -> None:
        if "citation" in columns:
            check_field_types({"citation": ""}, f"{path}:1")

    columns, found = csv_rows(
        path, fields=_IMPORT_FIELDS, shown=EXPORT_FIELDS, missing=_report_columns_missing, error=EvidenceError, header_check=citation
    )
    rows: list[Row] = []
    for label, cells in found:
        if isinstance(cells, str):
            rows.append((label, cells))
            continue
        row: dict[str, Any] = {}
        for column, cell in zip(columns, cells, strict=True):
            cell = unescape_cell(cell)
            if cell != "" or column == "occurred":  # an empty cell is an absent field; occurred must be said
                row[column] = cell
        rows.append((label, row))
    return rows


def _yaml_rows(path: Path) -> list[Row]:
    data = load_yaml(path)
    items = reports_list(data, path)
    if not isinstance(items, list):
        raise EvidenceError(f"{path}: expected a list of reports, or a mapping with a 'reports:' list")
    rows: list[Row] = []
    for i, item in enumerate(items, 1):
        where = f"{path}:{line_of(item) or '?'}"
        rows.append((where, item if isinstance(item, dict) else f"report {i}: expected a mapping of report fields"))
    return rows


def _json_rows(path: Path) -> list[Row]:
    """JSON has no line numbers after parsing; rows are named by position (report N) instead."""
    data = load_json_text(read_text(path), name=str(path))
    items = reports_list(data, path)
    if not isinstance(items, list):
        raise EvidenceError(f"{path}: expected a list of reports, or an object with a \"reports\" list")
    return [
        (f"{path}: report {i}", item if isinstance(item, dict) else "expected an object of report fields")
        for i, item in enumerate(items, 1)
    ]
