"""The fields a rule may name (ACLED's columns, GDELT's in snake_case) and the conditions on them
(value, list, regex, prefix, range), compiled to predicates over a row's cells."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from forecaster.core.errors import EvidenceError, did_you_mean
from forecaster.core.text import excerpt, quoted
from forecaster.ingest.formats import ACLED_INDEX, GDELT_INDEX, CodedFormat

Kind = Literal["text", "number", "tags"]
Predicate = Callable[[str], Any]

class _BadCell(Exception):
    def __init__(self, column: str, cell: str, problem: str) -> None:
        super().__init__(problem)
        self.column = column
        self.cell = cell
        self.problem = problem



# ----------------------------------------------------------------------------- the fields rules may name

# ACLED: the export's own column names (but the id, date and timestamp, which every import reads).
_ACLED_NUMBERS = ("year", "time_precision", "iso", "latitude", "longitude", "geo_precision", "fatalities")
ACLED_FIELDS: Mapping[str, tuple[str, Kind]] = {
    name: (name, "number" if name in _ACLED_NUMBERS else "tags" if name == "tags" else "text")
    for name in ACLED_INDEX
    if name not in ("event_id_cnty", "event_date", "timestamp")
}


def _gdelt_fields() -> dict[str, tuple[str, Kind]]:
    out: dict[str, tuple[str, Kind]] = {
        "event_code": ("EventCode", "text"),
        "event_base_code": ("EventBaseCode", "text"),
        "event_root_code": ("EventRootCode", "text"),
        "is_root_event": ("IsRootEvent", "number"),
        "quad_class": ("QuadClass", "number"),
        "goldstein": ("GoldsteinScale", "number"),
        "num_mentions": ("NumMentions", "number"),
        "num_sources": ("NumSources", "number"),
        "num_articles": ("NumArticles", "number"),
        "avg_tone": ("AvgTone", "number"),
        "source_url": ("SOURCEURL", "text"),
    }
    for n in (1, 2):
        for short, col in (("code", "Code"), ("name", "Name"), ("country", "CountryCode"), ("known_group", "KnownGroupCode"),
                           ("ethnic", "EthnicCode"), ("religion1", "Religion1Code"), ("religion2", "Religion2Code"),
                           ("type1", "Type1Code"), ("type2", "Type2Code"), ("type3", "Type3Code")):  # fmt: skip
            out[f"actor{n}_{short}"] = (f"Actor{n}{col}", "text")
    for prefix, geo in (("actor1_geo", "Actor1Geo"), ("actor2_geo", "Actor2Geo"), ("action_geo", "ActionGeo")):
        for short, col, kind in (("type", "Type", "number"), ("name", "FullName", "text"), ("country", "CountryCode", "text"),
                                 ("adm1", "ADM1Code", "text"), ("adm2", "ADM2Code", "text"), ("lat", "Lat", "number"),
                                 ("long", "Long", "number"), ("feature", "FeatureID", "text")):  # fmt: skip
            out[f"{prefix}_{short}"] = (f"{geo}_{col}", kind)  # type: ignore[assignment]
    out["action_country"] = ("ActionGeo_CountryCode", "text")  # the short name the issue uses
    return out


GDELT_FIELDS: Mapping[str, tuple[str, Kind]] = _gdelt_fields()
FIELDS: Mapping[CodedFormat, Mapping[str, tuple[str, Kind]]] = {"acled": ACLED_FIELDS, "gdelt": GDELT_FIELDS}
_INDEX: Mapping[CodedFormat, Mapping[str, int]] = {"acled": ACLED_INDEX, "gdelt": GDELT_INDEX}

# Text fields whose values may be written as bare numbers (ACLED's actor-type codes were numbers
# before 2024 and are labels since). Any other text field wants quotes: YAML reads 043 as 35.
_NUMBER_AS_TEXT = {"inter1", "inter2", "interaction"}

# Closed vocabularies: a value outside them is a typo (did you mean …?), not a rule matching nothing.
ACLED_VOCABULARY: Mapping[str, frozenset[str]] = {
    "event_type": frozenset({
        "Battles", "Violence against civilians", "Explosions/Remote violence", "Protests", "Riots",
        "Strategic developments",
    }),
    "sub_event_type": frozenset({
        "Armed clash", "Government regains territory", "Non-state actor overtakes territory", "Sexual violence",
        "Attack", "Abduction/forced disappearance", "Chemical weapon", "Air/drone strike", "Suicide bomb",
        "Shelling/artillery/missile attack", "Remote explosive/landmine/IED", "Grenade", "Peaceful protest",
        "Protest with intervention", "Excessive force against protesters", "Excessive force against protestors",
        "Violent demonstration", "Mob violence", "Agreement", "Arrests", "Change to group/activity",
        "Disrupted weapons use", "Headquarters or base established", "Looting/property destruction",
        "Non-violent transfer of territory", "Other",
    }),
    "disorder_type": frozenset({
        "Political violence", "Demonstrations", "Strategic developments", "Political violence; Demonstrations",
    }),
    "civilian_targeting": frozenset({"Civilian targeting"}),
}  # fmt: skip
_CAMEO = re.compile(r"^\d{1,4}$")
_FIPS = re.compile(r"^[A-Z]{2}$")
_CAMEO_COUNTRY = re.compile(r"^[A-Z]{3}$")
_CAMEO_FIELDS = {"event_code", "event_base_code", "event_root_code"}
_FIPS_FIELDS = {"action_country", "action_geo_country", "actor1_geo_country", "actor2_geo_country"}
_ID = r"^[a-z][a-z0-9_]*$"


class RulesError(EvidenceError):
    """A mapping rules file is invalid: file:line: field.path: problem."""


# ----------------------------------------------------------------------------- conditions

_FORMS = "a value, a list of values, {regex: …}, {prefix: […]} or {min: N, max: N}"


_LONG_TEXT = {"notes", "source", "source_url", "actor1_name", "actor2_name"}


def _condition(fname: str, column: str, kind: Kind, value: Any) -> tuple[int, Predicate, frozenset[str] | None]:
    """(cost class, predicate over the raw cell, the exact values it accepts if it is a plain
    value or list on a text field) for one `field: condition`; ValueError says what is wrong."""
    if value is None:
        raise ValueError(f"empty condition: expected {_FORMS}")
    if isinstance(value, dict):
        keys = set(value)
        if keys == {"regex"}:
            return (4 if fname in _LONG_TEXT else 3), _regex(fname, kind, value["regex"]), None
        if keys == {"prefix"}:
            return 1, _prefix(fname, kind, value["prefix"]), None
        if keys and keys <= {"min", "max"}:
            return 2, _range(fname, column, kind, value.get("min"), value.get("max")), None
        bad = sorted(str(k) for k in keys - {"regex", "prefix", "min", "max"})
        if bad:
            raise ValueError(f"unknown condition {quoted(bad[0])}{did_you_mean(bad[0], ('regex', 'prefix', 'min', 'max'))}: expected {_FORMS}")
        raise ValueError(f"give one kind of condition per field: {', '.join(sorted(map(str, keys)))} cannot be combined")
    if isinstance(value, bool):
        if kind == "number":
            raise ValueError(f"{fname} is a number: true/false apply to text fields (present or empty)")
        return 0, (bool if value else _empty), None
    values = value if isinstance(value, list) else [value]
    if not values:
        raise ValueError(f"empty list: expected {_FORMS}")
    for v in values:
        if isinstance(v, (dict, list)) or v is None or isinstance(v, bool):
            raise ValueError(f"a list holds plain values, got {quoted(v)}: expected {_FORMS}")
    if kind == "number":
        numbers = frozenset(_as_number(fname, v) for v in values)
        return 2, _number_in(column, numbers), None
    texts = [_as_text(fname, v) for v in values]
    _check_vocabulary(fname, texts)
    if kind == "tags":
        wanted = frozenset(texts)
        return 1, (lambda cell: bool(cell) and any(t.strip() in wanted for t in cell.split(";"))), None
    if len(texts) == 1:
        return 0, texts[0].__eq__, frozenset(texts)
    return 0, frozenset(texts).__contains__, frozenset(texts)


def _empty(cell: str) -> bool:
    return not cell


def _as_text(fname: str, v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, int) and fname in _NUMBER_AS_TEXT:
        return str(v)
    raise ValueError(
        f"{fname} is text: quote the value ({quoted(str(v))}); unquoted, YAML reads some codes as numbers (043 is the octal 35)"
    )


def _as_number(fname: str, v: Any) -> float:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    raise ValueError(f"{fname} is a number: write {quoted(v)} without quotes, or use {{min: N}} / {{max: N}}")


def _check_vocabulary(fname: str, texts: Sequence[str]) -> None:
    vocab = ACLED_VOCABULARY.get(fname)
    for t in texts:
        if vocab is not None and t not in vocab:
            raise ValueError(f"{quoted(t)} is not an ACLED {fname}{did_you_mean(t, vocab)}; expected one of: {', '.join(sorted(vocab))}")
        if fname in _CAMEO_FIELDS and not _CAMEO.match(t):
            raise ValueError(f"{quoted(t)} is not a CAMEO event code (1–4 digits, quoted, e.g. '190' or '043')")
        if fname in _FIPS_FIELDS and t == "XK":
            raise ValueError("'XK' is the ISO code for Kosovo; GDELT geography is FIPS 10-4, where Kosovo is KV")
        if fname in _FIPS_FIELDS and not _FIPS.match(t):
            raise ValueError(
                f"{quoted(t)} is not a FIPS 10-4 country code: GDELT geography uses two capital letters "
                "(Serbia RI, Kosovo KV, Bosnia and Herzegovina BK; not ISO's RS, XK, BA)"
            )
        if fname in ("actor1_country", "actor2_country") and not _CAMEO_COUNTRY.match(t):
            raise ValueError(f"{quoted(t)} is not a CAMEO actor country code (three capital letters, e.g. SRB)")
        if fname == "quad_class" and t not in {"1", "2", "3", "4"}:
            raise ValueError(f"quad_class {quoted(t)}: expected 1–4")


MAX_PATTERN = 1_000  # characters of one regular expression (docs/LIMITS.md)
RE2_MEMORY = 8 << 20  # bytes one compiled pattern may use (RE2's own default): a bigger one is refused
_MEMO = 4_096  # results remembered per pattern for short cells (admin2, actor names repeat)


def _regex(fname: str, kind: Kind, pattern: Any) -> Predicate:
    """`re.search` semantics in RE2 syntax, in time linear in the cell whatever the pattern:
    Python's re backtracks, and `(a+)+$` on a long cell would hang an import. RE2 has no
    backreferences or lookaround, so such a pattern is refused here, saying so."""
    if kind == "number":
        raise ValueError(f"{fname} is a number: use {{min: N}} / {{max: N}} or a value, not a regular expression")
    if not isinstance(pattern, str) or not pattern:
        raise ValueError(f"regex: expected a regular expression in quotes, got {excerpt(repr(pattern))}")
    if len(pattern) > MAX_PATTERN:
        raise ValueError(f"regex: {len(pattern):,} characters, more than the {MAX_PATTERN:,} a pattern may have")
    try:
        import re2  # google-re2: imported here, so commands that read no rules never load it
    except ImportError:  # pragma: no cover - a declared dependency
        raise ValueError("regex conditions need the google-re2 package (pip install google-re2)") from None
    options = re2.Options()
    options.log_errors = False
    options.never_capture = True
    options.max_mem = RE2_MEMORY
    try:
        compiled = re2.compile(pattern, options)
    except re2.error as e:
        why = e.args[0].decode("utf-8", "replace") if e.args and isinstance(e.args[0], bytes) else str(e)
        raise ValueError(f"bad regular expression {excerpt(repr(pattern))}: {excerpt(why)}{_re2_hint(why)}") from None
    search = _fast_search(compiled)
    if fname in _LONG_TEXT:
        return search
    memo: dict[str, bool] = {}

    def pred(cell: str) -> bool:
        hit = memo.get(cell)
        if hit is None:
            if len(memo) >= _MEMO:
                memo.clear()
            hit = memo[cell] = search(cell)
        return hit

    return pred


def _fast_search(compiled: Any) -> Callable[[str], bool]:
    """Whether the pattern occurs in a cell. The binding's `search` builds a match object and maps
    byte offsets back to characters (about 5 µs a call); a rule needs only yes or no, so RE2's own
    Match is called on the cell's UTF-8 (about 1 µs), when this google-re2 has it."""
    try:
        match, unanchored = compiled._regexp.Match, compiled._regexp.Anchor.UNANCHORED
    except AttributeError:  # pragma: no cover - another binding: its public search
        return lambda cell: compiled.search(cell) is not None

    def search(cell: str) -> bool:
        data = cell.encode("utf-8", "surrogatepass")
        return match(unanchored, data, 0, len(data))[0][0] != -1

    return search


def _re2_hint(why: str) -> str:
    if "perl operator" in why or "invalid escape sequence" in why:
        return (
            " (rules use RE2 syntax, matched in linear time: no lookaround (?=…) (?!…) or backreferences \\1;"
            " to need two words in any order, write 'a.*b|b.*a')"
        )
    if "too large" in why or "repetition" in why:
        return " (refused: RE2 compiles a pattern within 8 MiB and repeats at most 1,000 times)"
    return ""


def _prefix(fname: str, kind: Kind, prefixes: Any) -> Predicate:
    if kind == "number":
        raise ValueError(f"{fname} is a number: use {{min: N}} / {{max: N}}, not a prefix")
    items = prefixes if isinstance(prefixes, list) else [prefixes]
    if not items:
        raise ValueError("prefix: expected one or more quoted prefixes, e.g. ['18', '19']")
    if len(items) > 100:
        raise ValueError(f"prefix: {len(items)} prefixes, more than the 100 a condition may have")
    texts = [_as_text(fname, p) if not isinstance(p, (dict, list)) else "" for p in items]
    if any(not t for t in texts):
        raise ValueError("prefix: expected one or more quoted prefixes, e.g. ['18', '19']")
    if fname in _CAMEO_FIELDS:
        for t in texts:
            if not _CAMEO.match(t):
                raise ValueError(f"prefix {quoted(t)} is not the start of a CAMEO code (digits, quoted: '19', not 19x)")
    starts = tuple(texts)
    return lambda cell: cell.startswith(starts)


def _range(fname: str, column: str, kind: Kind, lo: Any, hi: Any) -> Predicate:
    if kind != "number":
        raise ValueError(f"{fname} is text: {{min: N}} / {{max: N}} apply to number fields")
    low = -float("inf") if lo is None else _as_number(fname, lo)
    high = float("inf") if hi is None else _as_number(fname, hi)
    if low > high:
        raise ValueError(f"min {lo} is above max {hi}: nothing can match")

    def pred(cell: str) -> bool:
        if not cell:
            return False
        try:
            x = float(cell)
        except ValueError:
            raise _BadCell(column, cell, f"{quoted(cell)} is not a number") from None
        return low <= x <= high

    return pred


def _number_in(column: str, numbers: frozenset[float]) -> Predicate:
    def pred(cell: str) -> bool:
        if not cell:
            return False
        try:
            return float(cell) in numbers
        except ValueError:
            raise _BadCell(column, cell, f"{quoted(cell)} is not a number") from None

    return pred


