"""Problems in a priors folder, located: field paths and line numbers of YAML nodes, pydantic's
errors as problems in the schema's words (every one, with did-you-mean on unknown keys), and a
file parsed leniently: mended and with its broken items set aside, so the checks that span files
still run and list their own problems in the same pass."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
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


_SNAKE = r"^[a-z][a-z0-9_]*$"  # specs' and the mapping rules' id pattern
_TYPE_TAGS = ("float", "str", "int", "bool", "list[str]", "date", "constrained-str")  # pydantic's branch names in a location

# What a field of several forms takes, in the schema's words (one line for a union, not one per branch).
_FORMS = {
    "confidence": "low, medium, high or a number > 0",
    "half_life_days": "a positive number of days, or none",
    "mechanism": "one mechanism id",
    "p": "a probability, a number in [0, 1]",
    "probabilities": "a number in [0, 1] or an ICD 203 term",
}


def _shown(value: Any) -> str:
    """A value as a problem quotes it: short, and its kind when it is not a scalar."""
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "an empty value"
    return quoted(value, 40)


def _form(loc: Sequence[int | str]) -> str | None:
    names = [p for p in loc if isinstance(p, str)]
    if len(loc) >= 2 and loc[-2] == "probabilities":
        return _FORMS["probabilities"]
    return _FORMS.get(names[-1]) if names else None


def _expected(error: Mapping[str, Any], loc: Sequence[int | str]) -> str:
    """pydantic's complaint about a value, in the schema's words."""
    kind, ctx, got = error["type"], error.get("ctx") or {}, _shown(error.get("input"))
    form = _form(loc)
    if kind in ("less_than_equal", "greater_than_equal", "less_than", "greater_than") and form:
        return f"{got}: expected {form}"
    plain = {
        "int_parsing": "a whole number", "int_type": "a whole number", "int_from_float": "a whole number",
        "float_parsing": "a number", "float_type": "a number", "finite_number": "a finite number",
        "string_type": "text (in quotes if it looks like a number or a date)",
        "bool_parsing": "true or false", "bool_type": "true or false",
        "date_parsing": "a date, YYYY-MM-DD", "date_type": "a date, YYYY-MM-DD",
        "date_from_datetime_parsing": "a date, YYYY-MM-DD", "date_from_datetime_inexact": "a date, YYYY-MM-DD",
        "dict_type": "a mapping (key: value lines)", "model_type": "a mapping (key: value lines)",
        "model_attributes_type": "a mapping (key: value lines)", "list_type": "a list",
        "string_pattern_mismatch": "an id in snake_case (a lower-case letter, then lower-case letters, digits or _)"
        if ctx.get("pattern") == _SNAKE else f"text matching {ctx.get('pattern')}",
        "greater_than": f"a number > {ctx.get('gt')}", "greater_than_equal": f"a number ≥ {ctx.get('ge')}",
        "less_than": f"a number < {ctx.get('lt')}", "less_than_equal": f"a number ≤ {ctx.get('le')}",
        "literal_error": f"{ctx.get('expected')}",
        "string_too_short": "non-empty text",
    }
    if kind == "too_short":
        n = ctx.get("min_length")
        return f"{ctx.get('actual_length', 0)} given: at least {n} needed"
    if kind == "too_long":
        return f"{ctx.get('actual_length')} given: at most {ctx.get('max_length')} allowed"
    if kind in plain:
        return f"{got}: expected {form or plain[kind]}" if form and kind.endswith(("_type", "_parsing")) else f"{got}: expected {plain[kind]}"
    said = str(error["msg"]).replace("Input should be", "expected")
    return f"{got}: {said}"


def pydantic_error(error: Mapping[str, Any], keys_at: Callable[[list[int | str]], Iterable[str]]) -> tuple[list[int | str], str]:
    """One of pydantic's errors in the tool's words: its location without pydantic's own parts
    (validator and union branch names, type tags), and its message; an unknown key with did you
    mean among `keys_at(location)`, a missing one said plainly. Priors and mapping rules alike."""
    loc = _clean_loc(error["loc"])
    if error["type"] == "extra_forbidden":
        key = str(loc[-1])
        return loc, f"unknown key {quoted(key)}{did_you_mean(key, keys_at(loc))}"
    if error["type"] == "missing":
        return loc, "missing: this field is required"
    if error["type"] in ("value_error", "assertion_error"):
        return loc, str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return loc, _expected(error, loc)


def _clean_loc(raw: Sequence[Any]) -> list[int | str]:
    return [
        p for p in raw
        if not (isinstance(p, str) and (p in _TYPE_TAGS or p.startswith(("function-", "union[", "literal[", "constrained-"))))
    ]  # fmt: skip


def _union_message(loc: Sequence[int | str], errors: Sequence[Mapping[str, Any]]) -> str:
    """One message for a value that matched none of a field's forms."""
    got = _shown(errors[0].get("input"))
    own = [str(e["msg"]).removeprefix("Value error, ") for e in errors if e["type"] == "value_error"]
    if own:
        return own[0]
    return f"{got}: expected {_form(loc) or 'one of ' + ', '.join(sorted({str(e['type']) for e in errors}))}"


def _validation_problems(
    model: type[BaseModel], data: Any, name: str, e: ValidationError, text: str | None = None
) -> list[Problem]:
    """Every error pydantic found, as problems (file, line, field, problem) in the schema's words: one
    per field (a value that fits none of a field's forms is one problem, not one per form), unknown
    keys with did-you-mean (and, given the file's `text`, the line of the unknown key itself)."""
    by_loc: dict[str, list[Mapping[str, Any]]] = {}
    locs: dict[str, list[int | str]] = {}
    for error in e.errors():
        loc = _clean_loc(error["loc"])
        by_loc.setdefault(loc_text(loc), []).append(error)
        locs[loc_text(loc)] = loc
    problems: list[Problem] = []
    for path, errors in by_loc.items():
        loc = locs[path]
        if len(errors) > 1 and all(x["type"] not in ("extra_forbidden", "missing") for x in errors):
            msg = _union_message(loc, errors)
        else:
            msg = pydantic_error(errors[0], lambda at: _fields_at(model, at))[1]
        line = _line_at(data, loc)
        if errors[0]["type"] != "missing" and loc and isinstance(loc[-1], str):  # the key's own line
            line = _key_line(text, line, loc[-1]) or line
        problems.append(Problem(name, line, path, subject(data, loc) + msg))
    return sorted(problems, key=lambda p: p.line)  # in the order of the file


_KINDS = {"hypotheses": "hypothesis", "indicators": "indicator", "mechanisms": "mechanism"}


def subject(data: Any, loc: Sequence[int | str]) -> str:
    """"indicator arms_east: " for a problem inside a listed item that has an id (its field path
    only counts), or ""."""
    if len(loc) < 3 or loc[0] not in _KINDS or not isinstance(loc[1], int) or loc[2] == "id":
        return ""
    try:
        item = data[loc[0]][loc[1]]
    except (KeyError, IndexError, TypeError):
        return ""
    ident = item.get("id") if isinstance(item, Mapping) else None
    return f"{_KINDS[str(loc[0])]} {ident}: " if isinstance(ident, str) else ""


# ----------------------------------------------------------------------------- lenient parsing

# Fields whose value shapes the network (ids, parents, states, a row's configuration and numbers):
# an item with a problem there is set aside whole, and the checks that span files skip what depends
# on it. A problem anywhere else is mended (the key dropped for its default, or a filler) so that
# the file's other content is still checked.
STRUCTURAL = frozenset(
    {"id", "parents", "states", "given", "p", "term", "probabilities", "likelihoods", "mechanism",
     "hypotheses", "indicators", "mechanisms"}
)
_ROUNDS = 25
_ASIDE = object()


@dataclass(frozen=True)
class Parsed:
    """A file's spec with the items that failed their schema set aside (None when the file as a whole
    is unusable), its data as read (lines kept), and where each kept item stands in the file."""

    spec: Any
    raw: Any
    set_aside: tuple[tuple[int | str, ...], ...] = ()
    positions: Mapping[tuple[int | str, ...], Sequence[int]] = field(default_factory=dict)

    def at(self, loc: Sequence[int | str]) -> list[int | str]:
        """A location in the spec, as written in the file."""
        out: list[int | str] = []
        for part in loc:
            kept = self.positions.get(tuple(out))
            out.append(kept[part] if isinstance(part, int) and kept is not None and part < len(kept) else part)
        return out

    def aside(self, *prefix: int | str) -> bool:
        """Whether an item at or inside `prefix` (a location in the file) was set aside."""
        return any(s[: len(prefix)] == prefix for s in self.set_aside)


def parse_leniently(
    model: type[BaseModel], raw: Any, *, name: str, text: str | None, fillers: Mapping[str, Any] | None = None
) -> tuple[Parsed, list[Problem]]:
    """The file's spec and every problem in it: pydantic's, all at once, then the file mended round
    by round (unknown keys dropped, items with a problem set aside) until the rest parses."""
    try:
        return Parsed(model.model_validate(raw), raw), []
    except ValidationError as e:
        problems = _validation_problems(model, raw, name, e, text)
    work = _plain(raw)
    aside: list[tuple[int | str, ...]] = []
    for _ in range(_ROUNDS):
        clean, positions = _without_aside(work, ())
        try:
            return Parsed(model.model_validate(clean), raw, tuple(aside), positions), problems
        except ValidationError as e:
            errors = e.errors()
        spot = Parsed(None, raw, (), positions)
        changed = [_mend(model, work, spot.at(_clean_loc(x["loc"])), x["type"], aside, fillers or {}) for x in errors]
        if not any(changed):
            break
    return Parsed(None, raw, tuple(aside)), problems


def _mend(
    model: type[BaseModel], work: Any, loc: list[int | str], kind: str,
    aside: list[tuple[int | str, ...]], fillers: Mapping[str, Any],
) -> bool:
    """Mend one error in `work` (the file's data, in the file's own positions); False if it cannot be."""
    item = _item_of(model, loc)
    names = [p for p in loc if isinstance(p, str)]
    structural = kind != "extra_forbidden" and (
        item == loc or (bool(names) and names[-1] in STRUCTURAL) or any(n in ("given", "probabilities") for n in names)
    )
    if loc and not structural:
        holder, key = _node(work, loc[:-1]), loc[-1]
        info = _fields_at(model, loc).get(key) if isinstance(key, str) else None
        droppable = kind == "extra_forbidden" or info is None or not info.is_required()
        if isinstance(holder, dict) and droppable:
            return holder.pop(key, _ASIDE) is not _ASIDE  # not there: mended by an earlier error at this spot
        filler = fillers.get(str(key), _filler(info.annotation)) if info is not None else None
        if isinstance(holder, dict) and filler is not None:
            changed = holder.get(key) != filler
            holder[key] = filler
            return changed
    if item is None:
        return False
    parent = _node(work, item[:-1])
    if parent is None or parent[item[-1]] is _ASIDE:
        return False
    parent[item[-1]] = _ASIDE
    aside.append(tuple(item))
    return True


def _filler(annotation: Any) -> Any:
    """A stand-in value for a required field with a problem, so the rest of its item is checked."""
    return {str: "", int: 1, float: 1.0}.get(annotation)


def _node(data: Any, loc: Sequence[int | str]) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _item_of(model: type[BaseModel], loc: Sequence[int | str]) -> list[int | str] | None:
    """The innermost listed item (a list entry or a table of an expert file) holding `loc`; a state
    stands for its hypothesis."""
    import typing

    current: Any = model
    best: list[int | str] | None = None
    for n, part in enumerate(loc):
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(part) if isinstance(part, str) else None
            if info is None:
                break
            current = info.annotation
            continue
        origin, args = typing.get_origin(current), typing.get_args(current)
        if origin is list and isinstance(part, int) and args:
            current = args[0]
        elif origin is dict and len(args) == 2 and isinstance(part, str):
            current = args[1]
        else:
            break
        inner = typing.get_args(current)[0] if typing.get_origin(current) is list and typing.get_args(current) else current
        if isinstance(inner, type) and issubclass(inner, BaseModel) and not (n and loc[n - 1] == "states" and best):
            best = list(loc[: n + 1])
    return best


def _without_aside(data: Any, path: tuple[int | str, ...]) -> tuple[Any, dict[tuple[int | str, ...], list[int]]]:
    """A copy of `data` without the items set aside, and, for each list that lost one, the file
    position of every item kept."""
    positions: dict[tuple[int | str, ...], list[int]] = {}
    if isinstance(data, dict):
        out: Any = {}
        for k, v in data.items():
            if v is not _ASIDE:
                out[k], inner = _without_aside(v, (*path, k))
                positions.update(inner)
        return out, positions
    if isinstance(data, list):
        kept = [i for i, v in enumerate(data) if v is not _ASIDE]
        if len(kept) < len(data):
            positions[path] = kept
        out = []
        for i in kept:
            value, inner = _without_aside(data[i], (*path, i))
            out.append(value)
            positions.update(inner)
        return out, positions
    return data, positions


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


