"""`priors validate` in one pass: the schema and structure problems (forecaster.model.schema), the
audit's errors that need no seed papers (forecaster.analysis.findings, run on the folder's sound
part when other parts have problems), and the `TODO` placeholders still to fill in, as warnings."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forecaster.core.errors import PriorsError, Problem, UsageError
from forecaster.core.text import plural
from forecaster.model.priors import Priors, priors_files

TODO = "TODO"
# Audit errors that placeholders cause by themselves (a uniform table cannot discriminate; two
# example rows read alike): while the item still holds a TODO, its TODO warning says it all.
_PLACEHOLDER_KINDS = frozenset({"no_discrimination", "copied_judgment"})


@dataclass(frozen=True)
class Validation:
    """A folder's errors and warnings; `priors` whole when there is no error."""

    folder: Path
    priors: Priors | None
    errors: tuple[Problem, ...]
    warnings: tuple[Problem, ...]


def validate_folder(folder: Path) -> Validation:
    """Every error and warning of a priors folder, in one pass."""
    from forecaster.analysis.findings import validation_findings
    from forecaster.model.loading import load_priors

    problems: list[Problem] = []
    try:
        priors: Priors | None = load_priors(folder)
    except PriorsError as e:
        priors, problems = _partial(folder, e)
    except UsageError as e:  # an unreadable file, a file that is not a regular file
        return Validation(folder, None, (Problem(str(folder), 0, "", str(e)),), ())
    todos = list(todo_warnings(folder))
    items = {(p.file, p.field) for p in todos}
    if priors is not None:
        mended = {(p.file, _parent(p.field)) for p in problems if _MENDED.search(p.problem)}
        for f in validation_findings(priors):
            if f.kind in _PLACEHOLDER_KINDS and _under(f.file, f.field, items):
                continue
            if _beside(f.file, f.field, mended):
                continue  # beside a key already reported (a misspelt `rationle`): not a second problem
            problems.append(Problem(f.file, f.line, f.field, f.message))
    return Validation(folder, priors if not problems else None, tuple(_by_file(folder, problems)), tuple(todos))


def _by_file(folder: Path, problems: list[Problem]) -> list[Problem]:
    """Problems file by file, in the folder's order of files, each file's by line."""
    try:
        names = [str(f.relative_to(folder.parent)) for f in priors_files(folder)]
    except (UsageError, ValueError):
        return problems
    rank = {name: i for i, name in enumerate(names)}
    return sorted(problems, key=lambda p: (rank.get(p.file, -1), p.line))


def _partial(folder: Path, e: PriorsError) -> tuple[Priors | None, list[Problem]]:
    """The folder's sound part and every problem (the cache never holds a folder with problems)."""
    from forecaster.model.schema import check_priors_folder

    try:
        return check_priors_folder(folder)
    except PriorsError:
        return None, list(e.problems) or [Problem(str(folder), 0, "", str(e))]


# A schema problem whose key the lenient parse dropped or replaced: an audit finding beside it (no
# rationale, no sign-off) would only repeat it.
_MENDED = re.compile(r"unknown key |^missing: this field is required|: expected ")
_LAST = re.compile(r"(\.[^.\[\]]+|\[\d+\])$")


def _parent(field: str) -> str:
    """`hypotheses.alignment[0]` of `hypotheses.alignment[0].rationle`; "" at the top level."""
    return _LAST.sub("", field) if _LAST.search(field) and field != "(top level)" else ""


def _beside(file: str, field: str, mended: set[tuple[str, str]]) -> bool:
    """Whether a finding sits in an item whose key was mended: inside it, or beside a top-level key."""
    return any(
        file == f and (field.startswith((item + ".", item + "[")) or field == item if item else _parent(field) == "")
        for f, item in mended
    )


def _under(file: str, field: str, items: set[tuple[str, str]]) -> bool:
    return any(file == f and (field == item or field.startswith((item + ".", item + "["))) for f, item in items)


def todo_warnings(folder: Path) -> Iterator[Problem]:
    """One warning per listed item (a hypothesis, an indicator, an expert's table) or top-level key
    that still holds a `TODO` placeholder, with how many and where the first is."""
    from forecaster.core.yamlio import load_yaml

    try:
        files = priors_files(folder)
    except UsageError:
        return
    for path in files:
        try:
            text = path.read_text(encoding="utf-8-sig")
            if TODO not in text:
                continue  # most files: no parse needed
            raw = load_yaml(path, error=UsageError)
        except (UsageError, OSError, UnicodeDecodeError):
            continue  # its problem is an error already
        name = str(path.relative_to(folder.parent)) if path.is_relative_to(folder.parent) else str(path)
        yield from _file_todos(name, text, raw)


def _file_todos(name: str, text: str, raw: Any) -> Iterator[Problem]:
    from forecaster.model.problems import _key_line, _line_at, loc_text  # pydantic: only when a TODO is found

    found: dict[tuple[int | str, ...], list[list[int | str]]] = {}
    for loc in _todo_locs(raw, []):
        found.setdefault(_item(raw, loc), []).append(loc)
    for item, locs in found.items():
        inner = [loc_text(loc[len(item):]) for loc in locs if len(loc) > len(item)]
        where = f": {', '.join(inner[:3])}{', …' if len(inner) > 3 else ''}" if inner else ""
        line = _line_at(raw, list(item))
        if isinstance(item[-1], str):
            line = _key_line(text, line, item[-1]) or line
        yield Problem(name, line, loc_text(list(item)),
                      f"{_named(raw, item)}{TODO}: {plural(len(locs), 'placeholder')} to fill in{where}")


def _named(raw: Any, item: Sequence[int | str]) -> str:
    """"indicator drills: " for a listed item with an id."""
    kinds = {"hypotheses": "hypothesis", "indicators": "indicator", "mechanisms": "mechanism"}
    if len(item) == 2 and isinstance(item[1], int) and item[0] in kinds:
        ident = raw[item[0]][item[1]].get("id") if isinstance(raw[item[0]][item[1]], dict) else None
        return f"{kinds[str(item[0])]} {ident}: " if isinstance(ident, str) else ""
    return ""


def _todo_locs(data: Any, loc: list[int | str]) -> Iterator[list[int | str]]:
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _todo_locs(v, [*loc, k])
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _todo_locs(v, [*loc, i])
    elif isinstance(data, str) and TODO in data:
        yield loc


def _item(raw: Any, loc: Sequence[int | str]) -> tuple[int | str, ...]:
    """The listed item holding `loc`: `indicators[3]`, an expert's `hypotheses.escalation`, or the top-level key."""
    if len(loc) >= 2 and loc[0] in ("hypotheses", "indicators", "mechanisms"):
        return tuple(loc[:2])
    return tuple(loc[:1])
