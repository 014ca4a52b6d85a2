"""Files of resolutions for `forecast resolutions import`: YAML (a `resolutions:` list, as in the
bundled scenarios/resolutions.yaml, or a bare list) or CSV (a header row naming the fields).

Fields: hypothesis, state, from, to, rationale, source, and optionally analyst. Every row is
read and checked; if any is bad, ImportProblems lists them all as file:line: problem, and nothing
is imported. The checks against the priors and the store (known hypothesis and state, overlaps)
follow in `forecaster.store.resolutions.import_resolutions`, with the same labels."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forecaster.core.errors import UsageError, did_you_mean
from forecaster.core.files import check_regular
from forecaster.core.yamlio import line_of, load_yaml
from forecaster.store.resolutions import ImportProblems, Resolution, ResolutionError, parse_date

FIELDS = ("hypothesis", "state", "from", "to", "rationale", "source", "analyst")
REQUIRED = ("hypothesis", "state", "from", "to", "rationale", "source")


@dataclass(frozen=True)
class ResolutionsFile:
    resolutions: list[Resolution]
    labels: list[str]  # file:line of each


def resolution_from_mapping(row: Mapping[str, Any], *, where: str) -> Resolution:
    """One row of a file as a Resolution (the dates parsed; the rest is checked on import)."""
    bad = [k for k in row if not isinstance(k, str)]
    if bad:
        raise ResolutionError(f"{where}: field names must be text, got {bad[0]!r}")
    unknown = sorted(set(row) - set(FIELDS))
    if unknown:
        raise ResolutionError(f"{where}: unknown field {unknown[0]!r}{did_you_mean(unknown[0], FIELDS)}")
    missing = [k for k in REQUIRED if row.get(k) is None or (isinstance(row.get(k), str) and not row[k].strip())]
    if missing:
        raise ResolutionError(f"{where}: field {missing[0]!r}: missing or empty")
    for k in FIELDS:
        v = row.get(k)
        if v is not None and k not in ("from", "to") and not isinstance(v, str | int | float):
            raise ResolutionError(f"{where}: field {k!r}: expected text, got a {type(v).__name__}")
    try:
        start, end = parse_date(row["from"], "from"), parse_date(row["to"], "to")
    except ResolutionError as e:
        raise ResolutionError(f"{where}: field {e}") from None
    return Resolution(
        hypothesis=str(row["hypothesis"]),
        state=str(row["state"]),
        start=start,
        end=end,
        rationale=str(row["rationale"]),
        source=str(row["source"]),
        analyst="" if row.get("analyst") is None else str(row["analyst"]),
    )


def read_resolutions_file(path: Path) -> ResolutionsFile:
    check_regular(path, what="resolutions file")  # a FIFO or device: refused before it is opened
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        rows = _yaml_rows(path)
    elif suffix == ".csv":
        rows = _csv_rows(path)
    else:
        raise UsageError(f"{path}: expected a .yaml, .yml or .csv file of resolutions")
    out: list[Resolution] = []
    labels: list[str] = []
    problems: list[str] = []
    for where, row in rows:
        if isinstance(row, str):
            problems.append(f"{where}: {row}")
            continue
        try:
            out.append(resolution_from_mapping(row, where=where))
            labels.append(where)
        except ResolutionError as e:
            problems.append(str(e))
    if problems:
        raise ImportProblems(str(path), problems)
    return ResolutionsFile(out, labels)


Row = tuple[str, "Mapping[str, Any] | str"]


def _yaml_rows(path: Path) -> list[Row]:
    data = load_yaml(path, error=ResolutionError)
    items = data.get("resolutions") if isinstance(data, dict) else data
    if isinstance(data, dict):
        extra = sorted(k for k in data if k != "resolutions")
        if extra:
            raise ResolutionError(f"{path}: unknown top-level key {extra[0]!r}; expected 'resolutions:'")
    if items is None:
        items = []
    if not isinstance(items, list):
        raise ResolutionError(f"{path}: expected a list of resolutions, or a mapping with a 'resolutions:' list")
    return [
        (
            f"{path}:{line_of(item) or '?'}",
            item if isinstance(item, dict) else f"resolution {i}: expected a mapping of resolution fields",
        )
        for i, item in enumerate(items, 1)
    ]


def _csv_rows(path: Path) -> list[Row]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: cannot read as UTF-8 text: {e}") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise ResolutionError(f"{path}: empty file; expected a header row ({', '.join(FIELDS)})") from None
    except csv.Error as e:
        raise ResolutionError(f"{path}:1: malformed CSV header: {e}") from None
    columns = [h.strip().lower() for h in header]
    unknown = [c for c in columns if c not in FIELDS]
    if unknown:
        raise ResolutionError(
            f"{path}:1: unknown column {unknown[0]!r}{did_you_mean(unknown[0], FIELDS)}; columns are {', '.join(FIELDS)}"
        )
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes:
        raise ResolutionError(f"{path}:1: column {dupes[0]!r} appears twice")
    needed = [c for c in REQUIRED if c not in columns]
    if needed:
        raise ResolutionError(f"{path}:1: missing column {needed[0]!r}; columns are {', '.join(FIELDS)}")
    rows: list[Row] = []
    end = reader.line_num
    while True:
        start = end + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            rows.append((f"{path}:{start}", f"malformed CSV: {e}"))
            break
        end = reader.line_num
        if not cells or cells == [""]:
            continue
        if len(cells) != len(columns):
            rows.append((f"{path}:{start}", f"expected {len(columns)} cells (one per column), found {len(cells)}"))
            continue
        rows.append((f"{path}:{start}", {c: v for c, v in zip(columns, cells, strict=True) if v != ""}))
    return rows
