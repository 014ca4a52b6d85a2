"""Problems in a priors folder, located: field paths and line numbers of YAML nodes, pydantic's
errors as problems (every one, with did-you-mean on unknown keys), and a file's data without its
unknown keys (so the checks that span files can still run and list their own problems)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Union

from pydantic import BaseModel, ValidationError

from forecaster.core.errors import Problem, did_you_mean
from forecaster.core.text import excerpt, quoted


def loc_text(loc: Sequence[int | str]) -> str:
    """A field path as the problems print it: `experts[0].indicators.x`, or "(top level)"."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + excerpt(str(part), 40)  # a huge key is named by its start
    return out or "(top level)"


def _line_at(data: Any, loc: Sequence[int | str]) -> int:
    line = getattr(data, "line", 0)
    node = data
    for part in loc:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
        line = getattr(node, "line", line)
    return int(line)


def _fields_at(model: type[BaseModel], loc: Sequence[int | str]) -> Mapping[str, Any]:
    """The fields of the (nested) model that holds the key at `loc`, for did-you-mean on unknown keys."""
    import typing

    current: Any = model
    for part in loc[:-1]:
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part)) if isinstance(part, str) else None
            if info is None:
                return {}
            current = info.annotation
            continue
        args = [a for a in typing.get_args(current) if a is not type(None)]
        origin = typing.get_origin(current)
        if origin in (list, tuple) and isinstance(part, int) and args:
            current = args[0]
        elif origin is dict and len(args) == 2:
            current = args[1]
        else:
            return {}
        while typing.get_origin(current) is Union:  # Optional[...] of a model
            inner = [a for a in typing.get_args(current) if a is not type(None)]
            if len(inner) != 1:
                return {}
            current = inner[0]
    if isinstance(current, type) and issubclass(current, BaseModel):
        return current.model_fields
    return {}


def _key_line(text: str | None, start: int, key: str) -> int:
    """The line, from `start` on, where `key:` is written (a block or flow mapping); 0 if not found."""
    if not text or not key:
        return 0
    pattern = re.compile(rf"(^|[\s{{,-]){re.escape(key)}\s*:")
    for i, line in enumerate(text.splitlines()[max(start - 1, 0):], max(start, 1)):
        if pattern.search(line):
            return i
    return 0


_TYPE_TAGS = ("float", "str", "int", "bool")  # pydantic's names for a union's branches in a location


def pydantic_error(error: Mapping[str, Any], keys_at: Callable[[list[int | str]], Iterable[str]]) -> tuple[list[int | str], str]:
    """One of pydantic's errors in the tool's words: its location without pydantic's own parts
    (validator and union branch names, type tags), and its message; an unknown key with did you
    mean among `keys_at(location)`, a missing one said plainly. Priors and mapping rules alike."""
    loc = [
        p for p in error["loc"]
        if not (isinstance(p, str) and (p in _TYPE_TAGS or p.startswith(("function-", "union[", "literal["))))
    ]  # fmt: skip
    msg = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        key = str(loc[-1])
        msg = f"unknown key {quoted(key)}{did_you_mean(key, keys_at(loc))}"
    elif error["type"] == "missing":
        msg = "missing: this field is required"
    return loc, msg


def _validation_problems(
    model: type[BaseModel], data: Any, name: str, e: ValidationError, text: str | None = None
) -> list[Problem]:
    """Every error pydantic found, as problems (file, line, field, problem), unknown keys with did-you-mean
    (and, given the file's `text`, the line of the unknown key itself)."""
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for error in e.errors():
        loc, msg = pydantic_error(error, lambda at: _fields_at(model, at))
        field = loc_text(loc)
        line = _line_at(data, loc)
        if error["type"] == "extra_forbidden" and loc:
            line = _key_line(text, line, str(loc[-1])) or line
        if (field, msg) in seen:  # a union reports one problem once per branch
            continue
        seen.add((field, msg))
        problems.append(Problem(name, line, field, msg))
    return sorted(problems, key=lambda p: p.line)  # in the order of the file


def _without_unknown(model: type[BaseModel], data: Any) -> Any:
    """A plain copy of `data` without the keys `model` rejects as unknown."""
    import copy

    plain = copy.deepcopy(_plain(data))
    try:
        model.model_validate(plain)
    except ValidationError as e:
        for error in e.errors():
            if error["type"] != "extra_forbidden":
                continue
            node = plain
            *path, key = error["loc"]
            for part in path:
                node = node[part]
            node.pop(key, None)
    return plain


def _plain(data: Any) -> Any:
    if isinstance(data, Mapping):
        return {k: _plain(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_plain(v) for v in data]
    return data


_WHERE_TEXT = re.compile(r"^(?P<file>[^\n]+?\.ya?ml)(?::(?P<line>\d+))?: (?P<rest>.*)$", re.DOTALL)


def _problem_from_text(text: str, file: str) -> Problem:
    """A problem from a one-line 'file:line: message' (a YAML reader's error)."""
    m = _WHERE_TEXT.match(text)
    if m is None:
        return Problem(file, 0, "", text)
    return Problem(m["file"], int(m["line"] or 0), "", m["rest"])


