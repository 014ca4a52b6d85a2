"""Mapping rules: a reviewable YAML file saying which coded events count as reports on which
indicator, with what outcome and grade, and why (a rationale and a citation, like any judgment).

    format: acled                 # or gdelt: the export the rules read
    description: "..."
    grade_tables:                 # optional; a rule's `grade_from: <field>` looks its grade up here
      source_scale:
        values: {National: B2, International: B2, New media: C4}
        default: C3               # for values not in the table
        rationale: "..."
      # num_sources:              # a number field takes thresholds instead (GDELT)
      #   thresholds: [{min: 10, grade: C2}, {min: 3, grade: C3}]
      #   default: D4
    rules:
      - id: north_kosovo_armed_clash
        match:                    # every condition must hold (AND)
          event_type: Battles                     # a value
          sub_event_type: [Armed clash]           # any of these values
          admin2: {regex: '(?i)^zve[cč]an$'}      # re.search over the cell
          fatalities: {min: 1}                    # a number >= 1 (and/or max:)
          # event_code: {prefix: ["19", "18"]}    # text starting with any of these (CAMEO codes)
          # civilian_targeting: true              # text field non-empty (false: empty)
        indicator: armed_incident_north_kosovo
        occurred: true            # default
        grade: B2                 # or grade_from: source_scale
        rationale: "..."
        citation: "000_44e76504c81b55c5.txt, fn 40"

Field names are ACLED's column names (`tags` matches any of its ';'-separated tags) and, for
GDELT, snake_case names of its columns (`GDELT_FIELDS`: event_code, quad_class, goldstein,
num_sources, action_country, …). Geography in GDELT is FIPS 10-4 (Serbia RI, Kosovo KV, Bosnia
and Herzegovina BK). A row may match several rules: it then yields several drafts that share the
row's origin (MODEL.md §3 folds same-origin reports on one indicator into one).
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from forecaster.errors import EvidenceError, did_you_mean
from forecaster.evidence import DEFAULT_GRADES, Report, parse_grade
from forecaster.ingest.formats import ACLED_INDEX, GDELT_INDEX, CodedFileError, CodedFormat, CodedRow, FileKind
from forecaster.yamlio import load_yaml_text

Kind = Literal["text", "number", "tags"]
Predicate = Callable[[str], Any]

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


# ----------------------------------------------------------------------------- the file schema


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _text(v: str) -> str:
    if not v.strip():
        raise ValueError("empty: say it in words")
    return v.strip()


def _grade(v: str) -> str:
    try:
        r, c = parse_grade(v)
    except EvidenceError as e:
        raise ValueError(str(e)) from None
    return f"{r}{c}"


Grade = Annotated[str, AfterValidator(_grade)]


class ThresholdSpec(_Strict):
    min: float
    grade: Grade


class GradeTableSpec(_Strict):
    """How a field's value sets the grade: a table of values (text) or thresholds (a number)."""

    values: dict[str, Grade] | None = None
    thresholds: list[ThresholdSpec] | None = None
    default: Grade
    rationale: str
    citation: str | None = None

    @field_validator("rationale")
    @classmethod
    def _r(cls, v: str) -> str:
        return _text(v)

    @model_validator(mode="after")
    def _one_kind(self) -> GradeTableSpec:
        if (self.values is None) == (self.thresholds is None):
            raise ValueError("give exactly one of 'values' (a text field's values -> grades) or 'thresholds' (a number field)")
        if self.thresholds is not None:
            mins = [t.min for t in self.thresholds]
            if not mins or len(set(mins)) != len(mins):
                raise ValueError("thresholds need distinct 'min' values")
        return self


class RuleSpec(_Strict):
    id: str = Field(pattern=_ID)
    match: dict[str, Any] = Field(min_length=1)
    indicator: str
    occurred: bool = True
    grade: Grade | None = None
    grade_from: str | None = None
    rationale: str
    citation: str

    @field_validator("rationale", "citation")
    @classmethod
    def _t(cls, v: str) -> str:
        return _text(v)

    @model_validator(mode="after")
    def _one_grade(self) -> RuleSpec:
        if (self.grade is None) == (self.grade_from is None):
            raise ValueError("give exactly one of 'grade' (e.g. B2) or 'grade_from' (a field with a grade table, e.g. source_scale)")
        return self


class RulesSpec(_Strict):
    format: Literal["acled", "gdelt"]
    description: str
    grade_tables: dict[str, GradeTableSpec] = Field(default_factory=dict)
    rules: list[RuleSpec] = Field(min_length=1)

    @field_validator("description")
    @classmethod
    def _d(cls, v: str) -> str:
        return _text(v)


def _keys_at(loc: Sequence[int | str]) -> Iterable[str]:
    """The keys allowed where an unknown key was found, for did-you-mean."""
    n = len(loc)
    if n == 1:
        return RulesSpec.model_fields
    if loc[0] == "rules" and n == 3:
        return RuleSpec.model_fields
    if loc[0] == "grade_tables" and n == 3:
        return GradeTableSpec.model_fields
    if loc[0] == "grade_tables" and n == 5:
        return ThresholdSpec.model_fields
    return ()


# ----------------------------------------------------------------------------- compiled rules


class _BadCell(Exception):
    def __init__(self, column: str, cell: str, problem: str) -> None:
        super().__init__(problem)
        self.column = column
        self.cell = cell
        self.problem = problem


@dataclass(frozen=True)
class GradeLookup:
    """A grade table, compiled. Text values: the exact value, else (for ACLED's composite scales
    such as "National-International") the best-graded of its '-'/';'-separated parts that the table
    names, else the default. Numbers: the first threshold (highest first) the value reaches."""

    field: str
    column: str
    values: Mapping[str, tuple[str, int]] | None
    thresholds: tuple[tuple[float, tuple[str, int]], ...] | None
    default: tuple[str, int]
    rationale: str
    _cache: dict[str, tuple[str, int]] = dc_field(default_factory=dict, compare=False, repr=False)

    def grade(self, cell: str) -> tuple[str, int]:
        hit = self._cache.get(cell)
        if hit is None:
            hit = self._cache[cell] = self._look_up(cell)
        return hit

    def _look_up(self, cell: str) -> tuple[str, int]:
        if self.values is not None:
            value = cell.strip()
            if value in self.values:
                return self.values[value]
            parts = [self.values[p.strip()] for p in re.split(r"[-;]", value) if p.strip() in self.values]
            return max(parts, key=lambda g: DEFAULT_GRADES.accuracy(*g)) if parts else self.default
        assert self.thresholds is not None
        if not cell.strip():
            return self.default
        try:
            x = float(cell)
        except ValueError:
            raise _BadCell(self.column, cell, f"{cell!r} is not a number (the grade table for {self.field} reads it)") from None
        for lo, g in self.thresholds:
            if x >= lo:
                return g
        return self.default


@dataclass(frozen=True)
class Rule:
    """One mapping rule, compiled: `conditions` are (cell index, predicate) pairs, cheapest first."""

    id: str
    indicator: str
    occurred: bool
    grade: tuple[str, int] | None
    grade_from: str | None
    rationale: str
    citation: str
    line: int
    fields: tuple[str, ...]
    conditions: tuple[tuple[int, Predicate], ...] = dc_field(compare=False, repr=False)
    # (position in conditions, cell index, values) of each plain-value condition: map_rows looks rules up by one
    exact: tuple[tuple[int, int, frozenset[str]], ...] = dc_field(default=(), compare=False, repr=False)

    def matches(self, row: CodedRow) -> bool:
        """Whether every condition holds for the row (map_rows does the same, faster, for a file)."""
        cells = row.cells
        try:
            return all(pred(cells[i]) for i, pred in self.conditions)
        except _BadCell as e:
            raise CodedFileError(f"{row.fmt} row {row.id}", row.line, e.column, e.problem) from None


@dataclass(frozen=True)
class Rules:
    """A validated rules file."""

    path: str
    format: CodedFormat
    description: str
    rules: tuple[Rule, ...]
    grade_tables: Mapping[str, GradeLookup]
    digest: str  # sha256 of the file's text: which rules produced an import

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.rules)

    def grade_of(self, rule: Rule, row: CodedRow) -> tuple[str, int]:
        if rule.grade is not None:
            return rule.grade
        assert rule.grade_from is not None
        table = self.grade_tables[rule.grade_from]
        return table.grade(row.cells[row.columns[table.column]])


def load_rules(path: Path, known_indicators: Iterable[str]) -> Rules:
    """Read and validate a rules file against the indicator catalogue; RulesError names
    file:line: field.path: problem (did you mean … for indicator ids, keys and field names)."""
    text = _read(path)
    return load_rules_text(text, name=str(path), known_indicators=known_indicators)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise RulesError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise RulesError(f"{path}: cannot read: {e}") from None


def load_rules_text(text: str, *, name: str, known_indicators: Iterable[str]) -> Rules:
    raw = load_yaml_text(text, name=name, error=RulesError)
    if not isinstance(raw, dict):
        raise RulesError(f"{name}: expected a mapping at the top level (format, description, rules), got {type(raw).__name__}")
    spec = _validate(raw, name, text)
    known = set(known_indicators)

    def fail(loc: Sequence[int | str], msg: str) -> RulesError:
        line = _line_at(text, loc)
        return RulesError(f"{name}:{line}: {_loc_text(loc)}: {msg}" if line else f"{name}: {_loc_text(loc)}: {msg}")

    fields = FIELDS[spec.format]
    tables: dict[str, GradeLookup] = {}
    for fname, t in spec.grade_tables.items():
        loc: list[int | str] = ["grade_tables", fname]
        if fname not in fields:
            raise fail(loc, f"unknown {spec.format} field {fname!r}{did_you_mean(fname, fields)}")
        column, kind = fields[fname]
        if t.values is not None and kind == "number":
            raise fail(loc, f"{fname} is a number: give 'thresholds' ([{{min: N, grade: G}}, …]), not 'values'")
        if t.thresholds is not None and kind != "number":
            raise fail(loc, f"{fname} is text: give 'values' ({{value: grade}}), not 'thresholds'")
        tables[fname] = GradeLookup(
            field=fname,
            column=column,
            values=None if t.values is None else {k.strip(): parse_grade(g) for k, g in t.values.items()},
            thresholds=None
            if t.thresholds is None
            else tuple(sorted(((x.min, parse_grade(x.grade)) for x in t.thresholds), key=lambda p: -p[0])),
            default=parse_grade(t.default),
            rationale=t.rationale,
        )

    rules: list[Rule] = []
    seen: dict[str, int] = {}
    index = _INDEX[spec.format]
    for i, r in enumerate(spec.rules):
        loc = ["rules", i]
        if r.id in seen:
            raise fail([*loc, "id"], f"duplicate rule id {r.id!r} (also rules[{seen[r.id]}])")
        seen[r.id] = i
        if r.indicator not in known:
            raise fail([*loc, "indicator"], f"unknown indicator {r.indicator!r}{did_you_mean(r.indicator, known)}")
        if r.grade_from is not None and r.grade_from not in tables:
            have = f"; the file's grade_tables: {', '.join(tables)}" if tables else "; the file has no grade_tables"
            raise fail([*loc, "grade_from"], f"no grade table for {r.grade_from!r}{did_you_mean(r.grade_from, tables)}{have}")
        conditions: list[tuple[int, int, Predicate, frozenset[str] | None]] = []
        for fname, value in r.match.items():
            floc = [*loc, "match", fname]
            if not isinstance(fname, str) or fname not in fields:
                other: CodedFormat = "gdelt" if spec.format == "acled" else "acled"
                elsewhere = f" ({fname!r} is a {other} field; this file says format: {spec.format})" if fname in FIELDS[other] else ""
                raise fail(floc, f"unknown {spec.format} field {fname!r}{did_you_mean(str(fname), fields)}{elsewhere}")
            column, kind = fields[fname]
            try:
                cost, pred, exact = _condition(fname, column, kind, value)
            except ValueError as e:
                raise fail(floc, str(e)) from None
            conditions.append((cost, index[column], pred, exact))
        conditions.sort(key=lambda c: c[0])
        grade = None if r.grade is None else parse_grade(r.grade)
        rules.append(
            Rule(
                id=r.id, indicator=r.indicator, occurred=r.occurred, grade=grade, grade_from=r.grade_from,
                rationale=r.rationale, citation=r.citation, line=getattr(raw["rules"][i], "line", 0), fields=tuple(r.match),
                conditions=tuple((ix, p) for _, ix, p, _ in conditions),
                exact=tuple((k, ix, ex) for k, (_, ix, _, ex) in enumerate(conditions) if ex is not None),
            )
        )  # fmt: skip
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Rules(name, spec.format, spec.description, tuple(rules), tables, digest)


def _validate(raw: dict[str, Any], name: str, text: str) -> RulesSpec:
    try:
        return RulesSpec.model_validate(raw)
    except ValidationError as e:
        errors = e.errors()
        # an unknown key is most often a misspelt one, whose absence pydantic also reports: name the typo
        first = next((x for x in errors if x["type"] == "extra_forbidden"), errors[0])
        loc = [p for p in first["loc"] if not (isinstance(p, str) and p.startswith(("function-", "union[")))]
        loc = [p for p in loc if p not in ("float", "str", "int", "bool", "literal['acled','gdelt']")]
        msg = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            key = str(loc[-1])
            msg = f"unknown key {key!r}{did_you_mean(key, _keys_at(loc))}"
        elif first["type"] == "missing":
            msg = "missing: this field is required"
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        line = _line_at(text, loc)
        where = f"{name}:{line}" if line else name
        raise RulesError(f"{where}: {_loc_text(loc)}: {msg}{more}") from None


def _loc_text(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out or "(top level)"


def _line_at(text: str, loc: Sequence[int | str]) -> int:
    """The line of the deepest key or item of `loc` in the YAML text (0 if none). Runs only on
    the error path, on text the safe loader has already accepted; composing does not expand aliases."""
    try:
        node: Any = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return 0
    line = node.start_mark.line + 1 if node is not None else 0
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            hit = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)), None)
            if hit is None:
                break
            line, node = hit[0].start_mark.line + 1, hit[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


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
            raise ValueError(f"unknown condition {bad[0]!r}{did_you_mean(bad[0], ('regex', 'prefix', 'min', 'max'))}: expected {_FORMS}")
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
            raise ValueError(f"a list holds plain values, got {v!r}: expected {_FORMS}")
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
        f"{fname} is text: quote the value ({str(v)!r}); unquoted, YAML reads some codes as numbers (043 is the octal 35)"
    )


def _as_number(fname: str, v: Any) -> float:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    raise ValueError(f"{fname} is a number: write {v!r} without quotes, or use {{min: N}} / {{max: N}}")


def _check_vocabulary(fname: str, texts: Sequence[str]) -> None:
    vocab = ACLED_VOCABULARY.get(fname)
    for t in texts:
        if vocab is not None and t not in vocab:
            raise ValueError(f"{t!r} is not an ACLED {fname}{did_you_mean(t, vocab)}; expected one of: {', '.join(sorted(vocab))}")
        if fname in _CAMEO_FIELDS and not _CAMEO.match(t):
            raise ValueError(f"{t!r} is not a CAMEO event code (1–4 digits, quoted, e.g. '190' or '043')")
        if fname in _FIPS_FIELDS and t == "XK":
            raise ValueError("'XK' is the ISO code for Kosovo; GDELT geography is FIPS 10-4, where Kosovo is KV")
        if fname in _FIPS_FIELDS and not _FIPS.match(t):
            raise ValueError(
                f"{t!r} is not a FIPS 10-4 country code: GDELT geography uses two capital letters "
                "(Serbia RI, Kosovo KV, Bosnia and Herzegovina BK; not ISO's RS, XK, BA)"
            )
        if fname in ("actor1_country", "actor2_country") and not _CAMEO_COUNTRY.match(t):
            raise ValueError(f"{t!r} is not a CAMEO actor country code (three capital letters, e.g. SRB)")
        if fname == "quad_class" and t not in {"1", "2", "3", "4"}:
            raise ValueError(f"quad_class {t!r}: expected 1–4")


def _regex(fname: str, kind: Kind, pattern: Any) -> Predicate:
    if kind == "number":
        raise ValueError(f"{fname} is a number: use {{min: N}} / {{max: N}} or a value, not a regular expression")
    if not isinstance(pattern, str) or not pattern:
        raise ValueError(f"regex: expected a regular expression in quotes, got {pattern!r}")
    try:
        compiled = re.compile(pattern)
    except re.error as e:
        raise ValueError(f"bad regular expression {pattern!r}: {e.msg} at position {e.pos}") from None
    return compiled.search


def _prefix(fname: str, kind: Kind, prefixes: Any) -> Predicate:
    if kind == "number":
        raise ValueError(f"{fname} is a number: use {{min: N}} / {{max: N}}, not a prefix")
    items = prefixes if isinstance(prefixes, list) else [prefixes]
    if not items:
        raise ValueError("prefix: expected one or more quoted prefixes, e.g. ['18', '19']")
    texts = [_as_text(fname, p) if not isinstance(p, (dict, list)) else "" for p in items]
    if any(not t for t in texts):
        raise ValueError("prefix: expected one or more quoted prefixes, e.g. ['18', '19']")
    if fname in _CAMEO_FIELDS:
        for t in texts:
            if not _CAMEO.match(t):
                raise ValueError(f"prefix {t!r} is not the start of a CAMEO code (digits, quoted: '19', not 19x)")
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
            raise _BadCell(column, cell, f"{cell!r} is not a number") from None
        return low <= x <= high

    return pred


def _number_in(column: str, numbers: frozenset[float]) -> Predicate:
    def pred(cell: str) -> bool:
        if not cell:
            return False
        try:
            return float(cell) in numbers
        except ValueError:
            raise _BadCell(column, cell, f"{cell!r} is not a number") from None

    return pred


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
            v = v.strip()
            if v and v not in place:
                place.append(v)
        parts = [
            f"{c[i_type]} / {c[i_sub]}" if c[i_sub] else c[i_type],
            ", ".join(place),
            f"{c[i_a1]} v {c[i_a2]}" if c[i_a2] else c[i_a1],
            f"{c[i_dead].strip() or '0'} fatalities",
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
