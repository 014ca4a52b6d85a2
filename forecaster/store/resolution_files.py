"""Files of resolutions for `forecast resolutions import`: YAML (a `resolutions:` list, as in the
bundled scenarios/resolutions.yaml, or a bare list) or CSV (a header row naming the fields).

Fields: hypothesis, state, from, to, rationale, source, and optionally analyst. Every row is
read and checked; if any is bad, ImportProblems lists them all as file:line: problem, and nothing
is imported. The checks against the priors and the store (known hypothesis and state, overlaps)
follow in `forecaster.store.resolutions.import_resolutions`, with the same labels."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forecaster.core.errors import UsageError, did_you_mean
from forecaster.core.files import check_regular
from forecaster.core.text import quoted
from forecaster.core.yamlio import line_of, load_yaml
from forecaster.store.formats import csv_rows
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
        raise ResolutionError(f"{where}: field names must be text, got {quoted(bad[0])}")
    unknown = sorted(set(row) - set(FIELDS))
    if unknown:
        raise ResolutionError(f"{where}: unknown field {quoted(unknown[0])}{did_you_mean(unknown[0], FIELDS)}")
    missing = [k for k in REQUIRED if row.get(k) is None or (isinstance(row.get(k), str) and not row[k].strip())]
    if missing:
        raise ResolutionError(f"{where}: field {quoted(missing[0])}: missing or empty")
    for k in FIELDS:
        v = row.get(k)
        if v is not None and k not in ("from", "to") and not isinstance(v, str | int | float):
            raise ResolutionError(f"{where}: field {quoted(k)}: expected text, got a {type(v).__name__}")
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
            raise ResolutionError(f"{path}: unknown top-level key {quoted(extra[0])}; expected 'resolutions:'")
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
    columns, found = csv_rows(
        path, fields=FIELDS, shown=FIELDS, missing=lambda cols: [c for c in REQUIRED if c not in cols], error=ResolutionError
    )
    return [
        (label, cells if isinstance(cells, str) else {c: v for c, v in zip(columns, cells, strict=True) if v != ""})
        for label, cells in found
    ]
